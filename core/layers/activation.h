// Activation layer: y = f(x), no parameters. Caches nothing beyond the x and
// y buffers the model keeps anyway.
#pragma once

#include <algorithm>

#include "core/layers/activation_functions.h"
#include "core/layers/layer.h"

namespace lockstep {

class ActivationLayer final : public Layer {
 public:
  ActivationLayer(std::string name, ActivationFn fn) : Layer(std::move(name)), fn_(fn) {}
  const char* type_name() const override { return "Activation"; }
  const ActivationFn& activation() const { return fn_; }
  ActivationKind output_activation() const override { return fn_.kind; }
  const ActivationFn* elementwise_activation() const override {
    return fn_.kind == ActivationKind::kSoftmax ? nullptr : &fn_;  // softmax works on whole rows
  }
  // The loss already gives dL/dx: backward passes it through.
  void fuse_output_activation() override { fused_ = true; }

  void forward(const StepContext&, const float* x, float* y, int64_t rows) override {
    activation_forward(fn_, x, y, rows, input_width());
  }
  void backward(const StepContext&, const float* x, const float* y, const float* dy, float* dx,
                int64_t rows) override {
    if (!dx) return;
    if (!fused_) activation_backward(fn_, x, y, dy, dx, rows, input_width());
    else if (dx != dy) std::copy(dy, dy + rows * input_width(), dx);
  }

 protected:
  Shape build_impl(const Shape& input_shape, ParameterStore&) override { return input_shape; }

 private:
  ActivationFn fn_;
  bool fused_ = false;
};

}  // namespace lockstep
