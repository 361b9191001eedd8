// Flatten: [H, W, C] (or any shape) -> [H * W * C]. Activations are already
// row-major with channels last, so the values do not move: forward and
// backward copy. Caches: nothing.
#pragma once

#include "core/layers/layer.h"

namespace lockstep {

class FlattenLayer final : public Layer {
 public:
  explicit FlattenLayer(std::string name) : Layer(std::move(name)) {}
  const char* type_name() const override { return "Flatten"; }
  // Inside a model Flatten is a view of its input (Layer::passes_input_through);
  // forward/backward copy only when called on their own.
  bool passes_input_through() const override { return true; }

  void forward(const StepContext& ctx, const float* x, float* y, int64_t rows) override;
  void backward(const StepContext& ctx, const float* x, const float* y, const float* dy, float* dx,
                int64_t rows) override;

 protected:
  Shape build_impl(const Shape& input_shape, ParameterStore& store) override;
};

}  // namespace lockstep
