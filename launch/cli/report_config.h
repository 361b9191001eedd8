// What `trainer report` shows of the runs' configs: every field flattened to
// a dotted path (as --set spells it), the fields that differ between runs,
// and one-line descriptions of a model and an optimizer.
#pragma once

#include <string>
#include <vector>

#include "train.pb.h"

namespace google::protobuf {
class Message;
}

namespace lockstep::cli {

struct ConfigField {
  std::string path;                 // "optimizer.sgd.momentum", "model.layers[2]"
  std::string value;                // as shown: "0.9", "activation {activation: \"tanh\"}"
  std::string key;                  // what is compared (a oneof's row compares only which case is set)
  std::vector<std::string> within;  // paths of the oneof rows this field lies under
};

// Every scalar field with its effective value (the default when unset),
// message fields descended into; a oneof gives one row (its message path,
// value "case {set fields}") and then the fields of the case that is set.
std::vector<ConfigField> flatten_config(const google::protobuf::Message& config);

struct DiffRow {
  std::string path;
  std::vector<std::string> values;  // one per run; "" where the run has no such field
};

// Rows whose values differ between the runs, in config order. Fields under
// a oneof whose case differs are left out (the oneof's own row shows both).
std::vector<DiffRow> config_differences(const std::vector<std::vector<ConfigField>>& runs);

// "14 → Dense(64) → BatchNormalization → Activation(tanh) → …; 5,770 params"
// (the parameter count when the model builds).
std::string model_line(const ModelSpec& model);
// "SGD(learning_rate=0.1, momentum=0.9, nesterov=true)", effective values.
std::string optimizer_line(const OptimizerSpec& optimizer);
// "" for a constant rate without warm-up, else e.g. "cosine(decay_steps=1000, alpha=0), warm-up 100 steps".
std::string schedule_line(const ScheduleSpec& schedule);
// "synthetic(samples=4000, ...)", "idx(images=..., ...)"; validation split or set appended.
std::string data_line(const TrainConfig& config);

}  // namespace lockstep::cli
