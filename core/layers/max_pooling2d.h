// MaxPooling2D, channels-last: y[n, oh, ow, c] = max over the window of
// x[n, ., ., c]. With "same" padding, cells outside the input never win (as
// if padded with -inf, as TensorFlow does). Backward sends dy to the cell
// that won (the first one in row-major window order on ties, as PyTorch and
// TensorFlow's CPU kernels do).
// Caches: the winning input index per output element.
#pragma once

#include <vector>

#include "core/layers/layer.h"
#include "core/layers/window.h"

namespace lockstep {

class MaxPooling2DLayer final : public Layer {
 public:
  MaxPooling2DLayer(std::string name, PoolOptions options) : Layer(std::move(name)), options_(options) {}
  const char* type_name() const override { return "MaxPooling2D"; }
  const PoolOptions& options() const { return options_; }

  void reserve(int64_t max_rows) override;
  uint64_t scratch_bytes(int64_t max_rows) const override;
  void forward(const StepContext& ctx, const float* x, float* y, int64_t rows) override;
  void backward(const StepContext& ctx, const float* x, const float* y, const float* dy, float* dx,
                int64_t rows) override;

 protected:
  Shape build_impl(const Shape& input_shape, ParameterStore& store) override;

 private:
  PoolOptions options_;
  WindowAxis height_, width_;
  int64_t channels_ = 0;
  std::vector<int32_t> argmax_;  // [max_rows * output_width]: index into the sample's input
  bool windows_tile_ = false;    // stride = pool size on both axes: each cell in one window at most
};

}  // namespace lockstep
