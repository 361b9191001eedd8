// load_dataset: picks the reader for the spec's source, then applies the
// transforms and checks every source shares. split_off_tail. The readers'
// shared helpers (file access, element conversion) live here too.
#include "core/data/dataset.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <type_traits>

#include "core/data/readers.h"
#include "core/error.h"
#include "core/regular_file.h"
#include "train.pb.h"

namespace lockstep {
namespace data {

std::pair<int64_t, int64_t> Window::range(int64_t total) const {
  const int64_t n = limited(total);
  const int64_t base = n / shard_count, extra = n % shard_count;
  const int64_t begin = shard_index * base + std::min<int64_t>(shard_index, extra);
  return {begin, begin + base + (shard_index < extra ? 1 : 0)};
}

// Directories, FIFOs and devices are refused before they are opened: a FIFO
// with no writer would block the open forever, /dev/zero would stream until
// memory runs out.
int64_t file_size(const std::string& path) { return regular_file_size(path, "cannot open"); }

std::string read_file(const std::string& path) {
  return read_regular_file(path, std::numeric_limits<int64_t>::max(), "cannot open");
}

namespace {

template <typename Bits>
Bits load_bits(const unsigned char* p, bool swap) {
  Bits v;
  std::memcpy(&v, p, sizeof v);
  if (swap) {
    if constexpr (sizeof(Bits) == 2) v = __builtin_bswap16(v);
    if constexpr (sizeof(Bits) == 4) v = __builtin_bswap32(v);
    if constexpr (sizeof(Bits) == 8) v = __builtin_bswap64(v);
  }
  return v;
}

// T is the element's type; the file's bytes are reinterpreted through an
// unsigned integer of the same size so the byte swap is exact.
template <typename T>
void convert(const unsigned char* src, int64_t count, bool swap, float* dst) {
  using Bits = std::conditional_t<
      sizeof(T) == 1, uint8_t,
      std::conditional_t<sizeof(T) == 2, uint16_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;
  for (int64_t i = 0; i < count; ++i) {
    const Bits bits = load_bits<Bits>(src + i * sizeof(T), swap && sizeof(T) > 1);
    T value;
    std::memcpy(&value, &bits, sizeof value);
    dst[i] = static_cast<float>(value);
  }
}

}  // namespace

void convert_to_float(const unsigned char* src, int64_t count, ElemType type, float* dst, const Affine& affine) {
  if (!affine.identity()) {
    if (type.elem == Elem::kU8) {
      float table[256];
      for (int v = 0; v < 256; ++v) table[v] = affine(static_cast<float>(v));
      for (int64_t i = 0; i < count; ++i) dst[i] = table[src[i]];
      return;
    }
    convert_to_float(src, count, type, dst);
    for (int64_t i = 0; i < count; ++i) dst[i] = affine(dst[i]);
    return;
  }
  const bool host_big = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
  const bool swap = type.big_endian != host_big;
  switch (type.elem) {
    case Elem::kBool:
      for (int64_t i = 0; i < count; ++i) dst[i] = src[i] ? 1.0f : 0.0f;
      return;
    case Elem::kU8:  // the hot path for images: keep it a plain loop the compiler vectorises
      for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<float>(src[i]);
      return;
    case Elem::kI8:
      return convert<int8_t>(src, count, swap, dst);
    case Elem::kU16:
      return convert<uint16_t>(src, count, swap, dst);
    case Elem::kI16:
      return convert<int16_t>(src, count, swap, dst);
    case Elem::kU32:
      return convert<uint32_t>(src, count, swap, dst);
    case Elem::kI32:
      return convert<int32_t>(src, count, swap, dst);
    case Elem::kU64:
      return convert<uint64_t>(src, count, swap, dst);
    case Elem::kI64:
      return convert<int64_t>(src, count, swap, dst);
    case Elem::kF32:
      return convert<float>(src, count, swap, dst);
    case Elem::kF64:
      return convert<double>(src, count, swap, dst);
  }
}

}  // namespace data

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// The checks every source must pass, after limit, scale and shift. Readers
// check what they can with a better position (CSV line numbers); this is the
// net that catches the rest, naming the sample.
void validate(Dataset& d, const std::string& where, const std::string& labels_where) {
  if (d.num_samples <= 0) throw_input_error(where, "no samples");
  const int64_t width = d.sample_size();
  for (size_t i = 0; i < d.features.size(); ++i) {
    if (!std::isfinite(d.features[i])) {
      throw_input_error(where, std::string(std::isnan(d.features[i]) ? "NaN" : "Inf") + " in feature " +
                                   std::to_string(i % width) + " of sample " + std::to_string(i / width) +
                                   " (counting from 0; after scale and shift)");
    }
  }
  for (size_t i = 0; i < d.labels.size(); ++i) {
    if (!std::isfinite(d.labels[i]))
      throw_input_error(labels_where, "NaN or Inf in the label of sample " + std::to_string(i / d.label_width));
  }
  for (size_t i = 0; i < d.weights.size(); ++i) {
    if (!(d.weights[i] >= 0 && std::isfinite(d.weights[i])))
      throw_input_error(where, "sample weight " + number(d.weights[i]) + " of sample " + std::to_string(i) +
                                   " is not a finite number >= 0");
  }
  if (d.label_kind != LabelKind::kClassIndex) return;
  float max_label = 0;
  for (size_t i = 0; i < d.labels.size(); ++i) {
    const float label = d.labels[i];
    if (label < 0 || label != std::floor(label))
      throw_input_error(labels_where, "label " + number(label) + " of sample " + std::to_string(i) +
                                          " is not a class index (a whole number >= 0)");
    max_label = std::max(max_label, label);
    if (d.num_classes > 0 && label >= d.num_classes)
      throw_input_error(labels_where, "label " + number(label) + " out of range [0, " + std::to_string(d.num_classes) +
                                          ") in sample " + std::to_string(i) + "; check `classes`");
  }
  if (d.num_classes == 0) {
    if (max_label >= 16777216.0f)
      throw_input_error(labels_where, "label " + number(max_label) + " is too large for a class index");
    d.num_classes = static_cast<int32_t>(max_label) + 1;
  }
}

}  // namespace

Dataset load_dataset(const DataSpec& spec, const std::string& field, const LoadOptions& options) {
  if (spec.limit() < 0)
    throw_input_error(field + ".limit", "must be >= 0 (0 = all samples), got " + std::to_string(spec.limit()));
  // A NaN or Inf here would turn every feature into NaN: said of the field,
  // not of "feature 0 of sample 0" of a file that is fine.
  if (!std::isfinite(spec.scale()))
    throw_input_error(field + ".scale", "must be a finite number, got " + number(spec.scale()));
  if (!std::isfinite(spec.shift()))
    throw_input_error(field + ".shift", "must be a finite number, got " + number(spec.shift()));
  const data::Affine affine{spec.scale(), spec.shift()};
  data::Window window;
  window.limit = spec.limit();
  // GLOBAL data is the same on every rank whatever the caller passes.
  if (spec.shard_mode() == DataSpec::LOCAL) {
    if (options.shard_count < 1 || options.shard_index < 0 || options.shard_index >= options.shard_count)
      throw_input_error(field, "shard " + std::to_string(options.shard_index) + " of " +
                                   std::to_string(options.shard_count) + " does not exist");
    window.shard_index = options.shard_index;
    window.shard_count = options.shard_count;
  }
  window.holdout_fraction = options.holdout_fraction;

  Dataset d;
  switch (spec.source_case()) {
    case DataSpec::kSynthetic:
      d = data::read_synthetic(spec.synthetic(), field, window);
      break;
    case DataSpec::kCsv:
      d = data::read_csv(spec.csv(), field, window);
      break;
    case DataSpec::kIdx:
      d = data::read_idx(spec.idx(), field, window, affine);
      break;
    case DataSpec::kNpy:
      d = data::read_npy(spec.npy(), field, window, affine);
      break;
    case DataSpec::SOURCE_NOT_SET:
      throw_input_error(field, "no data source; set one of synthetic, csv, idx, npy");
  }

  const bool reader_applied_affine = spec.has_idx() || spec.has_npy();
  if (!affine.identity() && !reader_applied_affine)
    for (float& x : d.features) x = affine(x);
  // Messages name the file that holds the problem.
  const std::string where = spec.has_synthetic() ? field : d.source;
  const std::string labels_where = spec.has_idx() ? spec.idx().labels() : spec.has_npy() ? spec.npy().labels() : where;
  if (window.shard_count > 1 && d.num_samples == 0)
    throw_input_error(where, "no samples in part " + std::to_string(window.shard_index) + " of " +
                                 std::to_string(window.shard_count) + " (fewer samples than parts)");
  validate(d, where, labels_where);
  return d;
}

int64_t training_samples_after_split(int64_t n, double fraction) {
  const std::string where = "validation_split";
  if (!(fraction > 0.0 && fraction < 1.0)) throw_input_error(where, "must be in (0, 1), got " + number(fraction));
  // validation_split is a float in the config: 0.2f is 0.2000000030, and
  // 1000 * (1 - 0.2000000030) would floor to 799. Take the float's shortest
  // decimal form, the number the user wrote, as Keras sees it in Python.
  const float as_float = static_cast<float>(fraction);
  if (static_cast<double>(as_float) == fraction) {
    char buf[32];
    auto result = std::to_chars(buf, buf + sizeof buf, as_float);
    std::from_chars(buf, result.ptr, fraction);
  }
  const auto split_at = static_cast<int64_t>(std::floor(static_cast<double>(n) * (1.0 - fraction)));
  if (split_at <= 0 || split_at >= n)
    throw_input_error(where, number(fraction) + " of " + std::to_string(n) + " samples leaves " +
                                 (split_at <= 0 ? "no training" : "no validation") + " samples");
  return split_at;
}

Dataset split_off_tail(Dataset& data, double fraction) {
  const int64_t n = data.num_samples;
  const int64_t split_at = training_samples_after_split(n, fraction);

  Dataset tail;
  tail.sample_shape = data.sample_shape;
  tail.num_samples = n - split_at;
  tail.label_kind = data.label_kind;
  tail.label_width = data.label_width;
  tail.num_classes = data.num_classes;
  tail.source = data.source;
  tail.class_names = data.class_names;
  tail.fill_values = data.fill_values;
  tail.header = data.header;
  const int64_t fw = data.sample_size(), lw = data.label_width;
  tail.features.assign(data.features.begin() + split_at * fw, data.features.end());
  tail.labels.assign(data.labels.begin() + split_at * lw, data.labels.end());
  if (!data.filled.empty()) {
    tail.filled.assign(data.filled.begin() + split_at, data.filled.end());
    data.filled.resize(split_at);
  }
  if (!data.weights.empty()) {
    tail.weights.assign(data.weights.begin() + split_at, data.weights.end());
    data.weights.resize(split_at);
    data.weights.shrink_to_fit();
  }
  data.features.resize(split_at * fw);
  data.labels.resize(split_at * lw);
  data.features.shrink_to_fit();
  data.labels.shrink_to_fit();
  data.num_samples = split_at;
  return tail;
}

int64_t Dataset::filled_count() const { return std::accumulate(filled.begin(), filled.end(), int64_t{0}); }

std::string load_summary(const Dataset& d, const std::string& field) {
  std::string s = field + ": " + d.source + ": " + std::to_string(d.num_samples) + " samples, ";
  s += d.sample_shape.size() == 1 ? std::to_string(d.sample_size()) + " features" : "shape " + shape_string(d.sample_shape);
  if (d.label_kind == LabelKind::kValue) {
    s += ", " + std::to_string(d.label_width) + " target" + (d.label_width == 1 ? "" : "s");
  } else {
    s += ", " + std::to_string(d.num_classes) + " classes";
    if (!d.class_names.empty()) {
      s += " (";
      for (size_t i = 0; i < d.class_names.size(); ++i) s += (i ? " " : "") + std::to_string(i) + "=" + d.class_names[i];
      s += ")";
    }
  }
  if (!d.weights.empty()) s += ", sample weights";
  if (const int64_t filled = d.filled_count(); filled > 0)
    s += ", " + std::to_string(filled) + " missing value" + (filled == 1 ? "" : "s") +
         " filled with the training means";
  if (!d.header.empty()) s += ", header: " + d.header;
  return s;
}

}  // namespace lockstep
