#include "core/optim/gradient_processing.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"

namespace lockstep {

GradientProcessingOptimizer::GradientProcessingOptimizer(std::unique_ptr<Optimizer> rule,
                                                         const GradientProcessingSpec& spec)
    : rule_(std::move(rule)), spec_(spec) {
  if (spec_.accumulation_steps < 1) spec_.accumulation_steps = 1;
}

void GradientProcessingOptimizer::reserve(size_t count) {
  rule_->reserve(count);
  // Keep an accumulator of the right size: it may hold a restored checkpoint's.
  if (spec_.accumulation_steps > 1 && accumulated_.size() != count) accumulated_.assign(count, 0.0f);
  scratch_.assign(count, 0.0f);
  reserved_ = count;
}

void GradientProcessingOptimizer::check(size_t count) const {
  if (count == reserved_ && (spec_.accumulation_steps == 1 || accumulated_.size() == count)) return;
  throw_runtime_error(std::string("optimizer ") + kind(),
                      "step over " + std::to_string(count) + " values, but reserve() was for " +
                          std::to_string(reserved_) + " and the accumulator holds " +
                          std::to_string(accumulated_.size()));
}

void GradientProcessingOptimizer::accumulate(size_t begin, size_t count, const float* grads) {
  float* __restrict acc = accumulated_.data() + begin;
  for (size_t i = 0; i < count; ++i) acc[i] += grads[i];
}

const float* GradientProcessingOptimizer::prepare(size_t begin, size_t count, const float* grads) {
  const int32_t k = spec_.accumulation_steps;
  const float c = spec_.clipvalue;
  if (k == 1 && c == 0) return grads;
  float* __restrict out = scratch_.data() + begin;
  if (k > 1) {
    // Keras: (accumulated + this batch's gradient) / steps.
    float* __restrict acc = accumulated_.data() + begin;
    const float inverse = 1.0f / static_cast<float>(k);
    for (size_t i = 0; i < count; ++i) {
      out[i] = (acc[i] + grads[i]) * inverse;
      acc[i] = 0.0f;
    }
  } else {
    std::copy(grads, grads + count, out);
  }
  if (c > 0)
    for (size_t i = 0; i < count; ++i) out[i] = std::min(c, std::max(-c, out[i]));
  return out;
}

namespace {
double squared_norm(const float* g, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(g[i]) * g[i];
  return sum;
}
void scale(float* g, size_t n, float factor) {
  for (size_t i = 0; i < n; ++i) g[i] *= factor;
}
}  // namespace

// Sums in a fixed order on one thread: every rank holds the same summed
// gradient, so every rank computes the same bits and the replicas stay equal.
void GradientProcessingOptimizer::clip_norms(float* g, size_t count) const {
  if (spec_.global_clipnorm > 0) {
    const double norm = std::sqrt(squared_norm(g, count));
    const double c = spec_.global_clipnorm;
    if (norm > c) scale(g, count, static_cast<float>(c / norm));
  }
  if (spec_.clipnorm > 0) {
    const double c = spec_.clipnorm;
    if (variables_.empty()) throw_runtime_error("optimizer.clipnorm", "the variables' places were never given");
    for (const VariableRange& v : variables_) {
      const double norm = std::sqrt(squared_norm(g + v.offset, v.size));
      if (norm > c) scale(g + v.offset, v.size, static_cast<float>(c / norm));
    }
  }
}

void GradientProcessingOptimizer::step(float* params, const float* grads, size_t count, float lr) {
  check(count);
  const bool update = is_update_batch();
  ++batches_;
  if (!update) {
    parallel_ranges(static_cast<int64_t>(count), 64, [&](int64_t b, int64_t e) {
      accumulate(static_cast<size_t>(b), static_cast<size_t>(e - b), grads + b);
    });
    return;
  }
  const float* g = grads;
  if (spec_.accumulation_steps > 1 || spec_.clipvalue > 0) {
    parallel_ranges(static_cast<int64_t>(count), 64, [&](int64_t b, int64_t e) {
      prepare(static_cast<size_t>(b), static_cast<size_t>(e - b), grads + b);
    });
    g = scratch_.data();
  }
  if (!updates_by_range()) {
    // Clipped in scratch_: the arena keeps the summed gradient as it was.
    if (g == grads) std::copy(grads, grads + count, scratch_.data());
    clip_norms(scratch_.data(), count);
    g = scratch_.data();
  }
  rule_->step(params, g, count, lr);
}

void GradientProcessingOptimizer::begin_step(size_t count, float lr) {
  if (!updates_by_range()) throw_runtime_error("optimizer", "norm clipping cannot update by ranges");
  check(count);
  updating_ = is_update_batch();
  if (updating_) rule_->begin_step(count, lr);
}

void GradientProcessingOptimizer::update(size_t begin, size_t count, float* params, const float* grads) {
  if (!updating_) return accumulate(begin, count, grads);
  rule_->update(begin, count, params, prepare(begin, count, grads));
}

void GradientProcessingOptimizer::end_step() {
  if (updating_) rule_->end_step();
  ++batches_;
}

void GradientProcessingOptimizer::set_iterations(int64_t iterations) {
  rule_->set_iterations(iterations / spec_.accumulation_steps);
  batches_ = iterations;
}

std::vector<std::string> GradientProcessingOptimizer::slot_names() const {
  std::vector<std::string> names = rule_->slot_names();
  if (spec_.accumulation_steps > 1) names.push_back("accumulated_gradients");
  return names;
}

std::vector<float>& GradientProcessingOptimizer::slot(const std::string& name) {
  if (spec_.accumulation_steps > 1 && name == "accumulated_gradients") return accumulated_;
  return rule_->slot(name);
}

}  // namespace lockstep
