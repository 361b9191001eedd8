// Keras' ReduceLROnPlateau: when `monitor` has not improved by more than
// min_delta for `patience` epochs, the learning rate is multiplied by
// `factor` (not below min_lr), then `cooldown` epochs pass before counting
// again. With an lr_schedule it scales the schedule (Training's learning-
// rate factor): rate = schedule(step) x the product of the reductions; a
// reduction never takes the rate of that moment below min_lr. State (wait,
// cooldown, best, the factor) is saved in checkpoints.
#pragma once

#include <cstdio>

#include "core/callbacks/callback.h"
#include "core/callbacks/monitor.h"
#include "train.pb.h"

namespace lockstep {

class ReduceLROnPlateau final : public Callback {
 public:
  ReduceLROnPlateau(const ReduceLROnPlateauSpec& spec, Monitor monitor, std::FILE* out);

  void on_train_begin(Training& training) override;
  void on_epoch_end(const EpochMetrics& metrics) override;

  std::string state_name() const override { return "reduce_lr_on_plateau"; }
  void save_state(CallbackState& state) const override;
  void restore_state(const CallbackState& state) override;

 private:
  ReduceLROnPlateauSpec spec_;
  Monitor monitor_;
  std::FILE* out_;
  Training* training_ = nullptr;
  int64_t wait_ = 0, cooldown_counter_ = 0;
  double best_;
  double factor_ = 1.0;  // product of the reductions so far
};

}  // namespace lockstep
