// BatchNormalization with Keras semantics over the channel (last) axis.
//   training:  y = gamma * (x - mean_B) / sqrt(var_B + epsilon) + beta,
//              var_B biased (1/m); moving = momentum * moving + (1 - momentum) * batch
//   inference: the moving statistics; nothing is updated, nothing communicated.
// synchronized: mean_B and var_B are over the union of the batch on all ranks
// of the layer's group (one collective in forward, one in backward).
// Caches: mean and inv_std per channel; backward recomputes xhat from the
// input (the model keeps it anyway) rather than storing a copy of it.
// Every pass runs over fixed chunks of rows whose sums are merged in order,
// so results do not depend on how many threads share the chunks.
#pragma once

#include <optional>
#include <vector>

#include "core/communicator.h"
#include "core/layers/layer.h"

namespace lockstep {

struct BatchNormOptions {
  int axis = -1;  // Keras axis (batch counted); only the last axis is supported
  float momentum = 0.99f;
  float epsilon = 0.001f;
  bool center = true;
  bool scale = true;
  std::string beta_initializer = "zeros";
  std::string gamma_initializer = "ones";
  std::string moving_mean_initializer = "zeros";
  std::string moving_variance_initializer = "ones";
  std::optional<bool> synchronized;  // unset: the run's distributed.sync_batch_norm
  int sync_group_size = 0;           // 0 = all ranks
};

class BatchNormLayer final : public Layer {
 public:
  BatchNormLayer(std::string name, BatchNormOptions options) : Layer(std::move(name)), options_(std::move(options)) {}
  const char* type_name() const override { return "BatchNormalization"; }

  void bind(ParameterStore& store) override;
  void reserve(int64_t max_rows) override;
  uint64_t scratch_bytes(int64_t max_rows) const override;
  bool normalizes_over_batch() const override { return true; }
  int communication_group_size(bool sync_by_default) const override {
    return options_.synchronized.value_or(sync_by_default) ? options_.sync_group_size : 1;
  }
  void set_communicator(Communicator* comm) override { comm_ = comm; }
  // A following relu runs inside the normalizing pass (and its derivative
  // inside backward's two passes).
  bool absorb_activation(const ActivationFn& f) override { return relu_ = f.kind == ActivationKind::kRelu; }
  void unify_state(Communicator& world) override;
  void forward(const StepContext& ctx, const float* x, float* y, int64_t rows) override;
  void backward(const StepContext& ctx, const float* x, const float* y, const float* dy, float* dx,
                int64_t rows) override;

  const BatchNormOptions& options() const { return options_; }
  int64_t channels() const { return channels_; }

 protected:
  Shape build_impl(const Shape& input_shape, ParameterStore& store) override;

 private:
  void compute_batch_statistics(const float* x, int64_t m);
  void gradient_sums(const float* x, const float* y, const float* dy, int64_t m);
  int64_t chunks(int64_t m) const;

  BatchNormOptions options_;
  int64_t channels_ = 0;
  int gamma_id_ = -1, beta_id_ = -1, moving_mean_id_ = -1, moving_var_id_ = -1;
  float *gamma_ = nullptr, *beta_ = nullptr, *dgamma_ = nullptr, *dbeta_ = nullptr;
  float *moving_mean_ = nullptr, *moving_var_ = nullptr;
  Communicator* comm_ = nullptr;  // set (by Model::connect) only when synchronized
  bool relu_ = false;             // a following relu absorbed

  std::vector<Moments> moments_;     // per channel
  std::vector<Moments> chunk_moments_;  // [chunks][C]
  std::vector<double> grad_sums_;    // [sum_dy (C) | sum_dy_xhat (C)]
  std::vector<double> chunk_sums_;   // [chunks][2 * C]
  std::vector<float> inv_std_;       // per channel
  std::vector<float> scale_, shift_; // per channel: gamma (or gamma * inv_std) and beta
  std::vector<double> mean_;         // per channel, batch mean
  double global_count_ = 0;          // samples per channel in the (global) batch
  std::string forward_label_, backward_label_;  // names the collectives in time-out errors
};

}  // namespace lockstep
