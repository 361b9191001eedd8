#include "core/callbacks/from_config.h"
#include "core/config.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "core/protobuf_log.h"
#include "core/regular_file.h"
#include "core/random.h"

namespace lockstep {
namespace pb = google::protobuf;

struct ConfigFile::Locations {
  pb::TextFormat::ParseInfoTree tree;
};

namespace {

class CollectFirstError : public pb::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (!has_error) line_ = line, column_ = column, message_ = message, has_error = true;
  }
  bool has_error = false;
  int line_ = 0, column_ = 0;
  std::string message_;
};

// No config is this big; a larger file was given by mistake.
constexpr int64_t kMaxConfigBytes = int64_t{64} << 20;

std::string read_text_file(const std::string& path) {
  // A directory would read as an empty config ("model: missing"), a FIFO
  // would block forever: both are refused, saying so (core/regular_file.h).
  return read_regular_file(path, kMaxConfigBytes, "cannot open config");
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "layers[2]" / "2" tokens of a dotted path.
struct PathToken {
  std::string name;  // empty for a pure index
  int index = -1;
};

// An index as written between [ ] or after a dot: decimal digits only (no
// sign, no spaces), at most 9 of them so it fits an int.
int parse_index(const std::string& text, const std::string& path, const std::string& where) {
  const bool digits = !text.empty() && text.size() <= 9 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) throw_input_error(where, "index '" + text + "' in '" + path + "' is not a number (0, 1, 2, ...)");
  return std::atoi(text.c_str());
}

std::vector<PathToken> split_path(const std::string& path, const std::string& where) {
  std::vector<PathToken> tokens;
  std::string part;
  std::istringstream in(path);
  while (std::getline(in, part, '.')) {
    if (part.empty()) throw_input_error(where, "empty field name in '" + path + "'");
    const size_t bracket = part.find('[');
    std::string name = part.substr(0, bracket);
    if (!name.empty()) {
      if (std::isdigit(static_cast<unsigned char>(name[0]))) tokens.push_back({"", parse_index(name, path, where)});
      else tokens.push_back({name, -1});
    }
    for (size_t open = bracket; open != std::string::npos;) {
      const size_t close = part.find(']', open);
      if (close == std::string::npos) throw_input_error(where, "missing ']' in '" + path + "'");
      tokens.push_back({"", parse_index(part.substr(open + 1, close - open - 1), path, where)});
      // Only another [index] may follow a ']' inside one dotted part.
      if (close + 1 < part.size() && part[close + 1] != '[')
        throw_input_error(where, "unexpected '" + part.substr(close + 1) + "' after ']' in '" + path + "'");
      open = close + 1 < part.size() ? close + 1 : std::string::npos;
    }
  }
  return tokens;
}

std::string known_fields(const pb::Descriptor* d) {
  std::string s;
  for (int i = 0; i < d->field_count(); ++i) s += (i ? ", " : "") + d->field(i)->name();
  return s;
}

double parse_number(const std::string& text, const std::string& where) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE) throw_input_error(where, "'" + text + "' is not a number");
  return v;
}

// An integer for field `f`, in the range of its type: a value that does not
// fit is an error, never wrapped around (4294967328 is not 32). Decimal
// digits are exact up to 2^64; "1e6" is accepted as a whole number.
template <typename T>
T parse_integer(const std::string& text, const pb::FieldDescriptor* f, const std::string& where) {
  using Limits = std::numeric_limits<T>;
  __int128 v = 0;
  const char* p = text.c_str();
  const bool negative = *p == '-';
  if (*p == '-' || *p == '+') ++p;
  bool digits = *p != '\0';
  for (const char* q = p; *q && digits; ++q) {
    digits = *q >= '0' && *q <= '9';
    if (digits && v < (__int128{1} << 100)) v = v * 10 + (*q - '0');
  }
  if (!digits) {  // exponent form, or not a number at all
    const double d = parse_number(text, where);
    if (d != std::floor(d)) throw_input_error(where, "'" + text + "' is not an integer");
    v = std::fabs(d) < 1e30 ? static_cast<__int128>(std::fabs(d)) : (__int128{1} << 100);
  }
  if (negative) v = -v;
  if (v < static_cast<__int128>(Limits::min()) || v > static_cast<__int128>(Limits::max()))
    throw_input_error(where, text + " is out of range for " + f->name() + " (" + f->cpp_type_name() + ": " +
                                 std::to_string(Limits::min()) + " to " + std::to_string(Limits::max()) + ")");
  return static_cast<T>(v);
}

// A double would round 1e300 to an infinite float: out of range instead.
float parse_float(const std::string& text, const pb::FieldDescriptor* f, const std::string& where) {
  const double v = parse_number(text, where);
  if (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max())
    throw_input_error(where, text + " is out of range for " + f->name() + " (float: at most 3.4e38 in magnitude)");
  return static_cast<float>(v);
}

// Sets one scalar (index -1: singular field; otherwise a repeated element,
// index == size appends).
void set_scalar(pb::Message* msg, const pb::FieldDescriptor* f, int index, const std::string& value,
                const std::string& where) {
  const pb::Reflection* r = msg->GetReflection();
  const bool rep = f->is_repeated();
  const bool append = rep && index == r->FieldSize(*msg, f);
  if (rep && (index < 0 || index > r->FieldSize(*msg, f)))
    throw_input_error(where, "index " + std::to_string(index) + " out of range (" + f->name() + " has " +
                                 std::to_string(r->FieldSize(*msg, f)) + " elements)");
  switch (f->cpp_type()) {
#define LOCKSTEP_SET(CPPTYPE, Name, expr)                                  \
  case pb::FieldDescriptor::CPPTYPE: {                                      \
    auto v = expr;                                                          \
    if (!rep) r->Set##Name(msg, f, v);                                      \
    else if (append) r->Add##Name(msg, f, v);                               \
    else r->SetRepeated##Name(msg, f, index, v);                            \
    break;                                                                  \
  }
    LOCKSTEP_SET(CPPTYPE_INT32, Int32, parse_integer<int32_t>(value, f, where))
    LOCKSTEP_SET(CPPTYPE_INT64, Int64, parse_integer<int64_t>(value, f, where))
    LOCKSTEP_SET(CPPTYPE_UINT32, UInt32, parse_integer<uint32_t>(value, f, where))
    LOCKSTEP_SET(CPPTYPE_UINT64, UInt64, parse_integer<uint64_t>(value, f, where))
    LOCKSTEP_SET(CPPTYPE_FLOAT, Float, parse_float(value, f, where))
    LOCKSTEP_SET(CPPTYPE_DOUBLE, Double, parse_number(value, where))
    LOCKSTEP_SET(CPPTYPE_STRING, String, value)
#undef LOCKSTEP_SET
    case pb::FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (value == "true" || value == "1") v = true;
      else if (value == "false" || value == "0") v = false;
      else throw_input_error(where, "'" + value + "' is not a bool (true or false)");
      if (!rep) r->SetBool(msg, f, v);
      else if (append) r->AddBool(msg, f, v);
      else r->SetRepeatedBool(msg, f, index, v);
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const pb::EnumValueDescriptor* e = f->enum_type()->FindValueByName(value);
      if (!e) {
        std::string known;
        for (int i = 0; i < f->enum_type()->value_count(); ++i)
          known += (i ? ", " : "") + f->enum_type()->value(i)->name();
        throw_input_error(where, "'" + value + "' is not one of " + known);
      }
      if (!rep) r->SetEnum(msg, f, e);
      else if (append) r->AddEnum(msg, f, e);
      else r->SetRepeatedEnum(msg, f, index, e);
      break;
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: break;  // handled by the caller
  }
}

// Protobuf names the message type that has no such field; the user wants to
// know what fits: "... has no field named "lr" (known: learning_rate, ...)".
std::string with_known_fields(const std::string& what) {
  if (what.find("has no field named") == std::string::npos) return what;
  const size_t q = what.find('"');
  const size_t q2 = q == std::string::npos ? q : what.find('"', q + 1);
  if (q2 == std::string::npos) return what;
  const pb::Descriptor* d = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(what.substr(q + 1, q2 - q - 1));
  return d ? what + " (known: " + known_fields(d) + ")" : what;
}

// ":line:column" of byte `offset` of `text` (1-based, columns in bytes).
std::string position_of(const std::string& text, size_t offset) {
  offset = std::min(offset, text.size());
  const size_t line = std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n') + 1;
  const size_t newline = text.rfind('\n', offset == 0 ? std::string::npos : offset - 1);
  const size_t column = offset - (newline == std::string::npos || offset == 0 ? 0 : newline + 1) + 1;
  return ":" + std::to_string(line) + ":" + std::to_string(column);
}

struct JsonError {
  std::string position;  // ":line:column", or "" when unknown
  std::string message;   // one line
};

// Protobuf's JSON parser reports a syntax error as three lines: the message,
// up to 40 characters of the text around the error, and a caret under the
// spot. The snippet is found in the text to give a line and column instead.
// Other errors ("(model) layerz: Cannot find field.") name a key: its first
// occurrence, quoted, is the position.
JsonError json_error(const std::string& text, const std::string& status) {
  JsonError e;
  const size_t first = status.find('\n'), last = status.rfind('\n');
  e.message = status.substr(0, first);
  if (first != std::string::npos && last > first && status.find_first_not_of(' ', last + 1) != std::string::npos &&
      status[status.find_first_not_of(' ', last + 1)] == '^') {
    const std::string snippet = status.substr(first + 1, last - first - 1);
    const size_t caret = status.find('^', last) - last - 1;
    // An empty snippet: the parser stands at the end of its input.
    const size_t at = snippet.empty() ? text.size() : text.find(snippet);
    if (at != std::string::npos) e.position = position_of(text, at + caret);
    return e;
  }
  // "(path) key: what" names the key; "(a.b[0].key): what" ends with it.
  const size_t close = e.message.find(')'), colon = e.message.find(':', close == std::string::npos ? 0 : close);
  if (e.message.rfind('(', 0) == 0 && close != std::string::npos && colon != std::string::npos) {
    std::string key = e.message.substr(close + 1, colon - close - 1);
    if (key.find_first_not_of(' ') == std::string::npos) {
      key = e.message.substr(1, close - 1);
      key = key.substr(key.rfind('.') == std::string::npos ? 0 : key.rfind('.') + 1);
      key = key.substr(0, key.find('['));
    }
    key = key.substr(key.find_first_not_of(' ') == std::string::npos ? 0 : key.find_first_not_of(' '));
    const size_t at = key.empty() ? std::string::npos : text.find("\"" + key + "\"");
    if (at != std::string::npos) e.position = position_of(text, at);
  }
  for (char& ch : e.message) ch = ch == '\n' ? ' ' : ch;
  return e;
}

}  // namespace

ConfigFile::ConfigFile() : locations_(std::make_unique<Locations>()) {}
ConfigFile::~ConfigFile() = default;
ConfigFile::ConfigFile(ConfigFile&&) noexcept = default;
ConfigFile& ConfigFile::operator=(ConfigFile&&) noexcept = default;

ConfigFile ConfigFile::from_message(const TrainConfig& config, const std::string& origin) {
  ConfigFile c;
  c.config_ = config;
  c.path_ = origin;
  return c;
}

ConfigFile ConfigFile::load(const std::string& path) {
  ConfigFile c;
  c.path_ = path;
  const std::string text = read_text_file(path);
  if (ends_with(path, ".json")) {
    ProtobufLogCapture log;
    pb::util::JsonParseOptions options;
    const auto status = pb::util::JsonStringToMessage(text, &c.config_, options);
    if (!status.ok()) {
      const JsonError e = json_error(text, std::string(status.message()));
      throw_input_error(path + e.position, "invalid JSON config: " + e.message);
    }
    return c;
  }
  ProtobufLogCapture log;  // nothing of protobuf's own reaches stderr
  pb::TextFormat::Parser parser;
  CollectFirstError errors;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&c.locations_->tree);
  if (!parser.ParseFromString(text, &c.config_)) {
    const std::string what = errors.has_error ? with_known_fields(errors.message_) : log.text();
    throw_input_error(path + ":" + std::to_string(errors.line_ + 1) + ":" + std::to_string(errors.column_ + 1),
                      what.empty() ? "not a valid TrainConfig in text format" : what);
  }
  return c;
}

namespace {

// The text-format value of a --set message field, errors in one line with
// their column in the value as given (`braced`: its outer { } were removed).
void parse_message_value(const std::string& value, bool braced, pb::Message* child, const std::string& where) {
  const std::string text = braced ? value.substr(1, value.size() - 2) : value;
  ProtobufLogCapture log;
  pb::TextFormat::Parser parser;
  CollectFirstError errors;
  parser.RecordErrorsTo(&errors);
  if (parser.ParseFromString(text, child)) return;
  const std::string type = child->GetDescriptor()->name();
  if (!errors.has_error)
    throw_input_error(where, "'" + value + "' is not a valid " + type + " in text format" +
                                 (log.text().empty() ? "" : ": " + log.text()));
  const int column = errors.column_ + 1 + (braced ? 1 : 0);
  throw_input_error(where, "'" + value + "' is not a valid " + type + " in text format: " +
                               (errors.line_ > 0 ? "line " + std::to_string(errors.line_ + 1) + ", " : "") +
                               "column " + std::to_string(column) + ": " + with_known_fields(errors.message_));
}

}  // namespace

void ConfigFile::apply_override(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  const std::string where = "--set " + assignment;
  if (eq == std::string::npos || eq == 0) throw_input_error(where, "expected FIELD=VALUE, e.g. --set epochs=5");
  const std::string path = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  const std::vector<PathToken> tokens = split_path(path, where);
  pb::Message* msg = &config_;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const PathToken& tok = tokens[t];
    if (tok.name.empty()) throw_input_error(where, "an index must follow a repeated field");
    const pb::Descriptor* d = msg->GetDescriptor();
    const pb::FieldDescriptor* f = d->FindFieldByName(tok.name);
    if (!f)
      throw_input_error(where, "unknown field '" + tok.name + "' in " + d->name() + " (known: " + known_fields(d) + ")");
    int index = -1;
    if (t + 1 < tokens.size() && tokens[t + 1].name.empty()) index = tokens[++t].index;
    if (index >= 0 && !f->is_repeated()) throw_input_error(where, "'" + tok.name + "' is not a repeated field");
    const pb::Reflection* r = msg->GetReflection();
    const bool last = t + 1 == tokens.size();
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      pb::Message* child;
      if (f->is_repeated()) {
        if (index < 0) {
          if (!last) throw_input_error(where, "'" + tok.name + "' is repeated: give an index, e.g. " + tok.name + "[0]");
          r->ClearField(msg, f);  // whole list replaced below
          child = nullptr;
        } else if (index == r->FieldSize(*msg, f)) {
          child = r->AddMessage(msg, f);
        } else if (index < r->FieldSize(*msg, f)) {
          child = r->MutableRepeatedMessage(msg, f, index);
        } else {
          throw_input_error(where, "index " + std::to_string(index) + " out of range (" + tok.name + " has " +
                                       std::to_string(r->FieldSize(*msg, f)) + " elements)");
        }
      } else {
        child = r->MutableMessage(msg, f);
      }
      if (last) {
        std::string text = value;
        if (text.size() >= 2 && text.front() == '{' && text.back() == '}') text = text.substr(1, text.size() - 2);
        if (!child) child = r->AddMessage(msg, f);
        child->Clear();
        parse_message_value(value, text != value, child, where);
      }
      msg = child;
      continue;
    }
    if (!last) throw_input_error(where, "'" + tok.name + "' is not a message, it has no field '" + tokens[t + 1].name + "'");
    if (f->is_repeated() && index < 0) {
      r->ClearField(msg, f);
      // 6,6,1 or the text format's own list, [6, 6, 1] (which a user copies
      // from a config): the brackets and spaces are not part of the numbers.
      std::string list = value;
      if (list.size() >= 2 && list.front() == '[' && list.back() == ']') list = list.substr(1, list.size() - 2);
      std::istringstream items(list);
      std::string item;
      int i = 0;
      while (std::getline(items, item, ',')) {
        const size_t first = item.find_first_not_of(' '), last = item.find_last_not_of(' ');
        set_scalar(msg, f, i++, first == std::string::npos ? "" : item.substr(first, last - first + 1), where);
      }
    } else {
      set_scalar(msg, f, index, value, where);
    }
  }
  overridden_.push_back(path);
}

std::string ConfigFile::locate(const std::string& field_path) const {
  for (const std::string& o : overridden_)
    if (field_path.compare(0, o.size(), o) == 0) return "--set " + field_path;
  std::vector<PathToken> tokens;
  try {
    tokens = split_path(field_path, field_path);
  } catch (const Error&) {
    return path_ + ": " + field_path;
  }
  const pb::TextFormat::ParseInfoTree* tree = &locations_->tree;
  const pb::Descriptor* d = TrainConfig::descriptor();
  int line = -1;
  for (size_t t = 0; t < tokens.size() && tree && d; ++t) {
    const pb::FieldDescriptor* f = d->FindFieldByName(tokens[t].name);
    if (!f) break;
    int index = -1;
    if (f->is_repeated()) {
      if (t + 1 < tokens.size() && tokens[t + 1].name.empty()) index = tokens[++t].index;
      else index = 0;
    }
    const auto loc = tree->GetLocation(f, index);
    if (loc.line < 0) break;
    line = loc.line;
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) break;
    tree = tree->GetTreeForNested(f, index);
    d = f->message_type();
  }
  if (line < 0) return path_ + ": " + field_path;
  return path_ + ":" + std::to_string(line + 1) + ": " + field_path;
}

void validate_config(const TrainConfig& c) {
  auto need = [](bool ok, const std::string& field, const std::string& what) {
    if (!ok) throw_input_error(field, what);
  };
  need(c.has_model(), "model", "missing: describe the model (input_shape and layers)");
  need(c.has_data(), "data", "missing: say where the training data comes from (synthetic, csv, idx or npy)");
  need(c.epochs() >= 0, "epochs", "must be >= 0, got " + std::to_string(c.epochs()));
  need(c.batch_size() > 0, "batch_size", "must be > 0, got " + std::to_string(c.batch_size()));
  need(c.threads() >= 0, "threads", "must be >= 0 (0 = automatic), got " + std::to_string(c.threads()));
  need(c.max_steps() >= 0, "max_steps", "must be >= 0, got " + std::to_string(c.max_steps()));
  need(c.validation_split() >= 0 && c.validation_split() < 1, "validation_split",
       "must be in [0, 1), got " + std::to_string(c.validation_split()));
  need(!(c.validation_split() > 0 && c.has_validation_data()), "validation_split",
       "give either validation_split or validation_data, not both");
  need(!c.run_dir().empty(), "run_dir", "must not be empty");
  need(c.verbose() >= 0 && c.verbose() <= 2, "verbose", "must be 0, 1 or 2");
  const DistributedSpec& d = c.distributed();
  need(d.bucket_size_mb() > 0, "distributed.bucket_size_mb", "must be > 0");
  need(d.collective_timeout_seconds() > 0, "distributed.collective_timeout_seconds", "must be > 0");
  const CheckpointSpec& k = c.checkpoint();
  need(k.every_steps() >= 0, "checkpoint.every_steps", "must be >= 0");
  need(k.every_minutes() >= 0, "checkpoint.every_minutes", "must be >= 0");
  need(k.keep() >= 0, "checkpoint.keep", "must be >= 0 (0 = keep all)");
  need(k.when_busy() == "wait" || k.when_busy() == "skip", "checkpoint.when_busy",
       "must be \"wait\" or \"skip\", got \"" + k.when_busy() + "\"");
  need(c.profile().max_events() > 0, "profile.max_events",
       "must be > 0, got " + std::to_string(c.profile().max_events()));
  validate_callbacks(c);
}

uint64_t config_hash(const TrainConfig& config) {
  std::string bytes;
  {
    pb::io::StringOutputStream out(&bytes);
    pb::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    config.SerializeToCodedStream(&coded);
  }
  return hash_string(bytes);
}

std::string to_text(const pb::Message& message) {
  std::string s;
  pb::TextFormat::PrintToString(message, &s);
  return s;
}

}  // namespace lockstep
