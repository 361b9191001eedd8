// make_optimizer and what every optimizer shares: named slots, the iteration
// count and hyper-parameter checks. The update rules live in optimizer_*.cpp.
#include "core/optim/optimizer.h"

#include <cmath>
#include <sstream>

#include "core/error.h"
#include "core/optim/gradient_processing.h"
#include "core/optim/optimizer_common.h"
#include "train.pb.h"

namespace lockstep {
namespace detail {
namespace {

std::string format(float value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

}  // namespace

void SlottedOptimizer::reserve(size_t count) {
  // Keep slots that already have the right size: they may hold a restored
  // checkpoint's state.
  slots_.resize(names_.size());
  for (std::vector<float>& slot : slots_) {
    if (slot.size() != count) slot.assign(count, 0.0f);
  }
  reserved_ = count;
  is_reserved_ = true;
}

void SlottedOptimizer::set_iterations(int64_t iterations) {
  if (iterations < 0) {
    throw_input_error(std::string("optimizer ") + kind(),
                      "iterations must be >= 0, got " + std::to_string(iterations));
  }
  iterations_ = iterations;
}

std::vector<float>& SlottedOptimizer::slot(const std::string& name) {
  // Slots exist by name before reserve(), so a checkpoint can be restored first.
  slots_.resize(names_.size());
  for (size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return slots_[i];
  }
  throw_input_error(std::string("optimizer ") + kind(),
                    "has no slot '" + name + "' (slots: " + joined(names_) + ")");
}

void SlottedOptimizer::check_step(size_t count) const {
  // Called every step: only the error path may build strings (allocate).
  bool slots_ok = true;
  for (const std::vector<float>& slot : slots_) slots_ok = slots_ok && slot.size() == count;
  if (is_reserved_ && count == reserved_ && slots_ok) return;

  const std::string where = std::string("optimizer ") + kind();
  if (!is_reserved_) throw_runtime_error(where, "step() before reserve()");
  if (count != reserved_) {
    throw_runtime_error(where, "step() over " + std::to_string(count) +
                                   " values, but reserve() was for " + std::to_string(reserved_));
  }
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].size() != count) {
      throw_runtime_error(where, "slot '" + names_[i] + "' holds " +
                                     std::to_string(slots_[i].size()) + " values, expected " +
                                     std::to_string(count));
    }
  }
}

void check_learning_rate(float value, const std::string& field) { check_positive(value, field); }

void check_positive(float value, const std::string& field) {
  if (!(value > 0.0f && std::isfinite(value))) {
    throw_input_error(field, "must be > 0 and finite, got " + format(value));
  }
}

void check_non_negative(float value, const std::string& field) {
  if (!(value >= 0.0f && std::isfinite(value))) {
    throw_input_error(field, "must be >= 0 and finite, got " + format(value));
  }
}

void check_fraction(float value, const std::string& field) {
  // Written so that NaN fails too.
  if (!(value >= 0.0f && value < 1.0f)) {
    throw_input_error(field, "must be in [0, 1), got " + format(value));
  }
}

}  // namespace detail

namespace {

std::unique_ptr<Optimizer> make_update_rule(const OptimizerSpec& spec, const std::string& field) {
  switch (spec.kind_case()) {
    case OptimizerSpec::kSgd:
      return detail::make_sgd(spec.sgd(), field + ".sgd");
    case OptimizerSpec::kAdam:
      return detail::make_adam(spec.adam(), field + ".adam");
    case OptimizerSpec::kAdamw:
      return detail::make_adamw(spec.adamw(), field + ".adamw");
    case OptimizerSpec::kRmsprop:
      return detail::make_rmsprop(spec.rmsprop(), field + ".rmsprop");
    case OptimizerSpec::KIND_NOT_SET:
      // Keras' compile() defaults to optimizer="rmsprop".
      return detail::make_rmsprop(RmsProp::default_instance(), field + ".rmsprop");
  }
  throw_input_error(field, "unknown optimizer kind " + std::to_string(spec.kind_case()));
}

GradientProcessingSpec gradient_processing(const OptimizerSpec& spec, const std::string& field) {
  if (spec.clipnorm() != 0) detail::check_positive(spec.clipnorm(), field + ".clipnorm");
  if (spec.global_clipnorm() != 0) detail::check_positive(spec.global_clipnorm(), field + ".global_clipnorm");
  if (spec.clipvalue() != 0) detail::check_positive(spec.clipvalue(), field + ".clipvalue");
  if (spec.clipnorm() != 0 && spec.global_clipnorm() != 0)
    throw_input_error(field + ".global_clipnorm", "give clipnorm or global_clipnorm, not both (as in Keras)");
  if (spec.gradient_accumulation_steps() < 1)
    throw_input_error(field + ".gradient_accumulation_steps",
                      "must be >= 1, got " + std::to_string(spec.gradient_accumulation_steps()));
  GradientProcessingSpec g;
  g.clipnorm = spec.clipnorm();
  g.global_clipnorm = spec.global_clipnorm();
  g.clipvalue = spec.clipvalue();
  g.accumulation_steps = spec.gradient_accumulation_steps();
  return g;
}

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec, const std::string& field) {
  const GradientProcessingSpec processing = gradient_processing(spec, field);
  std::unique_ptr<Optimizer> rule = make_update_rule(spec, field);
  if (!processing.any()) return rule;
  return std::make_unique<GradientProcessingOptimizer>(std::move(rule), processing);
}

}  // namespace lockstep
