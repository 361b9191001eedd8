// Reading CSV text (core/data/csv_text.h): the helpers off the hot path.
#include "core/data/csv_text.h"

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace lockstep::data::csv {

std::string quote(std::string_view field) {
  std::string q = "'";
  for (char c : field.substr(0, 40)) q += c >= ' ' && c != 127 ? c : '?';
  return q + (field.size() > 40 ? "...'" : "'");
}

bool is_missing_marker(std::string_view f) {
  static constexpr std::string_view kMarkers[] = {"",     "NA",   "N/A",  "n/a",  "NaN", "nan",
                                                  "-NaN", "-nan", "null", "NULL", "None", "<NA>", "#N/A"};
  return std::find(std::begin(kMarkers), std::end(kMarkers), f) != std::end(kMarkers);
}

std::string_view unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

std::vector<std::string_view> split_fields(std::string_view line, char delim) {
  std::vector<std::string_view> fields;
  for (size_t start = 0, end = 0; end != std::string_view::npos; start = end + 1) {
    end = line.find(delim, start);
    fields.push_back(unquote(trim(line.substr(start, end == std::string_view::npos ? end : end - start))));
  }
  return fields;
}

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

HeaderKind detect_header(const std::vector<std::string_view>& fields) {
  float v;
  bool indices = true, names = true, any_name = false;
  for (size_t i = 0; i < fields.size(); ++i) {
    indices = indices && fields[i] == std::to_string(i);
    names = names && parse_number(fields[i], v) == Parsed::kNotNumber;
    any_name = any_name || !fields[i].empty();
  }
  return names && any_name ? HeaderKind::kNames : indices ? HeaderKind::kIndices : HeaderKind::kNone;
}

}  // namespace lockstep::data::csv
