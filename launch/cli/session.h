// What every subcommand needs: the config (with --set overrides), validated,
// with errors located in the file; the data; the model.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/communicator.h"
#include "core/config.h"
#include "core/data/dataset.h"
#include "core/error.h"
#include "core/model.h"
#include "core/run_dir.h"
#include "distributed/runtime.h"
#include "launch/cli/args.h"

namespace lockstep::cli {

// Runs f and, if it throws an input error whose WHERE is a config field path
// ("model.layers[2].dense.units"), rethrows it located: "cfg.pbtxt:14: model...".
template <typename F>
auto located(const ConfigFile& file, F&& f) -> decltype(f());

ConfigFile load_config(const Args& args);

// Every rank compares its config hash with rank 0's; a mismatch is an error
// (exit 2) on every rank, naming the ranks that differ.
void check_same_config_everywhere(const TrainConfig& config, Communicator& world);

struct Data {
  Dataset train;
  std::optional<Dataset> validation;
  bool validation_inherits_scale = false;  // validation_data took data's scale and shift
};
// The training data (this rank's part when LOCAL) and the validation data,
// which takes the training data's class names and fill values (CSV) and,
// unless it gives its own, scale, shift and missing.
Data load_data(const ConfigFile& file, Communicator& world, bool need_train);

// What trainer train learned from the training data and saves with the
// config in every checkpoint: CSV class names and fill values (when the
// config gives none).
void record_learned_data(ConfigFile& file, const Dataset& train);
// The same facts taken from a checkpoint's config into a config given on
// the command line that lacks them (evaluate, predict).
void adopt_learned_data(TrainConfig& config, const TrainConfig& trained);
// One load summary line per data set (rank 0 calls it).
void print_load_summaries(const Data& data, const TrainConfig& config);
// model.input_shape left out: the training data's sample shape.
void infer_input_shape(ConfigFile& file, const Dataset& train);

// Batch rows each rank runs: the global batch_size split over `ranks`,
// rounded up (as Training does).
int64_t local_rows(const TrainConfig& config, int ranks);
// "batch_size 64" or "batch_size 64 over 4 ranks", for messages.
std::string batch_description(const TrainConfig& config, int ranks);
// Floats per trainable parameter the config's optimizer keeps.
int optimizer_slots(const ConfigFile& file);

// The model of `spec`, its memory planned for `rows` rows per rank (with
// `slots` optimizer slots) before anything is allocated and refused (exit
// status 2, located in the config) when the ranks on this node cannot all
// fit; then allocated and initialised from `seed`. `batch_field` is the
// config field the batch comes from ("" when the command picks the rows).
std::unique_ptr<Model> build_model(const ConfigFile& file, const ModelSpec& spec, uint64_t seed, int64_t rows,
                                   int slots, const std::string& batch_field, Runtime& runtime);

// Checks that the data fits the model's input shape.
void check_data_fits(const ConfigFile& file, const Dataset& data, const Model& model, const std::string& field);
// The same for a model that does not come from the config (a checkpoint's):
// the error is at `where` and says `whose` model it is.
void check_data_fits_model(const std::string& where, const std::string& whose, const Dataset& data,
                           const Model& model, const std::string& field);

// Sets the rank's compute threads: config.threads, or the rank's share of
// the node's cores, capped at that share when oversubscribing would make the
// thread pool spin against other ranks (rank 0 warns).
void set_rank_threads(const TrainConfig& config, Runtime& runtime);

std::string run_file(const TrainConfig& config, const std::string& name);

// ---- implementation of located() ----
bool is_config_field(const std::string& where);
template <typename F>
auto located(const ConfigFile& file, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    if (e.exit_code() == kExitInput && is_config_field(e.where())) throw Error(file.locate(e.where()), e.message(), e.exit_code());
    throw;
  }
}

}  // namespace lockstep::cli
