// The metric a callback watches (Keras' `monitor` and `mode`): one of the
// epoch's metrics by its Keras name, and which way is better.
#pragma once

#include <string>

#include "checkpoint.pb.h"

namespace lockstep {

class Monitor {
 public:
  // Errors (exit 2) name `field`: an unknown metric, a val_ metric without
  // validation data, a mode other than min/max/auto.
  Monitor(const std::string& metric, const std::string& mode, bool has_validation, const std::string& field);

  const std::string& metric() const { return metric_; }
  bool maximize() const { return maximize_; }
  double value(const EpochMetrics& m) const;
  // Worse than any value: where "best" starts.
  double worst() const;
  // Better than `best` by more than min_delta (Keras' comparison).
  bool improves(double current, double best, double min_delta) const {
    return maximize_ ? current > best + min_delta : current < best - min_delta;
  }

 private:
  std::string metric_;
  bool maximize_ = false;
};

}  // namespace lockstep
