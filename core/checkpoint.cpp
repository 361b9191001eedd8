#include "core/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <google/protobuf/wire_format_lite.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "core/output_file.h"

namespace lockstep {
namespace {

using google::protobuf::io::CodedOutputStream;
using google::protobuf::internal::WireFormatLite;

constexpr char kMagic[8] = {'L', 'K', 'S', 'T', 'C', 'K', 'P', 'T'};
// Large tensors are split so no record approaches protobuf's 2 GiB limit.
constexpr size_t kChunkFloats = size_t{4} << 20;  // 16 MiB per record
// Header: model + config + history; generous but bounded.
constexpr uint64_t kMaxMessageBytes = uint64_t{64} << 20;
// TensorRecord.data's tag, and crc32's: a record ends with the crc32 field
// (tag, then 4 bytes), after the data.
constexpr uint32_t kDataTag = WireFormatLite::MakeTag(TensorRecord::kDataFieldNumber,
                                                      WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
constexpr uint32_t kCrcTag = WireFormatLite::MakeTag(TensorRecord::kCrc32FieldNumber, WireFormatLite::WIRETYPE_FIXED32);
constexpr size_t kCrcFieldBytes = 1 + sizeof(uint32_t);
static_assert(kCrcTag < 0x80, "crc32's tag is one byte");
// From this size on, a tensor's CRC is combined into the file's CRC rather
// than its bytes read a second time (crc32_combine costs about as much as
// reading ~2 KiB).
constexpr size_t kCombineBytes = size_t{4} << 10;

// A message with its length in front (protobuf's delimited form).
std::string delimited(const google::protobuf::MessageLite& m) {
  std::string bytes;
  google::protobuf::io::StringOutputStream out(&bytes);
  if (!google::protobuf::util::SerializeDelimitedToZeroCopyStream(m, &out))
    throw_runtime_error("checkpoint", "cannot serialise a " + m.GetTypeName());
  return bytes;
}

// Errors name the checkpoint being written (not its temporary file) and the
// OS's reason; the temporary file is removed, so the checkpoints already on
// disk stay as they were.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path) : path_(path), tmp_(path + ".tmp." + std::to_string(getpid())) {
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot create the checkpoint's temporary file", errno);
  }
  ~AtomicFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  void write(const std::string& bytes) {
    crc_ = crc32_z(crc_, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size());
    if (!write_all(fd_, bytes.data(), bytes.size())) fail("cannot write the checkpoint", errno);
  }
  // `crc` is the CRC-32 of these bytes, already computed by the caller, so
  // tensor data is checksummed once for its record and the file together.
  void write(const char* p, size_t size, uLong crc) {
    crc_ = crc32_combine(crc_, crc, static_cast<z_off_t>(size));
    if (!write_all(fd_, p, size)) fail("cannot write the checkpoint", errno);
  }
  uLong crc() const { return crc_; }
  // fsync, close, rename over the target, fsync the folder so the rename survives.
  void commit() {
    if (!sync_file(fd_)) fail("cannot sync the checkpoint to disk", errno);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && errno != EINTR) fail("cannot close the checkpoint", errno);
    // Test hook: die the hardest way between the complete write and the
    // rename, to show the previous checkpoint survives.
    if (std::getenv("LOCKSTEP_TEST_CRASH_BEFORE_RENAME")) std::_Exit(70);
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("cannot rename the checkpoint into place", errno);
    committed_ = true;
    sync_parent_folder(path_);
  }

 private:
  [[noreturn]] void fail(const char* action, int error) {
    throw_runtime_error(path_, std::string(action) + ": " + std::strerror(error));
  }
  std::string path_, tmp_;
  int fd_ = -1;
  uLong crc_ = crc32_z(0L, Z_NULL, 0);
  bool committed_ = false;
};

void write_message(AtomicFile& file, const google::protobuf::Message& m) { file.write(delimited(m)); }

// A TensorRecord as protobuf would serialise it, in three parts so that the
// tensor's bytes go from its own memory to the file without a copy: the
// record's length and fields 1-4 (`head`) and data's tag and length; then
// the data (written by the caller); then the crc32 field. Hand-placed data
// because a TensorRecord holding it would copy each 16 MiB chunk twice
// (set_data, serialisation) and a file CRC-32 over the serialised record
// would read it again; bench_checkpoint's same-run comparison found no
// throughput difference on the loaded dev VM (bench/README.md, "Checkpoint
// framing"): what it saves is those copies and their two 16 MiB buffers.
struct RecordFraming {
  std::string before_data, after_data;
};

RecordFraming frame_record(const TensorRecord& head, size_t data_bytes, uint32_t data_crc) {
  TensorRecord crc_field;
  crc_field.set_crc32(data_crc);
  RecordFraming f;
  f.after_data = crc_field.SerializeAsString();
  const size_t body = head.ByteSizeLong() + CodedOutputStream::VarintSize32(kDataTag) +
                      WireFormatLite::LengthDelimitedSize(data_bytes) + f.after_data.size();
  {  // `out` trims the string to what it wrote when it goes out of scope
    google::protobuf::io::StringOutputStream stream(&f.before_data);
    CodedOutputStream out(&stream);
    out.WriteVarint64(body);
    head.SerializeWithCachedSizes(&out);  // sizes cached by ByteSizeLong() above
    out.WriteTag(kDataTag);
    out.WriteVarint64(data_bytes);
  }
  return f;
}

// Bounds-checked cursor over the file's bytes.
class Reader {
 public:
  Reader(const std::string& where, const std::string& bytes) : where_(where), bytes_(bytes) {}
  size_t position() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  void expect_magic() {
    if (bytes_.size() < sizeof(kMagic) || std::memcmp(bytes_.data(), kMagic, sizeof(kMagic)) != 0)
      throw_input_error(where_, "not a lockstep checkpoint (bad magic)");
    pos_ = sizeof(kMagic);
  }
  // `what` and `index` name the message in errors ("tensor record 3").
  template <typename Message>
  void read_message(Message& m, const char* what, int64_t index = -1) {
    auto name = [&] { return std::string(what) + (index >= 0 ? " " + std::to_string(index) : ""); };
    uint64_t len = 0;
    // Protobuf's reader sees only the length's bytes (a varint has at most 10).
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes_.data()) + pos_,
                                              static_cast<int>(std::min<size_t>(remaining(), 10)));
    if (!in.ReadVarint64(&len)) throw_input_error(where_, "truncated before the " + name());
    pos_ += static_cast<size_t>(in.CurrentPosition());
    if (len > remaining()) throw_input_error(where_, "truncated " + name() + " (file ends early)");
    if (len > kMaxMessageBytes) throw_input_error(where_, name() + " declares " + std::to_string(len) + " bytes: damaged");
    if (!m.ParseFromArray(bytes_.data() + pos_, static_cast<int>(len)))
      throw_input_error(where_, "damaged " + name() + " (does not parse)");
    pos_ += len;
  }

 private:
  const std::string& where_;
  const std::string& bytes_;
  size_t pos_ = 0;
};

uLong crc_of(const std::string& bytes, size_t begin, size_t end) {
  return crc32_z(0L, reinterpret_cast<const Bytef*>(bytes.data() + begin), end - begin);
}

// The file's CRC-32 `crc` continued over the record's bytes [start, end).
// A large tensor's data is not read twice: when the record ends with the
// data and the 5-byte crc32 field, as write_checkpoint lays it out, and those
// bytes are exactly rec.data() (whose CRC is `data_crc`), that CRC is
// combined in. Small records are cheaper to read again than to combine.
uLong continue_crc(uLong crc, const std::string& bytes, size_t start, size_t end, const TensorRecord& rec,
                   uLong data_crc) {
  const size_t size = rec.data().size();
  auto raw = [&](uLong c, size_t begin, size_t stop) {
    return crc32_z(c, reinterpret_cast<const Bytef*>(bytes.data() + begin), stop - begin);
  };
  if (size >= kCombineBytes && end - start > size + kCrcFieldBytes) {
    const size_t data_end = end - kCrcFieldBytes, data_begin = data_end - size;
    if (static_cast<uint8_t>(bytes[data_end]) == kCrcTag &&
        std::memcmp(bytes.data() + data_begin, rec.data().data(), size) == 0) {
      crc = crc32_combine(raw(crc, start, data_begin), data_crc, static_cast<z_off_t>(size));
      return raw(crc, data_end, end);
    }
  }
  return raw(crc, start, end);
}

[[noreturn]] void damaged(const std::string& where, const std::string& what) {
  throw_input_error(where, what + ": damaged");
}

// Ranges a checkpoint written by lockstep always satisfies. The checksums
// make these hold for every file that was written; they catch files written
// wrongly (by other code through write_checkpoint, or by hand).
void check_progress(const Progress& p, const std::string& where) {
  auto nonnegative = [&](const char* field, int64_t v) {
    if (v < 0) damaged(where, std::string("progress.") + field + " is " + std::to_string(v) + ", must be >= 0");
  };
  nonnegative("epoch", p.epoch());
  nonnegative("step_in_epoch", p.step_in_epoch());
  nonnegative("global_step", p.global_step());
  nonnegative("position_in_epoch", p.position_in_epoch());
  if (p.step_in_epoch() > p.global_step())
    damaged(where, "progress.step_in_epoch " + std::to_string(p.step_in_epoch()) + " is more than progress.global_step " +
                       std::to_string(p.global_step()));
  auto finite_nonnegative = [&](const char* field, double v) {
    if (!(v >= 0 && std::isfinite(v)))
      damaged(where, std::string("progress.") + field + " is " + std::to_string(v) + ", must be finite and >= 0");
  };
  finite_nonnegative("train_seconds_in_epoch", p.train_seconds_in_epoch());
  finite_nonnegative("samples_in_epoch", p.samples_in_epoch());
  finite_nonnegative("correct_in_epoch", p.correct_in_epoch());
  if (p.correct_in_epoch() > p.samples_in_epoch())
    damaged(where, "progress.correct_in_epoch " + std::to_string(p.correct_in_epoch()) +
                       " is more than progress.samples_in_epoch " + std::to_string(p.samples_in_epoch()));
  // loss_sum_in_epoch may be NaN or infinite: TerminateOnNaN saves such a run.
}

void check_header(const CheckpointHeader& h, size_t file_size, const std::string& where) {
  if (h.format_version() != kCheckpointFormatVersion)
    throw_input_error(where, "format version " + std::to_string(h.format_version()) +
                                 " is not supported (this build reads version " +
                                 std::to_string(kCheckpointFormatVersion) + ")");
  // Each record takes at least a few bytes: a count beyond the file's size is damage.
  if (h.record_count() < 0 || static_cast<uint64_t>(h.record_count()) > file_size)
    damaged(where, "header declares " + std::to_string(h.record_count()) + " records");
  if (h.has_world_size() && h.world_size() < 1)
    damaged(where, "world_size is " + std::to_string(h.world_size()) + ", must be >= 1");
  check_progress(h.progress(), where);
  // history[i] is the finished epoch i + 1; the epoch in progress comes after.
  if (h.history_size() > h.progress().epoch())
    damaged(where, "the history holds " + std::to_string(h.history_size()) + " epochs, progress.epoch is " +
                       std::to_string(h.progress().epoch()));
  for (int i = 0; i < h.history_size(); ++i)
    if (h.history(i).epoch() != i + 1 || h.history(i).steps() < 0)
      damaged(where, "history[" + std::to_string(i) + "] is epoch " + std::to_string(h.history(i).epoch()) +
                         " with " + std::to_string(h.history(i).steps()) + " steps, expected epoch " +
                         std::to_string(i + 1) + " with steps >= 0");
}

// Tensors as they are assembled from their records; names are unique.
struct Assembly {
  CheckpointContents contents;
  struct Seen {
    size_t tensor;  // position in contents.tensors
    size_t record;  // its first record
  };
  std::unordered_map<std::string, Seen> index;
};

// Adds one verified record to its tensor: the first chunk of a new tensor
// (offset 0, a name not seen before) or the next chunk of the previous one.
void add_chunk(Assembly& a, const TensorRecord& rec, size_t record, size_t file_size, const std::string& where) {
  auto what = [&] { return "tensor record " + std::to_string(record) + " ('" + rec.name() + "')"; };
  if (rec.name().empty()) damaged(where, what() + " has no name");
  const Shape shape(rec.shape().begin(), rec.shape().end());
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > static_cast<int64_t>(file_size) / d))
      damaged(where, what() + " declares shape " + shape_string(shape) + ", larger than the file");
    n *= d;
  }
  std::vector<TensorData>& tensors = a.contents.tensors;
  const auto seen = a.index.find(rec.name());
  if (rec.offset() == 0) {
    if (seen != a.index.end())
      damaged(where, what() + " is a duplicate: tensor '" + rec.name() + "' starts in record " +
                         std::to_string(seen->second.record) + " already");
    a.index.emplace(rec.name(), Assembly::Seen{tensors.size(), record});
    tensors.push_back(TensorData{rec.name(), rec.kind(), shape, {}});
    tensors.back().values.reserve(static_cast<size_t>(n));
  } else if (seen == a.index.end() || seen->second.tensor + 1 != tensors.size()) {
    damaged(where, what() + " continues a tensor that is not the one before it");
  }
  TensorData& t = tensors.back();
  if (t.kind != rec.kind() || t.shape != shape) damaged(where, what() + " changes the tensor's kind or shape mid-way");
  const size_t count = rec.data().size() / sizeof(float);
  if (rec.data().size() % sizeof(float) != 0 || static_cast<size_t>(rec.offset()) != t.values.size() ||
      t.values.size() + count > static_cast<size_t>(n))
    damaged(where, what() + " holds elements [" + std::to_string(rec.offset()) + ", " +
                       std::to_string(rec.offset() + static_cast<int64_t>(count)) + ") of a tensor of " +
                       std::to_string(n) + " with " + std::to_string(t.values.size()) + " read");
  const size_t at = t.values.size();
  t.values.resize(at + count);
  // A record of an empty tensor has no data: values.data() may be null.
  if (count != 0) std::memcpy(t.values.data() + at, rec.data().data(), rec.data().size());
}

// The footer is the one part of the file that its own checksum cannot cover,
// so it must be byte for byte what write_checkpoint writes for the two values
// the rest of the file determines: any change to it is found.
void check_footer(Reader& reader, const std::string& bytes, int64_t records, uLong file_crc, const std::string& where) {
  const size_t start = reader.position();
  CheckpointFooter footer;
  reader.read_message(footer, "footer");
  if (footer.file_crc32() != static_cast<uint32_t>(file_crc)) damaged(where, "file checksum mismatch");
  if (footer.record_count() != records)
    damaged(where, "the footer counts " + std::to_string(footer.record_count()) + " tensor records, the header " +
                       std::to_string(records));
  if (reader.remaining() != 0) damaged(where, "trailing bytes after the footer");
  CheckpointFooter expected;
  expected.set_file_crc32(static_cast<uint32_t>(file_crc));
  expected.set_record_count(records);
  if (bytes.compare(start, std::string::npos, delimited(expected)) != 0)
    damaged(where, "the footer is not as lockstep writes it (unknown fields or another encoding)");
}

}  // namespace

// Refuses what is not a regular file before reading (a FIFO would block, a
// device never end); a read error is the OS's reason, exit 1.
std::string read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw_input_error(path, std::string("cannot open checkpoint: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw_input_error(path, S_ISDIR(st.st_mode) ? "is a directory, not a checkpoint file"
                                                : "not a regular file (a checkpoint is a file)");
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      throw_runtime_error(path, "cannot read checkpoint: " + why);
    }
    if (n == 0) break;
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
      head.Clear();
      head.set_name(t.name);
      head.set_kind(t.kind);
      for (int64_t d : t.shape) head.add_shape(d);
      head.set_offset(static_cast<int64_t>(offset));
      // float32 little-endian: the in-memory layout on every supported target.
      const char* data = reinterpret_cast<const char*>(t.data + offset);
      const size_t bytes = count * sizeof(float);
      const uLong data_crc = crc32_z(0L, reinterpret_cast<const Bytef*>(data), bytes);
      const RecordFraming framing = frame_record(head, bytes, static_cast<uint32_t>(data_crc));
      file.write(framing.before_data);
      file.write(data, bytes, data_crc);
      file.write(framing.after_data);
      offset += count;
    } while (offset < n);
  }
  CheckpointFooter footer;
  footer.set_file_crc32(static_cast<uint32_t>(file.crc()));
  footer.set_record_count(records);
  write_message(file, footer);
  file.commit();
}

CheckpointContents parse_checkpoint(const std::string& bytes, const std::string& where) {
  Reader reader(where, bytes);
  reader.expect_magic();
  Assembly a;
  CheckpointHeader& header = a.contents.header;
  reader.read_message(header, "header");
  check_header(header, bytes.size(), where);
  uLong file_crc = crc_of(bytes, 0, reader.position());  // magic and header
  TensorRecord rec;
  for (int64_t i = 0; i < header.record_count(); ++i) {
    const size_t start = reader.position();
    reader.read_message(rec, "tensor record", i);
    const size_t end = reader.position();
    const uLong data_crc = crc32_z(0L, reinterpret_cast<const Bytef*>(rec.data().data()), rec.data().size());
    if (data_crc != rec.crc32())
      damaged(where, "tensor record " + std::to_string(i) + " ('" + rec.name() + "') fails its checksum");
    file_crc = continue_crc(file_crc, bytes, start, end, rec, data_crc);
    add_chunk(a, rec, static_cast<size_t>(i), bytes.size(), where);
  }
  for (const auto& t : a.contents.tensors)
    if (static_cast<int64_t>(t.values.size()) != numel(t.shape))
      damaged(where, "tensor '" + t.name + "' is incomplete (" + std::to_string(t.values.size()) + " of " +
                         std::to_string(numel(t.shape)) + " elements): a record is missing");
  check_footer(reader, bytes, header.record_count(), file_crc, where);
  return std::move(a.contents);
}

CheckpointContents read_checkpoint(const std::string& path) { return parse_checkpoint(read_whole_file(path), path); }

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

namespace lockstep {

void check_tensors_match_header(const CheckpointContents& ckpt, const std::string& where) {
  const CheckpointHeader& h = ckpt.header;
  if (!h.has_model()) return;  // tensors written through the C++ API alone
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
  try {
    model = std::make_unique<Model>(h.model(), h.seed(), "model");
    if (!h.optimizer_kind().empty() && h.has_config()) {
      optimizer = make_optimizer(h.config().optimizer(), "config.optimizer");
      optimizer->reserve(model->parameters().trainable_count());
    }
  } catch (const Error& e) {
    throw_input_error(where, "the checkpoint's " + e.where() + ": " + e.message());
  }
  if (optimizer && h.optimizer_kind() != optimizer->kind())
    throw_input_error(where, "the header names optimizer " + h.optimizer_kind() + " but its config " +
                                 optimizer->kind() + ": damaged");
  restore_tensors(ckpt, *model, optimizer.get(), where);
}

}  // namespace lockstep
