#include "core/layers/global_average_pooling2d.h"

#include <algorithm>

#include "core/error.h"

namespace lockstep {

Shape GlobalAveragePooling2DLayer::build_impl(const Shape& input_shape, ParameterStore&) {
  if (input_shape.size() != 3)
    throw_input_error("", "GlobalAveragePooling2D expects [height, width, channels] per sample, got " +
                              shape_string(input_shape));
  return {input_shape[2]};
}

// Summed in double over the positions in order, then rounded once.
void GlobalAveragePooling2DLayer::forward(const StepContext&, const float* x, float* y, int64_t rows) {
  const int64_t C = output_width(), positions = input_width() / C;
  const double inv = 1.0 / static_cast<double>(positions);
  for (int64_t n = 0; n < rows; ++n) {
    const float* sample = x + n * positions * C;
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0;
      for (int64_t p = 0; p < positions; ++p) sum += sample[p * C + c];
      y[n * C + c] = static_cast<float>(sum * inv);
    }
  }
}

// dx[n, h, w, c] = dy[n, c] / (H * W)
void GlobalAveragePooling2DLayer::backward(const StepContext&, const float*, const float*, const float* dy,
                                           float* dx, int64_t rows) {
  if (!dx) return;
  const int64_t C = output_width(), positions = input_width() / C;
  const float inv = 1.0f / static_cast<float>(positions);
  for (int64_t n = 0; n < rows; ++n)
    for (int64_t p = 0; p < positions; ++p)
      for (int64_t c = 0; c < C; ++c) dx[(n * positions + p) * C + c] = dy[n * C + c] * inv;
}

}  // namespace lockstep
