#include "core/callbacks/early_stopping.h"

#include <algorithm>

#include "core/training.h"

namespace lockstep {

EarlyStopping::EarlyStopping(const EarlyStoppingSpec& spec, Monitor monitor, Model& model, std::FILE* out)
    : spec_(spec), monitor_(std::move(monitor)), model_(model), out_(out), best_(monitor_.worst()) {}

void EarlyStopping::keep_weights() {
  ParameterStore& p = model_.parameters();
  best_values_.assign(p.trainable_values(), p.trainable_values() + p.trainable_count());
  best_state_.assign(p.state_values(), p.state_values() + p.state_count());
}

void EarlyStopping::bring_back_weights() {
  ParameterStore& p = model_.parameters();
  if (best_values_.size() != p.trainable_count() || best_state_.size() != p.state_count()) return;
  std::copy(best_values_.begin(), best_values_.end(), p.trainable_values());
  std::copy(best_state_.begin(), best_state_.end(), p.state_values());
}

// As Keras: the epoch counts towards `wait` first; an improvement resets it.
// Every rank sees the same global metrics, so every rank stops alike.
void EarlyStopping::on_epoch_end(const EpochMetrics& m) {
  const int64_t epoch = m.epoch();  // 1-based
  if (epoch <= spec_.start_from_epoch()) return;
  const double current = monitor_.value(m);
  if (spec_.restore_best_weights() && best_values_.empty()) keep_weights();
  ++wait_;
  if (monitor_.improves(current, best_, spec_.min_delta())) {
    best_ = current;
    best_epoch_ = epoch;
    if (spec_.restore_best_weights()) keep_weights();
    wait_ = 0;
    return;
  }
  if (wait_ >= spec_.patience() && epoch > 1) {
    stopped_epoch_ = epoch;
    if (training_) training_->stop_training();
    if (spec_.restore_best_weights()) bring_back_weights();
    if (out_) {
      std::fprintf(out_, "Epoch %lld: early stopping (%s did not improve for %lld epochs; best %.6g at epoch %lld)%s\n",
                   static_cast<long long>(epoch), monitor_.metric().c_str(), static_cast<long long>(wait_), best_,
                   static_cast<long long>(best_epoch_),
                   spec_.restore_best_weights() ? ": restoring model weights from the end of the best epoch" : "");
      std::fflush(out_);
    }
  }
}

void EarlyStopping::save_state(CallbackState& state) const {
  auto& v = *state.mutable_values();
  v["wait"] = static_cast<double>(wait_);
  v["best"] = best_;
  v["best_epoch"] = static_cast<double>(best_epoch_);
  v["stopped_epoch"] = static_cast<double>(stopped_epoch_);
}

void EarlyStopping::restore_state(const CallbackState& state) {
  const auto& v = state.values();
  auto get = [&](const char* key, double fallback) { return v.count(key) ? v.at(key) : fallback; };
  wait_ = static_cast<int64_t>(get("wait", 0));
  best_ = get("best", monitor_.worst());
  best_epoch_ = static_cast<int64_t>(get("best_epoch", 0));
  stopped_epoch_ = static_cast<int64_t>(get("stopped_epoch", 0));
}

void EarlyStopping::collect_tensors(std::vector<TensorRef>& out) const {
  if (best_values_.empty()) return;
  out.push_back({"early_stopping/best/trainable", TensorRecord::CALLBACK,
                 {static_cast<int64_t>(best_values_.size())}, best_values_.data()});
  out.push_back({"early_stopping/best/state", TensorRecord::CALLBACK, {static_cast<int64_t>(best_state_.size())},
                 best_state_.data()});
}

void EarlyStopping::restore_tensors(const CheckpointContents& checkpoint) {
  const TensorData* values = checkpoint.find("early_stopping/best/trainable");
  const TensorData* state = checkpoint.find("early_stopping/best/state");
  if (!values || !state) return;
  best_values_ = values->values;
  best_state_ = state->values;
}

}  // namespace lockstep
