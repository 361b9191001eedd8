// Pre-emption: a signal handler sets the flag (SIGTERM, SIGUSR1 from Slurm);
// the rank votes to stop, and every rank stops at the same step boundary.
#pragma once

#include <csignal>

#include "core/callbacks/callback.h"

namespace lockstep {

class StopOnSignal final : public Callback {
 public:
  explicit StopOnSignal(const volatile std::sig_atomic_t& flag) : flag_(flag) {}
  void vote(StepVotes& votes) override {
    if (flag_ != 0) votes.stop = true;
  }

 private:
  const volatile std::sig_atomic_t& flag_;
};

}  // namespace lockstep
