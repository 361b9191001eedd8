#include "core/activations.h"

#include <Eigen/Core>
#include <cmath>

#include "core/error.h"

namespace lockstep {
namespace {

using Array = Eigen::Map<Eigen::ArrayXf>;
using ConstArray = Eigen::Map<const Eigen::ArrayXf>;
using RowMatrix = Eigen::Map<Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
using ConstRowMatrix = Eigen::Map<const Eigen::Array<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

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

void activation_forward(const ActivationFn& f, const float* z_ptr, float* y_ptr, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  ConstArray z(z_ptr, n);
  Array y(y_ptr, n);
  switch (f.kind) {
    case ActivationKind::kLinear:
      if (y_ptr != z_ptr) y = z;
      break;
    case ActivationKind::kRelu: y = z.max(0.0f); break;
    case ActivationKind::kTanh: y = z.tanh(); break;
    case ActivationKind::kSigmoid: y = 1.0f / (1.0f + (-z).exp()); break;
    case ActivationKind::kElu: y = (z > 0.0f).select(z, f.alpha * (z.exp() - 1.0f)); break;
    case ActivationKind::kLeakyRelu: y = (z > 0.0f).select(z, f.alpha * z); break;
    case ActivationKind::kGelu:
      // Keras' default is the exact form (approximate=False).
      for (int64_t i = 0; i < n; ++i) y_ptr[i] = 0.5f * z_ptr[i] * (1.0f + std::erf(z_ptr[i] * kInvSqrt2));
      break;
    case ActivationKind::kSoftmax: {
      ConstRowMatrix zm(z_ptr, rows, cols);
      RowMatrix ym(y_ptr, rows, cols);
      for (int64_t r = 0; r < rows; ++r) {
        const float max = zm.row(r).maxCoeff();  // subtracting it keeps exp() finite
        ym.row(r) = (zm.row(r) - max).exp();
        ym.row(r) *= 1.0f / ym.row(r).sum();
      }
      break;
    }
  }
}

void activation_backward(const ActivationFn& f, const float* z_ptr, const float* y_ptr, const float* dy_ptr,
                         float* dz_ptr, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  ConstArray z(z_ptr, n), y(y_ptr, n), dy(dy_ptr, n);
  Array dz(dz_ptr, n);
  switch (f.kind) {
    case ActivationKind::kLinear:
      if (dz_ptr != dy_ptr) dz = dy;
      break;
    case ActivationKind::kRelu: dz = (z > 0.0f).select(dy, 0.0f); break;
    case ActivationKind::kTanh: dz = dy * (1.0f - y * y); break;
    case ActivationKind::kSigmoid: dz = dy * y * (1.0f - y); break;
    case ActivationKind::kElu: dz = (z > 0.0f).select(dy, dy * (y + f.alpha)); break;
    case ActivationKind::kLeakyRelu: dz = (z > 0.0f).select(dy, f.alpha * dy); break;
    case ActivationKind::kGelu:
      // d/dz [z * Phi(z)] = Phi(z) + z * phi(z)
      for (int64_t i = 0; i < n; ++i) {
        const float x = z_ptr[i];
        const float cdf = 0.5f * (1.0f + std::erf(x * kInvSqrt2));
        const float pdf = kInvSqrt2Pi * std::exp(-0.5f * x * x);
        dz_ptr[i] = dy_ptr[i] * (cdf + x * pdf);
      }
      break;
    case ActivationKind::kSoftmax: {
      // dz = y * (dy - sum(dy * y)) per row
      ConstRowMatrix ym(y_ptr, rows, cols), dym(dy_ptr, rows, cols);
      RowMatrix dzm(dz_ptr, rows, cols);
      for (int64_t r = 0; r < rows; ++r) {
        const float dot = (dym.row(r) * ym.row(r)).sum();
        dzm.row(r) = ym.row(r) * (dym.row(r) - dot);
      }
      break;
    }
  }
}

}  // namespace lockstep
