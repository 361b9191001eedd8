#include "core/layers/normalization.h"

#include <algorithm>
#include <cmath>

#include "core/communicator.h"
#include "core/error.h"

namespace lockstep {
namespace {
// Keras' backend.epsilon(): the floor of the standard deviation.
constexpr float kEpsilon = 1e-7f;
}  // namespace

NormalizationLayer::NormalizationLayer(std::string name, std::vector<float> mean, std::vector<float> variance)
    : Layer(std::move(name)), given_mean_(std::move(mean)), given_variance_(std::move(variance)) {}

Shape NormalizationLayer::build_impl(const Shape& input_shape, ParameterStore& store) {
  if (input_shape.empty()) throw_input_error("", "Normalization needs an input with at least one axis");
  const int64_t c = input_shape.back();
  for (const std::vector<float>* given : {&given_mean_, &given_variance_}) {
    const char* what = given == &given_mean_ ? "mean" : "variance";
    if (given->size() > 1 && static_cast<int64_t>(given->size()) != c)
      throw_input_error("", std::string(what) + " has " + std::to_string(given->size()) + " values for " +
                                std::to_string(c) + " channels (give one, or one per channel)");
  }
  for (float v : given_variance_)
    if (!(v >= 0 && std::isfinite(v))) throw_input_error("", "variance values must be finite and >= 0");
  for (float m : given_mean_)
    if (!std::isfinite(m)) throw_input_error("", "mean values must be finite");
  mean_id_ = store.declare(name() + "/mean", {c}, false, InitializerSpec{"zeros"});
  variance_id_ = store.declare(name() + "/variance", {c}, false, InitializerSpec{"ones"});
  count_id_ = store.declare(name() + "/count", {}, false, InitializerSpec{"zeros"});
  return input_shape;
}

void NormalizationLayer::bind(ParameterStore& store) {
  mean_ = store.value(mean_id_);
  variance_ = store.value(variance_id_);
  count_ = store.value(count_id_);
  const int64_t c = channels();
  // Given statistics overwrite the initializers' zeros and ones.
  if (!given_mean_.empty())
    for (int64_t i = 0; i < c; ++i) mean_[i] = given_mean_[given_mean_.size() == 1 ? 0 : i];
  if (!given_variance_.empty())
    for (int64_t i = 0; i < c; ++i) variance_[i] = given_variance_[given_variance_.size() == 1 ? 0 : i];
  inverse_std_.assign(static_cast<size_t>(c), 1.0f);
}

// Two passes in double (mean, then the mean squared deviation), each summed
// over ranks when the data is split: the population variance, as Keras'
// adapt computes it, and the same numbers for any number of ranks up to the
// rounding of a double sum.
void NormalizationLayer::adapt(const float* x, int64_t rows, Communicator* sum_over) {
  const int64_t c = channels();
  const int64_t per_row = input_width() / c;  // positions per sample ([H, W, C]: H * W)
  std::vector<double> sums(static_cast<size_t>(c) + 1, 0.0);
  for (int64_t i = 0; i < rows * per_row; ++i)
    for (int64_t k = 0; k < c; ++k) sums[k] += x[i * c + k];
  sums[c] = static_cast<double>(rows * per_row);
  if (sum_over) sum_over->allreduce_sum(sums.data(), sums.size(), "normalization adapt (sums)");
  const double n = sums[c];
  if (n <= 0) throw_input_error(name(), "no training samples to adapt the mean and variance to");
  std::vector<double> mean(static_cast<size_t>(c)), squares(static_cast<size_t>(c), 0.0);
  for (int64_t k = 0; k < c; ++k) mean[k] = sums[k] / n;
  for (int64_t i = 0; i < rows * per_row; ++i)
    for (int64_t k = 0; k < c; ++k) {
      const double d = x[i * c + k] - mean[k];
      squares[k] += d * d;
    }
  if (sum_over) sum_over->allreduce_sum(squares.data(), squares.size(), "normalization adapt (squares)");
  for (int64_t k = 0; k < c; ++k) {
    mean_[k] = static_cast<float>(mean[k]);
    variance_[k] = static_cast<float>(squares[k] / n);
  }
  *count_ = static_cast<float>(n / static_cast<double>(per_row));
}

void NormalizationLayer::refresh_scale() {
  for (int64_t k = 0; k < channels(); ++k) inverse_std_[k] = 1.0f / std::max(std::sqrt(variance_[k]), kEpsilon);
}

void NormalizationLayer::forward(const StepContext&, const float* x, float* y, int64_t rows) {
  // The statistics can change between calls (adapt, a restored checkpoint):
  // C divisions per call, nothing per element.
  refresh_scale();
  const int64_t c = channels(), n = rows * input_width() / c;
  const float* __restrict inv = inverse_std_.data();
  const float* __restrict mean = mean_;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k) y[i * c + k] = (x[i * c + k] - mean[k]) * inv[k];
}

void NormalizationLayer::backward(const StepContext&, const float*, const float*, const float* dy, float* dx,
                                  int64_t rows) {
  if (!dx) return;
  const int64_t c = channels(), n = rows * input_width() / c;
  const float* __restrict inv = inverse_std_.data();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < c; ++k) dx[i * c + k] = dy[i * c + k] * inv[k];
}

}  // namespace lockstep
