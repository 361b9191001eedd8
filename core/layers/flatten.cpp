#include "core/layers/flatten.h"

#include <cstring>

#include "core/error.h"

namespace lockstep {

Shape FlattenLayer::build_impl(const Shape& input_shape, ParameterStore&) {
  if (input_shape.empty()) throw_input_error("", "Flatten needs an input with at least one axis");
  return {numel(input_shape)};
}

void FlattenLayer::forward(const StepContext&, const float* x, float* y, int64_t rows) {
  if (rows > 0 && y != x) std::memcpy(y, x, sizeof(float) * rows * input_width());
}

void FlattenLayer::backward(const StepContext&, const float*, const float*, const float* dy, float* dx,
                            int64_t rows) {
  if (dx && rows > 0 && dx != dy) std::memcpy(dx, dy, sizeof(float) * rows * input_width());
}

}  // namespace lockstep
