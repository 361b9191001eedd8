#include "core/dropout.h"

#include <cstring>

#include "core/random.h"

namespace lockstep {

uint64_t DropoutLayer::layer_key(const StepContext& ctx, int layer_index) {
  uint64_t key = hash_combine(ctx.seed, 0x64726F706F7574ull);  // "dropout"
  key = hash_combine(key, static_cast<uint64_t>(ctx.epoch));
  key = hash_combine(key, static_cast<uint64_t>(ctx.step));
  return hash_combine(key, static_cast<uint64_t>(layer_index));
}

bool DropoutLayer::keep(uint64_t layer_key, int64_t global_row, int64_t unit, float rate) {
  const uint64_t row_key = hash_combine(layer_key, static_cast<uint64_t>(global_row));
  return uniform_from_bits(splitmix64(row_key + static_cast<uint64_t>(unit) * 0x9E3779B97F4A7C15ull)) >= rate;
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
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t row_key = hash_combine(key, static_cast<uint64_t>(ctx.batch_offset + r));
    float* mult = multiplier_.data() + r * width;
    for (int64_t u = 0; u < width; ++u) {
      const float draw = uniform_from_bits(splitmix64(row_key + static_cast<uint64_t>(u) * 0x9E3779B97F4A7C15ull));
      mult[u] = draw >= rate_ ? kept_scale : 0.0f;
    }
    for (int64_t u = 0; u < width; ++u) y[r * width + u] = x[r * width + u] * mult[u];
  }
}

void DropoutLayer::backward(const StepContext&, const float*, const float*, const float* dy, float* dx, int64_t rows) {
  if (!dx) return;
  const int64_t n = rows * input_width();
  if (!active_) {
    if (dx != dy) std::memcpy(dx, dy, sizeof(float) * n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * multiplier_[i];
}

}  // namespace lockstep
