// What Keras' base optimizer does to gradients before its update rule:
// accumulation over several batches (gradient_accumulation_steps) and
// clipping (clipnorm, global_clipnorm, clipvalue). A decorator around any
// update rule, so the rules stay plain element-wise loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/optim/optimizer.h"

namespace lockstep {

struct GradientProcessingSpec {
  float clipnorm = 0;         // per variable: g * c / max(||g||, c)
  float global_clipnorm = 0;  // all variables: g * c / max(||g||_all, c)
  float clipvalue = 0;        // element-wise clamp to [-c, c]
  int32_t accumulation_steps = 1;
  bool any() const { return clipnorm > 0 || global_clipnorm > 0 || clipvalue > 0 || accumulation_steps > 1; }
};

class GradientProcessingOptimizer final : public Optimizer {
 public:
  GradientProcessingOptimizer(std::unique_ptr<Optimizer> rule, const GradientProcessingSpec& spec);

  const char* kind() const override { return rule_->kind(); }
  float base_learning_rate() const override { return rule_->base_learning_rate(); }
  void reserve(size_t count) override;
  void set_variables(std::vector<VariableRange> variables) override { variables_ = std::move(variables); }
  // Norm clipping needs the whole gradient before any element is updated.
  bool updates_by_range() const override { return spec_.clipnorm == 0 && spec_.global_clipnorm == 0; }
  void step(float* params, const float* grads, size_t count, float lr) override;
  void begin_step(size_t count, float lr) override;
  void update(size_t begin, size_t count, float* params, const float* grads) override;
  void end_step() override;
  // Batches seen (what checkpoints store as the step); the rule has taken
  // iterations() / accumulation_steps updates.
  int64_t iterations() const override { return batches_; }
  void set_iterations(int64_t iterations) override;
  std::vector<std::string> slot_names() const override;
  std::vector<float>& slot(const std::string& name) override;

 private:
  bool is_update_batch() const { return (batches_ + 1) % spec_.accumulation_steps == 0; }
  void check(size_t count) const;
  void accumulate(size_t begin, size_t count, const float* grads);
  // The gradient the rule sees for elements [begin, begin + count): the
  // accumulated average, clamped by clipvalue; in scratch_ unless `grads`
  // can be used as it is. Empties the accumulator there.
  const float* prepare(size_t begin, size_t count, const float* grads);
  void clip_norms(float* grads, size_t count) const;

  std::unique_ptr<Optimizer> rule_;
  GradientProcessingSpec spec_;
  std::vector<VariableRange> variables_;
  std::vector<float> accumulated_, scratch_;
  int64_t batches_ = 0;
  size_t reserved_ = 0;
  bool updating_ = false;
};

}  // namespace lockstep
