#include "core/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/model.h"
#include "core/optim/optimizer.h"

namespace lockstep {
namespace {

constexpr char kMagic[8] = {'L', 'K', 'S', 'T', 'C', 'K', 'P', 'T'};
// Large tensors are split so no record approaches protobuf's 2 GiB limit.
constexpr size_t kChunkFloats = size_t{4} << 20;  // 16 MiB per record
// Header: model + config + history; generous but bounded.
constexpr uint64_t kMaxMessageBytes = uint64_t{64} << 20;

void append_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path) : path_(path), tmp_(path + ".tmp." + std::to_string(getpid())) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw_runtime_error(tmp_, std::string("cannot create checkpoint: ") + std::strerror(errno));
  }
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  void write(const std::string& bytes) {
    write(bytes.data(), bytes.size(), crc32_z(0L, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
  }
  // `crc` is the CRC-32 of these bytes, already computed by the caller, so
  // tensor data is checksummed once for its record and the file together.
  void write(const char* p, size_t size, uLong crc) {
    crc_ = crc32_combine(crc_, crc, static_cast<z_off_t>(size));
    size_t left = size;
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw_runtime_error(tmp_, std::string("write failed: ") + std::strerror(errno));
      p += n, left -= static_cast<size_t>(n);
    }
  }
  uLong crc() const { return crc_; }
  // fsync, rename over the target, fsync the folder so the rename survives.
  void commit() {
    if (::fsync(fd_) != 0) throw_runtime_error(tmp_, std::string("fsync failed: ") + std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    // Test hook: die the hardest way between the complete write and the
    // rename, to show the previous checkpoint survives.
    if (std::getenv("LOCKSTEP_TEST_CRASH_BEFORE_RENAME")) std::_Exit(70);
    if (::rename(tmp_.c_str(), path_.c_str()) != 0)
      throw_runtime_error(path_, std::string("rename failed: ") + std::strerror(errno));
    committed_ = true;
    const size_t slash = path_.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  uLong crc_ = crc32_z(0L, Z_NULL, 0);
  bool committed_ = false;
};

void write_message(AtomicFile& file, const google::protobuf::Message& m) {
  std::string bytes;
  append_varint(bytes, m.ByteSizeLong());
  m.AppendToString(&bytes);
  file.write(bytes);
}

// Bounds-checked cursor over the file's bytes.
class Reader {
 public:
  Reader(const std::string& path, const std::string& bytes) : path_(path), bytes_(bytes) {}
  size_t position() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  void expect_magic() {
    if (bytes_.size() < sizeof(kMagic) || std::memcmp(bytes_.data(), kMagic, sizeof(kMagic)) != 0)
      throw_input_error(path_, "not a lockstep checkpoint (bad magic)");
    pos_ = sizeof(kMagic);
  }
  template <typename Message>
  void read_message(Message& m, const char* what) {
    uint64_t len = 0;
    for (int shift = 0;; shift += 7) {
      if (pos_ >= bytes_.size() || shift > 63) throw_input_error(path_, std::string("truncated before the ") + what);
      const uint8_t b = static_cast<uint8_t>(bytes_[pos_++]);
      len |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) break;
    }
    if (len > remaining()) throw_input_error(path_, std::string("truncated ") + what + " (file ends early)");
    if (len > kMaxMessageBytes) throw_input_error(path_, std::string(what) + " declares " + std::to_string(len) + " bytes: damaged");
    if (!m.ParseFromArray(bytes_.data() + pos_, static_cast<int>(len)))
      throw_input_error(path_, std::string("damaged ") + what + " (does not parse)");
    pos_ += len;
  }

 private:
  std::string path_;
  const std::string& bytes_;
  size_t pos_ = 0;
};

}  // namespace

std::string read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_input_error(path, std::string("cannot open checkpoint: ") + std::strerror(errno));
  struct stat st;
  std::string bytes;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) bytes.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  bytes.resize(done);  // a file that shrank while being read reads as truncated
  return bytes;
}

const TensorData* CheckpointContents::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

void write_checkpoint(const std::string& path, CheckpointHeader header, const std::vector<TensorRef>& tensors) {
  int64_t records = 0;
  for (const auto& t : tensors) records += std::max<int64_t>(1, (numel(t.shape) + kChunkFloats - 1) / kChunkFloats);
  header.set_format_version(kCheckpointFormatVersion);
  header.set_record_count(records);
  AtomicFile file(path);
  file.write(std::string(kMagic, sizeof(kMagic)));
  write_message(file, header);
  TensorRecord head;
  for (const auto& t : tensors) {
    const size_t n = static_cast<size_t>(numel(t.shape));
    size_t offset = 0;
    do {
      const size_t count = std::min(kChunkFloats, n - offset);
      // A TensorRecord serialised by hand so the tensor's bytes go from its
      // own memory to the file without a copy: fields 1-4, then data (5)
      // and crc32 (6) in field order, exactly as protobuf would write them.
      head.Clear();
      head.set_name(t.name);
      head.set_kind(t.kind);
      for (int64_t d : t.shape) head.add_shape(d);
      head.set_offset(static_cast<int64_t>(offset));
      // float32 little-endian: the in-memory layout on every supported target.
      const char* data = reinterpret_cast<const char*>(t.data + offset);
      const size_t bytes = count * sizeof(float);
      const uLong data_crc = crc32_z(0L, reinterpret_cast<const Bytef*>(data), bytes);
      std::string prefix = head.SerializeAsString();
      append_varint(prefix, (5 << 3) | 2);  // data: length-delimited
      append_varint(prefix, bytes);
      char suffix[5] = {(6 << 3) | 5};      // crc32: fixed32, little-endian
      for (int i = 0; i < 4; ++i) suffix[1 + i] = static_cast<char>((data_crc >> (8 * i)) & 0xFF);
      std::string length;
      append_varint(length, prefix.size() + bytes + sizeof suffix);
      file.write(length + prefix);
      file.write(data, bytes, data_crc);
      file.write(std::string(suffix, sizeof suffix));
      offset += count;
    } while (offset < n);
  }
  CheckpointFooter footer;
  footer.set_file_crc32(static_cast<uint32_t>(file.crc()));
  footer.set_record_count(records);
  write_message(file, footer);
  file.commit();
}

CheckpointContents read_checkpoint(const std::string& path) {
  const std::string bytes = read_whole_file(path);
  Reader reader(path, bytes);
  reader.expect_magic();
  CheckpointContents c;
  reader.read_message(c.header, "header");
  if (c.header.format_version() != kCheckpointFormatVersion)
    throw_input_error(path, "format version " + std::to_string(c.header.format_version()) +
                                " is not supported (this build reads version " +
                                std::to_string(kCheckpointFormatVersion) + ")");
  if (c.header.record_count() < 0 || static_cast<uint64_t>(c.header.record_count()) > bytes.size())
    throw_input_error(path, "header declares " + std::to_string(c.header.record_count()) + " records: damaged");
  auto crc_of = [&](size_t begin, size_t end) {
    return crc32_z(0L, reinterpret_cast<const Bytef*>(bytes.data() + begin), end - begin);
  };
  uLong file_crc = crc_of(0, reader.position());  // magic and header
  TensorRecord rec;
  for (int64_t i = 0; i < c.header.record_count(); ++i) {
    const size_t record_start = reader.position();
    reader.read_message(rec, "tensor record");
    const size_t record_end = reader.position();
    const uLong data_crc = crc32_z(0L, reinterpret_cast<const Bytef*>(rec.data().data()), rec.data().size());
    if (data_crc != rec.crc32()) throw_input_error(path, "tensor '" + rec.name() + "' fails its checksum: damaged");
    // The file checksum reuses the data's CRC when the record ends with the
    // data followed by the 5-byte crc32 field, as lockstep writes it.
    const size_t data_end = record_end - 5, data_size = rec.data().size();
    if (record_end - record_start > data_size + 5 && static_cast<uint8_t>(bytes[data_end]) == ((6 << 3) | 5) &&
        std::memcmp(bytes.data() + data_end - data_size, rec.data().data(), std::min<size_t>(data_size, 64)) == 0) {
      file_crc = crc32_combine(file_crc, crc_of(record_start, data_end - data_size), data_end - data_size - record_start);
      file_crc = crc32_combine(file_crc, data_crc, static_cast<z_off_t>(data_size));
      file_crc = crc32_combine(file_crc, crc_of(data_end, record_end), 5);
    } else {
      file_crc = crc32_combine(file_crc, crc_of(record_start, record_end), static_cast<z_off_t>(record_end - record_start));
    }
    Shape shape(rec.shape().begin(), rec.shape().end());
    int64_t n = 1;
    for (int64_t d : shape) {
      if (d < 0 || (d > 0 && n > static_cast<int64_t>(bytes.size()) / d))
        throw_input_error(path, "tensor '" + rec.name() + "' declares shape " + shape_string(shape) +
                                    ", larger than the file: damaged");
      n *= d;
    }
    if (c.tensors.empty() || c.tensors.back().name != rec.name() || rec.offset() == 0) {
      if (rec.offset() != 0) throw_input_error(path, "tensor '" + rec.name() + "' starts mid-way: damaged");
      c.tensors.push_back(TensorData{rec.name(), rec.kind(), shape, {}});
      c.tensors.back().values.reserve(static_cast<size_t>(n));
    }
    TensorData& t = c.tensors.back();
    const size_t count = rec.data().size() / sizeof(float);
    if (rec.data().size() % sizeof(float) != 0 || static_cast<size_t>(rec.offset()) != t.values.size() ||
        t.values.size() + count > static_cast<size_t>(n))
      throw_input_error(path, "tensor '" + rec.name() + "' has inconsistent data: damaged");
    const size_t at = t.values.size();
    t.values.resize(at + count);
    // A record of an empty tensor has no data: values.data() may be null.
    if (count != 0) std::memcpy(t.values.data() + at, rec.data().data(), rec.data().size());
  }
  for (const auto& t : c.tensors)
    if (static_cast<int64_t>(t.values.size()) != numel(t.shape))
      throw_input_error(path, "tensor '" + t.name + "' is incomplete: damaged");
  CheckpointFooter footer;
  reader.read_message(footer, "footer");
  if (static_cast<uint32_t>(file_crc) != footer.file_crc32())
    throw_input_error(path, "file checksum mismatch: damaged");
  if (reader.remaining() != 0) throw_input_error(path, "trailing bytes after the footer: damaged");
  return c;
}

std::vector<TensorRef> collect_tensors(Model& model, Optimizer* optimizer) {
  std::vector<TensorRef> refs;
  ParameterStore& params = model.parameters();
  for (size_t i = 0; i < params.entries().size(); ++i) {
    const ParameterInfo& p = params.entries()[i];
    refs.push_back({p.name, p.trainable ? TensorRecord::PARAMETER : TensorRecord::STATE, p.shape,
                    params.value(static_cast<int>(i))});
  }
  if (optimizer) {
    for (const std::string& slot : optimizer->slot_names()) {
      const std::vector<float>& values = optimizer->slot(slot);
      for (const ParameterInfo& p : params.entries())
        if (p.trainable)
          refs.push_back({std::string(optimizer->kind()) + "/" + slot + "/" + p.name, TensorRecord::OPTIMIZER_SLOT,
                          p.shape, values.data() + p.offset});
    }
  }
  return refs;
}

void restore_tensors(const CheckpointContents& ckpt, Model& model, Optimizer* optimizer, const std::string& where) {
  std::vector<TensorRef> wanted = collect_tensors(model, optimizer);
  std::vector<std::string> problems;
  for (const TensorRef& w : wanted) {
    const TensorData* t = ckpt.find(w.name);
    if (!t) problems.push_back("missing '" + w.name + "'");
    else if (t->shape != w.shape)
      problems.push_back("'" + w.name + "' has shape " + shape_string(t->shape) + ", the model needs " +
                         shape_string(w.shape));
  }
  for (const TensorData& t : ckpt.tensors) {
    if (!optimizer && t.kind == TensorRecord::OPTIMIZER_SLOT) continue;  // inference needs no slots
    if (t.kind == TensorRecord::CALLBACK) continue;                     // the callbacks read their own
    bool known = false;
    for (const TensorRef& w : wanted) known = known || w.name == t.name;
    if (!known) problems.push_back("unexpected '" + t.name + "'");
  }
  if (!problems.empty()) {
    std::string what = "checkpoint does not match the model:";
    for (size_t i = 0; i < problems.size() && i < 20; ++i) what += (i ? "; " : " ") + problems[i];
    if (problems.size() > 20) what += "; ... (" + std::to_string(problems.size()) + " in all)";
    throw_input_error(where, what);
  }
  for (const TensorRef& w : wanted) {
    const TensorData* t = ckpt.find(w.name);
    std::memcpy(const_cast<float*>(w.data), t->values.data(), t->values.size() * sizeof(float));
  }
}

}  // namespace lockstep
