// Sliding-window geometry shared by Conv2D and the pooling layers, with
// Keras' (TensorFlow's) rules along each spatial axis:
//   valid: out = floor((in - span) / stride) + 1, span = (kernel - 1) * dilation + 1
//   same:  out = ceil(in / stride); the padding total is
//          max((out - 1) * stride + span - in, 0), of which floor(total / 2)
//          goes before (top/left) and the rest after (bottom/right).
// PyTorch's padding=k pads both sides equally, so for an even kernel or a
// stride > 1 its "same" can differ from Keras'; lockstep follows Keras.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.h"

namespace lockstep {

struct WindowAxis {
  int64_t input = 0;
  int64_t kernel = 1;
  int64_t stride = 1;
  int64_t dilation = 1;
  int64_t output = 0;
  int64_t pad_before = 0;  // rows (or columns) of zeros before the first input
  int64_t span() const { return (kernel - 1) * dilation + 1; }
  // First input index the window of output o covers (may be < 0: padding).
  int64_t start(int64_t o) const { return o * stride - pad_before; }
};

// `what` names the axis in errors ("height", "width"). Throws an input error
// when a valid window does not fit the input.
inline WindowAxis window_axis(const char* what, int64_t input, int64_t kernel, int64_t stride, int64_t dilation,
                              bool same) {
  WindowAxis a;
  a.input = input;
  a.kernel = kernel;
  a.stride = stride;
  a.dilation = dilation;
  if (same) {
    a.output = (input + stride - 1) / stride;
    const int64_t total = (a.output - 1) * stride + a.span() - input;
    a.pad_before = total > 0 ? total / 2 : 0;
  } else {
    if (a.span() > input)
      throw_input_error("", std::string("the window (") + std::to_string(a.span()) + " along the " + what +
                                ") is larger than the input's " + what + " " + std::to_string(input) +
                                " with padding \"valid\" (use padding \"same\" or a smaller kernel)");
    a.output = (input - a.span()) / stride + 1;
  }
  return a;
}

// MaxPooling2D and AveragePooling2D: the window and its step on each axis.
struct PoolOptions {
  int64_t pool_h = 2, pool_w = 2;
  int64_t stride_h = 2, stride_w = 2;  // Keras' strides=None: the pool size
  bool same_padding = false;
};

// "valid" -> false, "same" -> true; anything else is an error at `field`.
inline bool parse_padding(const std::string& padding, const std::string& field) {
  if (padding == "valid") return false;
  if (padding == "same") return true;
  throw_input_error(field, "unknown padding '" + padding + "' (known: valid, same)");
}

}  // namespace lockstep
