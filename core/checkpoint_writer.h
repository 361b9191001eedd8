// A run's checkpoints: what goes into one and who writes it. write() is a
// collective that every rank calls at the same point (moving statistics of
// local BatchNormalization merged, the epoch's running sums and the sharded
// optimizer's slots gathered); rank 0 writes the file.
#pragma once

#include <string>

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

  // Collective; rank 0 writes `path` atomically.
  void write(const std::string& path);
  // RUN_DIR/checkpoints/ckpt-STEP.pb, then only the newest `keep` are kept.
  // Returns the path.
  std::string write_periodic();
  bool root() const { return world_.rank() == 0; }

 private:
  const TrainConfig& config_;
  Model& model_;
  Optimizer& optimizer_;
  Training& training_;
  Communicator& world_;
  const CallbackList& callbacks_;
};

}  // namespace lockstep
