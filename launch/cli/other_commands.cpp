// `trainer evaluate|predict|summary|inspect`
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>

#include "core/blas_kernels.h"
#include "core/checkpoint.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/summary.h"
#include "core/threads.h"
#include "launch/cli/commands.h"
#include "launch/cli/session.h"

namespace lockstep::cli {
namespace {

// --model DIR (a run's final/ folder, or the model.pb inside) or --checkpoint FILE.
std::string model_file(const Args& args) {
  if (args.has("checkpoint")) return args.get("checkpoint");
  const std::string& m = args.get("model");
  struct stat st;
  if (::stat(m.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return m + "/model.pb";
  return m;
}

}  // namespace

int run_evaluate(const Args& args, Runtime& runtime) {
  Communicator& world = runtime.world();
  ConfigFile file = load_config(args);
  const TrainConfig& config = file.config();
  set_rank_threads(config, runtime);
  const std::string path = model_file(args);
  const CheckpointContents ckpt = read_checkpoint(path);
  // The checkpoint's own model is the one that was trained.
  Model model(ckpt.header.model(), ckpt.header.seed(), "model");
  restore_tensors(ckpt, model, nullptr, path);

  Data data = load_data(file, world, true);
  const bool on_train = args.has("on") && args.get("on") == "train";
  if (!on_train && !data.validation && args.has("on"))
    throw_input_error(file.path(), "--on validation: the config has no validation_data or validation_split");
  const Dataset& set = (on_train || !data.validation) ? data.train : *data.validation;
  const std::string which = (on_train || !data.validation) ? "training data" : "validation data";
  check_data_fits(file, set, model, which);
  Loss loss = located(file, [&] { return Loss(config.loss(), "loss"); });
  located(file, [&] {
    loss.set_label_smoothing(config.label_smoothing(), "label_smoothing");
    loss.check_labels(set, model.output_width(), "loss");
  });
  const int64_t chunk = 256;
  model.reserve(chunk);

  if (args.command == "evaluate") {
    const EvalTotals t = evaluate_model(model, loss, set, world, chunk);
    if (world.rank() == 0) {
      std::printf("%s: %lld samples - loss: %.4f - accuracy: %.4f\n", which.c_str(), static_cast<long long>(t.count),
                  t.loss_sum / std::max(1.0, t.count), t.correct / std::max(1.0, t.count));
      std::printf("{\"samples\": %lld, \"loss\": %.9g, \"accuracy\": %.9g}\n", static_cast<long long>(t.count),
                  t.loss_sum / std::max(1.0, t.count), t.correct / std::max(1.0, t.count));
    }
    return 0;
  }
  // predict: each rank fills its slice; a sum over ranks assembles the whole.
  const int64_t width = model.output_width();
  std::vector<float> outputs(static_cast<size_t>(set.num_samples * width), 0.0f);
  predict_model(model, set, world, chunk, [&](int64_t first, const float* out, int64_t rows) {
    std::copy(out, out + rows * width, outputs.begin() + first * width);
  });
  world.allreduce_sum(outputs.data(), outputs.size());
  if (world.rank() != 0) return 0;
  const std::string output = args.has("output") ? args.get("output") : run_file(config, "predictions.csv");
  std::FILE* f = std::fopen(output.c_str(), "w");
  if (!f) throw_runtime_error(output, "cannot write predictions");
  std::fprintf(f, "index");
  for (int64_t c = 0; c < width; ++c) std::fprintf(f, ",p%lld", static_cast<long long>(c));
  std::fprintf(f, "\n");
  for (int64_t i = 0; i < set.num_samples; ++i) {
    std::fprintf(f, "%lld", static_cast<long long>(i));
    for (int64_t c = 0; c < width; ++c) std::fprintf(f, ",%.7g", outputs[i * width + c]);
    std::fprintf(f, "\n");
  }
  if (std::fclose(f) != 0) throw_runtime_error(output, "cannot write predictions");
  std::printf("wrote %lld predictions of %s to %s\n", static_cast<long long>(set.num_samples), which.c_str(),
              output.c_str());
  return 0;
}

int run_summary(const Args& args, Runtime& runtime) {
  ConfigFile file = load_config(args);
  const TrainConfig& config = file.config();
  Model model = located(file, [&]() -> Model { return Model(config.model(), config.seed()); });
  if (runtime.world().rank() == 0) {
    std::fputs(model_summary(model).c_str(), stdout);
    const int ranks = runtime.world().size() > 1 ? runtime.world().size() : 0;
    std::fputs(batch_statistics_summary(model, config.distributed().sync_batch_norm(), ranks).c_str(), stdout);
    std::printf("BLAS: %s\n", blas_description().c_str());
  }
  return 0;
}

int run_inspect(const Args& args, Runtime& runtime) {
  const std::string& path = args.positional.at(0);
  const CheckpointContents ckpt = read_checkpoint(path);
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

// The model spec and config (for data settings), parameters and moving
// statistics; no optimizer state. evaluate/predict read it like any checkpoint.
int run_export(const Args& args, Runtime& runtime) {
  const std::string& from = args.positional.at(0);
  const std::string& to = args.positional.at(1);
  const CheckpointContents ckpt = read_checkpoint(from);
  if (runtime.world().rank() != 0) return 0;
  Model model(ckpt.header.model(), ckpt.header.seed(), "model");
  restore_tensors(ckpt, model, nullptr, from);
  CheckpointHeader header = ckpt.header;
  header.clear_optimizer_kind();
  write_checkpoint(to, header, collect_tensors(model, nullptr));
  std::printf("exported %s -> %s (%zu tensors, no optimizer state)\n", from.c_str(), to.c_str(),
              collect_tensors(model, nullptr).size());
  return 0;
}

}  // namespace lockstep::cli
