// IDX files (MNIST, Fashion-MNIST): a big-endian header - magic 0x0000TTDD
// (T element type, D number of dimensions), then D 32-bit sizes - and the
// packed elements. Images [N, H, W] become samples {H, W, 1} (channels last),
// labels are [N] class indices.
//
// Files are read through zlib, which reads plain and .gz files alike. Sizes
// in the header are checked against the file before anything is allocated,
// and the data must end exactly where the header says.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/checked_size.h"
#include "core/data/readers.h"
#include "core/error.h"
#include "core/memory_plan.h"
#include "train.pb.h"

namespace lockstep {
namespace data {
namespace {

constexpr int64_t kChunk = 1 << 20;
// Deflate cannot expand data more than about 1032:1, so a .gz file cannot
// hold more than this many bytes per compressed byte.
constexpr int64_t kMaxGzipRatio = 1032;

struct GzClose {
  void operator()(gzFile f) const { gzclose(f); }
};

class IdxFile {
 public:
  explicit IdxFile(const std::string& path) : path_(path), file_(nullptr) {
    const int64_t on_disk = file_size(path);
    file_.reset(gzopen(path.c_str(), "rb"));
    if (!file_) throw_input_error(path, "cannot open: " + std::string(std::strerror(errno)));
    gzbuffer(file_.get(), 1 << 18);
    unsigned char magic[4] = {};
    const int64_t got = read_some(magic, 4);
    if (got == 0) throw_input_error(path, "not an IDX file: it is empty");
    if (got != 4 || magic[0] != 0 || magic[1] != 0 || magic[3] < 1 || magic[3] > 8 || !elem_type(magic[2])) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%02X%02X%02X%02X", magic[0], magic[1], magic[2], magic[3]);
      throw_input_error(path, std::string("not an IDX file: bad magic number ") + hex +
                                  " (MNIST images start with 0x00000803, labels with 0x00000801)");
    }
    unsigned char size[4];
    int64_t count = 1;
    for (int i = 0; i < magic[3]; ++i) {
      if (read_some(size, 4) != 4) throw_input_error(path, "truncated header");
      dims_.push_back(int64_t{size[0]} << 24 | int64_t{size[1]} << 16 | int64_t{size[2]} << 8 | size[3]);
      // Saturates at 2^50 elements, surely more than any file holds.
      const int64_t dim = std::max<int64_t>(dims_.back(), 1), cap = int64_t{1} << 50;
      count = count > cap / dim ? cap : count * dim;
    }
    for (int64_t d : dims_) count = d == 0 ? 0 : count;
    declared_ = count * type_.size;
    // Plain files are checked exactly; for .gz files an upper bound here
    // stops absurd sizes, and reading finds the rest.
    const int64_t header = 4 + 4 * static_cast<int64_t>(dims_.size());
    compressed_ = !gzdirect(file_.get());
    const int64_t room = compressed_ ? on_disk * kMaxGzipRatio : on_disk - header;
    if (declared_ > room || (!compressed_ && declared_ != room))
      throw_input_error(
          path, std::string(declared_ > room ? "truncated: " : "") + "the header declares shape " +
                    shape_string(dims_) + " (" + std::to_string(declared_) + " bytes of data), " +
                    (compressed_ ? "more than this .gz file can hold" : "the file has " + std::to_string(room)));
    row_bytes_ = dims_[0] == 0 ? 0 : declared_ / dims_[0];
  }

  const Shape& dims() const { return dims_; }

  // Converts rows [begin, end) into dst, then checks the data ends where the
  // header says (for .gz that means decompressing the rest).
  void read_rows(int64_t begin, int64_t end, float* dst, const Affine& affine = {}) {
    skip(begin * row_bytes_);
    std::vector<unsigned char> chunk(static_cast<size_t>(std::min(kChunk, (end - begin) * row_bytes_) + 1));
    for (int64_t left = (end - begin) * row_bytes_; left > 0;) {
      // Whole elements per chunk, so none is split between two reads.
      const int64_t n = std::min<int64_t>(left, kChunk / type_.size * type_.size);
      if (read_some(chunk.data(), n) != n) truncated();
      convert_to_float(chunk.data(), n / type_.size, type_, dst, affine);
      dst += n / type_.size;
      left -= n;
    }
    if (!compressed_) return;  // the size was checked against the file
    skip((dims_[0] - end) * row_bytes_);
    unsigned char extra;
    if (read_some(&extra, 1) != 0)
      throw_input_error(path_, "more data than the header declares (shape " + shape_string(dims_) + ")");
    // zlib reports a stream that stops before its 8-byte trailer (CRC and
    // size) not as a failed read but as Z_BUF_ERROR at the end: without this
    // a file cut there, whose CRC was never checked, would pass as whole.
    int code = Z_OK;
    gzerror(file_.get(), &code);
    if (code == Z_BUF_ERROR)
      throw_input_error(path_,
                        "truncated: the gzip stream ends before its trailer (CRC and size); the file was cut short");
  }

 private:
  bool elem_type(unsigned char code) {
    static const std::pair<unsigned char, ElemType> kTypes[] = {
        {0x08, {Elem::kU8, 1, true}},  {0x09, {Elem::kI8, 1, true}},  {0x0B, {Elem::kI16, 2, true}},
        {0x0C, {Elem::kI32, 4, true}}, {0x0D, {Elem::kF32, 4, true}}, {0x0E, {Elem::kF64, 8, true}}};
    for (const auto& [c, type] : kTypes) {
      if (c == code) {
        type_ = type;
        return true;
      }
    }
    return false;
  }

  int64_t read_some(void* buf, int64_t n) {
    const int got = gzread(file_.get(), buf, static_cast<unsigned>(n));
    if (got < 0) {
      int code;
      throw_input_error(path_, std::string("read failed: ") + gzerror(file_.get(), &code));
    }
    return got;
  }

  void skip(int64_t bytes) {
    if (bytes == 0) return;
    if (!compressed_) {
      if (gzseek(file_.get(), bytes, SEEK_CUR) < 0) truncated();
      return;
    }
    std::vector<unsigned char> scratch(static_cast<size_t>(std::min(kChunk, bytes)));
    for (int64_t left = bytes; left > 0;) {
      const int64_t n = std::min<int64_t>(left, static_cast<int64_t>(scratch.size()));
      if (read_some(scratch.data(), n) != n) truncated();
      left -= n;
    }
  }

  [[noreturn]] void truncated() {
    throw_input_error(path_, "truncated: the data ends before the " + std::to_string(declared_) +
                                 " bytes the header declares (shape " + shape_string(dims_) + ")");
  }

  std::string path_;
  std::unique_ptr<gzFile_s, GzClose> file_;
  Shape dims_;
  ElemType type_{Elem::kU8, 1, true};
  int64_t declared_ = 0;
  int64_t row_bytes_ = 0;
  bool compressed_ = false;
};

}  // namespace

Dataset read_idx(const IdxData& spec, const std::string& field, const Window& window, const Affine& features) {
  const std::string at = field + ".idx.";
  if (spec.images().empty()) throw_input_error(at + "images", "no file given");
  if (spec.labels().empty()) throw_input_error(at + "labels", "no file given");
  if (spec.classes() < 0) throw_input_error(at + "classes", "must be >= 0, got " + std::to_string(spec.classes()));
  IdxFile images(spec.images()), labels(spec.labels());
  if (labels.dims().size() != 1)
    throw_input_error(spec.labels(), "labels must be one-dimensional [N], got " + shape_string(labels.dims()));
  const int64_t n = images.dims()[0];
  if (labels.dims()[0] != n)
    throw_input_error(spec.labels(), std::to_string(labels.dims()[0]) + " labels for " + std::to_string(n) +
                                         " images in " + spec.images());
  if (n == 0) throw_input_error(spec.images(), "no samples");

  Dataset d;
  d.source = spec.images();
  d.sample_shape.assign(images.dims().begin() + 1, images.dims().end());
  if (d.sample_shape.empty()) d.sample_shape = {1};
  if (d.sample_shape.size() == 2) d.sample_shape.push_back(1);  // [H, W] images: one channel
  if (d.sample_size() == 0) throw_input_error(spec.images(), "samples are empty: shape " + shape_string(images.dims()));

  const auto [begin, end] = window.range(n);
  d.num_samples = end - begin;
  // Floats take up to 4 times the file's bytes (uint8 images): refused here,
  // not by "out of memory" half-way, when this machine cannot hold them.
  check_allocation(rows_bytes(d.num_samples, d.sample_size(), sizeof(float), spec.images()), spec.images(),
                   "converting " + std::to_string(d.num_samples) + " samples to floats");
  d.features.resize(static_cast<size_t>(d.num_samples * d.sample_size()));
  images.read_rows(begin, end, d.features.data(), features);

  // Labels are small: read all the limited ones so every shard infers the
  // same number of classes.
  std::vector<float> all(static_cast<size_t>(window.limited(n)));
  labels.read_rows(0, window.limited(n), all.data());
  d.label_kind = LabelKind::kClassIndex;
  // Capped so the cast is defined; load_dataset reports bad labels.
  float max_label = 0;
  for (float v : all) max_label = v > max_label ? std::min(v, 16777216.0f) : max_label;
  d.num_classes = spec.classes() > 0 ? spec.classes() : static_cast<int32_t>(max_label) + 1;
  d.labels.assign(all.begin() + begin, all.begin() + end);
  return d;
}

}  // namespace data
}  // namespace lockstep
