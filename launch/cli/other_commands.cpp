// `trainer summary|inspect|export`
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>

#include "core/blas_kernels.h"
#include "core/isa.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/memory_plan.h"
#include "core/summary.h"
#include "core/threads.h"
#include "launch/cli/commands.h"
#include "launch/cli/export_onnx.h"
#include "launch/cli/export_torch.h"
#include "launch/cli/session.h"

namespace lockstep::cli {

int run_summary(const Args& args, Runtime& runtime) {
  ConfigFile file = load_config(args);
  const TrainConfig& config = file.config();
  // Without input_shape the model's shape is the data's, as trainer train takes it.
  if (config.model().input_shape_size() == 0) infer_input_shape(file, load_data(file, runtime.world(), true).train);
  // Nothing is allocated: the summary of a model too big for this machine
  // says how big it is instead of failing.
  const Model model = located(file, [&]() -> Model { return Model(config.model(), Model::Unallocated{}); });
  const int world = runtime.world().size();
  const int slots = optimizer_slots(file);
  const MemoryPlan plan = located(file, [&] { return plan_memory(model, local_rows(config, world), slots, "model"); });
  if (runtime.world().rank() == 0) {
    std::fputs(model_summary(model).c_str(), stdout);
    std::fputs(memory_summary(plan, memory_available(), runtime.local_size(), batch_description(config, world)).c_str(),
               stdout);
    const int ranks = world > 1 ? world : 0;
    std::fputs(batch_statistics_summary(model, config.distributed().sync_batch_norm(), ranks).c_str(), stdout);
    std::printf("BLAS: %s\n", blas_description().c_str());
    std::printf("ISA: %s\n", isa_description().c_str());
  }
  return 0;
}

int run_inspect(const Args& args, Runtime& runtime) {
  const std::string& path = args.positional.at(0);
  const CheckpointContents ckpt = read_checkpoint(path);
  check_tensors_match_header(ckpt, path);
  if (runtime.world().rank() != 0) return 0;
  const CheckpointHeader& h = ckpt.header;
  if (args.flag("json")) {
    std::string header;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(h, &header, options);
    std::printf("{\"header\": %s, \"tensors\": [", header.c_str());
    for (size_t i = 0; i < ckpt.tensors.size(); ++i) {
      const TensorData& t = ckpt.tensors[i];
      std::printf("%s\n{\"name\": \"%s\", \"kind\": \"%s\", \"shape\": %s, \"values\": [", i ? "," : "", t.name.c_str(),
                  TensorRecord::Kind_Name(t.kind).c_str(), shape_string(t.shape).c_str());
      for (size_t j = 0; j < t.values.size(); ++j) std::printf("%s%.9g", j ? ", " : "", t.values[j]);
      std::printf("]}");
    }
    std::printf("]}\n");
    return 0;
  }
  const Progress& p = h.progress();
  std::printf("checkpoint %s\n", path.c_str());
  std::printf("  format version %u, written by %d rank(s), seed %llu, optimizer %s\n", h.format_version(),
              h.world_size(), static_cast<unsigned long long>(h.seed()), h.optimizer_kind().c_str());
  std::printf("  progress: epoch %lld, step %lld in epoch, %lld steps in all\n",
              static_cast<long long>(p.epoch() + 1), static_cast<long long>(p.step_in_epoch()),
              static_cast<long long>(p.global_step()));
  for (const EpochMetrics& m : h.history())
    std::printf("  epoch %lld: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f\n",
                static_cast<long long>(m.epoch()), m.loss(), m.accuracy(), m.val_loss(), m.val_accuracy());
  std::printf("  %-48s %-16s %-20s %12s %12s\n", "tensor", "kind", "shape", "min", "max");
  for (const TensorData& t : ckpt.tensors) {
    float lo = 0, hi = 0;
    if (!t.values.empty()) {
      lo = *std::min_element(t.values.begin(), t.values.end());
      hi = *std::max_element(t.values.begin(), t.values.end());
    }
    std::printf("  %-48s %-16s %-20s %12.5g %12.5g\n", t.name.c_str(), TensorRecord::Kind_Name(t.kind).c_str(),
                shape_string(t.shape).c_str(), lo, hi);
  }
  return 0;
}

namespace {

bool ends_with(const std::string& s, const std::string& end) {
  return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

// --format, or the output's extension: .onnx is ONNX, .pt PyTorch, anything
// else lockstep's own checkpoint format (as before --format existed).
std::string export_format(const Args& args, const std::string& to) {
  if (!args.has("format")) return ends_with(to, ".onnx") ? "onnx" : ends_with(to, ".pt") ? "torch" : "lockstep";
  const std::string& f = args.get("format");
  if (f != "onnx" && f != "lockstep" && f != "torch")
    throw_input_error("--format", "unknown format '" + f + "' (known: onnx, torch, lockstep)");
  return f;
}

}  // namespace

// lockstep: the model spec and config (for data settings), parameters and
// moving statistics, no optimizer state; evaluate/predict read it like any
// checkpoint. onnx: the inference graph (launch/cli/export_onnx.h).
int run_export(const Args& args, Runtime& runtime) {
  const std::string& from = args.positional.at(0);
  const std::string& to = args.positional.at(1);
  const std::string format = export_format(args, to);
  // PyTorch code is Python: launch/to_torch.py rebuilds the model from the checkpoint.
  if (format == "torch") return runtime.world().rank() == 0 ? export_torch(from, to) : 0;
  const CheckpointContents ckpt = read_checkpoint(from);
  if (runtime.world().rank() != 0) return 0;
  Model model(ckpt.header.model(), ckpt.header.seed(), "model");
  restore_tensors(ckpt, model, nullptr, from);
  if (format == "onnx") {
    write_onnx(model, to);
    std::printf("exported %s -> %s (ONNX, opset 13, input and output channels last)\n", from.c_str(), to.c_str());
    return 0;
  }
  CheckpointHeader header = ckpt.header;
  header.clear_optimizer_kind();
  write_checkpoint(to, header, collect_tensors(model, nullptr));
  std::printf("exported %s -> %s (%zu tensors, no optimizer state)\n", from.c_str(), to.c_str(),
              collect_tensors(model, nullptr).size());
  return 0;
}

}  // namespace lockstep::cli
