// Keras-like progress on rank 0: a bar that redraws in place on a terminal,
// one plain line per epoch otherwise (logs, Slurm output files).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>

#include "checkpoint.pb.h"
#include "core/loss.h"

namespace lockstep::cli {

class ProgressPrinter {
 public:
  // verbose: 0 silent, 1 bar on a terminal, 2 one line per epoch. Under
  // mpirun a rank's stdout is a pseudo-terminal even when the job's output
  // goes to a log file, so with several ranks there is never a bar.
  ProgressPrinter(int verbose, int64_t epochs, std::FILE* out, bool allow_bar = true);
  void epoch_begin(int64_t epoch, int64_t steps);
  void step_end(int64_t step, int64_t steps, const LossTotals& totals, int64_t samples, bool has_accuracy);
  void epoch_end(const EpochMetrics& m, bool has_validation, bool has_accuracy);

 private:
  int verbose_;
  bool bar_;
  int64_t epochs_;
  std::FILE* out_;
  std::chrono::steady_clock::time_point epoch_start_, last_draw_;
  int64_t steps_ = 0;
};

}  // namespace lockstep::cli
