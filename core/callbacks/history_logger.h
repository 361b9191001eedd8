// RUN_DIR/history.jsonl: one JSON object per epoch, written by rank 0. A
// resumed run first rewrites the file from the checkpoint's history, so
// epochs after the checkpoint are dropped, as the run itself drops them.
#pragma once

#include <string>

#include "core/callbacks/callback.h"

namespace lockstep {

class HistoryLogger final : public Callback {
 public:
  HistoryLogger(std::string path, int ranks, bool root) : path_(std::move(path)), ranks_(ranks), root_(root) {}
  void on_train_begin(Training& training) override;
  void on_epoch_end(const EpochMetrics& m) override;
  void on_train_end(bool finished) override;

  // One line: {"epoch": 1, "loss": ..., "ranks": N}
  static std::string json_line(const EpochMetrics& m, int ranks);

 private:
  std::string path_;
  int ranks_;
  bool root_;
};

}  // namespace lockstep
