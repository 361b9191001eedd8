// Keras' CSVLogger: RUN_DIR/history.csv, written by rank 0, one row per
// epoch: epoch (0-based, as Keras writes it), accuracy, learning_rate, loss,
// val_accuracy, val_loss (Keras' sorted keys; val_ columns only with
// validation data). A resumed run rewrites the rows of its history first.
#pragma once

#include <string>

#include "core/callbacks/callback.h"
#include "train.pb.h"

namespace lockstep {

class CsvLogger final : public Callback {
 public:
  CsvLogger(std::string path, const CsvLoggerSpec& spec, bool has_validation, bool root)
      : path_(std::move(path)), separator_(spec.separator()), has_validation_(has_validation), root_(root) {}
  void on_train_begin(Training& training) override;
  void on_epoch_end(const EpochMetrics& m) override;
  void on_train_end(bool finished) override;

 private:
  std::string header() const;
  std::string row(const EpochMetrics& m) const;

  std::string path_, separator_;
  bool has_validation_, root_;
};

}  // namespace lockstep
