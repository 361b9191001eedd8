// CSV files: one sample per line, numbers (class labels may be names), an
// optional header line; missing values an error or filled with means.
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
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/readers.h"
#include "core/data/csv_text.h"
#include "core/checked_size.h"
#include "core/error.h"
#include "core/memory_plan.h"
#include "train.pb.h"

namespace lockstep {
namespace data {
namespace {

using namespace csv;  // the text helpers

// A class label given by name: string labels map to these indices.
using ClassIndex = std::map<std::string, int, std::less<>>;

// Thrown inside this file when an INTEGER label is not a number: the rows
// are read again with the labels as class names.
struct LabelIsAName {};

struct Layout {
  int64_t columns = 0;
  int64_t label_column = 0;  // first label column, resolved
  int64_t label_width = 1;
  CsvData::LabelEncoding encoding = CsvData::INTEGER;
  int64_t weight_column = -1;  // sample_weight_column, resolved; -1 = none
  int classes = 0;       // as configured
  std::string mismatch;  // "(as in the header)" or "(as in line K)"
  std::vector<std::string> header;  // column names when the file has a header
  bool fill_missing = false;        // missing: "mean"
  const ClassIndex* names = nullptr;  // string labels: name -> class
  int64_t features() const { return columns - label_width - (weight_column >= 0 ? 1 : 0); }
  // "column 3" or "column 3 'age'", counting from 1 as spreadsheets do.
  std::string column(int64_t c) const {
    const std::string n = "column " + std::to_string(c + 1);
    return c < static_cast<int64_t>(header.size()) && !header[c].empty() ? n + " " + quote(header[c]) : n;
  }
};

// A field that is not a finite number: NaN to fill later, or the error.
// Out of line so that parse_field, called for every field, stays small.
[[gnu::noinline]] float missing_or_error(std::string_view field, Parsed parsed, float v, int64_t column,
                                         const Layout& l, const Pos& pos) {
  const std::string where = pos.str(), col = l.column(column);
  if (is_missing_marker(field)) {
    if (l.fill_missing) return std::numeric_limits<float>::quiet_NaN();  // filled once the means are known
    throw_input_error(where, "missing value " + (field.empty() ? std::string("(empty field)") : quote(field)) +
                                 " in " + col + "; set missing: \"mean\" to fill it with the training data's mean");
  }
  switch (parsed) {
    case Parsed::kOk:
      break;
    case Parsed::kOutOfRange:
      throw_input_error(where, quote(field) + " is too large for a float (" + col + ")");
    case Parsed::kNotNumber:
      throw_input_error(where, quote(field) + " is not a number (" + col + ")");
  }
  throw_input_error(where, std::string(std::isnan(v) ? "NaN" : "Inf") + " in " + col);
}

inline float parse_field(std::string_view field, int64_t column, const Layout& l, const Pos& pos) {
  float v;
  const Parsed parsed = parse_number(field, v);
  if (parsed == Parsed::kOk && std::isfinite(v)) return v;
  return missing_or_error(field, parsed, v, column, l, pos);
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

// The class of an INTEGER label field: its name's index when labels are
// names, else the number it holds.
float class_label(std::string_view field, int64_t column, const Layout& l, const Pos& where) {
  float v;
  const Parsed parsed = l.names ? Parsed::kNotNumber : parse_number(field, v);
  if (parsed == Parsed::kOk && std::isfinite(v)) {
    check_class(v, field, column, l.classes, where);
    return v;
  }
  if (is_missing_marker(field))
    throw_input_error(where.str(), "missing label " + (field.empty() ? std::string("(empty field)") : quote(field)) +
                                       " in " + l.column(column));
  if (l.names) {
    const auto it = l.names->find(unquote(field));
    if (it != l.names->end()) return static_cast<float>(it->second);
    std::string known;
    for (const auto& [name, index] : *l.names) known += (known.empty() ? "" : ", ") + quote(name);
    throw_input_error(where.str(), "label " + quote(field) + " in " + l.column(column) + " is not one of the " +
                                       std::to_string(l.names->size()) + " class names (" + known.substr(0, 200) + ")");
  }
  if (parsed == Parsed::kNotNumber) throw LabelIsAName{};
  return parse_field(field, column, l, where);  // too large or Inf: the error says which
}

// The label column from label_column_name (looked up in the header) or
// label_column (negative counts from the end).
int64_t resolve_label_column(const CsvData& spec, const std::string& at, const Layout& l, const Pos& first) {
  if (!spec.has_label_column_name()) return spec.label_column() < 0 ? l.columns + spec.label_column() : spec.label_column();
  if (spec.has_label_column())
    throw_input_error(at + "label_column_name", "give label_column or label_column_name, not both");
  if (l.header.empty())
    throw_input_error(at + "label_column_name",
                      "'" + spec.label_column_name() + "' cannot be found: " + first.path + " has no header line");
  const auto it = std::find(l.header.begin(), l.header.end(), spec.label_column_name());
  if (it != l.header.end()) return it - l.header.begin();
  std::string names;
  for (const std::string& h : l.header) names += (names.empty() ? "" : ", ") + h;
  if (names.size() > 200) names = names.substr(0, 200) + "...";
  throw_input_error(at + "label_column_name",
                    "no column '" + spec.label_column_name() + "' in the header of " + first.path + " (" + names + ")");
}

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
void make_layout(const CsvData& spec, const std::string& at, const Pos& first, Layout& l) {
  l.encoding = spec.label_encoding();
  l.classes = spec.classes();
  if (l.classes < 0) throw_input_error(at + "classes", "must be >= 0, got " + std::to_string(l.classes));
  if (l.encoding == CsvData::ONE_HOT && l.classes == 0)
    throw_input_error(at + "classes", "ONE_HOT labels need `classes` (the number of label columns) > 0");
  if (l.encoding != CsvData::INTEGER) l.label_width = l.classes > 0 ? l.classes : 1;
  l.label_column = resolve_label_column(spec, at, l, first);
  const std::string setting = spec.has_label_column_name()
                                  ? " (" + at + "label_column_name: '" + spec.label_column_name() + "')"
                                  : " (" + at + "label_column: " + std::to_string(spec.label_column()) + ")";
  const int64_t columns = l.columns;
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
}

// Where one parsed row goes; a null pointer skips that part (another
// shard's row is parsed only for its label or for the means).
struct RowOut {
  float* features = nullptr;
  float* labels = nullptr;
  float* weight = nullptr;
};

// Parses one data row.
void parse_row(std::string_view line, char delim, const Layout& l, const Pos& where, const RowOut& out,
               float& max_label) {
  const int64_t lbegin = l.label_column, lend = l.label_column + l.label_width;
  float* features = out.features;
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
      if (is_label && l.encoding == CsvData::INTEGER) {
        const float v = class_label(field, column, l, where);
        if (v > max_label) max_label = v;
        if (out.labels) out.labels[0] = v;
      } else if (column == l.weight_column || is_label) {
        if (is_missing_marker(field))
          throw_input_error(where.str(), std::string("missing ") + (is_label ? "label" : "sample weight") + " in " +
                                             l.column(column));
        const float v = parse_field(field, column, l, where);
        if (is_label && out.labels) out.labels[column - lbegin] = v;
        if (!is_label && out.weight) *out.weight = v;
      } else {
        *features++ = parse_field(field, column, l, where);
      }
    }
    if (end == line_end) break;
    start = end + 1;
  }
  if (column + 1 != l.columns)
    throw_input_error(where.str(), "expected " + std::to_string(l.columns) + " columns " + l.mismatch + ", found " +
                                       std::to_string(column + 1));
}

// Reads the first line's header (if any) into the layout; returns what the
// load summary says about it.
std::string read_header(const CsvData& spec, std::string_view first, char delim, Layout& l) {
  const std::vector<std::string_view> fields = split_fields(first, delim);
  l.columns = static_cast<int64_t>(fields.size());
  std::string said;
  if (spec.header() == CsvData::NO) return "none (header: NO)";
  if (spec.header() == CsvData::YES) {
    said = "yes (header: YES)";
  } else {
    const HeaderKind kind = detect_header(fields);
    if (kind == HeaderKind::kNone) return "none detected";
    said = kind == HeaderKind::kNames ? "column names detected"
                                      : "column indices 0.." + std::to_string(fields.size() - 1) + " detected";
  }
  for (std::string_view f : fields) l.header.emplace_back(f);
  return said;
}

// Rows [begin, end) of one shard, and how many of them are training rows
// (validation_split takes the rest off the end of the shard).
struct Part {
  int64_t begin, end, training_end;
};

// The training rows of every shard, in file order: what missing: "mean"
// averages over, the same on every rank.
std::vector<Part> training_parts(const Window& window, int64_t rows, double holdout_fraction) {
  std::vector<Part> parts;
  for (int s = 0; s < window.shard_count; ++s) {
    Window w = window;
    w.shard_index = s;
    const auto [begin, end] = w.range(rows);
    const int64_t n = end - begin;
    const int64_t kept = holdout_fraction > 0 && n > 0 ? training_samples_after_split(n, holdout_fraction) : n;
    parts.push_back({begin, end, begin + kept});
  }
  return parts;
}

// Per-feature sums of the present (non-NaN) values of the training rows.
struct ColumnMeans {
  std::vector<double> sum;
  std::vector<int64_t> count;
  explicit ColumnMeans(int64_t features) : sum(features, 0.0), count(features, 0) {}
  void add(const float* row) {
    for (size_t k = 0; k < sum.size(); ++k)
      if (!std::isnan(row[k])) sum[k] += row[k], ++count[k];
  }
};

// The label names of rows [0, wanted), sorted and unique (as Keras'
// StringLookup and scikit-learn's LabelEncoder order them).
std::vector<std::string> collect_label_names(std::string_view body, const std::string& path, bool header,
                                             int64_t wanted, char delim, const Layout& l) {
  std::set<std::string, std::less<>> names;
  Lines reader(body, path);
  std::string_view line;
  int64_t number = 0;
  if (header) reader.next(line, number);
  for (int64_t row = 0; row < wanted && reader.next(line, number); ++row) {
    const std::vector<std::string_view> fields = split_fields(line, delim);
    if (static_cast<int64_t>(fields.size()) != l.columns)
      throw_input_error(path + ":" + std::to_string(number), "expected " + std::to_string(l.columns) + " columns " +
                                                                 l.mismatch + ", found " +
                                                                 std::to_string(fields.size()));
    const std::string_view label = fields[l.label_column];
    if (is_missing_marker(label))
      throw_input_error(path + ":" + std::to_string(number), "missing label in " + l.column(l.label_column));
    if (names.find(label) == names.end()) names.emplace(label);
  }
  return {names.begin(), names.end()};
}

// Everything read_csv works out before converting rows.
struct Plan {
  std::string path;
  std::string_view body;
  char delim = ',';
  bool header = false;
  int64_t rows = 0;
  Layout layout;
  std::string header_said;
};

// Pass 2: converts this part's rows into `d`; with `all_rows`, every row
// of [0, wanted) is read (labels and training means the same on every
// shard). Throws LabelIsAName when a label is a name and no names are known.
void convert_rows(const Plan& p, const Window& window, const std::vector<Part>& parts, bool all_rows,
                  ColumnMeans* means, Dataset& d, float& max_label) {
  const auto [begin, end] = window.range(p.rows);
  const int64_t wanted = window.limited(p.rows);
  std::vector<float> scratch(static_cast<size_t>(d.sample_size()));
  Lines reader(p.body, p.path);
  std::string_view line;
  int64_t number = 0;
  if (p.header) reader.next(line, number);
  size_t part = 0;
  for (int64_t row = 0; row < (all_rows ? wanted : end) && reader.next(line, number); ++row) {
    if (row < begin && !all_rows) continue;
    while (part + 1 < parts.size() && row >= parts[part].end) ++part;
    const bool mine = row >= begin && row < end, training = row < parts[part].training_end;
    const int64_t k = row - begin;
    RowOut out;
    if (mine) {
      out = {&d.features[k * d.sample_size()], &d.labels[k * d.label_width], d.weights.empty() ? nullptr : &d.weights[k]};
    } else if (means && training) {
      out.features = scratch.data();
    }
    parse_row(line, p.delim, p.layout, Pos{p.path, number}, out, max_label);
    if (means && training && out.features) means->add(out.features);
  }
}

// missing: "mean": the given fill values, or the training rows' means.
std::vector<float> fill_values(const CsvData& spec, const std::string& at, const Plan& p, const ColumnMeans* means) {
  const int64_t features = p.layout.features();
  if (spec.fill_values_size() > 0) {
    if (spec.fill_values_size() != features)
      throw_input_error(at + "fill_values", std::to_string(spec.fill_values_size()) + " values for the " +
                                                std::to_string(features) + " feature columns of " + p.path);
    return {spec.fill_values().begin(), spec.fill_values().end()};
  }
  std::vector<float> values(static_cast<size_t>(features));
  int64_t column = 0;  // file column of feature k, for messages
  for (int64_t k = 0; k < features; ++k, ++column) {
    while (column == p.layout.weight_column ||
           (column >= p.layout.label_column && column < p.layout.label_column + p.layout.label_width))
      ++column;
    if (means->count[k] == 0)
      throw_input_error(p.path, "missing: \"mean\": " + p.layout.column(column) +
                                    " has no values in the training rows to take the mean of");
    values[k] = static_cast<float>(means->sum[k] / static_cast<double>(means->count[k]));
  }
  return values;
}

void fill_missing(Dataset& d, const std::vector<float>& values) {
  const int64_t width = d.sample_size();
  d.filled.assign(static_cast<size_t>(d.num_samples), 0);
  for (size_t i = 0; i < d.features.size(); ++i)
    if (std::isnan(d.features[i])) d.features[i] = values[i % width], ++d.filled[i / width];
  if (d.filled_count() == 0) d.filled.clear();
  d.fill_values = values;
}

// Checks the settings, reads the first line (header, layout) and counts the
// data rows.
Plan plan_csv(const CsvData& spec, const std::string& at, std::string_view body, const std::string& path) {
  Plan p;
  p.path = path;
  p.body = body;
  p.delim = spec.delimiter()[0];
  Lines lines(body, path);
  std::string_view line;
  int64_t number = 0;
  if (!lines.next(line, number)) throw_input_error(path, "no samples (the file is empty)");
  check_delimiter(line, p.delim, Pos{path, number}, at);
  p.header_said = read_header(spec, line, p.delim, p.layout);
  p.header = !p.layout.header.empty();
  make_layout(spec, at, Pos{path, number}, p.layout);
  p.layout.mismatch = p.header ? "(as in the header)" : "(as in line " + std::to_string(number) + ")";
  if (spec.missing() != "error" && spec.missing() != "mean")
    throw_input_error(at + "missing", "must be \"error\" or \"mean\", got \"" + spec.missing() + "\"");
  p.layout.fill_missing = spec.missing() == "mean";
  if (spec.class_names_size() > 0 && p.layout.encoding != CsvData::INTEGER)
    throw_input_error(at + "class_names", "only for INTEGER labels (one column holding the class)");
  p.rows = p.header ? 0 : 1;
  for (Lines counter = lines; counter.next(line, number);) ++p.rows;
  if (p.rows == 0) throw_input_error(path, "no samples (only a header line)");
  return p;
}

ClassIndex index_names(const std::vector<std::string>& names, const std::string& at) {
  ClassIndex index;
  for (size_t i = 0; i < names.size(); ++i)
    if (!index.emplace(names[i], static_cast<int>(i)).second)
      throw_input_error(at + "class_names", "'" + names[i] + "' is given twice");
  return index;
}

}  // namespace

Dataset read_csv(const CsvData& spec, const std::string& field, const Window& window) {
  const std::string at = field + ".csv.";
  if (spec.path().empty()) throw_input_error(at + "path", "no file given");
  if (spec.delimiter().size() != 1)
    throw_input_error(at + "delimiter", "must be one character, got '" + spec.delimiter() + "'");
  const std::string& path = spec.path();
  check_allocation(static_cast<uint64_t>(file_size(path)), path, "reading this CSV file");
  const std::string text = read_file(path);
  std::string_view body(text);
  if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);  // UTF-8 byte-order mark (Excel)
  check_text(body, path);
  Plan p = plan_csv(spec, at, body, path);
  const Layout& layout = p.layout;

  const auto [begin, end] = window.range(p.rows);
  check_allocation(rows_bytes(end - begin, layout.columns, sizeof(float), path), path,
                   "converting " + std::to_string(end - begin) + " rows of " + std::to_string(layout.columns) +
                       " columns to floats");
  const bool sharded = window.shard_count > 1;
  const bool own_means = layout.fill_missing && spec.fill_values_size() == 0;
  // Every shard reads the labels of all rows (so the classes are the same
  // everywhere), and the features of all training rows when it averages them.
  const bool all_rows = sharded && (layout.encoding == CsvData::INTEGER || own_means);
  const std::vector<Part> parts = training_parts(window, p.rows, own_means ? window.holdout_fraction : 0);

  Dataset d;
  d.source = path;
  d.header = p.header_said;
  d.sample_shape = {layout.features()};
  d.num_samples = end - begin;
  d.label_width = layout.label_width;
  d.label_kind = layout.encoding == CsvData::INTEGER   ? LabelKind::kClassIndex
                 : layout.encoding == CsvData::ONE_HOT ? LabelKind::kOneHot
                                                       : LabelKind::kValue;
  d.features.resize(static_cast<size_t>(d.num_samples * d.sample_size()));
  d.labels.resize(static_cast<size_t>(d.num_samples * d.label_width));
  if (layout.weight_column >= 0) d.weights.resize(static_cast<size_t>(d.num_samples));

  d.class_names.assign(spec.class_names().begin(), spec.class_names().end());
  ClassIndex names = index_names(d.class_names, at);
  if (!d.class_names.empty()) p.layout.names = &names;
  float max_label = 0;
  std::optional<ColumnMeans> means;
  try {
    if (own_means) means.emplace(layout.features());
    convert_rows(p, window, parts, all_rows, means ? &*means : nullptr, d, max_label);
  } catch (const LabelIsAName&) {  // labels are names: again, with their classes
    d.class_names = collect_label_names(body, path, p.header, window.limited(p.rows), p.delim, layout);
    names = index_names(d.class_names, at);
    p.layout.names = &names;
    if (own_means) means.emplace(layout.features());
    convert_rows(p, window, parts, all_rows, means ? &*means : nullptr, d, max_label);
  }
  if (layout.fill_missing) fill_missing(d, fill_values(spec, at, p, means ? &*means : nullptr));

  if (layout.encoding == CsvData::INTEGER) {
    const int named = static_cast<int>(d.class_names.size());
    if (layout.classes > 0 && named > layout.classes)
      throw_input_error(at + "classes", std::to_string(layout.classes) + " classes, but " + path + " has " +
                                            std::to_string(named) + " label names");
    d.num_classes = layout.classes > 0 ? layout.classes
                    : named > 0        ? named
                    : all_rows         ? static_cast<int32_t>(std::min(max_label, 16777216.0f)) + 1
                                       : 0;
  } else if (layout.encoding == CsvData::ONE_HOT) {
    d.num_classes = layout.classes;
  }
  return d;
}

}  // namespace data
}  // namespace lockstep
