#include "core/callbacks/from_config.h"
#include "core/config.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
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

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input_error(path, std::string("cannot open config: ") + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "layers[2]" / "2" tokens of a dotted path.
struct PathToken {
  std::string name;  // empty for a pure index
  int index = -1;
};

std::vector<PathToken> split_path(const std::string& path, const std::string& where) {
  std::vector<PathToken> tokens;
  std::string part;
  std::istringstream in(path);
  while (std::getline(in, part, '.')) {
    if (part.empty()) throw_input_error(where, "empty field name in '" + path + "'");
    std::string name = part.substr(0, part.find('['));
    if (!name.empty()) {
      if (std::isdigit(static_cast<unsigned char>(name[0]))) {
        tokens.push_back({"", std::atoi(name.c_str())});
      } else {
        tokens.push_back({name, -1});
      }
    }
    for (size_t open = part.find('['); open != std::string::npos; open = part.find('[', open + 1)) {
      const size_t close = part.find(']', open);
      if (close == std::string::npos) throw_input_error(where, "missing ']' in '" + path + "'");
      tokens.push_back({"", std::atoi(part.substr(open + 1, close - open - 1).c_str())});
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

int64_t parse_integer(const std::string& text, const std::string& where) {
  const double v = parse_number(text, where);
  if (v != std::floor(v) || std::fabs(v) > 9.2e18) throw_input_error(where, "'" + text + "' is not an integer");
  return static_cast<int64_t>(v);
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
    LOCKSTEP_SET(CPPTYPE_INT32, Int32, static_cast<int32_t>(parse_integer(value, where)))
    LOCKSTEP_SET(CPPTYPE_INT64, Int64, parse_integer(value, where))
    LOCKSTEP_SET(CPPTYPE_UINT32, UInt32, static_cast<uint32_t>(parse_integer(value, where)))
    LOCKSTEP_SET(CPPTYPE_UINT64, UInt64, static_cast<uint64_t>(parse_integer(value, where)))
    LOCKSTEP_SET(CPPTYPE_FLOAT, Float, static_cast<float>(parse_number(value, where)))
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
    pb::util::JsonParseOptions options;
    const auto status = pb::util::JsonStringToMessage(text, &c.config_, options);
    if (!status.ok()) throw_input_error(path, "invalid JSON config: " + std::string(status.message()));
    return c;
  }
  pb::TextFormat::Parser parser;
  CollectFirstError errors;
  parser.RecordErrorsTo(&errors);
  parser.WriteLocationsTo(&c.locations_->tree);
  if (!parser.ParseFromString(text, &c.config_)) {
    std::string what = errors.message_;
    if (what.find("has no field named") != std::string::npos) {
      // Protobuf names the message type; the user wants to know what fits.
      const size_t q = what.find('"');
      const size_t q2 = q == std::string::npos ? q : what.find('"', q + 1);
      if (q2 != std::string::npos) {
        const pb::Descriptor* d =
            pb::DescriptorPool::generated_pool()->FindMessageTypeByName(what.substr(q + 1, q2 - q - 1));
        if (d) what += " (known: " + known_fields(d) + ")";
      }
    }
    throw_input_error(path + ":" + std::to_string(errors.line_ + 1) + ":" + std::to_string(errors.column_ + 1), what);
  }
  return c;
}

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
        if (!pb::TextFormat::ParseFromString(text, child))
          throw_input_error(where, "'" + value + "' is not a valid " + f->message_type()->name() + " in text format");
      }
      msg = child;
      continue;
    }
    if (!last) throw_input_error(where, "'" + tok.name + "' is not a message, it has no field '" + tokens[t + 1].name + "'");
    if (f->is_repeated() && index < 0) {
      r->ClearField(msg, f);
      std::istringstream items(value);
      std::string item;
      int i = 0;
      while (std::getline(items, item, ',')) set_scalar(msg, f, i++, item, where);
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
