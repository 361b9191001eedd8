// Optimizers over the flat parameter arena: one loop over all trainable
// values, Keras' update rules. Slots (momentum, Adam moments) have the
// arena's layout, so checkpoints can name them after the parameters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lockstep {

class OptimizerSpec;  // proto/train.proto
class ScheduleSpec;

// A trainable variable's place in the arena, for per-variable rules.
struct VariableRange {
  size_t offset = 0;
  size_t size = 0;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // "sgd", "adam", "adamw", "rmsprop"
  virtual const char* kind() const = 0;
  virtual float base_learning_rate() const = 0;
  // Allocates zeroed slots for `count` parameters (once, before the first
  // step). Slots that already hold `count` values are kept, so restoring a
  // checkpoint before or after reserve() both work.
  virtual void reserve(size_t count) = 0;
  // Once, with reserve(): where each trainable variable lies in the arena
  // (per-variable clipping needs it; the update rules do not).
  virtual void set_variables(std::vector<VariableRange> variables) { (void)variables; }
  // False when a step needs the whole gradient before updating any element
  // (norm clipping): then only step() may be used, not the ranges below.
  virtual bool updates_by_range() const { return true; }
  // One update of params with grads at learning rate lr (the scheduled rate,
  // not base_learning_rate()). Allocates nothing; `count` must be the
  // reserved count (a runtime error otherwise). The same as begin_step(),
  // one update() over the whole arena, end_step().
  virtual void step(float* params, const float* grads, size_t count, float lr) = 0;

  // The step in ranges, for the sharded update of data-parallel training
  // (each rank updates the part of the arena whose gradient sum it computes,
  // the other ranks receive the result): begin_step() once, update() of
  // disjoint ranges in any order, end_step(). Every element gets the same
  // bits however the arena is split, since the rules are element-wise.
  // begin_step checks `count` as step() does; none of them allocates.
  virtual void begin_step(size_t count, float lr) = 0;
  // Elements [begin, begin + count) of the arena; params and grads point at
  // element `begin` (the gradient sum need not live in the arena).
  virtual void update(size_t begin, size_t count, float* params, const float* grads) = 0;
  virtual void end_step() = 0;
  // Number of steps taken (Adam's bias correction uses it).
  virtual int64_t iterations() const = 0;
  virtual void set_iterations(int64_t iterations) = 0;
  // Slots by name ("m", "v", "momentum", ...) as Keras names them; each has
  // `count` floats. Only slots that exist are listed (SGD without momentum
  // has none). slot() of another name is an input error.
  virtual std::vector<std::string> slot_names() const = 0;
  virtual std::vector<float>& slot(const std::string& name) = 0;
};

// Builds the optimizer a spec describes; a spec with no kind set gives what
// Keras' compile() does by default: RMSprop with Keras' defaults. Checks the
// hyper-parameters; errors name `field` (e.g. "optimizer.sgd.momentum").
// Clipping and gradient_accumulation_steps, when set, wrap the update rule
// (core/optim/gradient_processing.h).
std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec, const std::string& field);

// Checks step_size, decay_steps, gamma, alpha and warmup_steps; errors name
// `field` (e.g. "lr_schedule.step.gamma").
void validate_schedule(const ScheduleSpec& spec, const std::string& field);

// The learning rate itself (not a multiplier) at optimizer step `step`
// (0-based) for an optimizer whose base rate is base_lr. No kind set means
// constant. An invalid spec throws as validate_schedule(spec, "lr_schedule").
float scheduled_learning_rate(const ScheduleSpec& spec, float base_lr, int64_t step);

}  // namespace lockstep
