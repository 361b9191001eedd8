#include "core/callbacks/reduce_lr_on_plateau.h"

#include <algorithm>

#include "core/training.h"

namespace lockstep {

ReduceLROnPlateau::ReduceLROnPlateau(const ReduceLROnPlateauSpec& spec, Monitor monitor, std::FILE* out)
    : spec_(spec), monitor_(std::move(monitor)), out_(out), best_(monitor_.worst()) {}

void ReduceLROnPlateau::on_train_begin(Training& training) {
  training_ = &training;
  training.set_learning_rate_factor(factor_);  // a resumed run's reductions
}

// Keras' order: a cooldown epoch resets `wait`; an improvement resets it
// too; otherwise, outside cooldown, `wait` grows until `patience`.
void ReduceLROnPlateau::on_epoch_end(const EpochMetrics& m) {
  const double current = monitor_.value(m);
  if (cooldown_counter_ > 0) --cooldown_counter_, wait_ = 0;
  if (monitor_.improves(current, best_, spec_.min_delta())) {
    best_ = current;
    wait_ = 0;
    return;
  }
  if (cooldown_counter_ > 0 || ++wait_ < spec_.patience() || !training_) return;
  const double rate = training_->current_learning_rate();
  if (rate > spec_.min_lr()) {
    const double reduced = std::max(rate * spec_.factor(), static_cast<double>(spec_.min_lr()));
    factor_ *= reduced / rate;
    training_->set_learning_rate_factor(factor_);
    if (out_) {
      std::fprintf(out_, "Epoch %lld: ReduceLROnPlateau reducing learning rate to %.6g.\n",
                   static_cast<long long>(m.epoch()), reduced);
      std::fflush(out_);
    }
  }
  cooldown_counter_ = spec_.cooldown();
  wait_ = 0;
}

void ReduceLROnPlateau::save_state(CallbackState& state) const {
  auto& v = *state.mutable_values();
  v["wait"] = static_cast<double>(wait_);
  v["cooldown_counter"] = static_cast<double>(cooldown_counter_);
  v["best"] = best_;
  v["factor"] = factor_;
}

void ReduceLROnPlateau::restore_state(const CallbackState& state) {
  const auto& v = state.values();
  auto get = [&](const char* key, double fallback) { return v.count(key) ? v.at(key) : fallback; };
  wait_ = static_cast<int64_t>(get("wait", 0));
  cooldown_counter_ = static_cast<int64_t>(get("cooldown_counter", 0));
  best_ = get("best", monitor_.worst());
  factor_ = get("factor", 1.0);
}

}  // namespace lockstep
