// Inverted dropout. A unit is kept with probability 1 - rate and scaled by
// 1 / (1 - rate). The mask is a pure function of (seed, epoch, step, layer,
// position in the global batch, unit), never of the rank, so it does not
// depend on how a batch is split. Identity at inference.
// Caches: the per-element multiplier (0 or 1 / (1 - rate)).
#pragma once

#include <vector>

#include "core/layers/layer.h"

namespace lockstep {

class DropoutLayer final : public Layer {
 public:
  DropoutLayer(std::string name, float rate) : Layer(std::move(name)), rate_(rate) {}
  const char* type_name() const override { return "Dropout"; }

  void reserve(int64_t max_rows) override;
  uint64_t scratch_bytes(int64_t max_rows) const override;
  void forward(const StepContext& ctx, const float* x, float* y, int64_t rows) override;
  void backward(const StepContext& ctx, const float* x, const float* y, const float* dy, float* dx,
                int64_t rows) override;

  float rate() const { return rate_; }
  // The keep/drop decision for one element (exposed for tests).
  static bool keep(uint64_t layer_key, int64_t global_row, int64_t unit, float rate);
  static uint64_t layer_key(const StepContext& ctx, int layer_index);
  // The smallest 24-bit draw that keep() keeps at this rate (2^24: none).
  static uint64_t keep_threshold(float rate);

 protected:
  Shape build_impl(const Shape& input_shape, ParameterStore&) override { return input_shape; }

 private:
  float rate_;
  bool active_ = false;         // mask applied in the last forward
  std::vector<float> multiplier_;
};

}  // namespace lockstep
