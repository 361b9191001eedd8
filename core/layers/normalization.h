// Keras' Normalization layer (axis -1): a fixed per-channel affine map,
// y = (x - mean) / max(sqrt(variance), 1e-7), whose mean and variance come
// from the config or from adapt() over the training data. The statistics are
// non-trainable state ("mean", "variance", "count" as Keras names them), so
// checkpoints and exports carry them.
#pragma once

#include <vector>

#include "core/layers/layer.h"

namespace lockstep {

class NormalizationLayer final : public Layer {
 public:
  // mean/variance: empty (adapt from data), one value (broadcast) or one per channel.
  NormalizationLayer(std::string name, std::vector<float> mean, std::vector<float> variance);
  const char* type_name() const override { return "Normalization"; }

  void bind(ParameterStore& store) override;
  bool adapts_to_data() const override { return given_mean_.empty(); }
  void adapt(const float* x, int64_t rows, Communicator* sum_over) override;
  void forward(const StepContext& ctx, const float* x, float* y, int64_t rows) override;
  void backward(const StepContext& ctx, const float* x, const float* y, const float* dy, float* dx,
                int64_t rows) override;

  int64_t channels() const { return input_shape().empty() ? 0 : input_shape().back(); }

 protected:
  Shape build_impl(const Shape& input_shape, ParameterStore& store) override;

 private:
  // 1 / max(sqrt(variance), epsilon) per channel, from the state.
  void refresh_scale();

  std::vector<float> given_mean_, given_variance_;
  int mean_id_ = -1, variance_id_ = -1, count_id_ = -1;
  float* mean_ = nullptr;
  float* variance_ = nullptr;
  float* count_ = nullptr;
  std::vector<float> inverse_std_;
};

}  // namespace lockstep
