// CSV files: one sample per line, numbers only, an optional header line.
//
// The whole file is read at once and parsed in place with std::from_chars
// (no per-field allocation). Two passes: the first counts data rows so the
// window (limit, shard) is known before anything is converted; the second
// parses only this part's rows. Blank lines are skipped anywhere, as numpy
// and pandas do; \r\n endings, a UTF-8 byte-order mark and spaces or tabs
// around fields are tolerated.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/readers.h"
#include "core/checked_size.h"
#include "core/error.h"
#include "core/memory_plan.h"
#include "train.pb.h"

namespace lockstep {
namespace data {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// No CSV line of numbers is this long (a million columns of 60 characters
// each); a longer one is a binary file, or a file without line breaks.
constexpr size_t kMaxLineBytes = size_t{64} << 20;

// Non-blank lines with their 1-based numbers, line endings removed.
class Lines {
 public:
  Lines(std::string_view text, const std::string& path) : text_(text), path_(&path) {}
  bool next(std::string_view& line, int64_t& number) {
    while (pos_ < text_.size()) {
      const char* start = text_.data() + pos_;
      const void* nl = std::memchr(start, '\n', text_.size() - pos_);
      const size_t len = nl ? static_cast<const char*>(nl) - start : text_.size() - pos_;
      pos_ += len + 1;
      ++number_;
      if (len > kMaxLineBytes)
        throw_input_error(*path_ + ":" + std::to_string(number_),
                          "line longer than 64 MiB (" + std::to_string(len) + " bytes): not a CSV text file");
      line = std::string_view(start, len);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!trim(line).empty()) {
        number = number_;
        return true;
      }
    }
    return false;
  }

 private:
  std::string_view text_;
  const std::string* path_;
  size_t pos_ = 0;
  int64_t number_ = 0;
};

int64_t count_fields(std::string_view line, char delim) { return std::count(line.begin(), line.end(), delim) + 1; }

// A position for messages, "path:line", built only when there is an error.
struct Pos {
  const std::string& path;
  int64_t line;
  std::string str() const { return path + ":" + std::to_string(line); }
};

// A field as quoted in messages: short, and printable whatever the file holds.
std::string quote(std::string_view field) {
  std::string q = "'";
  for (char c : field.substr(0, 40)) q += c >= ' ' && c != 127 ? c : '?';
  return q + (field.size() > 40 ? "...'" : "'");
}

enum class Parsed { kOk, kNotNumber, kOutOfRange };

Parsed parse_number(std::string_view s, float& value) {
  // Short integers (pixel values, class indices: most numeric CSV) are below
  // 2^24, so float holds them exactly and from_chars would give the same
  // bits; this path parses them about twice as fast.
  if (!s.empty() && s.size() <= 7) {
    const size_t first = s[0] == '-' ? 1 : 0;
    uint32_t n = 0;
    size_t i = first;
    for (; i < s.size(); ++i) {
      const unsigned digit = static_cast<unsigned char>(s[i]) - unsigned{'0'};
      if (digit > 9) break;
      n = n * 10 + digit;
    }
    if (i == s.size() && i > first) {
      value = first ? -static_cast<float>(n) : static_cast<float>(n);
      return Parsed::kOk;
    }
  }
  if (s.size() > 1 && s[0] == '+' && s[1] != '-') s.remove_prefix(1);  // from_chars rejects '+'
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (end != s.data() + s.size() || s.empty()) return Parsed::kNotNumber;
  if (ec == std::errc::result_out_of_range) {
    // Overflow is an error; underflow rounds to a denormal or zero, as it would in numpy.
    const double wide = std::strtod(std::string(s).c_str(), nullptr);
    if (std::fabs(wide) > std::numeric_limits<float>::max()) return Parsed::kOutOfRange;
    value = static_cast<float>(wide);
  } else if (ec != std::errc()) {
    return Parsed::kNotNumber;
  }
  return Parsed::kOk;
}

float parse_field(std::string_view field, int64_t column, const Pos& pos) {
  float v;
  const Parsed parsed = parse_number(field, v);
  if (parsed == Parsed::kOk && std::isfinite(v)) return v;
  const std::string where = pos.str(), col = "column " + std::to_string(column + 1);
  switch (parsed) {
    case Parsed::kOk:
      break;
    case Parsed::kOutOfRange:
      throw_input_error(where, quote(field) + " is too large for a float (" + col + ")");
    case Parsed::kNotNumber:
      if (field.empty()) throw_input_error(where, "empty field in " + col);
      throw_input_error(where, quote(field) + " is not a number (" + col + ")");
  }
  throw_input_error(where, std::string(std::isnan(v) ? "NaN" : "Inf") + " in " + col);
}

// A class index must be a whole number in [0, classes) (classes 0 = unknown).
void check_class(float v, std::string_view field, int64_t column, int classes, const Pos& pos) {
  if (v >= 0 && v == std::floor(v) && (classes == 0 || v < classes)) return;
  const std::string col = " (column " + std::to_string(column + 1) + ")";
  if (v < 0 || v != std::floor(v))
    throw_input_error(pos.str(), "label " + quote(field) + " is not a class index (a whole number >= 0)" + col);
  char value[32];
  std::snprintf(value, sizeof value, "%.9g", v);
  throw_input_error(pos.str(), "label " + std::string(value) + " out of range [0, " + std::to_string(classes) + ")" +
                                   col + "; check `classes`");
}

struct Layout {
  int64_t columns = 0;
  int64_t label_column = 0;  // first label column, resolved
  int64_t label_width = 1;
  CsvData::LabelEncoding encoding = CsvData::INTEGER;
  int64_t weight_column = -1;  // sample_weight_column, resolved; -1 = none
  int classes = 0;       // as configured
  std::string mismatch;  // "(as in the header)" or "(as in line K)"
  int64_t features() const { return columns - label_width - (weight_column >= 0 ? 1 : 0); }
};

// A first line with no `delim` but another common separator (a European
// Excel export uses ';') is one column to the parser: name the likely
// delimiter rather than report a missing feature column.
void check_delimiter(std::string_view first_line, char delim, const Pos& first, const std::string& at) {
  if (first_line.find(delim) != std::string_view::npos) return;
  for (const char other : {';', '\t', '|'}) {
    if (other == delim || first_line.find(other) == std::string_view::npos) continue;
    const std::string shown = other == '\t' ? "\\t" : std::string(1, other);
    throw_input_error(first.str(), std::string("no '") + delim + "' in the first line, but '" + shown +
                                       "' separates its fields: set " + at + "delimiter: \"" + shown + "\"");
  }
}

// Works out the label columns from the spec and the first line's width.
// What the line holds is the file's fault: those errors name the file and
// line (`first`), and the setting they conflict with.
Layout make_layout(const CsvData& spec, const std::string& at, int64_t columns, const Pos& first) {
  Layout l;
  l.columns = columns;
  l.encoding = spec.label_encoding();
  l.classes = spec.classes();
  if (l.classes < 0) throw_input_error(at + "classes", "must be >= 0, got " + std::to_string(l.classes));
  if (l.encoding == CsvData::ONE_HOT && l.classes == 0)
    throw_input_error(at + "classes", "ONE_HOT labels need `classes` (the number of label columns) > 0");
  if (l.encoding != CsvData::INTEGER) l.label_width = l.classes > 0 ? l.classes : 1;
  l.label_column = spec.label_column() < 0 ? columns + spec.label_column() : spec.label_column();
  const std::string setting = " (" + at + "label_column: " + std::to_string(spec.label_column()) + ")";
  if (l.label_column < 0 || l.label_column + l.label_width > columns)
    throw_input_error(first.str(), "the label (" + std::to_string(l.label_width) + " column" +
                                       (l.label_width == 1 ? "" : "s") + " wide) does not fit in the line's " +
                                       std::to_string(columns) + " column" + (columns == 1 ? "" : "s") + setting);
  if (spec.has_sample_weight_column()) {
    const int64_t w = spec.sample_weight_column();
    l.weight_column = w < 0 ? columns + w : w;
    if (l.weight_column < 0 || l.weight_column >= columns)
      throw_input_error(at + "sample_weight_column",
                        "column " + std::to_string(w) + " does not exist in " + std::to_string(columns) + " columns");
    if (l.weight_column >= l.label_column && l.weight_column < l.label_column + l.label_width)
      throw_input_error(at + "sample_weight_column", "column " + std::to_string(w) + " is the label's");
  }
  if (l.features() < 1)
    throw_input_error(first.str(), "no feature columns besides the label in the line's " + std::to_string(columns) +
                                       " column" + (columns == 1 ? "" : "s") + setting);
  return l;
}

// Parses one data row into `features` and `labels` (either may be null to
// skip, e.g. when only the label of another shard's row is wanted).
void parse_row(std::string_view line, char delim, const Layout& l, const Pos& where, float* features, float* labels,
               float* weight, float& max_label) {
  const int64_t lbegin = l.label_column, lend = l.label_column + l.label_width;
  int64_t column = 0;
  // Fields are a few characters: an inline scan beats a memchr call each.
  const char* start = line.data();
  const char* const line_end = start + line.size();
  for (;; ++column) {
    const char* end = start;
    while (end != line_end && *end != delim) ++end;
    if (column >= l.columns) {
      throw_input_error(where.str(), "expected " + std::to_string(l.columns) + " columns " + l.mismatch + ", found " +
                                         std::to_string(count_fields(line, delim)));
    }
    const bool is_label = column >= lbegin && column < lend;
    if (is_label || features) {
      const std::string_view field = trim(std::string_view(start, static_cast<size_t>(end - start)));
      const float v = parse_field(field, column, where);
      if (column == l.weight_column) {
        if (weight) *weight = v;
      } else if (!is_label) {
        *features++ = v;
      } else {
        if (l.encoding == CsvData::INTEGER) check_class(v, field, column, l.classes, where);
        if (v > max_label) max_label = v;
        if (labels) labels[column - lbegin] = v;
      }
    }
    if (end == line_end) break;
    start = end + 1;
  }
  if (column + 1 != l.columns)
    throw_input_error(where.str(), "expected " + std::to_string(l.columns) + " columns " + l.mismatch + ", found " +
                                       std::to_string(column + 1));
}

// A CSV file is text: a control byte (NUL, ESC, ...) anywhere means a binary
// file was given. Said with the file's name and position, rather than as a
// puzzling layout or number error later. One branch-light pass.
void check_text(std::string_view body, const std::string& path) {
  auto is_control = [](unsigned char c) { return (c < ' ' && (c < '\t' || c > '\r')) || c == 127; };
  size_t bad = 0;
  while (bad < body.size() && !is_control(static_cast<unsigned char>(body[bad]))) ++bad;
  if (bad == body.size()) return;
  const std::string_view before = body.substr(0, bad);
  const int64_t line = std::count(before.begin(), before.end(), '\n') + 1;
  const size_t newline = before.rfind('\n');
  const size_t column = bad - (newline == std::string_view::npos ? 0 : newline + 1) + 1;
  char byte[8];
  std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(body[bad]));
  throw_input_error(path + ":" + std::to_string(line),
                    "not a CSV text file: control byte " + std::string(byte) + " at column " + std::to_string(column));
}

bool any_not_number(std::string_view line, char delim) {
  float v;
  for (size_t start = 0, end = 0; end != std::string_view::npos; start = end + 1) {
    end = line.find(delim, start);
    if (parse_number(trim(line.substr(start, end == std::string_view::npos ? end : end - start)), v) ==
        Parsed::kNotNumber)
      return true;
  }
  return false;
}

}  // namespace

Dataset read_csv(const CsvData& spec, const std::string& field, const Window& window) {
  const std::string at = field + ".csv.";
  if (spec.path().empty()) throw_input_error(at + "path", "no file given");
  if (spec.delimiter().size() != 1)
    throw_input_error(at + "delimiter", "must be one character, got '" + spec.delimiter() + "'");
  const std::string& path = spec.path();
  const char delim = spec.delimiter()[0];
  check_allocation(static_cast<uint64_t>(file_size(path)), path, "reading this CSV file");
  const std::string text = read_file(path);
  std::string_view body(text);
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);  // UTF-8 byte-order mark (Excel)
  check_text(body, path);

  Lines lines(body, path);
  std::string_view line;
  int64_t number = 0;
  if (!lines.next(line, number)) throw_input_error(path, "no samples (the file is empty)");
  const bool header = spec.header() == CsvData::YES || (spec.header() == CsvData::AUTO && any_not_number(line, delim));
  check_delimiter(line, delim, Pos{path, number}, at);
  Layout layout = make_layout(spec, at, count_fields(line, delim), Pos{path, number});
  layout.mismatch = header ? "(as in the header)" : "(as in line " + std::to_string(number) + ")";

  // Pass 1: count the data rows.
  int64_t rows = header ? 0 : 1;
  for (Lines counter = lines; counter.next(line, number);) ++rows;
  if (rows == 0) throw_input_error(path, "no samples (only a header line)");

  const auto [begin, end] = window.range(rows);
  const int64_t wanted = window.limited(rows);
  check_allocation(rows_bytes(end - begin, layout.columns, sizeof(float), path), path,
                   "converting " + std::to_string(end - begin) + " rows of " + std::to_string(layout.columns) +
                       " columns to floats");
  // With several shards, every shard scans the labels of all rows so that
  // an inferred number of classes is the same everywhere.
  const bool scan_labels = layout.encoding == CsvData::INTEGER && layout.classes == 0 && window.shard_count > 1;

  Dataset d;
  d.source = path;
  d.sample_shape = {layout.features()};
  d.num_samples = end - begin;
  d.label_width = layout.label_width;
  d.label_kind = layout.encoding == CsvData::INTEGER   ? LabelKind::kClassIndex
                 : layout.encoding == CsvData::ONE_HOT ? LabelKind::kOneHot
                                                       : LabelKind::kValue;
  d.features.resize(static_cast<size_t>(d.num_samples * d.sample_size()));
  d.labels.resize(static_cast<size_t>(d.num_samples * d.label_width));
  if (layout.weight_column >= 0) d.weights.resize(static_cast<size_t>(d.num_samples));

  // Pass 2: parse this part's rows.
  Lines reader(body, path);
  if (header) reader.next(line, number);
  float max_label = 0;
  for (int64_t row = 0; row < (scan_labels ? wanted : end) && reader.next(line, number); ++row) {
    if (row < begin && !scan_labels) continue;
    const Pos where{path, number};
    const bool mine = row >= begin && row < end;
    const int64_t k = row - begin;
    parse_row(line, delim, layout, where, mine ? &d.features[k * d.sample_size()] : nullptr,
              mine ? &d.labels[k * d.label_width] : nullptr, mine && !d.weights.empty() ? &d.weights[k] : nullptr,
              max_label);
  }
  if (layout.encoding == CsvData::INTEGER) {
    d.num_classes = layout.classes > 0 ? layout.classes
                    : scan_labels      ? static_cast<int32_t>(std::min(max_label, 16777216.0f)) + 1
                                       : 0;
  } else if (layout.encoding == CsvData::ONE_HOT) {
    d.num_classes = layout.classes;
  }
  return d;
}

}  // namespace data
}  // namespace lockstep
