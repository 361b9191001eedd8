#include "core/layers/dropout.h"

#include <cmath>
#include <cstring>

#include "core/kernels/kernels.h"
#include "core/random.h"

namespace lockstep {

uint64_t DropoutLayer::layer_key(const StepContext& ctx, int layer_index) {
  uint64_t key = hash_combine(ctx.seed, 0x64726F706F7574ull);  // "dropout"
  key = hash_combine(key, static_cast<uint64_t>(ctx.epoch));
  key = hash_combine(key, static_cast<uint64_t>(ctx.step));
  return hash_combine(key, static_cast<uint64_t>(layer_index));
}

namespace {
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;
constexpr float kInv24 = 1.0f / 16777216.0f;
}  // namespace

bool DropoutLayer::keep(uint64_t layer_key, int64_t global_row, int64_t unit, float rate) {
  const uint64_t row_key = hash_combine(layer_key, static_cast<uint64_t>(global_row));
  return uniform_from_bits(splitmix64(row_key + static_cast<uint64_t>(unit) * kGolden)) >= rate;
}

// k * 2^-24 is exact in float and increasing in k, so the float test
// draw >= rate equals the integer test (draw's 24 bits) >= this threshold.
uint64_t DropoutLayer::keep_threshold(float rate) {
  uint64_t k = static_cast<uint64_t>(std::ceil(static_cast<double>(rate) * 16777216.0));
  while (k > 0 && static_cast<float>(k - 1) * kInv24 >= rate) --k;
  while (k <= 16777216 && !(static_cast<float>(k) * kInv24 >= rate)) ++k;
  return k;
}

uint64_t DropoutLayer::scratch_bytes(int64_t max_rows) const {
  return rows_bytes(max_rows, input_width(), sizeof(float), name());
}

void DropoutLayer::reserve(int64_t max_rows) {
  multiplier_.assign(static_cast<size_t>(max_rows * input_width()), 0.0f);
}

void DropoutLayer::forward(const StepContext& ctx, const float* x, float* y, int64_t rows) {
  const int64_t width = input_width();
  active_ = ctx.training && rate_ > 0.0f;
  if (!active_) {
    if (y != x) std::memcpy(y, x, sizeof(float) * rows * width);
    return;
  }
  const float kept_scale = 1.0f / (1.0f - rate_);
  const uint64_t key = layer_key(ctx, index());
  const uint64_t threshold = keep_threshold(rate_);
  // keep() in one loop that vectorises (core/kernels/variant.inc).
  kernels::table().dropout_forward(key, ctx.batch_offset, threshold, kept_scale, x, y, multiplier_.data(), rows,
                                   width);
}

void DropoutLayer::backward(const StepContext&, const float*, const float*, const float* dy, float* dx, int64_t rows) {
  if (!dx) return;
  const int64_t n = rows * input_width();
  if (!active_) {
    if (dx != dy) std::memcpy(dx, dy, sizeof(float) * n);
    return;
  }
  kernels::table().multiply(dy, multiplier_.data(), dx, static_cast<size_t>(n));
}

}  // namespace lockstep
