#include "launch/cli/fault_injection.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace lockstep::cli {

FaultInjection::FaultInjection(int this_rank) : rank_of_this_process_(this_rank) {
  const char* spec = std::getenv("LOCKSTEP_INJECT_FAULT");
  if (!spec || !*spec) return;
  char kind[16] = {0};
  int rank = -1;
  long long step = -1;
  double seconds = 0;
  const int fields = std::sscanf(spec, "%15[a-z]:%d:%lld:%lf", kind, &rank, &step, &seconds);
  const std::string k = kind;
  if (k == "fail" && fields == 3) kind_ = Kind::kFail;
  else if (k == "stall" && fields == 4) kind_ = Kind::kStall;
  else
    throw_input_error("LOCKSTEP_INJECT_FAULT", std::string("'") + spec +
                                                   "' is not fail:RANK:STEP or stall:RANK:STEP:SECONDS");
  rank_ = rank, step_ = step, seconds_ = seconds;
}

void FaultInjection::after_step(int rank, int64_t global_step) const {
  if (kind_ == Kind::kNone || rank != rank_ || global_step != step_) return;
  if (kind_ == Kind::kFail)
    throw_runtime_error("rank " + std::to_string(rank), "injected failure after step " + std::to_string(global_step));
  usleep(static_cast<useconds_t>(seconds_ * 1e6));
}

}  // namespace lockstep::cli
