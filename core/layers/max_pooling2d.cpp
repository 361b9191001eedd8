#include "core/layers/max_pooling2d.h"

#include <algorithm>

#include "core/parallel.h"

namespace lockstep {

Shape MaxPooling2DLayer::build_impl(const Shape& input_shape, ParameterStore&) {
  if (input_shape.size() != 3)
    throw_input_error("", "MaxPooling2D expects [height, width, channels] per sample, got " +
                              shape_string(input_shape));
  try {
    height_ = window_axis("height", input_shape[0], options_.pool_h, options_.stride_h, 1, options_.same_padding);
    width_ = window_axis("width", input_shape[1], options_.pool_w, options_.stride_w, 1, options_.same_padding);
  } catch (const Error& e) {
    throw_input_error("", "input " + shape_string(input_shape) + ": " + e.message());
  }
  channels_ = input_shape[2];
  // argmax_ keeps the winning cell's index within the sample as an int32.
  if (checked_numel(input_shape, "") > INT32_MAX)
    throw_input_error("", "input " + shape_string(input_shape) + " has more than 2^31 - 1 values per sample");
  windows_tile_ = options_.stride_h == options_.pool_h && options_.stride_w == options_.pool_w;
  return {height_.output, width_.output, channels_};
}

uint64_t MaxPooling2DLayer::scratch_bytes(int64_t max_rows) const {
  return rows_bytes(max_rows, output_width(), sizeof(int32_t), name());
}

void MaxPooling2DLayer::reserve(int64_t max_rows) {
  argmax_.assign(static_cast<size_t>(max_rows * output_width()), 0);
}

// Per output position, the window's cells are visited in row-major order and
// a cell replaces the running maximum only when strictly greater, so ties go
// to the first cell. Every window holds at least one input cell (Keras'
// "same" padding is less than a window), which starts the running maxima:
// cells outside the input never win. Channels are the inner loop, so the
// comparisons vectorise.
void MaxPooling2DLayer::forward(const StepContext&, const float* x, float* y, int64_t rows) {
  const int64_t H = height_.input, W = width_.input, C = channels_;
  const int64_t OH = height_.output, OW = width_.output;
  parallel_ranges(rows * OH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / OH, oh = row % OH;
      const float* sample = x + n * H * W * C;
      const int64_t h0 = std::max<int64_t>(0, height_.start(oh));
      const int64_t h1 = std::min(H, height_.start(oh) + height_.kernel);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t out = (row * OW + ow) * C;
        float* __restrict best = y + out;
        int32_t* __restrict where = argmax_.data() + out;
        const int64_t w0 = std::max<int64_t>(0, width_.start(ow));
        const int64_t w1 = std::min(W, width_.start(ow) + width_.kernel);
        const int32_t first = static_cast<int32_t>((h0 * W + w0) * C);
        for (int64_t c = 0; c < C; ++c) best[c] = sample[first + c], where[c] = first + static_cast<int32_t>(c);
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = (ih == h0 ? w0 + 1 : w0); iw < w1; ++iw) {
            const int32_t cell = static_cast<int32_t>((ih * W + iw) * C);
            const float* __restrict v = sample + cell;
            // Bit masks, not a conditional: GCC would store under a mask and
            // branch around the store, which mispredicts on real data.
            for (int64_t c = 0; c < C; ++c) {
              const int32_t wins = -static_cast<int32_t>(v[c] > best[c]);
              best[c] = v[c] > best[c] ? v[c] : best[c];
              where[c] = (where[c] & ~wins) | ((cell + static_cast<int32_t>(c)) & wins);
            }
          }
      }
    }
  }, OW * C * options_.pool_h * options_.pool_w);
}

// dx: each output's dy at the cell that won its window, 0 elsewhere. When
// the windows tile the input (stride = pool size), every cell is written
// once, window by window; otherwise (overlapping or gapped windows) dx is
// zeroed and the winners' dy added.
void MaxPooling2DLayer::backward(const StepContext&, const float*, const float*, const float* dy, float* dx,
                                 int64_t rows) {
  if (!dx) return;
  const int64_t in = input_width(), out = output_width();
  parallel_ranges(rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* d = dx + n * in;
      const int32_t* where = argmax_.data() + n * out;
      const float* g = dy + n * out;
      if (windows_tile_) {
        write_window_gradients(where, g, d);
      } else {
        std::fill(d, d + in, 0.0f);
        for (int64_t i = 0; i < out; ++i) d[where[i]] += g[i];
      }
    }
  }, in);
}

// One sample, tiling windows: cells no window covers ("valid" leaves the
// last rows/columns out) get 0, every other cell 0 or its window's dy.
void MaxPooling2DLayer::write_window_gradients(const int32_t* where, const float* g, float* d) const {
  const int64_t H = height_.input, W = width_.input, C = channels_;
  const int64_t OH = height_.output, OW = width_.output;
  const int64_t covered_rows = std::min(H, height_.start(OH - 1) + height_.kernel);
  const int64_t covered_cols = std::min(W, width_.start(OW - 1) + width_.kernel);
  for (int64_t oh = 0; oh < OH; ++oh) {
    const int64_t h0 = std::max<int64_t>(0, height_.start(oh));
    const int64_t h1 = std::min(H, height_.start(oh) + height_.kernel);
    for (int64_t ih = h0; ih < h1; ++ih) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int32_t* __restrict win = where + (oh * OW + ow) * C;
        const float* __restrict grad = g + (oh * OW + ow) * C;
        const int64_t w0 = std::max<int64_t>(0, width_.start(ow));
        const int64_t w1 = std::min(W, width_.start(ow) + width_.kernel);
        for (int64_t iw = w0; iw < w1; ++iw) {
          const int32_t cell = static_cast<int32_t>((ih * W + iw) * C);
          float* __restrict dst = d + cell;
          for (int64_t c = 0; c < C; ++c) dst[c] = win[c] == cell + static_cast<int32_t>(c) ? grad[c] : 0.0f;
        }
      }
      std::fill(d + (ih * W + covered_cols) * C, d + (ih + 1) * W * C, 0.0f);
    }
  }
  std::fill(d + covered_rows * W * C, d + H * W * C, 0.0f);
}

}  // namespace lockstep
