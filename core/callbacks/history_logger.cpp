#include "core/callbacks/history_logger.h"

#include <cstdio>

#include "core/run_dir.h"
#include "core/training.h"

namespace lockstep {

std::string HistoryLogger::json_line(const EpochMetrics& m, int ranks) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"epoch\": %lld, \"loss\": %.9g, \"accuracy\": %.9g, \"val_loss\": %.9g, \"val_accuracy\": %.9g, "
                "\"seconds\": %.6f, \"samples_per_second\": %.2f, \"steps\": %lld, \"learning_rate\": %.9g, "
                "\"ranks\": %d}\n",
                static_cast<long long>(m.epoch()), m.loss(), m.accuracy(), m.val_loss(), m.val_accuracy(), m.seconds(),
                m.samples_per_second(), static_cast<long long>(m.steps()), m.learning_rate(), ranks);
  return buf;
}

void HistoryLogger::on_train_begin(Training& training) {
  if (!root_) return;
  std::string text;
  for (const EpochMetrics& m : training.history()) text += json_line(m, ranks_);
  write_text_file(path_, text, false);
}

// Each epoch's line is written and checked at once, but fsynced only at the
// end of the run: an fsync per epoch put the file system back on the
// training path (bench/run_checkpoint_overhead.sh). A crash loses nothing
// that matters: the checkpoint holds the history, and a resumed run
// rewrites this file from it.
void HistoryLogger::on_epoch_end(const EpochMetrics& m) {
  if (root_) write_text_file(path_, json_line(m, ranks_), true, false);
}

void HistoryLogger::on_train_end(bool) {
  if (root_) write_text_file(path_, "", true);
}

}  // namespace lockstep
