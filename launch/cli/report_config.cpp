#include "launch/cli/report_config.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "core/model.h"
#include "core/summary.h"

namespace lockstep::cli {
namespace {

namespace pb = google::protobuf;

std::string float_text(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

// One value of a scalar field (index < 0: a singular field, its default when unset).
std::string scalar_text(const pb::Message& m, const pb::FieldDescriptor* f, int index) {
  const pb::Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return std::to_string(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return std::to_string(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return std::to_string(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return std::to_string(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return float_text(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f), 7);
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return float_text(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f), 15);
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return (rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f))->name();
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      const std::string s = rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      return s.empty() ? "\"\"" : s;
    }
    default:
      return "";
  }
}

// A repeated scalar as "28,28,1"; a singular one as scalar_text.
std::string field_text(const pb::Message& m, const pb::FieldDescriptor* f) {
  if (!f->is_repeated()) return scalar_text(m, f, -1);
  std::string s;
  for (int i = 0; i < m.GetReflection()->FieldSize(m, f); ++i) s += (i ? "," : "") + scalar_text(m, f, i);
  return s.empty() ? "[]" : s;
}

// "name=value, ..." over every field of a message without sub-messages (effective values).
std::string effective_args(const pb::Message& m) {
  std::string s;
  const pb::Descriptor* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated() && m.GetReflection()->FieldSize(m, f) == 0) continue;
    s += (s.empty() ? "" : ", ") + f->name() + "=" + field_text(m, f);
  }
  return s;
}

// The case of a oneof that is set, or null.
const pb::FieldDescriptor* set_case(const pb::Message& m) {
  const pb::Descriptor* d = m.GetDescriptor();
  for (int i = 0; i < d->oneof_decl_count(); ++i)
    if (const pb::FieldDescriptor* f = m.GetReflection()->GetOneofFieldDescriptor(m, d->oneof_decl(i))) return f;
  return nullptr;
}

std::string join_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

void flatten(const pb::Message& m, const std::string& prefix, const std::vector<std::string>& within,
             std::vector<ConfigField>& out, int depth) {
  if (depth > 16) return;
  const pb::Descriptor* d = m.GetDescriptor();
  const pb::Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    const std::string path = join_path(prefix, f->name());
    const bool message = f->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE;
    if (const pb::OneofDescriptor* o = f->real_containing_oneof()) {
      if (!r->HasField(m, f)) continue;
      const std::string row = prefix.empty() || d->oneof_decl_count() > 1 ? join_path(prefix, o->name()) : prefix;
      const std::string shown = message ? "{" + r->GetMessage(m, f).ShortDebugString() + "}" : field_text(m, f);
      out.push_back({row, f->name() + " " + shown, f->name(), within});
      std::vector<std::string> inner = within;
      inner.push_back(row);
      if (message)
        flatten(r->GetMessage(m, f), path, inner, out, depth + 1);
      else
        out.push_back({path, field_text(m, f), field_text(m, f), inner});
    } else if (message && f->is_repeated()) {
      for (int j = 0; j < r->FieldSize(m, f); ++j)
        flatten(r->GetRepeatedMessage(m, f, j), path + "[" + std::to_string(j) + "]", within, out, depth + 1);
    } else if (message) {
      flatten(r->GetMessage(m, f), path, within, out, depth + 1);
    } else {
      const std::string text = field_text(m, f);
      out.push_back({path, text, text, within});
    }
  }
}

// Keras' name for a layer case ("batch_normalization" -> "BatchNormalization").
std::string keras_class(const std::string& case_name) {
  static const std::map<std::string, std::string> names = {{"dense", "Dense"},
                                                           {"batch_normalization", "BatchNormalization"},
                                                           {"activation", "Activation"},
                                                           {"dropout", "Dropout"},
                                                           {"conv2d", "Conv2D"},
                                                           {"max_pooling2d", "MaxPooling2D"},
                                                           {"average_pooling2d", "AveragePooling2D"},
                                                           {"global_average_pooling2d", "GlobalAveragePooling2D"},
                                                           {"flatten", "Flatten"},
                                                           {"sgd", "SGD"},
                                                           {"adam", "Adam"},
                                                           {"adamw", "AdamW"},
                                                           {"rmsprop", "RMSprop"}};
  const auto it = names.find(case_name);
  return it == names.end() ? case_name : it->second;
}

std::string sizes(const google::protobuf::RepeatedField<int32_t>& v, const std::string& fallback) {
  if (v.empty()) return fallback;
  return v.size() == 1 ? std::to_string(v[0]) + "x" + std::to_string(v[0])
                       : std::to_string(v[0]) + "x" + std::to_string(v[1]);
}

std::string layer_label(const LayerSpec& l) {
  const pb::FieldDescriptor* f = set_case(l);
  if (!f) return "?";
  std::string args;
  if (l.has_dense())
    args =
        std::to_string(l.dense().units()) + (l.dense().activation() == "linear" ? "" : ", " + l.dense().activation());
  if (l.has_activation()) args = l.activation().activation();
  if (l.has_dropout()) args = float_text(l.dropout().rate(), 7);
  if (l.has_conv2d())
    args = std::to_string(l.conv2d().filters()) + ", " + sizes(l.conv2d().kernel_size(), "?") +
           (l.conv2d().activation() == "linear" ? "" : ", " + l.conv2d().activation());
  if (l.has_max_pooling2d()) args = sizes(l.max_pooling2d().pool_size(), "2x2");
  if (l.has_average_pooling2d()) args = sizes(l.average_pooling2d().pool_size(), "2x2");
  return keras_class(f->name()) + (args.empty() ? "" : "(" + args + ")");
}

}  // namespace

std::vector<ConfigField> flatten_config(const google::protobuf::Message& config) {
  std::vector<ConfigField> out;
  flatten(config, "", {}, out, 0);
  return out;
}

std::vector<DiffRow> config_differences(const std::vector<std::vector<ConfigField>>& runs) {
  // Union of the paths in config order: a path first seen in a later run
  // goes right after the path that precedes it there.
  std::vector<std::string> order;
  std::vector<std::map<std::string, const ConfigField*>> by_path(runs.size());
  for (size_t r = 0; r < runs.size(); ++r) {
    size_t next = 0;  // just after this run's previous path
    for (const ConfigField& f : runs[r]) {
      by_path[r][f.path] = &f;
      auto it = std::find(order.begin(), order.end(), f.path);
      if (it == order.end()) it = order.insert(order.begin() + static_cast<std::ptrdiff_t>(next), f.path);
      next = static_cast<size_t>(it - order.begin()) + 1;
    }
  }
  auto differs = [&](const std::string& path) {
    const ConfigField* first = nullptr;
    for (size_t r = 0; r < runs.size(); ++r) {
      const auto it = by_path[r].find(path);
      const ConfigField* f = it == by_path[r].end() ? nullptr : it->second;
      if (r == 0)
        first = f;
      else if ((f == nullptr) != (first == nullptr) || (f && f->key != first->key))
        return true;
    }
    return false;
  };
  std::vector<DiffRow> rows;
  for (const std::string& path : order) {
    if (!differs(path)) continue;
    bool under_differing_oneof = false;
    for (size_t r = 0; r < runs.size(); ++r)
      if (const auto it = by_path[r].find(path); it != by_path[r].end())
        for (const std::string& outer : it->second->within) under_differing_oneof |= differs(outer);
    if (under_differing_oneof) continue;
    DiffRow row{path, {}};
    for (size_t r = 0; r < runs.size(); ++r) {
      const auto it = by_path[r].find(path);
      row.values.push_back(it == by_path[r].end() ? "" : it->second->value);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string model_line(const ModelSpec& model) {
  std::string s;
  for (int i = 0; i < model.input_shape_size(); ++i) s += (i ? "x" : "") + std::to_string(model.input_shape(i));
  for (const LayerSpec& l : model.layers()) s += " \u2192 " + layer_label(l);
  try {
    const Model built(model, 1, "model");
    int64_t total = 0, trainable = 0;
    for (const ParameterInfo& p : built.parameters().entries()) {
      total += static_cast<int64_t>(p.size);
      if (p.trainable) trainable += static_cast<int64_t>(p.size);
    }
    s += "; " + with_thousands(total) + " params (" + with_thousands(trainable) + " trainable)";
  } catch (const std::exception&) {
    // A spec this build cannot construct: the layers alone.
  }
  return s;
}

std::string optimizer_line(const OptimizerSpec& optimizer) {
  const pb::FieldDescriptor* f = set_case(optimizer);
  if (!f) return "SGD(" + effective_args(Sgd()) + ")";  // the trainer's default
  return keras_class(f->name()) + "(" + effective_args(optimizer.GetReflection()->GetMessage(optimizer, f)) + ")";
}

std::string schedule_line(const ScheduleSpec& schedule) {
  const pb::FieldDescriptor* f = set_case(schedule);
  std::string s;
  if (f && f->name() != "constant")
    s = f->name() + "(" + effective_args(schedule.GetReflection()->GetMessage(schedule, f)) + ")";
  if (schedule.warmup_steps() > 0)
    s += (s.empty() ? "" : ", ") + std::string("warm-up ") + std::to_string(schedule.warmup_steps()) + " steps";
  return s;
}

std::string data_line(const TrainConfig& config) {
  auto source = [](const DataSpec& data) {
    const pb::FieldDescriptor* f = set_case(data);
    return f ? f->name() + " {" + data.GetReflection()->GetMessage(data, f).ShortDebugString() + "}" : std::string("?");
  };
  std::string s = source(config.data());
  if (config.has_validation_data())
    s += "; validation: " + source(config.validation_data());
  else if (config.validation_split() > 0)
    s += "; validation_split " + float_text(config.validation_split(), 7);
  return s;
}

}  // namespace lockstep::cli
