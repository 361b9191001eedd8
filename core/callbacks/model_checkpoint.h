// Periodic checkpoints of a run (the config's `checkpoint { every_steps
// every_epoch every_minutes keep }`) and, at the end, a last one plus
// RUN_DIR/final/model.pb and final/config.pbtxt when training finished.
// every_minutes is measured on rank 0 and voted, so all ranks save at the
// same step. With save_best_only, RUN_DIR/best/model.pb holds the epoch with
// the best `monitor` so far (Keras ModelCheckpoint); `keep` never deletes it,
// and the best value is saved in checkpoints.
#pragma once

#include <chrono>
#include <optional>

#include "core/callbacks/callback.h"
#include "core/callbacks/monitor.h"
#include "core/checkpoint_writer.h"
#include "train.pb.h"

namespace lockstep {

class ModelCheckpoint final : public Callback {
 public:
  ModelCheckpoint(const TrainConfig& config, CheckpointWriter& writer, bool has_validation);

  void on_train_begin(Training&) override { last_save_ = std::chrono::steady_clock::now(); }
  void on_step_end(const StepEnd& step) override;
  void vote(StepVotes& votes) override;
  void on_checkpoint_due() override { save(true); }
  void on_epoch_end(const EpochMetrics&) override;
  void on_train_end(bool finished) override;
  // The last periodic checkpoint written (empty before the first).
  const std::string& last_path() const { return last_path_; }

  std::string state_name() const override { return best_monitor_ ? "model_checkpoint" : ""; }
  void save_state(CallbackState& state) const override { (*state.mutable_values())["best"] = best_; }
  void restore_state(const CallbackState& state) override;

 private:
  void save(bool background);
  void save_to(const std::string& folder);
  std::optional<Monitor> best_monitor_;  // with save_best_only
  double best_ = 0;

  const TrainConfig& config_;
  CheckpointWriter& writer_;
  std::chrono::steady_clock::time_point last_save_;
  std::string last_path_;
};

}  // namespace lockstep
