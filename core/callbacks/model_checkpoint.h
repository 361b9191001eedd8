// Periodic checkpoints of a run (the config's `checkpoint { every_steps
// every_epoch every_minutes keep }`) and, at the end, a last one plus
// RUN_DIR/final/model.pb and final/config.pbtxt when training finished.
// every_minutes is measured on rank 0 and voted, so all ranks save at the
// same step.
#pragma once

#include <chrono>

#include "core/callbacks/callback.h"
#include "core/checkpoint_writer.h"
#include "train.pb.h"

namespace lockstep {

class ModelCheckpoint final : public Callback {
 public:
  ModelCheckpoint(const TrainConfig& config, CheckpointWriter& writer) : config_(config), writer_(writer) {}

  void on_train_begin(Training&) override { last_save_ = std::chrono::steady_clock::now(); }
  void on_step_end(const StepEnd& step) override;
  void vote(StepVotes& votes) override;
  void on_checkpoint_due() override { save(); }
  void on_epoch_end(const EpochMetrics&) override;
  void on_train_end(bool finished) override;
  // The last periodic checkpoint written (empty before the first).
  const std::string& last_path() const { return last_path_; }

 private:
  void save();

  const TrainConfig& config_;
  CheckpointWriter& writer_;
  std::chrono::steady_clock::time_point last_save_;
  std::string last_path_;
};

}  // namespace lockstep
