#include "core/callbacks/from_config.h"

#include "core/callbacks/csv_logger.h"
#include "core/callbacks/early_stopping.h"
#include "core/callbacks/monitor.h"
#include "core/callbacks/reduce_lr_on_plateau.h"
#include "core/callbacks/terminate_on_nan.h"
#include "core/error.h"
#include "core/run_dir.h"

namespace lockstep {

bool has_validation(const TrainConfig& config) {
  return config.validation_split() > 0 || config.has_validation_data();
}

void validate_callbacks(const TrainConfig& config) {
  const bool validation = has_validation(config);
  const CallbacksSpec& c = config.callbacks();
  if (c.has_early_stopping()) {
    const EarlyStoppingSpec& e = c.early_stopping();
    Monitor(e.monitor(), e.mode(), validation, "callbacks.early_stopping");
    if (e.patience() < 0) throw_input_error("callbacks.early_stopping.patience", "must be >= 0");
    if (!(e.min_delta() >= 0)) throw_input_error("callbacks.early_stopping.min_delta", "must be >= 0");
    if (e.start_from_epoch() < 0) throw_input_error("callbacks.early_stopping.start_from_epoch", "must be >= 0");
  }
  if (c.has_reduce_lr_on_plateau()) {
    const ReduceLROnPlateauSpec& r = c.reduce_lr_on_plateau();
    Monitor(r.monitor(), r.mode(), validation, "callbacks.reduce_lr_on_plateau");
    if (!(r.factor() > 0 && r.factor() < 1))
      throw_input_error("callbacks.reduce_lr_on_plateau.factor", "must be in (0, 1), got " + std::to_string(r.factor()));
    if (r.patience() < 0) throw_input_error("callbacks.reduce_lr_on_plateau.patience", "must be >= 0");
    if (r.cooldown() < 0) throw_input_error("callbacks.reduce_lr_on_plateau.cooldown", "must be >= 0");
    if (!(r.min_lr() >= 0)) throw_input_error("callbacks.reduce_lr_on_plateau.min_lr", "must be >= 0");
    if (!(r.min_delta() >= 0)) throw_input_error("callbacks.reduce_lr_on_plateau.min_delta", "must be >= 0");
  }
  if (c.has_csv_logger() && c.csv_logger().separator().empty())
    throw_input_error("callbacks.csv_logger.separator", "must not be empty");
  const CheckpointSpec& k = config.checkpoint();
  if (k.save_best_only()) Monitor(k.monitor(), k.mode(), validation, "checkpoint");
}

void add_config_callbacks(CallbackList& list, const TrainConfig& config, Model& model, std::FILE* out, bool root) {
  const bool validation = has_validation(config);
  const CallbacksSpec& c = config.callbacks();
  if (c.has_terminate_on_nan()) list.emplace<TerminateOnNaN>(out);
  if (c.has_csv_logger())
    list.emplace<CsvLogger>(run_file(config.run_dir(), "history.csv"), c.csv_logger(), validation, root);
  if (c.has_reduce_lr_on_plateau()) {
    const ReduceLROnPlateauSpec& r = c.reduce_lr_on_plateau();
    list.emplace<ReduceLROnPlateau>(r, Monitor(r.monitor(), r.mode(), validation, "callbacks.reduce_lr_on_plateau"),
                                    out);
  }
  if (c.has_early_stopping()) {
    const EarlyStoppingSpec& e = c.early_stopping();
    list.emplace<EarlyStopping>(e, Monitor(e.monitor(), e.mode(), validation, "callbacks.early_stopping"), model, out);
  }
}

}  // namespace lockstep
