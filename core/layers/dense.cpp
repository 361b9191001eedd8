#include "core/layers/dense.h"

#include <cblas.h>

#include <algorithm>

#include "core/error.h"
#include "core/threads.h"

namespace lockstep {
Shape DenseLayer::build_impl(const Shape& input_shape, ParameterStore& store) {
  const int64_t in = numel(input_shape);
  const int64_t out = options_.units;
  // Keras would apply Dense to the last axis of an image; lockstep supports
  // 1-D samples only, so say so instead of silently flattening.
  if (input_shape.size() != 1)
    throw_input_error(name(), "Dense expects a 1-D input per sample, got " + shape_string(input_shape) +
                                  " (add Flatten before it)");
  kernel_id_ = store.declare(name() + "/kernel", {in, out}, true, {options_.kernel_initializer, in, out});
  if (options_.use_bias) bias_id_ = store.declare(name() + "/bias", {out}, true, {options_.bias_initializer, in, out});
  return {out};
}

void DenseLayer::bind(ParameterStore& store) {
  kernel_ = store.value(kernel_id_);
  dkernel_ = store.grad(kernel_id_);
  if (bias_id_ >= 0) {
    bias_ = store.value(bias_id_);
    dbias_ = store.grad(bias_id_);
  }
}

// z and dz (a linear Dense writes z straight into its output).
uint64_t DenseLayer::scratch_bytes(int64_t max_rows) const {
  if (options_.activation.is_linear()) return 0;
  return mul_bytes(2, rows_bytes(max_rows, options_.units, sizeof(float), name()), name());
}

void DenseLayer::reserve(int64_t max_rows) {
  if (options_.activation.is_linear()) return;
  z_.assign(static_cast<size_t>(max_rows * options_.units), 0.0f);
  dz_.assign(z_.size(), 0.0f);
}

void DenseLayer::forward(const StepContext&, const float* x, float* y, int64_t rows) {
  if (rows == 0) return;
  const int64_t in = input_width(), out = options_.units;
  float* z = options_.activation.is_linear() ? y : z_.data();
  float beta = 0.0f;
  if (bias_) {  // start from the bias so the product accumulates onto it
    for (int64_t r = 0; r < rows; ++r) std::copy(bias_, bias_ + out, z + r * out);
    beta = 1.0f;
  }
  threads_for_product(rows, out, in);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, out, in, 1.0f, x, in, kernel_, out, beta, z, out);
  if (!options_.activation.is_linear()) activation_forward(options_.activation, z, y, rows, out);
}

// With z = x·W + b:  dW += xᵀ·dz,  db += Σ_rows dz,  dx = dz·Wᵀ.
void DenseLayer::backward(const StepContext&, const float* x, const float* y, const float* dy, float* dx,
                          int64_t rows) {
  const int64_t in = input_width(), out = options_.units;
  const float* dz = dy;
  if (!options_.activation.is_linear() && !fused_output_ && rows > 0) {
    activation_backward(options_.activation, z_.data(), y, dy, dz_.data(), rows, out);
    dz = dz_.data();
  }
  if (rows == 0) {
    // An empty local batch contributes nothing, but dx must still be valid.
    return;
  }
  threads_for_product(in, out, rows);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, rows, 1.0f, x, in, dz, out, 1.0f, dkernel_, out);
  // Plain loops, rows in order: Eigen's colwise().sum() picks its summation
  // order by buffer alignment, which would make results depend on the heap.
  if (dbias_)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < out; ++c) dbias_[c] += dz[r * out + c];
  if (!dx) return;
  threads_for_product(rows, in, out);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, in, out, 1.0f, dz, out, kernel_, out, 0.0f, dx, in);
}

}  // namespace lockstep
