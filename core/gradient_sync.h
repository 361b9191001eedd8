// How the training step hands gradients to the data-parallel machinery.
// The backward pass runs from the last layer to the first; as each layer's
// gradients become final it reports their range of the gradient arena, so an
// implementation can start reducing completed buckets while backward goes on.
#pragma once

#include <cstddef>

namespace lockstep {

class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // Once, before the first step: the gradient arena (trainable parameters).
  virtual void attach(float* grads, size_t count) = 0;
  // Gradients in [begin, end) are final for this step. Ranges arrive from
  // the end of the arena towards its start and do not overlap.
  virtual void ready(size_t begin, size_t end) = 0;
  // Blocks until every gradient is summed over all ranks. Allocates nothing.
  virtual void finish() = 0;
};

// Single process: nothing to do.
class NoGradientSync final : public GradientSync {
 public:
  void attach(float*, size_t) override {}
  void ready(size_t, size_t) override {}
  void finish() override {}
};

}  // namespace lockstep
