// `trainer evaluate` and `trainer predict`: a saved model on its validation
// data, its training data (--on train) or a file (--data), with the
// checkpoint's own config for everything not given. evaluate reports loss,
// accuracy and a classification report; predict writes one row per sample.

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/metrics.h"
#include "core/run_dir.h"
#include "launch/cli/commands.h"
#include "launch/cli/session.h"

namespace lockstep::cli {
namespace {

constexpr int64_t kChunk = 256;  // rows per forward pass when scoring

// The command line's CONFIG when given; otherwise the config saved in the
// checkpoint, so a model is scored with the data settings it was trained with.
ConfigFile evaluation_config(const Args& args, const CheckpointContents& ckpt, const std::string& path) {
  if (!args.positional.empty()) {
    ConfigFile file = load_config(args);
    adopt_learned_data(file.mutable_config(), ckpt.header.config());
    return file;
  }
  if (!ckpt.header.has_config()) throw_input_error(path, "holds no config: give the CONFIG the model was trained with");
  ConfigFile file = ConfigFile::from_message(ckpt.header.config(), path);
  for (const std::string& s : args.sets) file.apply_override(s);
  located(file, [&] { validate_config(file.config()); });
  return file;
}

bool ends_with(const std::string& s, const std::string& end) {
  return s.size() >= end.size() && s.compare(s.size() - end.size(), end.size(), end) == 0;
}

std::string real_path(const std::string& path) {
  char buffer[PATH_MAX];
  return ::realpath(path.c_str(), buffer) ? std::string(buffer) : path;
}

// --data FILE[,LABELS]: the training data's spec (label column, delimiter,
// scale, ...) with the file(s) replaced; the kind from the extension (.csv;
// .npy features,labels; IDX images,labels otherwise).
DataSpec spec_for_file(const std::string& arg, const DataSpec& trained_on) {
  const size_t comma = arg.find(',');
  const std::string first = arg.substr(0, comma), second = comma == std::string::npos ? "" : arg.substr(comma + 1);
  DataSpec spec;
  spec.set_scale(trained_on.scale());
  spec.set_shift(trained_on.shift());
  if (ends_with(first, ".csv") || ends_with(first, ".tsv") || ends_with(first, ".txt")) {
    *spec.mutable_csv() = trained_on.has_csv() ? trained_on.csv() : CsvData();
    spec.mutable_csv()->set_path(first);
    if (!second.empty()) throw_input_error("--data", "a CSV file holds its labels: give one file");
    return spec;
  }
  if (second.empty()) throw_input_error("--data", "give FEATURES,LABELS for NPY and IDX files");
  if (ends_with(first, ".npy")) {
    if (trained_on.has_npy()) *spec.mutable_npy() = trained_on.npy();
    spec.mutable_npy()->set_features(first);
    spec.mutable_npy()->set_labels(second);
  } else {
    if (trained_on.has_idx()) *spec.mutable_idx() = trained_on.idx();
    spec.mutable_idx()->set_images(first);
    spec.mutable_idx()->set_labels(second);
  }
  return spec;
}

std::string trained_file(const DataSpec& d) {
  if (d.has_csv()) return d.csv().path();
  if (d.has_npy()) return d.npy().features();
  if (d.has_idx()) return d.idx().images();
  return "";
}

struct Scored {
  Dataset data;
  std::string which;
  std::string warning;  // empty: none
};

Scored data_to_score(const Args& args, const ConfigFile& file, Communicator& world) {
  const TrainConfig& c = file.config();
  if (args.has("data")) {
    Scored s;
    const DataSpec spec = spec_for_file(args.get("data"), c.data());
    s.data = located(file, [&] { return load_dataset(spec, "--data"); });
    s.which = args.get("data");
    const std::string trained = trained_file(c.data());
    if (!trained.empty() && real_path(trained_file(spec)) == real_path(trained))
      s.warning = s.which + " is the training data" +
                  (c.validation_split() > 0 ? ": the model was trained on all but the last " +
                                                  std::to_string(static_cast<int>(c.validation_split() * 100 + 0.5)) +
                                                  "% of its samples"
                                            : ": the model was trained on these samples");
    return s;
  }
  Data data = load_data(file, world, true);
  const bool on_train = args.has("on") && args.get("on") == "train";
  if (!on_train && !data.validation && args.has("on"))
    throw_input_error(file.path(), "--on validation: the config has no validation_data or validation_split");
  if (on_train || !data.validation)
    return Scored{std::move(data.train), "training data", "scoring the training data: the model was trained on it"};
  return Scored{std::move(*data.validation), "validation data", ""};
}

// Every sample's output on every rank (each rank computes its slice).
std::vector<float> all_outputs(Model& model, const Dataset& set, Communicator& world, int64_t chunk) {
  const int64_t width = model.output_width();
  std::vector<float> outputs(static_cast<size_t>(set.num_samples * width), 0.0f);
  predict_model(model, set, world, chunk, [&](int64_t first, const float* out, int64_t rows) {
    std::copy(out, out + rows * width, outputs.begin() + first * width);
  });
  world.allreduce_sum(outputs.data(), outputs.size());
  return outputs;
}

// A class as predictions and reports show it: its label name when the
// training data's labels were names.
std::string class_text(int64_t c, const std::vector<std::string>& names) {
  if (c >= static_cast<int64_t>(names.size())) return std::to_string(c);
  const std::string& name = names[c];
  if (name.find_first_of(",\"\r\n") == std::string::npos) return name;
  std::string quoted = "\"";  // RFC 4180: quotes doubled inside quotes
  for (char ch : name) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return quoted + "\"";
}

// index, predicted class (classification), p0..pK: one line per sample.
std::string predictions_csv(const std::vector<float>& outputs, int64_t rows, int64_t width, bool classes,
                            const std::vector<std::string>& names) {
  std::string text = classes ? "index,predicted" : "index";
  char item[32];
  for (int64_t c = 0; c < width; ++c) text += (classes ? ",p" : ",y") + std::to_string(c);
  text += "\n";
  for (int64_t i = 0; i < rows; ++i) {
    const float* p = outputs.data() + i * width;
    text += std::to_string(i);
    if (classes)
      text += "," + class_text(width == 1 ? (p[0] > 0.5f ? 1 : 0) : std::max_element(p, p + width) - p, names);
    for (int64_t c = 0; c < width; ++c) {
      std::snprintf(item, sizeof item, ",%.7g", p[c]);
      text += item;
    }
    text += "\n";
  }
  return text;
}

std::string parent_folder(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// What both commands start from: the model, its config, the data to score.
struct Scoring {
  std::string path;
  ConfigFile file;
  std::unique_ptr<Model> model;
  Scored scored;
};

Scoring prepare(const Args& args, Runtime& runtime) {
  Communicator& world = runtime.world();
  const std::string path = model_file(args);
  const CheckpointContents ckpt = read_checkpoint(path);
  Scoring s{path, evaluation_config(args, ckpt, path), nullptr, {}};
  set_rank_threads(s.file.config(), runtime);
  // The model that was trained, its memory checked before it is allocated.
  s.model = build_model(s.file, ckpt.header.model(), ckpt.header.seed(), kChunk, 0, "", runtime);
  restore_tensors(ckpt, *s.model, nullptr, path);
  s.scored = data_to_score(args, s.file, world);
  if (world.rank() == 0 && !args.flag("json"))
    std::printf("%s\n", load_summary(s.scored.data, args.has("data") ? "--data" : s.scored.which).c_str());
  // The model is the checkpoint's, not the config's: a mismatch is blamed on
  // the checkpoint (the config's input_shape may well fit the data).
  check_data_fits_model(path, "the checkpoint's model", s.scored.data, *s.model, s.scored.which);
  s.model->reserve(kChunk);
  return s;
}

}  // namespace

int run_predict(const Args& args, Runtime& runtime) {
  Scoring s = prepare(args, runtime);
  const Dataset& set = s.scored.data;
  const std::vector<float> outputs = all_outputs(*s.model, set, runtime.world(), kChunk);
  if (runtime.world().rank() != 0) return 0;
  if (!s.scored.warning.empty()) std::fprintf(stderr, "warning: %s\n", s.scored.warning.c_str());
  // Next to the model by default: the run_dir may be gone or elsewhere.
  const std::string output = args.has("output") ? args.get("output") : parent_folder(s.path) + "/predictions.csv";
  make_dirs(parent_folder(output));
  write_text_file(output, predictions_csv(outputs, set.num_samples, s.model->output_width(),
                                          set.label_kind != LabelKind::kValue, set.class_names), false);
  std::printf("wrote %lld predictions of %s to %s\n", static_cast<long long>(set.num_samples), s.scored.which.c_str(),
              output.c_str());
  return 0;
}

std::string model_file(const Args& args) {
  if (args.has("checkpoint")) return args.get("checkpoint");
  const std::string& m = args.get("model");
  std::error_code ec;
  if (std::filesystem::is_directory(m, ec)) return m + "/model.pb";
  return m;
}

int run_evaluate(const Args& args, Runtime& runtime) {
  Communicator& world = runtime.world();
  Scoring s = prepare(args, runtime);
  const TrainConfig& config = s.file.config();
  const Dataset& set = s.scored.data;
  Model& model = *s.model;
  Loss loss = located(s.file, [&] { return Loss(config.loss(), "loss"); });
  located(s.file, [&] {
    loss.set_label_smoothing(config.label_smoothing(), "label_smoothing");
    loss.check_labels(set, model.output_width(), "loss");
  });
  const int64_t chunk = kChunk;
  const EvalTotals t = evaluate_model(model, loss, set, world, chunk);
  const bool classes = set.label_kind != LabelKind::kValue;
  std::optional<ClassificationReport> report;
  if (classes) {
    const std::vector<float> outputs = all_outputs(model, set, world, chunk);
    report = classification_report(outputs.data(), set.num_samples, model.output_width(), set);
    report->class_names = set.class_names;
  }
  if (world.rank() != 0) return 0;
  const double n = std::max(1.0, t.count), mean_loss = t.loss_sum / n, accuracy = t.correct / n;
  if (!s.scored.warning.empty()) std::fprintf(stderr, "warning: %s\n", s.scored.warning.c_str());
  if (!args.flag("json")) {
    std::printf("%s: %lld samples - loss: %.4f - accuracy: %.4f\n", s.scored.which.c_str(),
                static_cast<long long>(t.count), mean_loss, accuracy);
    if (report) std::fputs(report_text(*report).c_str(), stdout);
  }
  std::printf("{\"samples\": %lld, \"loss\": %.9g, \"accuracy\": %.9g%s%s}\n", static_cast<long long>(t.count),
              mean_loss, accuracy, report ? ", \"report\": " : "", report ? report_json(*report).c_str() : "");
  return 0;
}

}  // namespace lockstep::cli
