#include "core/layers/average_pooling2d.h"

#include "core/kernels/kernels.h"
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

// y = (1 / cells inside the input) * Σ over those cells; backward:
// dx[cell] = Σ over the windows that contain the cell of dy / (that window's
// cells). The loops: core/kernels/variant.inc, one copy per ISA path.
void AveragePooling2DLayer::forward(const StepContext&, const float* x, float* y, int64_t rows) {
  const kernels::PoolGeometry g{height_, width_, channels_};
  const kernels::Table& k = kernels::table();
  parallel_ranges(rows * height_.output, 1, [&](int64_t begin, int64_t end) {
    k.average_pool_forward(g, x, y, begin, end);
  }, width_.output * channels_ * options_.pool_h * options_.pool_w);
}

void AveragePooling2DLayer::backward(const StepContext&, const float*, const float*, const float* dy, float* dx,
                                     int64_t rows) {
  if (!dx) return;
  const kernels::PoolGeometry g{height_, width_, channels_};
  const kernels::Table& k = kernels::table();
  parallel_ranges(rows, 1, [&](int64_t begin, int64_t end) {
    k.average_pool_backward(g, dy, dx, begin, end);
  }, height_.output * width_.output * channels_ * options_.pool_h * options_.pool_w);
}

}  // namespace lockstep
