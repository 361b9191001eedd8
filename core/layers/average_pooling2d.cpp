#include "core/layers/average_pooling2d.h"

#include <algorithm>

#include "core/parallel.h"

namespace lockstep {

Shape AveragePooling2DLayer::build_impl(const Shape& input_shape, ParameterStore&) {
  if (input_shape.size() != 3)
    throw_input_error("", "AveragePooling2D expects [height, width, channels] per sample, got " +
                              shape_string(input_shape));
  try {
    height_ = window_axis("height", input_shape[0], options_.pool_h, options_.stride_h, 1, options_.same_padding);
    width_ = window_axis("width", input_shape[1], options_.pool_w, options_.stride_w, 1, options_.same_padding);
  } catch (const Error& e) {
    throw_input_error("", "input " + shape_string(input_shape) + ": " + e.message());
  }
  channels_ = input_shape[2];
  return {height_.output, width_.output, channels_};
}

// y = (1 / cells inside the input) * Σ over those cells.
void AveragePooling2DLayer::forward(const StepContext&, const float* x, float* y, int64_t rows) {
  const int64_t H = height_.input, W = width_.input, C = channels_;
  const int64_t OH = height_.output, OW = width_.output;
  parallel_ranges(rows * OH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / OH, oh = row % OH;
      const float* sample = x + n * H * W * C;
      const int64_t h0 = std::max<int64_t>(0, height_.start(oh));
      const int64_t h1 = std::min(H, height_.start(oh) + height_.kernel);
      for (int64_t ow = 0; ow < OW; ++ow) {
        float* sum = y + (row * OW + ow) * C;
        std::fill(sum, sum + C, 0.0f);
        const int64_t w0 = std::max<int64_t>(0, width_.start(ow));
        const int64_t w1 = std::min(W, width_.start(ow) + width_.kernel);
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) {
            const float* v = sample + (ih * W + iw) * C;
            for (int64_t c = 0; c < C; ++c) sum[c] += v[c];
          }
        const float inv = 1.0f / static_cast<float>((h1 - h0) * (w1 - w0));
        for (int64_t c = 0; c < C; ++c) sum[c] *= inv;
      }
    }
  }, OW * C * options_.pool_h * options_.pool_w);
}

// dx[cell] = Σ over the windows that contain the cell of dy / (that window's cells).
void AveragePooling2DLayer::backward(const StepContext&, const float*, const float*, const float* dy, float* dx,
                                     int64_t rows) {
  if (!dx) return;
  const int64_t H = height_.input, W = width_.input, C = channels_;
  const int64_t OH = height_.output, OW = width_.output;
  parallel_ranges(rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* sample = dx + n * H * W * C;
      std::fill(sample, sample + H * W * C, 0.0f);
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = std::max<int64_t>(0, height_.start(oh));
        const int64_t h1 = std::min(H, height_.start(oh) + height_.kernel);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = std::max<int64_t>(0, width_.start(ow));
          const int64_t w1 = std::min(W, width_.start(ow) + width_.kernel);
          const float inv = 1.0f / static_cast<float>((h1 - h0) * (w1 - w0));
          const float* g = dy + ((n * OH + oh) * OW + ow) * C;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) {
              float* cell = sample + (ih * W + iw) * C;
              for (int64_t c = 0; c < C; ++c) cell[c] += g[c] * inv;
            }
        }
      }
    }
  }, OH * OW * C * options_.pool_h * options_.pool_w);
}

}  // namespace lockstep
