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
};
Data load_data(const ConfigFile& file, Communicator& world, bool need_train);

// Checks that the data fits the model's input shape.
void check_data_fits(const ConfigFile& file, const Dataset& data, const Model& model, const std::string& field);

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
