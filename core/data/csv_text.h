// Reading CSV text: non-blank lines, trimmed fields, numbers, the markers
// of missing values, a header line. The hot helpers are inline: the row
// parser calls them for every field.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/error.h"

namespace lockstep::data::csv {

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

inline std::string_view trim(std::string_view s) {
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

inline int64_t count_fields(std::string_view line, char delim) {
  return std::count(line.begin(), line.end(), delim) + 1;
}

// A position for messages, "path:line", built only when there is an error.
struct Pos {
  const std::string& path;
  int64_t line;
  std::string str() const { return path + ":" + std::to_string(line); }
};

// A field as quoted in messages: short, and printable whatever the file holds.
std::string quote(std::string_view field);

enum class Parsed { kOk, kNotNumber, kOutOfRange };

inline Parsed parse_number(std::string_view s, float& value) {
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

// pandas' default markers of a missing value that a CSV of numbers can hold:
// an empty field, NA, N/A, NaN, null, None, ...
bool is_missing_marker(std::string_view field);

// A name as written, without the double quotes a spreadsheet may put around it.
std::string_view unquote(std::string_view s);

// The fields of a line, trimmed and unquoted (the header; label names).
std::vector<std::string_view> split_fields(std::string_view line, char delim);

// A CSV file is text: a control byte (NUL, ESC, ...) anywhere means a binary
// file was given. Said with the file's name and position, rather than as a
// puzzling layout or number error later.
void check_text(std::string_view body, const std::string& path);

// header: AUTO takes the first line as a header when every field is a name
// (not a number; an empty field is allowed, as pandas writes for an unnamed
// index column), or when the fields are 0, 1, ..., n-1: the column names
// pandas writes for a frame without names. A line of numbers with a label
// that is a name ("5.1,3.5,setosa") is data.
enum class HeaderKind { kNone, kNames, kIndices };
HeaderKind detect_header(const std::vector<std::string_view>& fields);

}  // namespace lockstep::data::csv
