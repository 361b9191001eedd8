// Dense: y = activation(x · kernel + bias), kernel [in, out] as in Keras.
// Caches: the pre-activation z (only when the activation is not linear).
#pragma once

#include <vector>

#include "core/layers/activation_functions.h"
#include "core/layers/layer.h"

namespace lockstep {

struct DenseOptions {
  int64_t units = 0;
  ActivationFn activation;
  bool use_bias = true;
  std::string kernel_initializer = "glorot_uniform";
  std::string bias_initializer = "zeros";
};

class DenseLayer final : public Layer {
 public:
  DenseLayer(std::string name, DenseOptions options) : Layer(std::move(name)), options_(std::move(options)) {}
  const char* type_name() const override { return "Dense"; }

  void bind(ParameterStore& store) override;
  void reserve(int64_t max_rows) override;
  uint64_t scratch_bytes(int64_t max_rows) const override;
  void forward(const StepContext& ctx, const float* x, float* y, int64_t rows) override;
  void backward(const StepContext& ctx, const float* x, const float* y, const float* dy, float* dx,
                int64_t rows) override;

  const ActivationFn& activation() const { return options_.activation; }
  ActivationKind output_activation() const override { return options_.activation.kind; }
  // The loss supplies dL/dz directly (fused softmax/sigmoid cross-entropy):
  // backward then skips the activation's derivative.
  void fuse_output_activation() override { fused_output_ = true; }

 protected:
  Shape build_impl(const Shape& input_shape, ParameterStore& store) override;

 private:
  DenseOptions options_;
  int kernel_id_ = -1, bias_id_ = -1;
  float *kernel_ = nullptr, *bias_ = nullptr, *dkernel_ = nullptr, *dbias_ = nullptr;
  std::vector<float> z_;   // pre-activation, [max_rows, units]
  std::vector<float> dz_;  // gradient wrt z, [max_rows, units]
  bool fused_output_ = false;
};

}  // namespace lockstep
