// Keras' EarlyStopping: training stops when `monitor` has not improved by
// more than min_delta for `patience` epochs (epochs before start_from_epoch
// are not looked at). With restore_best_weights, stopping brings back the
// parameters and moving statistics of the best epoch (Keras 2: only when it
// stops). State (wait, best, best epoch, and the best weights) is saved in
// checkpoints.
#pragma once

#include <cstdio>
#include <vector>

#include "core/callbacks/callback.h"
#include "core/callbacks/monitor.h"
#include "core/model.h"
#include "train.pb.h"

namespace lockstep {

class EarlyStopping final : public Callback {
 public:
  // `out`: where rank 0 says it stopped (null: silent).
  EarlyStopping(const EarlyStoppingSpec& spec, Monitor monitor, Model& model, std::FILE* out);

  void on_train_begin(Training& training) override { training_ = &training; }
  void on_epoch_end(const EpochMetrics& metrics) override;

  std::string state_name() const override { return "early_stopping"; }
  void save_state(CallbackState& state) const override;
  void restore_state(const CallbackState& state) override;
  void collect_tensors(std::vector<TensorRef>& out) const override;
  void restore_tensors(const CheckpointContents& checkpoint) override;

  int64_t stopped_epoch() const { return stopped_epoch_; }  // 1-based; 0 = did not stop
  int64_t best_epoch() const { return best_epoch_; }        // 1-based

 private:
  void keep_weights();
  void bring_back_weights();

  EarlyStoppingSpec spec_;
  Monitor monitor_;
  Model& model_;
  std::FILE* out_;
  Training* training_ = nullptr;
  int64_t wait_ = 0, best_epoch_ = 0, stopped_epoch_ = 0;
  double best_;
  std::vector<float> best_values_, best_state_;  // trainable values, non-trainable state
};

}  // namespace lockstep
