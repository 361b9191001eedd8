// Whether a checkpoint can continue a run: the model and optimizer it was
// written by against the config's, compared field by field through protobuf
// reflection, so a new layer option is compared without code here.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/text_format.h>

#include "core/checkpoint.h"
#include "core/error.h"

namespace lockstep {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::OneofDescriptor;

// Options that do not change what a trained layer computes: names (tensor
// names are compared when the tensors are restored) and initializers
// (the checkpoint's values replace the initial ones).
bool ignored(const FieldDescriptor* f) {
  const std::string& name = f->name();
  return name == "name" || (name.size() > 12 && name.compare(name.size() - 12, 12, "_initializer") == 0);
}

// Window sizes given as one number mean both axes (kernel_size: 3 is [3, 3]).
bool both_axes_field(const FieldDescriptor* f) {
  const std::string& n = f->name();
  return n == "kernel_size" || n == "strides" || n == "dilation_rate" || n == "pool_size";
}

// A field's value as the config would spell it; unset fields read as their
// defaults, so "momentum: 0.99" and no momentum at all compare equal.
std::string field_text(const Message& m, const FieldDescriptor* f) {
  std::string value;
  if (!f->is_repeated()) {
    google::protobuf::TextFormat::PrintFieldValueToString(m, f, -1, &value);
    return value;
  }
  const int n = m.GetReflection()->FieldSize(m, f);
  std::vector<std::string> items;
  for (int i = 0; i < n; ++i) {
    google::protobuf::TextFormat::PrintFieldValueToString(m, f, i, &value);
    items.push_back(value);
  }
  if (items.size() == 1 && both_axes_field(f)) items.push_back(items[0]);
  std::string text = "[";
  for (size_t i = 0; i < items.size(); ++i) text += (i ? ", " : "") + items[i];
  return text + "]";
}

void diff_fields(const Message& saved, const Message& now, const std::string& prefix, std::vector<std::string>& out) {
  const Descriptor* d = saved.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (ignored(f) || f->containing_oneof()) continue;  // a oneof's case: diff_oneof
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated()) {
      diff_fields(saved.GetReflection()->GetMessage(saved, f), now.GetReflection()->GetMessage(now, f),
                  prefix + f->name() + ".", out);
      continue;
    }
    const std::string a = field_text(saved, f), b = field_text(now, f);
    if (a != b) out.push_back(prefix + f->name() + " " + a + " in the checkpoint, " + b + " in the config");
  }
}

// The set case of a oneof (the layer type, the optimizer kind); null if none.
const FieldDescriptor* chosen(const Message& m, const char* oneof) {
  const OneofDescriptor* o = m.GetDescriptor()->FindOneofByName(oneof);
  return m.GetReflection()->GetOneofFieldDescriptor(m, o);
}

std::string case_name(const FieldDescriptor* f) { return f ? f->name() : "nothing"; }

// Two messages with a oneof: the cases must agree, then their fields, then
// the fields outside the oneof (an optimizer's clipping, accumulation).
void diff_oneof(const Message& saved, const Message& now, const char* oneof, const std::string& prefix,
                std::vector<std::string>& out) {
  const FieldDescriptor* a = chosen(saved, oneof);
  const FieldDescriptor* b = chosen(now, oneof);
  if (a != b) out.push_back(prefix + ": " + case_name(a) + " in the checkpoint, " + case_name(b) + " in the config");
  else if (a)
    diff_fields(saved.GetReflection()->GetMessage(saved, a), now.GetReflection()->GetMessage(now, b),
                prefix + "." + a->name() + ".", out);
  diff_fields(saved, now, prefix + ".", out);
}

void diff_models(const ModelSpec& saved, const ModelSpec& now, std::vector<std::string>& out) {
  const FieldDescriptor* input = ModelSpec::descriptor()->FindFieldByName("input_shape");
  if (field_text(saved, input) != field_text(now, input))
    out.push_back("model.input_shape " + field_text(saved, input) + " in the checkpoint, " + field_text(now, input) +
                  " in the config");
  const int common = std::min(saved.layers_size(), now.layers_size());
  for (int i = 0; i < common; ++i)
    diff_oneof(saved.layers(i), now.layers(i), "layer", "model.layers[" + std::to_string(i) + "]", out);
  if (saved.layers_size() != now.layers_size())
    out.push_back("model: " + std::to_string(saved.layers_size()) + " layers in the checkpoint, " +
                  std::to_string(now.layers_size()) + " in the config");
}

// No kind set means what Keras' compile() uses: RMSprop (make_optimizer).
OptimizerSpec with_kind(const OptimizerSpec& spec) {
  OptimizerSpec resolved = spec;
  if (resolved.kind_case() == OptimizerSpec::KIND_NOT_SET) resolved.mutable_rmsprop();
  return resolved;
}

}  // namespace

std::vector<std::string> resume_differences(const CheckpointHeader& saved, const TrainConfig& config,
                                            const std::string& optimizer_kind) {
  std::vector<std::string> out;
  if (saved.has_model()) diff_models(saved.model(), config.model(), out);
  if (saved.optimizer_kind() != optimizer_kind)
    out.push_back("optimizer " + (saved.optimizer_kind().empty() ? std::string("none (an inference-only export)")
                                                                 : saved.optimizer_kind()) +
                  " in the checkpoint, " + optimizer_kind + " in the config");
  else if (saved.has_config())  // hyper-parameters: only what a checkpoint written by a run has
    diff_oneof(with_kind(saved.config().optimizer()), with_kind(config.optimizer()), "kind", "optimizer", out);
  return out;
}

void check_resumable(const CheckpointHeader& saved, const TrainConfig& config, const std::string& optimizer_kind,
                     const std::string& where) {
  const std::vector<std::string> differences = resume_differences(saved, config, optimizer_kind);
  if (differences.empty()) return;
  std::string what = "cannot resume: the checkpoint was written by another model or optimizer:";
  for (size_t i = 0; i < differences.size() && i < 20; ++i) what += (i ? "; " : " ") + differences[i];
  if (differences.size() > 20) what += "; ... (" + std::to_string(differences.size()) + " in all)";
  throw_input_error(where, what);
}

}  // namespace lockstep
