#include "core/layers/max_pooling2d.h"

#include <algorithm>

#include "core/kernels/kernels.h"
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

// Per output position the first cell of the window holding the maximum
// (ties go to the first cell in row-major order); channels are the inner
// loop, so the comparisons vectorise (core/kernels/variant.inc).
void MaxPooling2DLayer::forward(const StepContext&, const float* x, float* y, int64_t rows) {
  const kernels::PoolGeometry g{height_, width_, channels_};
  const kernels::Table& k = kernels::table();
  parallel_ranges(rows * height_.output, 1, [&](int64_t begin, int64_t end) {
    k.max_pool_forward(g, x, y, argmax_.data(), begin, end);
  }, width_.output * channels_ * options_.pool_h * options_.pool_w);
}

// dx: each output's dy at the cell that won its window, 0 elsewhere. When
// the windows tile the input (stride = pool size), every cell is written
// once, window by window; otherwise (overlapping or gapped windows) dx is
// zeroed and the winners' dy added.
void MaxPooling2DLayer::backward(const StepContext&, const float*, const float*, const float* dy, float* dx,
                                 int64_t rows) {
  if (!dx) return;
  const int64_t in = input_width(), out = output_width();
  const kernels::PoolGeometry geometry{height_, width_, channels_};
  const kernels::Table& k = kernels::table();
  parallel_ranges(rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* d = dx + n * in;
      const int32_t* where = argmax_.data() + n * out;
      const float* g = dy + n * out;
      if (windows_tile_) {
        k.max_pool_backward_tiled(geometry, where, g, d);
      } else {
        std::fill(d, d + in, 0.0f);
        for (int64_t i = 0; i < out; ++i) d[where[i]] += g[i];
      }
    }
  }, in);
}

}  // namespace lockstep
