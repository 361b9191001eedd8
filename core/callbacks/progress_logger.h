// Keras-like progress on rank 0: a bar that redraws in place on a terminal,
// one plain line per epoch otherwise (logs, Slurm output files). Other
// ranks get verbose 0.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>

#include "checkpoint.pb.h"
#include "core/callbacks/callback.h"
#include "core/loss.h"

namespace lockstep {

class ProgressLogger final : public Callback {
 public:
  // verbose: 0 silent, 1 bar on a terminal, 2 one line per epoch. Under
  // mpirun a rank's stdout is a pseudo-terminal even when the job's output
  // goes to a log file, so with several ranks there is never a bar.
  ProgressLogger(int verbose, int64_t epochs, std::FILE* out, bool allow_bar, bool has_validation, bool has_accuracy);
  void on_epoch_begin(int64_t epoch, int64_t steps) override;
  void on_step_end(const StepEnd& step) override;
  void on_epoch_end(const EpochMetrics& m) override;

 private:
  int verbose_;
  bool bar_;
  bool has_validation_, has_accuracy_;
  int64_t epochs_;
  std::FILE* out_;
  std::chrono::steady_clock::time_point epoch_start_, last_draw_;
  int64_t steps_ = 0;
};

}  // namespace lockstep
