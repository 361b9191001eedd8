// GlobalAveragePooling2D, channels-last: [H, W, C] -> [C], the mean over
// height and width per channel. Caches: nothing.
#pragma once

#include "core/layers/layer.h"

namespace lockstep {

class GlobalAveragePooling2DLayer final : public Layer {
 public:
  explicit GlobalAveragePooling2DLayer(std::string name) : Layer(std::move(name)) {}
  const char* type_name() const override { return "GlobalAveragePooling2D"; }

  void forward(const StepContext& ctx, const float* x, float* y, int64_t rows) override;
  void backward(const StepContext& ctx, const float* x, const float* y, const float* dy, float* dx,
                int64_t rows) override;

 protected:
  Shape build_impl(const Shape& input_shape, ParameterStore& store) override;
};

}  // namespace lockstep
