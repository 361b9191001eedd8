#include "core/layers/activation_functions.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"

namespace lockstep {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

}  // namespace

const std::vector<std::string>& known_activations() {
  static const std::vector<std::string> names = {"relu",    "tanh", "sigmoid",    "softmax",
                                                 "linear",  "elu",  "leaky_relu", "gelu"};
  return names;
}

ActivationFn parse_activation(const std::string& name, bool has_alpha, float alpha, const std::string& where) {
  ActivationFn f;
  if (name == "linear" || name.empty()) f.kind = ActivationKind::kLinear;
  else if (name == "relu") f.kind = ActivationKind::kRelu;
  else if (name == "tanh") f.kind = ActivationKind::kTanh;
  else if (name == "sigmoid") f.kind = ActivationKind::kSigmoid;
  else if (name == "softmax") f.kind = ActivationKind::kSoftmax;
  else if (name == "elu") f.kind = ActivationKind::kElu, f.alpha = 1.0f;
  else if (name == "leaky_relu") f.kind = ActivationKind::kLeakyRelu, f.alpha = 0.2f;
  else if (name == "gelu") f.kind = ActivationKind::kGelu;
  else {
    std::string known;
    for (const auto& k : known_activations()) known += (known.empty() ? "" : ", ") + k;
    throw_input_error(where, "unknown activation '" + name + "' (known: " + known + ")");
  }
  if (has_alpha) f.alpha = alpha;
  return f;
}

namespace {

// Eigen computes tanh/exp with a polynomial on whole SIMD packets but falls
// back to other code for the elements before the first aligned address and
// after the last full packet. Which elements those are depends on buffer
// addresses and batch sizes, so results would change with heap layout (and a
// resumed run would not be bit-identical). Every element goes through the
// packet path instead: whole blocks of kBlock floats, the tail copied into an
// aligned scratch block.
constexpr int64_t kBlock = 16;

template <typename Kernel>
void blockwise(int64_t n, const float* a, const float* b, const float* c, float* out, Kernel kernel) {
  const int64_t bulk = n - n % kBlock;
  for (int64_t i = 0; i < bulk; i += kBlock) kernel(a + i, b ? b + i : nullptr, c ? c + i : nullptr, out + i);
  if (bulk == n) return;
  alignas(64) float sa[kBlock] = {0}, sb[kBlock] = {0}, sc[kBlock] = {0}, so[kBlock];
  const int64_t tail = n - bulk;
  std::copy(a + bulk, a + n, sa);
  if (b) std::copy(b + bulk, b + n, sb);
  if (c) std::copy(c + bulk, c + n, sc);
  kernel(sa, b ? sb : nullptr, c ? sc : nullptr, so);
  std::copy(so, so + tail, out + bulk);
}

using Block = Eigen::Map<Eigen::Array<float, kBlock, 1>, Eigen::Unaligned>;
using ConstBlock = Eigen::Map<const Eigen::Array<float, kBlock, 1>, Eigen::Unaligned>;

}  // namespace

namespace {

void forward_rows(const ActivationFn& f, const float* z, float* y, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  const float alpha = f.alpha;
  switch (f.kind) {
    case ActivationKind::kLinear:
      if (y != z) std::copy(z, z + n, y);
      break;
    case ActivationKind::kRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = z[i] > 0.0f ? z[i] : 0.0f;
      break;
    case ActivationKind::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) y[i] = z[i] > 0.0f ? z[i] : alpha * z[i];
      break;
    case ActivationKind::kTanh:
      blockwise(n, z, nullptr, nullptr, y, [](const float* a, const float*, const float*, float* o) {
        Block{o} = ConstBlock(a).tanh();
      });
      break;
    case ActivationKind::kSigmoid:
      blockwise(n, z, nullptr, nullptr, y, [](const float* a, const float*, const float*, float* o) {
        Block{o} = 1.0f / (1.0f + (-ConstBlock(a)).exp());
      });
      break;
    case ActivationKind::kElu:
      blockwise(n, z, nullptr, nullptr, y, [alpha](const float* a, const float*, const float*, float* o) {
        const ConstBlock x(a);
        Block{o} = (x > 0.0f).select(x, alpha * (x.exp() - 1.0f));
      });
      break;
    case ActivationKind::kGelu:
      // Keras' default is the exact form (approximate=False).
      for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * z[i] * (1.0f + std::erf(z[i] * kInvSqrt2));
      break;
    case ActivationKind::kSoftmax:
      for (int64_t r = 0; r < rows; ++r) {
        const float* zr = z + r * cols;
        float* yr = y + r * cols;
        const float max = *std::max_element(zr, zr + cols);  // subtracting it keeps exp() finite
        float sum = 0.0f;
        for (int64_t c = 0; c < cols; ++c) sum += (yr[c] = std::exp(zr[c] - max));
        const float inv = 1.0f / sum;
        for (int64_t c = 0; c < cols; ++c) yr[c] *= inv;
      }
      break;
  }
}

void backward_rows(const ActivationFn& f, const float* z, const float* y, const float* dy, float* dz,
                         int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  const float alpha = f.alpha;
  switch (f.kind) {
    case ActivationKind::kLinear:
      if (dz != dy) std::copy(dy, dy + n, dz);
      break;
    case ActivationKind::kRelu:
      for (int64_t i = 0; i < n; ++i) dz[i] = z[i] > 0.0f ? dy[i] : 0.0f;
      break;
    case ActivationKind::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) dz[i] = z[i] > 0.0f ? dy[i] : alpha * dy[i];
      break;
    case ActivationKind::kTanh:
      for (int64_t i = 0; i < n; ++i) dz[i] = dy[i] * (1.0f - y[i] * y[i]);
      break;
    case ActivationKind::kSigmoid:
      for (int64_t i = 0; i < n; ++i) dz[i] = dy[i] * y[i] * (1.0f - y[i]);
      break;
    case ActivationKind::kElu:
      for (int64_t i = 0; i < n; ++i) dz[i] = z[i] > 0.0f ? dy[i] : dy[i] * (y[i] + alpha);
      break;
    case ActivationKind::kGelu:
      // d/dz [z * Phi(z)] = Phi(z) + z * phi(z)
      for (int64_t i = 0; i < n; ++i) {
        const float x = z[i];
        const float cdf = 0.5f * (1.0f + std::erf(x * kInvSqrt2));
        const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x * x);
        dz[i] = dy[i] * (cdf + x * pdf);
      }
      break;
    case ActivationKind::kSoftmax:
      // dz = y * (dy - sum(dy * y)) per row
      for (int64_t r = 0; r < rows; ++r) {
        const float* yr = y + r * cols;
        const float* dyr = dy + r * cols;
        float* dzr = dz + r * cols;
        float dot = 0.0f;
        for (int64_t c = 0; c < cols; ++c) dot += dyr[c] * yr[c];
        for (int64_t c = 0; c < cols; ++c) dzr[c] = yr[c] * (dyr[c] - dot);
      }
      break;
  }
}

}  // namespace

// Rows split over the compute threads: every element takes the same path
// (blockwise above) wherever a range starts, so the split changes no bit.
void activation_forward(const ActivationFn& f, const float* z, float* y, int64_t rows, int64_t cols) {
  parallel_ranges(rows, 1, [&](int64_t begin, int64_t end) {
    forward_rows(f, z + begin * cols, y + begin * cols, end - begin, cols);
  }, cols);
}

void activation_backward(const ActivationFn& f, const float* z, const float* y, const float* dy, float* dz,
                         int64_t rows, int64_t cols) {
  parallel_ranges(rows, 1, [&](int64_t begin, int64_t end) {
    const int64_t o = begin * cols;
    backward_rows(f, z ? z + o : nullptr, y ? y + o : nullptr, dy + o, dz + o, end - begin, cols);
  }, cols);
}

}  // namespace lockstep
