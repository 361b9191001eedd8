// Learning-rate schedules: constant, step decay, Keras CosineDecay, each with
// an optional linear warm-up in front.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/optim/optimizer.h"
#include "train.pb.h"

namespace lockstep {
namespace {

constexpr double kPi = 3.14159265358979323846;

template <typename T>
std::string format(T value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// The schedule after warm-up, at step s counted from the end of warm-up.
double decayed(const ScheduleSpec& spec, double base_lr, int64_t s) {
  switch (spec.kind_case()) {
    case ScheduleSpec::kStep: {
      const int64_t drops = s / spec.step().step_size();
      return base_lr *
             std::pow(static_cast<double>(spec.step().gamma()), static_cast<double>(drops));
    }
    case ScheduleSpec::kCosine: {
      const int64_t decay_steps = spec.cosine().decay_steps();
      const double t =
          static_cast<double>(std::min(s, decay_steps)) / static_cast<double>(decay_steps);
      const double alpha = spec.cosine().alpha();
      return base_lr * ((1.0 - alpha) * 0.5 * (1.0 + std::cos(kPi * t)) + alpha);
    }
    case ScheduleSpec::kConstant:
    case ScheduleSpec::KIND_NOT_SET:
      break;
  }
  return base_lr;
}

}  // namespace

void validate_schedule(const ScheduleSpec& spec, const std::string& field) {
  if (spec.warmup_steps() < 0) {
    throw_input_error(field + ".warmup_steps", "must be >= 0, got " + format(spec.warmup_steps()));
  }
  if (spec.has_step()) {
    const StepSchedule& step = spec.step();
    if (step.step_size() <= 0) {
      throw_input_error(field + ".step.step_size", "must be > 0, got " + format(step.step_size()));
    }
    if (!(step.gamma() > 0.0f && std::isfinite(step.gamma()))) {
      throw_input_error(field + ".step.gamma",
                        "must be > 0 and finite, got " + format(step.gamma()));
    }
  }
  if (spec.has_cosine()) {
    const CosineSchedule& cosine = spec.cosine();
    if (cosine.decay_steps() <= 0) {
      throw_input_error(field + ".cosine.decay_steps",
                        "must be > 0, got " + format(cosine.decay_steps()));
    }
    // alpha is the final rate as a fraction of the base rate.
    if (!(cosine.alpha() >= 0.0f && cosine.alpha() <= 1.0f)) {
      throw_input_error(field + ".cosine.alpha",
                        "must be in [0, 1], got " + format(cosine.alpha()));
    }
  }
}

float scheduled_learning_rate(const ScheduleSpec& spec, float base_lr, int64_t step) {
  // A few comparisons per step: cheap insurance against dividing by zero.
  validate_schedule(spec, "lr_schedule");
  if (step < 0) throw_runtime_error("lr_schedule", "negative step " + format(step));
  const int64_t warmup = spec.warmup_steps();
  if (step < warmup) {
    // Linear ramp towards the rate the schedule starts from, reaching it at
    // the last warm-up step.
    const double ramp = static_cast<double>(step + 1) / static_cast<double>(warmup);
    return static_cast<float>(decayed(spec, base_lr, 0) * ramp);
  }
  return static_cast<float>(decayed(spec, base_lr, step - warmup));
}

}  // namespace lockstep
