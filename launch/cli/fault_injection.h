// Test-only fault injection, driven by the environment so the production
// code path is the one under test:
//   LOCKSTEP_INJECT_FAULT="fail:RANK:STEP"          rank RANK throws a run-time
//                                                  error after global step STEP
//   LOCKSTEP_INJECT_FAULT="stall:RANK:STEP:SECONDS" rank RANK sleeps that long
//                                                  after step STEP (others then
//                                                  wait in a collective)
// Unset (the normal case): nothing happens.
#pragma once

#include <cstdint>

#include "core/callbacks/callback.h"

namespace lockstep::cli {

class FaultInjection final : public Callback {
 public:
  explicit FaultInjection(int this_rank);  // reads the environment; a malformed value is an input error
  void on_step_end(const StepEnd& step) override { after_step(rank_of_this_process_, step.global_step); }
  void after_step(int rank, int64_t global_step) const;

 private:
  enum class Kind { kNone, kFail, kStall } kind_ = Kind::kNone;
  int rank_ = -1;
  int64_t step_ = -1;
  double seconds_ = 0;
  int rank_of_this_process_ = 0;
};

}  // namespace lockstep::cli
