// Per-sample shapes (batch axis excluded), channels last.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep {

using Shape = std::vector<int64_t>;

inline int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// "(None, 64)" as Keras prints an output shape.
inline std::string keras_shape(const Shape& shape) {
  std::string s = "(None";
  for (int64_t d : shape) s += ", " + std::to_string(d);
  return s + ")";
}

// "[3, 4]"
inline std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace lockstep
