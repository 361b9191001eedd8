#include "core/callbacks/csv_logger.h"

#include <cstdio>

#include "core/run_dir.h"
#include "core/training.h"

namespace lockstep {

std::string CsvLogger::header() const {
  const std::string& s = separator_;
  std::string h = "epoch" + s + "accuracy" + s + "learning_rate" + s + "loss";
  if (has_validation_) h += s + "val_accuracy" + s + "val_loss";
  return h + "\n";
}

std::string CsvLogger::row(const EpochMetrics& m) const {
  char buf[256];
  const char* s = separator_.c_str();
  std::snprintf(buf, sizeof buf, "%lld%s%.9g%s%.9g%s%.9g", static_cast<long long>(m.epoch() - 1), s, m.accuracy(), s,
                m.learning_rate(), s, m.loss());
  std::string r = buf;
  if (has_validation_) {
    std::snprintf(buf, sizeof buf, "%s%.9g%s%.9g", s, m.val_accuracy(), s, m.val_loss());
    r += buf;
  }
  return r + "\n";
}

void CsvLogger::on_train_begin(Training& training) {
  if (!root_) return;
  std::string text = header();
  for (const EpochMetrics& m : training.history()) text += row(m);
  write_text_file(path_, text, false);
}

// Checked at once, fsynced at the end of the run (why: HistoryLogger).
void CsvLogger::on_epoch_end(const EpochMetrics& m) {
  if (root_) write_text_file(path_, row(m), true, false);
}

void CsvLogger::on_train_end(bool) {
  if (root_) write_text_file(path_, "", true);
}

}  // namespace lockstep
