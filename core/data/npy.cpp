// NumPy .npy files (format versions 1, 2 and 3): "\x93NUMPY", version, header
// length, a Python dict literal {'descr': '<f4', 'fortran_order': False,
// 'shape': (N, ...)}, then the packed array in C order.
//
// Features [N, ...] become samples of shape [...] ({1} for [N]). Labels:
//   [N]                               class indices (whole numbers, any dtype)
//   [N, K], `classes` given (== K)    one-hot (or soft) class scores
//   [N, K], K > 1, every row 0/1 with a single 1   one-hot
//   otherwise [N, K]                  regression targets (kValue)
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
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

struct Npy {
  ElemType type{Elem::kF32, 4, false};
  Shape shape;
  int64_t data_offset = 0;
  int64_t row_bytes = 0;
};

// Parses the header dict; every error names the file.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  Npy parse() {
    Npy npy;
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (!eat('}')) {
      const std::string key = string();
      expect(':');
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"') fail("structured dtypes are not supported; save a plain numeric array");
        npy.type = dtype(string());
        have_descr = true;
      } else if (key == "fortran_order") {
        if (boolean()) fail("fortran_order is True; save a C-ordered array (np.ascontiguousarray)");
        have_order = true;
      } else if (key == "shape") {
        npy.shape = tuple();
        have_shape = true;
      } else {
        fail("unexpected key '" + key + "'");
      }
      if (!eat(',')) {
        expect('}');
        break;
      }
    }
    if (!have_descr || !have_order || !have_shape) fail("the header lacks 'descr', 'fortran_order' or 'shape'");
    return npy;
  }

 private:
  [[noreturn]] void fail(const std::string& what) { throw_input_error(path_, "bad .npy header: " + what); }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t')) ++i_;
  }
  char peek() {
    skip_space();
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "' at offset " + std::to_string(i_));
  }
  std::string string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string at offset " + std::to_string(i_));
    const size_t end = s_.find(quote, ++i_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string out(s_.substr(i_, end - i_));
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    for (const char* word : {"True", "False"}) {
      if (s_.substr(i_, std::strlen(word)) == word) {
        i_ += std::strlen(word);
        return word[0] == 'T';
      }
    }
    fail("expected True or False at offset " + std::to_string(i_));
  }
  Shape tuple() {
    Shape shape;
    expect('(');
    while (!eat(')')) {
      int64_t v = 0;
      const size_t start = (skip_space(), i_);
      for (; i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9'; ++i_) {
        if (v > (int64_t{1} << 50)) fail("dimension too large");
        v = v * 10 + (s_[i_] - '0');
      }
      if (i_ == start) fail("expected a dimension at offset " + std::to_string(i_));
      eat('L');  // Python 2 long
      shape.push_back(v);
      if (!eat(',')) {
        expect(')');
        break;
      }
    }
    return shape;
  }
  ElemType dtype(const std::string& d) {
    static const struct {
      char kind;
      int size;
      Elem elem;
    } kTypes[] = {{'b', 1, Elem::kBool}, {'u', 1, Elem::kU8},  {'i', 1, Elem::kI8},  {'u', 2, Elem::kU16},
                  {'i', 2, Elem::kI16},  {'u', 4, Elem::kU32}, {'i', 4, Elem::kI32}, {'u', 8, Elem::kU64},
                  {'i', 8, Elem::kI64},  {'f', 4, Elem::kF32}, {'f', 8, Elem::kF64}};
    const int size = d.size() == 3 && d[2] >= '1' && d[2] <= '8' ? d[2] - '0' : 0;
    const char order = size ? d[0] : '?';
    // '|' (no byte order) only makes sense for single bytes.
    if (order == '<' || order == '>' || order == '=' || (order == '|' && size == 1)) {
      const bool big = order == '>' || (order == '=' && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
      for (const auto& t : kTypes)
        if (t.kind == d[1] && t.size == size) return {t.elem, size, big};
    }
    fail("dtype '" + d + "' is not supported; use float32/64, (u)int8/16/32/64 or bool, e.g. arr.astype('<f4')");
  }

  std::string_view s_;
  const std::string& path_;
  size_t i_ = 0;
};

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

File open(const std::string& path, Npy& npy) {
  const int64_t size = file_size(path);
  File f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw_input_error(path, std::string("cannot open: ") + std::strerror(errno));
  unsigned char pre[12] = {};
  const size_t got = std::fread(pre, 1, sizeof pre, f.get());
  // np.savez writes a zip of .npy files: say so, it is the usual mix-up.
  if (got >= 4 && std::memcmp(pre, "PK\x03\x04", 4) == 0)
    throw_input_error(path, "a zip archive (.npz from np.savez), not a .npy file: save each array with np.save");
  if (got < 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0) throw_input_error(path, "not a .npy file (bad magic string)");
  if (pre[6] < 1 || pre[6] > 3)
    throw_input_error(path, "unsupported .npy format version " + std::to_string(pre[6]) + "." + std::to_string(pre[7]));
  const int64_t prefix = pre[6] == 1 ? 10 : 12;
  const int64_t header_len =
      pre[6] == 1 ? pre[8] | pre[9] << 8
                  : int64_t{pre[8]} | int64_t{pre[9]} << 8 | int64_t{pre[10]} << 16 | int64_t{pre[11]} << 24;
  if (prefix + header_len > size || header_len > (1 << 20))
    throw_input_error(path, "bad .npy header: length " + std::to_string(header_len) + " does not fit the file");
  std::string header(static_cast<size_t>(header_len), '\0');
  if (std::fseek(f.get(), static_cast<long>(prefix), SEEK_SET) != 0 ||
      std::fread(&header[0], 1, header.size(), f.get()) != header.size())
    throw_input_error(path, "bad .npy header: cannot read it");
  npy = HeaderParser(header, path).parse();
  npy.data_offset = prefix + header_len;

  // Check the sizes against the file before anything is allocated.
  int64_t count = 1;
  for (int64_t d : npy.shape)
    count = d == 0 || count == 0 ? 0 : count > (int64_t{1} << 50) / d ? int64_t{1} << 50 : count * d;
  const int64_t declared = count * npy.type.size, present = size - npy.data_offset;
  if (declared != present)
    throw_input_error(path, std::string(declared > present ? "truncated: " : "") + "the header declares shape " +
                                shape_string(npy.shape) + " (" + std::to_string(declared) +
                                " bytes of data), the file has " + std::to_string(present));
  if (npy.shape.empty()) throw_input_error(path, "a scalar array; expected [N, ...] with one row per sample");
  npy.row_bytes = npy.shape[0] == 0 ? 0 : declared / npy.shape[0];
  return f;
}

// Converts rows [begin, end) of the array into dst.
void read_rows(FILE* f, const std::string& path, const Npy& npy, int64_t begin, int64_t end, float* dst,
               const Affine& affine = {}) {
  if (fseeko(f, static_cast<off_t>(npy.data_offset + begin * npy.row_bytes), SEEK_SET) != 0)
    throw_input_error(path, std::string("seek failed: ") + std::strerror(errno));
  const int64_t step = kChunk / npy.type.size * npy.type.size;  // whole elements per read
  std::vector<unsigned char> chunk(static_cast<size_t>(std::min(step, (end - begin) * npy.row_bytes)));
  for (int64_t left = (end - begin) * npy.row_bytes; left > 0;) {
    const int64_t n = std::min(left, step);
    if (std::fread(chunk.data(), 1, static_cast<size_t>(n), f) != static_cast<size_t>(n))
      throw_input_error(path, "read failed: the file changed or is unreadable");
    convert_to_float(chunk.data(), n / npy.type.size, npy.type, dst, affine);
    dst += n / npy.type.size;
    left -= n;
  }
}

bool all_one_hot(const std::vector<float>& labels, int64_t width) {
  for (size_t r = 0; r < labels.size(); r += width) {
    int ones = 0;
    for (int64_t k = 0; k < width; ++k) {
      const float v = labels[r + k];
      if (v != 0.0f && v != 1.0f) return false;
      ones += v == 1.0f;
    }
    if (ones != 1) return false;
  }
  return true;
}

}  // namespace

Dataset read_npy(const NpyData& spec, const std::string& field, const Window& window, const Affine& features) {
  const std::string at = field + ".npy.";
  if (spec.features().empty()) throw_input_error(at + "features", "no file given");
  if (spec.labels().empty()) throw_input_error(at + "labels", "no file given");
  if (spec.classes() < 0) throw_input_error(at + "classes", "must be >= 0, got " + std::to_string(spec.classes()));
  Npy xs, ys;
  File xf = open(spec.features(), xs), yf = open(spec.labels(), ys);
  const int64_t n = xs.shape[0];
  if (ys.shape.size() > 2)
    throw_input_error(spec.labels(), "labels must be [N] or [N, K], got " + shape_string(ys.shape));
  if (ys.shape[0] != n)
    throw_input_error(spec.labels(), std::to_string(ys.shape[0]) + " labels for " + std::to_string(n) + " samples in " +
                                         spec.features());
  if (n == 0) throw_input_error(spec.features(), "no samples");

  Dataset d;
  d.source = spec.features();
  d.sample_shape.assign(xs.shape.begin() + 1, xs.shape.end());
  if (d.sample_shape.empty()) d.sample_shape = {1};
  if (d.sample_size() == 0) throw_input_error(spec.features(), "samples are empty: shape " + shape_string(xs.shape));
  const auto [begin, end] = window.range(n);
  d.num_samples = end - begin;
  // Floats take up to 4 times the file's bytes (uint8 images): refused here,
  // not by "out of memory" half-way, when this machine cannot hold them.
  check_allocation(rows_bytes(d.num_samples, d.sample_size(), sizeof(float), spec.features()), spec.features(),
                   "converting " + std::to_string(d.num_samples) + " samples to floats");
  d.features.resize(static_cast<size_t>(d.num_samples * d.sample_size()));
  read_rows(xf.get(), spec.features(), xs, begin, end, d.features.data(), features);

  // Labels are small next to features: decide their kind from all the
  // limited rows so every shard decides alike.
  d.label_width = ys.shape.size() == 2 ? ys.shape[1] : 1;
  if (d.label_width == 0) throw_input_error(spec.labels(), "labels are empty: shape " + shape_string(ys.shape));
  std::vector<float> all(static_cast<size_t>(window.limited(n) * d.label_width));
  read_rows(yf.get(), spec.labels(), ys, 0, window.limited(n), all.data());
  if (ys.shape.size() == 1) {
    d.label_kind = LabelKind::kClassIndex;
    float max_label = 0;  // capped so the cast is defined; load_dataset reports bad labels
    for (float v : all) max_label = v > max_label ? std::min(v, 16777216.0f) : max_label;
    d.num_classes = spec.classes() > 0 ? spec.classes() : static_cast<int32_t>(max_label) + 1;
  } else if (spec.classes() > 0 || (d.label_width > 1 && all_one_hot(all, d.label_width))) {
    if (spec.classes() > 0 && spec.classes() != d.label_width)
      throw_input_error(at + "classes", std::to_string(spec.classes()) + " classes, but the labels have " +
                                            std::to_string(d.label_width) + " columns");
    d.label_kind = LabelKind::kOneHot;
    d.num_classes = static_cast<int32_t>(d.label_width);
  } else {
    d.label_kind = LabelKind::kValue;
  }
  d.labels.assign(all.begin() + begin * d.label_width, all.begin() + end * d.label_width);
  return d;
}

}  // namespace data
}  // namespace lockstep
