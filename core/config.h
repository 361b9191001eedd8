// Loading a TrainConfig from protobuf text (.pbtxt) or JSON, applying
// `--set dotted.path=value` overrides, validating, and locating fields in the
// source file so errors can say "file:line".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "train.pb.h"

namespace google::protobuf {
class TextFormat;
}

namespace lockstep {

class ConfigFile {
 public:
  // Parses `path` (.json => JSON, anything else => text format). Syntax
  // errors: lockstep::Error "path:line:col: what", exit status 2.
  static ConfigFile load(const std::string& path);
  // A config built in code or taken from a checkpoint (no file positions).
  static ConfigFile from_message(const TrainConfig& config, const std::string& origin);
  ~ConfigFile();
  ConfigFile(ConfigFile&&) noexcept;
  ConfigFile& operator=(ConfigFile&&) noexcept;

  const TrainConfig& config() const { return config_; }
  TrainConfig& mutable_config() { return config_; }
  const std::string& path() const { return path_; }

  // Applies "a.b[2].c=value" (repeated elements by [i] or .i; a message field
  // takes text format, e.g. optimizer={adam{learning_rate:0.01}}; a repeated
  // scalar takes a comma-separated list). Errors name the --set argument.
  void apply_override(const std::string& assignment);

  // "path:line: field" when the field (e.g. "model.layers[2].dropout.rate",
  // the WHERE of a validation error) was written in the file, else
  // "path: field". Overridden fields are reported as "--set field".
  std::string locate(const std::string& field_path) const;

 private:
  ConfigFile();
  struct Locations;
  TrainConfig config_;
  std::string path_;
  std::unique_ptr<Locations> locations_;
  std::vector<std::string> overridden_;
};

// Checks what the schema cannot (sizes, ranges, required parts). Errors are
// lockstep::Error with WHERE = the field path, exit status 2. The model is
// validated when it is built (core/model.h).
void validate_config(const TrainConfig& config);

// A hash of the config (deterministic serialisation) that every rank compares
// with rank 0's at start-up.
uint64_t config_hash(const TrainConfig& config);

// Text format of a message, for run directories and `trainer inspect`.
std::string to_text(const google::protobuf::Message& message);

}  // namespace lockstep
