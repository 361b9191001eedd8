#include "launch/cli/session.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "core/error.h"
#include "core/memory_plan.h"
#include "core/optim/optimizer.h"
#include "core/threads.h"
#include "train.pb.h"

namespace lockstep::cli {

bool is_config_field(const std::string& where) {
  const std::string head = where.substr(0, where.find_first_of(".["));
  return TrainConfig::descriptor()->FindFieldByName(head) != nullptr;
}

ConfigFile load_config(const Args& args) {
  ConfigFile file = ConfigFile::load(args.positional.at(0));
  for (const std::string& s : args.sets) file.apply_override(s);
  located(file, [&] { validate_config(file.config()); });
  return file;
}

void check_same_config_everywhere(const TrainConfig& config, Communicator& world) {
  if (world.size() == 1) return;
  const uint64_t mine = config_hash(config);
  std::vector<uint64_t> all(static_cast<size_t>(world.size()));
  world.allgather(&mine, all.data(), sizeof(uint64_t));
  std::string differ;
  for (int r = 1; r < world.size(); ++r)
    if (all[r] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (!differ.empty())
    throw Error("rank " + std::to_string(world.rank()),
                "the config differs from rank 0's on rank(s) " + differ +
                    " (same file and --set on every rank? the config hash is compared at start-up)",
                kExitInput);
}

// validation_data as it is loaded: without its own scale, shift or missing
// it takes the training data's, and CSV labels and fill values are always
// the training data's (a class absent from validation keeps its index).
DataSpec validation_spec(const TrainConfig& c, const Dataset& train) {
  DataSpec spec = c.validation_data();
  const DataSpec& data = c.data();
  if (!spec.has_scale()) spec.set_scale(data.scale());
  if (!spec.has_shift()) spec.set_shift(data.shift());
  if (spec.has_csv()) {
    CsvData& csv = *spec.mutable_csv();
    if (!csv.has_missing() && data.has_csv()) csv.set_missing(data.csv().missing());
    if (csv.class_names_size() == 0) *csv.mutable_class_names() = {train.class_names.begin(), train.class_names.end()};
    if (csv.fill_values_size() == 0) *csv.mutable_fill_values() = {train.fill_values.begin(), train.fill_values.end()};
  }
  return spec;
}

Data load_data(const ConfigFile& file, Communicator& world, bool need_train) {
  const TrainConfig& c = file.config();
  Data d;
  LoadOptions options;
  if (c.data().shard_mode() == DataSpec::LOCAL) options.shard_index = world.rank(), options.shard_count = world.size();
  if (!c.has_validation_data()) options.holdout_fraction = c.validation_split();
  located(file, [&] {
    d.train = load_dataset(c.data(), "data", options);
    if (c.has_validation_data()) {
      LoadOptions whole;  // every rank reads all validation data; evaluation splits it
      d.validation = load_dataset(validation_spec(c, d.train), "validation_data", whole);
      d.validation_inherits_scale = !c.validation_data().has_scale() && !c.validation_data().has_shift() &&
                                    (c.data().scale() != 1 || c.data().shift() != 0);
    } else if (c.validation_split() > 0) {
      d.validation = split_off_tail(d.train, c.validation_split());
    }
  });
  (void)need_train;
  return d;
}

void record_learned_data(ConfigFile& file, const Dataset& train) {
  DataSpec& data = *file.mutable_config().mutable_data();
  if (!data.has_csv()) return;
  CsvData& csv = *data.mutable_csv();
  if (csv.class_names_size() == 0) *csv.mutable_class_names() = {train.class_names.begin(), train.class_names.end()};
  if (csv.fill_values_size() == 0) *csv.mutable_fill_values() = {train.fill_values.begin(), train.fill_values.end()};
}

void adopt_learned_data(TrainConfig& config, const TrainConfig& trained) {
  if (!config.data().has_csv() || !trained.data().has_csv()) return;
  CsvData& csv = *config.mutable_data()->mutable_csv();
  if (csv.class_names_size() == 0) *csv.mutable_class_names() = trained.data().csv().class_names();
  if (csv.fill_values_size() == 0) *csv.mutable_fill_values() = trained.data().csv().fill_values();
}

void print_load_summaries(const Data& data, const TrainConfig& config) {
  std::printf("%s\n", load_summary(data.train, "data").c_str());
  if (!data.validation) return;
  std::string line = load_summary(*data.validation, config.has_validation_data() ? "validation_data"
                                                                                  : "validation_split");
  if (data.validation_inherits_scale) line += ", scale and shift of data";
  std::printf("%s\n", line.c_str());
}

void infer_input_shape(ConfigFile& file, const Dataset& train) {
  ModelSpec& model = *file.mutable_config().mutable_model();
  if (model.input_shape_size() > 0) return;
  for (int64_t d : train.sample_shape) model.add_input_shape(static_cast<int32_t>(d));
}

int64_t local_rows(const TrainConfig& config, int ranks) {
  const int64_t n = std::max(1, ranks);
  return std::max<int64_t>(1, (int64_t{config.batch_size()} + n - 1) / n);
}

std::string batch_description(const TrainConfig& config, int ranks) {
  return "batch_size " + std::to_string(config.batch_size()) +
         (ranks > 1 ? " over " + std::to_string(ranks) + " ranks" : "");
}

int optimizer_slots(const ConfigFile& file) {
  return located(file, [&] {
    return static_cast<int>(make_optimizer(file.config().optimizer(), "optimizer")->slot_names().size());
  });
}

std::unique_ptr<Model> build_model(const ConfigFile& file, const ModelSpec& spec, uint64_t seed, int64_t rows,
                                   int slots, const std::string& batch_field, Runtime& runtime) {
  return located(file, [&] {
    auto model = std::make_unique<Model>(spec, Model::Unallocated{}, "model");
    const MemoryPlan plan = plan_memory(*model, rows, slots, "model");
    const std::string batch = batch_field.empty() ? std::to_string(rows) + "-row batches"
                                                  : batch_description(file.config(), runtime.world().size());
    if (const std::optional<MemoryAvailable> available = memory_available())
      check_memory(plan, *available, runtime.local_size(), batch, batch_field);
    model->allocate(seed);
    return model;
  });
}

// Samples may be given as images [28, 28, 1] for a model that takes [784]:
// the values are the same row-major floats.
void check_data_fits(const ConfigFile& file, const Dataset& data, const Model& model, const std::string& field) {
  if (data.sample_size() != model.input_width())
    throw_input_error(file.locate("model.input_shape"),
                      "input_shape " + shape_string(model.input_shape()) + " disagrees with " + field + " (" +
                          data.source + "), whose samples have shape " + shape_string(data.sample_shape) +
                          " (leave input_shape out to take the data's)");
}

void check_data_fits_model(const std::string& where, const std::string& whose, const Dataset& data,
                           const Model& model, const std::string& field) {
  if (data.sample_size() != model.input_width())
    throw_input_error(where, whose + " takes samples of shape " + shape_string(model.input_shape()) + " but " + field +
                                 " (" + data.source + ") has samples of shape " + shape_string(data.sample_shape));
}

void set_rank_threads(const TrainConfig& config, Runtime& runtime) {
  std::string why;
  set_compute_threads(threads_within_share(config.threads(), runtime.default_threads(), &why));
  if (!why.empty() && runtime.world().rank() == 0) std::fprintf(stderr, "warning: %s\n", why.c_str());
}

std::string run_file(const TrainConfig& config, const std::string& name) { return lockstep::run_file(config.run_dir(), name); }

}  // namespace lockstep::cli
