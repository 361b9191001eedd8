// Keras' TerminateOnNaN: a step whose loss is NaN or infinite on this rank's
// part of the batch votes to terminate; the loop reduces the votes, so every
// rank ends at the same step, and the run finishes as an early-stopped one
// (its last, partial epoch is not added to the history).
#pragma once

#include <cmath>
#include <cstdio>

#include "core/callbacks/callback.h"
#include "core/training.h"

namespace lockstep {

class TerminateOnNaN final : public Callback {
 public:
  explicit TerminateOnNaN(std::FILE* out) : out_(out) {}
  void on_train_begin(Training& training) override { training_ = &training; }
  // The epoch's running sum turns NaN or infinite with the first bad step
  // and stays so until the vote ends training.
  void on_step_end(const StepEnd& step) override {
    if (!std::isfinite(step.totals->loss_sum)) invalid_ = true;
  }
  void vote(StepVotes& votes) override {
    if (invalid_) votes.terminate = true;
  }
  void on_train_end(bool) override {
    if (out_ && training_ && training_->terminated())
      std::fprintf(out_, "Batch %lld: Invalid loss, terminating training\n",
                   static_cast<long long>(training_->progress().global_step()));
  }

 private:
  std::FILE* out_;
  Training* training_ = nullptr;
  bool invalid_ = false;
};

}  // namespace lockstep
