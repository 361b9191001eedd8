// A run's checkpoints: what goes into one and who writes it. write() is a
// collective that every rank calls at the same point (moving statistics of
// local BatchNormalization merged, the epoch's running sums and the sharded
// optimizer's slots gathered); rank 0 writes the file. Periodic checkpoints
// are written by a background thread unless the config's
// `checkpoint { background: false }` says otherwise.
#pragma once

#include <cstdint>
#include <string>

#include "core/background_checkpoint.h"
#include "core/callbacks/callback.h"
#include "core/communicator.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "core/training.h"
#include "train.pb.h"

namespace lockstep {

class CheckpointWriter {
 public:
  CheckpointWriter(const TrainConfig& config, Model& model, Optimizer& optimizer, Training& training,
                   Communicator& world, const CallbackList& callbacks)
      : config_(config), model_(model), optimizer_(optimizer), training_(training), world_(world),
        callbacks_(callbacks) {}

  // Collective; rank 0 writes `path` atomically, before returning (after
  // the background write in flight, if any).
  void write(const std::string& path);
  // RUN_DIR/checkpoints/ckpt-STEP.pb, then only the newest `keep` are kept.
  // With `background`, rank 0 hands the file to the background thread and
  // returns at once; with `checkpoint { when_busy: "skip" }` it writes
  // nothing while the previous write is still in flight. Returns the path,
  // or "" when skipped.
  std::string write_periodic(bool background);
  // Rank 0: periodic checkpoints skipped so far (when_busy: "skip").
  int64_t skipped() const { return skipped_; }
  // Rank 0: rethrows the failure of a finished background write (exit 1).
  void rethrow_background_failure() { background_.rethrow_failure(); }
  // Rank 0: waits for the background write in flight; rethrows its failure.
  void wait_for_background() { background_.wait(); }
  bool root() const { return world_.rank() == 0; }

 private:
  const TrainConfig& config_;
  Model& model_;
  Optimizer& optimizer_;
  Training& training_;
  Communicator& world_;
  const CallbackList& callbacks_;
  BackgroundCheckpoint background_;
  int64_t skipped_ = 0;

  // Collective; on rank 0 fills the header and the tensors to save.
  bool collect(CheckpointHeader& header, std::vector<TensorRef>& tensors);
};

}  // namespace lockstep
