#include "launch/cli/report_history.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"

namespace lockstep::cli {
namespace {

// A recursive-descent reader over one line; every parse_* returns false and
// sets error_ on malformed input.
class JsonCursor {
 public:
  explicit JsonCursor(const std::string& s) : s_(s) {}
  bool object(std::map<std::string, double>* numbers, int depth);
  bool at_end() {
    skip_ws();
    return i_ == s_.size();
  }
  bool fail(const std::string& what) {
    if (error_.empty()) error_ = what + " at column " + std::to_string(i_ + 1);
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n')) ++i_;
  }
  bool expect(char c) {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return fail(std::string("expected '") + c + "'");
  }
  bool string(std::string& out);
  bool number(double& out);
  bool value(double* number, bool* is_number, int depth);
  bool array(int depth);

  const std::string& s_;
  size_t i_ = 0;
  std::string error_;
};

bool JsonCursor::string(std::string& out) {
  if (!expect('"')) return false;
  out.clear();
  while (i_ < s_.size() && s_[i_] != '"') {
    if (s_[i_] == '\\') {
      if (++i_ >= s_.size()) break;
      const char c = s_[i_];
      out += c == 'n' ? '\n' : c == 't' ? '\t' : c;  // \uXXXX kept as text: names are ASCII
    } else {
      out += s_[i_];
    }
    ++i_;
  }
  if (i_ >= s_.size()) return fail("unterminated string");
  ++i_;
  return true;
}

// JSON numbers, plus the nan/inf/-nan that printf writes for a diverged loss.
bool JsonCursor::number(double& out) {
  skip_ws();
  const char* begin = s_.c_str() + i_;
  const char c = *begin == '-' || *begin == '+' ? begin[1] : *begin;
  if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'n' || c == 'N' || c == 'i' || c == 'I'))
    return fail("expected a value");
  if (std::strncmp(begin, "0x", 2) == 0 || std::strncmp(begin, "-0x", 3) == 0) return fail("expected a number");
  char* end = nullptr;
  errno = 0;
  out = std::strtod(begin, &end);
  if (end == begin) return fail("expected a number");
  if (errno == ERANGE && std::isfinite(out) && out != 0) return fail("number out of range");
  i_ += static_cast<size_t>(end - begin);
  return true;
}

bool JsonCursor::array(int depth) {
  if (!expect('[')) return false;
  skip_ws();
  if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
  for (;;) {
    double ignored;
    bool is_number;
    if (!value(&ignored, &is_number, depth + 1)) return false;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ',') {
      ++i_;
      continue;
    }
    return expect(']');
  }
}

bool JsonCursor::value(double* number, bool* is_number, int depth) {
  if (depth > 32) return fail("nested too deeply");
  skip_ws();
  *is_number = false;
  if (i_ >= s_.size()) return fail("expected a value");
  const char c = s_[i_];
  if (c == '"') {
    std::string ignored;
    return string(ignored);
  }
  if (c == '{') return object(nullptr, depth + 1);
  if (c == '[') return array(depth);
  for (const char* word : {"true", "false", "null"})
    if (s_.compare(i_, std::strlen(word), word) == 0) return i_ += std::strlen(word), true;
  *is_number = true;
  return this->number(*number);
}

bool JsonCursor::object(std::map<std::string, double>* numbers, int depth) {
  if (!expect('{')) return false;
  skip_ws();
  if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
  for (;;) {
    std::string key;
    if (!string(key) || !expect(':')) return false;
    double v = 0;
    bool is_number = false;
    if (!value(&v, &is_number, depth)) return false;
    if (numbers && is_number) (*numbers)[key] = v;
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ',') {
      ++i_;
      continue;
    }
    if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
    return fail("expected ',' or '}'");
  }
}

bool blank(const std::string& line) { return line.find_first_not_of(" \t\r") == std::string::npos; }

// A record from one line; throws "path:line: ..." on anything malformed.
EpochRecord parse_epoch_line(const std::string& line, const std::string& where) {
  EpochRecord r;
  std::string error;
  if (!parse_json_numbers(line, r.values, error)) throw_input_error(where, "not a JSON object: " + error);
  const auto e = r.values.find("epoch");
  if (e == r.values.end()) throw_input_error(where, "no numeric \"epoch\" field");
  if (!std::isfinite(e->second) || e->second < 0 || e->second != std::floor(e->second))
    throw_input_error(where, "\"epoch\" must be a whole number, got " + std::to_string(e->second));
  r.epoch = static_cast<int64_t>(e->second);
  return r;
}

}  // namespace

double EpochRecord::get(const std::string& field) const {
  const auto it = values.find(field);
  return it == values.end() ? std::numeric_limits<double>::quiet_NaN() : it->second;
}

bool parse_json_numbers(const std::string& text, std::map<std::string, double>& numbers, std::string& error) {
  JsonCursor cursor(text);
  const bool ok = cursor.object(&numbers, 0) && (cursor.at_end() || cursor.fail("unexpected text after the object"));
  if (!ok) error = cursor.error();
  return ok;
}

RunHistory read_history(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input_error(path, std::string("cannot read: ") + std::strerror(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  RunHistory history;
  size_t pos = 0;
  for (int line_number = 1; pos < text.size(); ++line_number) {
    const size_t newline = text.find('\n', pos);
    const bool complete = newline != std::string::npos;
    const std::string line = text.substr(pos, complete ? newline - pos : std::string::npos);
    pos = complete ? newline + 1 : text.size();
    if (blank(line)) continue;
    const std::string where = path + ":" + std::to_string(line_number);
    if (!complete) {  // being written: use it only if it is already whole
      std::map<std::string, double> ignored;
      std::string error;
      if (!parse_json_numbers(line, ignored, error)) {
        history.skipped_partial_line = line_number;
        break;
      }
    }
    EpochRecord record = parse_epoch_line(line, where);
    // A resumed run may repeat epochs: the later lines replace them.
    while (!history.epochs.empty() && history.epochs.back().epoch >= record.epoch) history.epochs.pop_back();
    history.epochs.push_back(std::move(record));
  }
  return history;
}

}  // namespace lockstep::cli
