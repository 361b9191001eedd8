#include "core/layers/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "core/parallel.h"

namespace lockstep {

Shape BatchNormLayer::build_impl(const Shape& input_shape, ParameterStore& store) {
  if (input_shape.empty()) throw_input_error(name(), "BatchNormalization needs an input with a channel axis");
  const int rank = static_cast<int>(input_shape.size());  // Keras' axis counts the batch axis too
  if (options_.axis != -1 && options_.axis != rank)
    throw_input_error(name(), "axis " + std::to_string(options_.axis) +
                                  " is not supported: only the channel (last) axis, -1 or " + std::to_string(rank));
  channels_ = input_shape.back();
  const Shape c = {channels_};
  if (options_.scale) gamma_id_ = store.declare(name() + "/gamma", c, true, {options_.gamma_initializer});
  if (options_.center) beta_id_ = store.declare(name() + "/beta", c, true, {options_.beta_initializer});
  moving_mean_id_ = store.declare(name() + "/moving_mean", c, false, {options_.moving_mean_initializer});
  moving_var_id_ = store.declare(name() + "/moving_variance", c, false, {options_.moving_variance_initializer});
  return input_shape;
}

void BatchNormLayer::bind(ParameterStore& store) {
  if (gamma_id_ >= 0) gamma_ = store.value(gamma_id_), dgamma_ = store.grad(gamma_id_);
  if (beta_id_ >= 0) beta_ = store.value(beta_id_), dbeta_ = store.grad(beta_id_);
  moving_mean_ = store.value(moving_mean_id_);
  moving_var_ = store.value(moving_var_id_);
  forward_label_ = name() + " batch statistics (forward)";
  backward_label_ = name() + " gradient sums (backward)";
}

namespace {
// Rows (of C values) per chunk: a chunk of a 32-channel layer is 256 KB, so
// its second pass reads from the cache the first pass filled.
constexpr int64_t kChunkRows = 2048;

// xhat exactly as forward computes it (backward recomputes it bit for bit):
// the mean is subtracted in double, since rounded to float a mean of 1e4 is
// off by up to 5e-4, which would shift every xhat of a std-1e-2 feature.
inline float normalized(float x, double mean, float inv_std) { return static_cast<float>((x - mean) * inv_std); }

// An absorbed relu, exactly as the Activation layer computes it: forward
// v > 0 ? v : 0, backward dy where the output is > 0 (the same cells as
// where its input is).
// (Templates on it, so each loop is compiled with the test or without.)
template <bool kRelu>
inline float activated(float v) {
  if constexpr (kRelu) return v > 0.0f ? v : 0.0f;
  return v;
}
// (dy or +0 by a bit mask: GCC left the conditional form unvectorised.)
template <bool kRelu>
inline float through(float dy, float y) {
  if constexpr (kRelu) {
    uint32_t bits;
    std::memcpy(&bits, &dy, sizeof bits);
    bits &= -static_cast<uint32_t>(y > 0.0f);
    std::memcpy(&dy, &bits, sizeof bits);
  }
  return dy;
}

// Σ dy and Σ dy·xhat per channel over rows [first, last).
template <bool kRelu>
void gradient_sums_of_rows(const float* __restrict x, const float* __restrict y, const float* __restrict dy,
                           int64_t first, int64_t last, int64_t C, const double* __restrict mean,
                           const float* __restrict inv_std, double* __restrict sum_dy, double* __restrict sum_dy_xhat) {
  for (int64_t i = first; i < last; ++i)
    for (int64_t c = 0; c < C; ++c) {
      const float g = through<kRelu>(dy[i * C + c], y[i * C + c]);
      sum_dy[c] += g;
      sum_dy_xhat[c] += static_cast<double>(g) * normalized(x[i * C + c], mean[c], inv_std[c]);
    }
}

// dx = scale · (dy − mean_dy − xhat · mean_dy_xhat) over rows [first, last).
template <bool kRelu>
void input_gradient_of_rows(const float* __restrict x, const float* __restrict y, const float* __restrict dy,
                            float* __restrict dx, int64_t first, int64_t last, int64_t C, const double* __restrict mean,
                            const float* __restrict inv_std, const float* __restrict scale,
                            const double* __restrict mean_dy, const double* __restrict mean_dy_xhat) {
  for (int64_t i = first; i < last; ++i)
    for (int64_t c = 0; c < C; ++c) {
      const float xhat = normalized(x[i * C + c], mean[c], inv_std[c]);
      dx[i * C + c] = scale[c] * (through<kRelu>(dy[i * C + c], y[i * C + c]) - static_cast<float>(mean_dy[c]) -
                                  xhat * static_cast<float>(mean_dy_xhat[c]));
    }
}

// y = f(gamma · xhat + beta) over rows [first, last), training statistics.
template <bool kRelu>
void normalize_rows(const float* __restrict x, float* __restrict y, int64_t first, int64_t last, int64_t C,
                    const double* __restrict mean, const float* __restrict inv_std, const float* __restrict gamma,
                    const float* __restrict beta) {
  for (int64_t i = first; i < last; ++i)
    for (int64_t c = 0; c < C; ++c)
      y[i * C + c] = activated<kRelu>(gamma[c] * normalized(x[i * C + c], mean[c], inv_std[c]) + beta[c]);
}

// y = f((x - moving_mean) · scale + beta) over rows [first, last).
template <bool kRelu>
void normalize_rows_for_inference(const float* __restrict x, float* __restrict y, int64_t first, int64_t last,
                                  int64_t C, const float* __restrict mean, const float* __restrict scale,
                                  const float* __restrict beta) {
  for (int64_t i = first; i < last; ++i)
    for (int64_t c = 0; c < C; ++c) y[i * C + c] = activated<kRelu>((x[i * C + c] - mean[c]) * scale[c] + beta[c]);
}
}  // namespace

int64_t BatchNormLayer::chunks(int64_t m) const { return (m + kChunkRows - 1) / kChunkRows; }

// Per-channel sums and their per-chunk partials, as reserve() sizes them.
uint64_t BatchNormLayer::scratch_bytes(int64_t max_rows) const {
  const int64_t values = checked_mul(max_rows, input_width() / channels_, name(), "rows x positions");
  const uint64_t parts = static_cast<uint64_t>(std::max<int64_t>(1, chunks(values)));
  const uint64_t c = static_cast<uint64_t>(channels_);
  const uint64_t per_chunk = mul_bytes(c, sizeof(Moments) + 2 * sizeof(double), name());
  const uint64_t fixed = c * (sizeof(Moments) + 2 * sizeof(double) + 3 * sizeof(float) + sizeof(double));
  return add_bytes(mul_bytes(parts, per_chunk, name()), fixed, name());
}

void BatchNormLayer::reserve(int64_t max_rows) {
  const int64_t max_values = max_rows * (input_width() / channels_);
  moments_.assign(channels_, Moments{});
  chunk_moments_.assign(static_cast<size_t>(std::max<int64_t>(1, chunks(max_values)) * channels_), Moments{});
  grad_sums_.assign(2 * channels_, 0.0);
  chunk_sums_.assign(static_cast<size_t>(std::max<int64_t>(1, chunks(max_values)) * 2 * channels_), 0.0);
  inv_std_.assign(channels_, 0.0f);
  scale_.assign(channels_, 0.0f);
  shift_.assign(channels_, 0.0f);
  mean_.assign(channels_, 0.0);
}

// Each chunk takes two passes in double (mean, then squared deviations),
// which stay exact for features like mean 1e4, std 1e-2; chunks, and then
// ranks, merge (count, mean, M2) the Chan way instead of adding raw sums of
// squares, which would cancel catastrophically.
void BatchNormLayer::compute_batch_statistics(const float* x, int64_t m) {
  const int64_t C = channels_;
  parallel_ranges(chunks(m), 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t first = k * kChunkRows, rows = std::min(kChunkRows, m - first);
      const float* xs = x + first * C;
      // Accumulators in plain arrays (backward's chunk sums, free during
      // forward) so the inner loops over channels vectorise.
      double* s = chunk_sums_.data() + k * 2 * C;
      double* d = s + C;
      std::fill(s, s + C, 0.0);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t c = 0; c < C; ++c) s[c] += xs[i * C + c];
      for (int64_t c = 0; c < C; ++c) s[c] /= rows;
      std::fill(d, d + C, 0.0);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t c = 0; c < C; ++c) {
          const double v = xs[i * C + c] - s[c];
          d[c] += v * v;
        }
      for (int64_t c = 0; c < C; ++c) chunk_moments_[k * C + c] = Moments{static_cast<double>(rows), s[c], d[c]};
    }
  }, kChunkRows * C);
  std::fill(moments_.begin(), moments_.end(), Moments{});
  for (int64_t k = 0; k < chunks(m); ++k)
    for (int64_t c = 0; c < C; ++c) merge_moments(moments_[c], chunk_moments_[k * C + c]);
  if (comm_) comm_->allreduce_moments(moments_.data(), C, forward_label_.c_str());
  global_count_ = C > 0 ? moments_[0].count : 0;
  for (int64_t c = 0; c < C; ++c) mean_[c] = moments_[c].mean;
}

void BatchNormLayer::forward(const StepContext& ctx, const float* x, float* y, int64_t rows) {
  const int64_t C = channels_;
  const bool relu = relu_;
  const int64_t m = rows * (input_width() / C);  // values per channel on this rank
  if (ctx.training) {
    compute_batch_statistics(x, m);
    const float keep = options_.momentum, blend = 1.0f - options_.momentum;
    for (int64_t c = 0; c < C; ++c) {
      const double var = global_count_ > 0 ? moments_[c].m2 / global_count_ : 0.0;
      const float mean = static_cast<float>(mean_[c]);
      inv_std_[c] = static_cast<float>(1.0 / std::sqrt(var + options_.epsilon));
      if (global_count_ > 0) {  // an all-empty batch must not move the statistics
        moving_mean_[c] = keep * moving_mean_[c] + blend * mean;
        moving_var_[c] = keep * moving_var_[c] + blend * static_cast<float>(var);
      }
      scale_[c] = gamma_ ? gamma_[c] : 1.0f;
      shift_[c] = beta_ ? beta_[c] : 0.0f;
    }
    const double* mean = mean_.data();
    const float *inv_std = inv_std_.data(), *gamma = scale_.data(), *beta = shift_.data();
    parallel_ranges(m, 1, [&](int64_t begin, int64_t end) {
      if (relu) normalize_rows<true>(x, y, begin, end, C, mean, inv_std, gamma, beta);
      else normalize_rows<false>(x, y, begin, end, C, mean, inv_std, gamma, beta);
    }, C);
  } else {
    // (x - mean) * scale + beta rather than TF's folded x * scale + shift:
    // folding cancels catastrophically for features like mean 1e4, std 1e-2.
    for (int64_t c = 0; c < C; ++c) {
      const float inv_std = 1.0f / std::sqrt(moving_var_[c] + options_.epsilon);
      scale_[c] = (gamma_ ? gamma_[c] : 1.0f) * inv_std;
      shift_[c] = beta_ ? beta_[c] : 0.0f;
    }
    const float *mean = moving_mean_, *scale = scale_.data(), *beta = shift_.data();
    parallel_ranges(m, 1, [&](int64_t begin, int64_t end) {
      if (relu) normalize_rows_for_inference<true>(x, y, begin, end, C, mean, scale, beta);
      else normalize_rows_for_inference<false>(x, y, begin, end, C, mean, scale, beta);
    }, C);
  }
}

// sum_dy = Σ dy, sum_dy_xhat = Σ dy·xhat over this rank's values, per chunk
// in double, chunks added in order.
void BatchNormLayer::gradient_sums(const float* x, const float* y, const float* dy, int64_t m) {
  const bool relu = relu_;
  const int64_t C = channels_;
  const double* mean = mean_.data();
  const float* inv_std = inv_std_.data();
  parallel_ranges(chunks(m), 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t first = k * kChunkRows, last = std::min(m, first + kChunkRows);
      double* sum_dy = chunk_sums_.data() + k * 2 * C;
      double* sum_dy_xhat = sum_dy + C;
      std::fill(sum_dy, sum_dy + 2 * C, 0.0);
      if (relu) gradient_sums_of_rows<true>(x, y, dy, first, last, C, mean, inv_std, sum_dy, sum_dy_xhat);
      else gradient_sums_of_rows<false>(x, y, dy, first, last, C, mean, inv_std, sum_dy, sum_dy_xhat);
    }
  }, kChunkRows * C);
  std::fill(grad_sums_.begin(), grad_sums_.end(), 0.0);
  for (int64_t k = 0; k < chunks(m); ++k)
    for (int64_t j = 0; j < 2 * C; ++j) grad_sums_[j] += chunk_sums_[k * 2 * C + j];
}

// With M values per channel over the (global) batch:
//   dbeta  = Σ dy,  dgamma = Σ dy·xhat           (local sums: the gradient
//                                                  all-reduce adds the ranks)
//   dx = gamma·inv_std · (dy − Σ_g dy / M − xhat · Σ_g dy·xhat / M)
// where Σ_g sums over the whole group (one collective of 2·C doubles).
void BatchNormLayer::backward(const StepContext& ctx, const float* x, const float* y, const float* dy, float* dx,
                              int64_t rows) {
  const int64_t C = channels_;
  const int64_t m = rows * (input_width() / C);
  gradient_sums(x, y, dy, m);
  const bool relu = relu_;
  double* sum_dy = grad_sums_.data();
  double* sum_dy_xhat = grad_sums_.data() + C;
  for (int64_t c = 0; c < C; ++c) {
    if (dgamma_) dgamma_[c] += static_cast<float>(sum_dy_xhat[c]);
    if (dbeta_) dbeta_[c] += static_cast<float>(sum_dy[c]);
  }
  if (!dx) return;
  if (comm_) comm_->allreduce_sum(grad_sums_.data(), grad_sums_.size(), backward_label_.c_str());
  if (global_count_ <= 0) return;
  const double inv_m = 1.0 / global_count_;
  for (int64_t c = 0; c < C; ++c) {
    scale_[c] = (gamma_ ? gamma_[c] : 1.0f) * inv_std_[c];
    sum_dy[c] *= inv_m;
    sum_dy_xhat[c] *= inv_m;
  }
  const double *mean = mean_.data(), *mean_dy = sum_dy, *mean_dy_xhat = sum_dy_xhat;
  const float *inv_std = inv_std_.data(), *scale = scale_.data();
  parallel_ranges(m, 1, [&](int64_t begin, int64_t end) {
    if (relu) input_gradient_of_rows<true>(x, y, dy, dx, begin, end, C, mean, inv_std, scale, mean_dy, mean_dy_xhat);
    else input_gradient_of_rows<false>(x, y, dy, dx, begin, end, C, mean, inv_std, scale, mean_dy, mean_dy_xhat);
  }, C);
}

// Ranks that normalized apart (local statistics, or groups smaller than the
// job) hold different moving statistics. They become those of the union of
// the ranks' data, each rank weighted equally (ranks train on equal shares
// of every batch): mean = avg_r mean_r, var = avg_r (var_r + (mean_r - mean)²),
// the law of total variance. (Keras' MirroredStrategy averages the means and
// the variances, leaving out the spread of the means; PyTorch DDP copies rank
// 0's buffers to every rank at each forward.) Two collectives, so the spread
// is summed around the mean instead of as a difference of large squares.
void BatchNormLayer::unify_state(Communicator& world) {
  if (world.size() == 1 || (comm_ && comm_->size() == world.size())) return;
  const int64_t C = channels_;
  const double ranks = world.size();
  std::vector<double> sums(static_cast<size_t>(2 * C));
  for (int64_t c = 0; c < C; ++c) sums[c] = moving_mean_[c], sums[C + c] = moving_var_[c];
  world.allreduce_sum(sums.data(), sums.size(), "moving statistics of local BatchNormalization");
  std::vector<double> spread(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const double d = moving_mean_[c] - sums[c] / ranks;
    spread[c] = d * d;
  }
  world.allreduce_sum(spread.data(), spread.size(), "moving statistics of local BatchNormalization");
  for (int64_t c = 0; c < C; ++c) {
    moving_mean_[c] = static_cast<float>(sums[c] / ranks);
    moving_var_[c] = static_cast<float>((sums[C + c] + spread[c]) / ranks);
  }
}

}  // namespace lockstep
