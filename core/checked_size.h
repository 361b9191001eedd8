// Size arithmetic that refuses to wrap. Shapes, batch sizes and byte counts
// come from configs and file headers; a product that wrapped around would
// allocate too little (and be written past) or pass a memory check it should
// fail. Each helper throws an input error (exit status 2) naming WHERE
// instead of returning a wrapped value.
#pragma once

#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/shape.h"

namespace lockstep {

// a * b for counts (elements, rows); both must be >= 0.
inline int64_t checked_mul(int64_t a, int64_t b, const std::string& where, const std::string& what) {
  int64_t r = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
    throw_input_error(where, what + " is too large: " + std::to_string(a) + " x " + std::to_string(b) +
                                 " does not fit in 64 bits");
  return r;
}

// Elements of a shape; every size must be >= 0.
inline int64_t checked_numel(const Shape& shape, const std::string& where) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      throw_input_error(where, "shape " + shape_string(shape) + " has more elements than fit in 64 bits");
  }
  return n;
}

// Byte counts: unsigned 64-bit, checked.
inline uint64_t mul_bytes(uint64_t a, uint64_t b, const std::string& where) {
  uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    throw_input_error(where, "needs more than 2^64 bytes (" + std::to_string(a) + " x " + std::to_string(b) + ")");
  return r;
}

inline uint64_t add_bytes(uint64_t a, uint64_t b, const std::string& where) {
  uint64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    throw_input_error(where, "needs more than 2^64 bytes (" + std::to_string(a) + " + " + std::to_string(b) + ")");
  return r;
}

// Bytes of `rows` rows of `width` values of `value_bytes` each.
inline uint64_t rows_bytes(int64_t rows, int64_t width, uint64_t value_bytes, const std::string& where) {
  if (rows < 0 || width < 0) throw_input_error(where, "negative size");
  return mul_bytes(mul_bytes(static_cast<uint64_t>(rows), static_cast<uint64_t>(width), where), value_bytes, where);
}

}  // namespace lockstep
