#include "core/callbacks/monitor.h"

#include <limits>

#include "core/error.h"

namespace lockstep {

Monitor::Monitor(const std::string& metric, const std::string& mode, bool has_validation, const std::string& field)
    : metric_(metric) {
  if (metric != "loss" && metric != "accuracy" && metric != "val_loss" && metric != "val_accuracy")
    throw_input_error(field + ".monitor", "unknown metric '" + metric + "' (known: loss, accuracy, val_loss, val_accuracy)");
  if (metric.compare(0, 4, "val_") == 0 && !has_validation)
    throw_input_error(field + ".monitor", "'" + metric + "' needs validation data (validation_split or validation_data)");
  if (mode == "auto") maximize_ = metric.find("accuracy") != std::string::npos;
  else if (mode == "max") maximize_ = true;
  else if (mode == "min") maximize_ = false;
  else throw_input_error(field + ".mode", "unknown mode '" + mode + "' (known: auto, min, max)");
}

double Monitor::value(const EpochMetrics& m) const {
  if (metric_ == "loss") return m.loss();
  if (metric_ == "accuracy") return m.accuracy();
  if (metric_ == "val_loss") return m.val_loss();
  return m.val_accuracy();
}

double Monitor::worst() const {
  return maximize_ ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
}

}  // namespace lockstep
