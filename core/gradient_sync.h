// How the training step hands gradients to the data-parallel machinery.
// The backward pass runs from the last layer to the first; as each layer's
// gradients become final it reports their range of the gradient arena, so an
// implementation can start reducing completed buckets while backward goes on.
#pragma once

#include <cstddef>

namespace lockstep {

class Optimizer;

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // Once, before the first step: the gradient arena (trainable parameters).
  virtual void attach(float* grads, size_t count) = 0;
  // Gradients in [begin, end) are final for this step. Ranges arrive from
  // the end of the arena towards its start and do not overlap.
  virtual void ready(size_t begin, size_t end) = 0;
  // Blocks until every gradient is summed over all ranks (and, when the
  // update is sharded, the optimizer step is done). Allocates nothing.
  virtual void finish() = 0;

  // The sharded optimizer step (ZeRO stage 1). After attach(): true when
  // this object takes over `optimizer`'s step on `params` (the trainable
  // arena), each rank updating the part whose gradient sum it computes and
  // receiving the rest. The caller then calls begin_update() before every
  // backward pass instead of optimizer.step() after finish(). False (the
  // default) leaves the step to the caller.
  virtual bool shard_update(Optimizer& optimizer, float* params) {
    (void)optimizer;
    (void)params;
    return false;
  }
  virtual void begin_update(float learning_rate) { (void)learning_rate; }
  // Collective, before attach(): memory the gradient reduction can reach
  // on every rank (Communicator::shared_arena), or nullptr.
  virtual float* shared_arena(size_t floats) {
    (void)floats;
    return nullptr;
  }
  // Collective, between steps, before a checkpoint: sharded steps keep each
  // rank's optimizer slots current only where it updates; this makes them
  // whole on every rank. Nothing to do otherwise.
  virtual void gather_optimizer_state() {}
};

// Single process: nothing to do.
class NoGradientSync final : public GradientSync {
 public:
  void attach(float*, size_t) override {}
  void ready(size_t, size_t) override {}
  void finish() override {}
};

}  // namespace lockstep
