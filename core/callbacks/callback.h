// The training loop's hooks, as Keras' Callback and LBANN's callbacks:
// progress, history, checkpoints, early stopping, learning-rate reduction.
// Every rank runs every callback at the same points of the loop with the
// same global metrics, so a callback may use collectives as long as it does
// so on every rank. Decisions one rank makes alone (a signal arrived, a
// time-based checkpoint is due) are votes that the loop reduces over ranks
// once per step, so every rank acts on them at the same step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint.pb.h"
#include "core/checkpoint.h"
#include "core/loss.h"

namespace lockstep {

class Training;

struct StepVotes {
  bool stop = false;        // end training now (pre-emption); the caller then writes a checkpoint
  bool checkpoint = false;  // write a checkpoint now (time-based)
  bool terminate = false;   // end training now as finished (TerminateOnNaN)
};

struct StepEnd {
  int64_t epoch = 0;
  int64_t step_in_epoch = 0;  // steps of the epoch done, this one included
  int64_t steps = 0;          // steps in the epoch
  int64_t global_step = 0;    // optimizer steps done in total
  const LossTotals* totals = nullptr;  // this rank's running sums over the epoch
  int64_t local_samples = 0;           // this rank's samples of the epoch so far
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Training& training) {}
  virtual void on_epoch_begin(int64_t epoch, int64_t steps) {}
  virtual void on_step_end(const StepEnd& step) {}
  // At every step boundary (before the next step): what this rank asks for.
  virtual void vote(StepVotes& votes) {}
  // The reduced vote asked for a checkpoint.
  virtual void on_checkpoint_due() {}
  // After validation, with the epoch's global metrics (the same on every
  // rank); progress already points at the next epoch.
  virtual void on_epoch_end(const EpochMetrics& metrics) {}
  // `finished`: the epochs (or max_steps) are done or a callback stopped
  // training; false when a stop vote ended it.
  virtual void on_train_end(bool finished) {}

  // State a resumed run needs to behave as an uninterrupted one, saved in
  // checkpoints under state_name() ("" = no state).
  virtual std::string state_name() const { return ""; }
  virtual void save_state(CallbackState& state) const {}
  virtual void restore_state(const CallbackState& state) {}
  // Tensors of its own for the checkpoint (kind CALLBACK, names starting
  // with state_name() + "/"), and getting them back on resume.
  virtual void collect_tensors(std::vector<TensorRef>& out) const {}
  virtual void restore_tensors(const CheckpointContents& checkpoint) {}
};

// The callbacks of a run, called in the order they were added.
class CallbackList {
 public:
  void add(std::unique_ptr<Callback> callback) { callbacks_.push_back(std::move(callback)); }
  template <class T, class... Args>
  T& emplace(Args&&... args) {
    auto owned = std::make_unique<T>(std::forward<Args>(args)...);
    T& ref = *owned;
    callbacks_.push_back(std::move(owned));
    return ref;
  }
  const std::vector<std::unique_ptr<Callback>>& all() const { return callbacks_; }

  void on_train_begin(Training& t) { for (auto& c : callbacks_) c->on_train_begin(t); }
  void on_epoch_begin(int64_t epoch, int64_t steps) { for (auto& c : callbacks_) c->on_epoch_begin(epoch, steps); }
  void on_step_end(const StepEnd& s) { for (auto& c : callbacks_) c->on_step_end(s); }
  void vote(StepVotes& v) { for (auto& c : callbacks_) c->vote(v); }
  void on_checkpoint_due() { for (auto& c : callbacks_) c->on_checkpoint_due(); }
  void on_epoch_end(const EpochMetrics& m) { for (auto& c : callbacks_) c->on_epoch_end(m); }
  void on_train_end(bool finished) { for (auto& c : callbacks_) c->on_train_end(finished); }

  // Every stateful callback's state, for a checkpoint header, and tensors.
  void save_state(CheckpointHeader& header) const;
  void collect_tensors(std::vector<TensorRef>& out) const;
  // Gives each stateful callback its saved state (a callback without saved
  // state, e.g. added to the config since, starts fresh).
  void restore_state(const CheckpointContents& checkpoint);

 private:
  std::vector<std::unique_ptr<Callback>> callbacks_;
};

}  // namespace lockstep
