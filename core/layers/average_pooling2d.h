// AveragePooling2D, channels-last: y[n, oh, ow, c] = mean of x[n, ., ., c]
// over the window's cells that lie inside the input. With "same" padding the
// padded cells are not counted (Keras/TensorFlow; PyTorch's default
// count_include_pad=True counts them).
// Caches: nothing.
#pragma once

#include "core/layers/layer.h"
#include "core/layers/window.h"

namespace lockstep {

class AveragePooling2DLayer final : public Layer {
 public:
  AveragePooling2DLayer(std::string name, PoolOptions options) : Layer(std::move(name)), options_(options) {}
  const char* type_name() const override { return "AveragePooling2D"; }
  const PoolOptions& options() const { return options_; }

  void forward(const StepContext& ctx, const float* x, float* y, int64_t rows) override;
  void backward(const StepContext& ctx, const float* x, const float* y, const float* dy, float* dx,
                int64_t rows) override;

 protected:
  Shape build_impl(const Shape& input_shape, ParameterStore& store) override;

 private:
  PoolOptions options_;
  WindowAxis height_, width_;
  int64_t channels_ = 0;
};

}  // namespace lockstep
