#include "core/layers/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "core/kernels/kernels.h"
#include "core/parallel.h"
#include "core/trace.h"

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

// From this size of a rank's activations on, backward's loops stream their
// three tensors from memory (BatchNormRows::large): between the 4 MB where
// the 512-bit loops were still as fast and the 12.8 MB where they were 1.8x
// slower on an AMD EPYC (bench/README.md).
constexpr int64_t kLargeTensorBytes = int64_t{8} << 20;
bool is_large(int64_t values, int64_t C) {
  return values * C * static_cast<int64_t>(sizeof(float)) >= kLargeTensorBytes;
}

// The loops (normalize, gradient sums, input gradient, chunk moments) are
// in core/kernels/variant.inc, one copy per ISA path: each recomputes xhat
// as forward does, bit for bit.
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
  const kernels::Table& kern = kernels::table();
  parallel_ranges(chunks(m), 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t first = k * kChunkRows, rows = std::min(kChunkRows, m - first);
      const float* xs = x + first * C;
      // Accumulators in backward's chunk sums (free during forward).
      double* s = chunk_sums_.data() + k * 2 * C;
      double* d = s + C;
      kern.bn_moments(xs, rows, C, s, d);
      for (int64_t c = 0; c < C; ++c) chunk_moments_[k * C + c] = Moments{static_cast<double>(rows), s[c], d[c]};
    }
  }, kChunkRows * C);
  std::fill(moments_.begin(), moments_.end(), Moments{});
  for (int64_t k = 0; k < chunks(m); ++k)
    for (int64_t c = 0; c < C; ++c) merge_moments(moments_[c], chunk_moments_[k * C + c]);
  if (comm_) {
    ScopedTraceEvent event(forward_label_.c_str(), TraceCategory::kCollective);
    comm_->allreduce_moments(moments_.data(), C, forward_label_.c_str());
  }
  global_count_ = C > 0 ? moments_[0].count : 0;
  for (int64_t c = 0; c < C; ++c) mean_[c] = moments_[c].mean;
}

void BatchNormLayer::forward(const StepContext& ctx, const float* x, float* y, int64_t rows) {
  const int64_t C = channels_;
  const bool relu = relu_;
  const int64_t m = rows * (input_width() / C);  // values per channel on this rank
  const kernels::Table& k = kernels::table();
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
    const kernels::BatchNormRows bn{C, mean_.data(), inv_std_.data(), scale_.data(), shift_.data(),
                                    nullptr, nullptr, relu};
    parallel_ranges(m, 1, [&](int64_t begin, int64_t end) { k.bn_normalize(bn, x, y, begin, end); }, C);
  } else {
    // (x - mean) * scale + beta rather than TF's folded x * scale + shift:
    // folding cancels catastrophically for features like mean 1e4, std 1e-2.
    for (int64_t c = 0; c < C; ++c) {
      const float inv_std = 1.0f / std::sqrt(moving_var_[c] + options_.epsilon);
      scale_[c] = (gamma_ ? gamma_[c] : 1.0f) * inv_std;
      shift_[c] = beta_ ? beta_[c] : 0.0f;
    }
    const kernels::BatchNormRows bn{C, nullptr, nullptr, scale_.data(), shift_.data(), nullptr, nullptr, relu};
    const float* mean = moving_mean_;
    parallel_ranges(m, 1, [&](int64_t begin, int64_t end) {
      k.bn_normalize_inference(bn, mean, x, y, begin, end);
    }, C);
  }
}

// sum_dy = Σ dy, sum_dy_xhat = Σ dy·xhat over this rank's values, per chunk
// in double, chunks added in order.
void BatchNormLayer::gradient_sums(const float* x, const float* y, const float* dy, int64_t m) {
  const bool relu = relu_;
  const int64_t C = channels_;
  const kernels::BatchNormRows bn{C, mean_.data(), inv_std_.data(), nullptr, nullptr,
                                  nullptr, nullptr, relu, is_large(m, C)};
  const kernels::Table& kern = kernels::table();
  parallel_ranges(chunks(m), 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t first = k * kChunkRows, last = std::min(m, first + kChunkRows);
      double* sum_dy = chunk_sums_.data() + k * 2 * C;
      double* sum_dy_xhat = sum_dy + C;
      std::fill(sum_dy, sum_dy + 2 * C, 0.0);
      kern.bn_gradient_sums(bn, x, y, dy, first, last, sum_dy, sum_dy_xhat);
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
  if (comm_) {
    ScopedTraceEvent event(backward_label_.c_str(), TraceCategory::kCollective);
    comm_->allreduce_sum(grad_sums_.data(), grad_sums_.size(), backward_label_.c_str());
  }
  if (global_count_ <= 0) return;
  const double inv_m = 1.0 / global_count_;
  for (int64_t c = 0; c < C; ++c) {
    scale_[c] = (gamma_ ? gamma_[c] : 1.0f) * inv_std_[c];
    sum_dy[c] *= inv_m;
    sum_dy_xhat[c] *= inv_m;
  }
  const kernels::BatchNormRows bn{C, mean_.data(), inv_std_.data(), scale_.data(), nullptr,
                                  sum_dy, sum_dy_xhat, relu, is_large(m, C)};
  const kernels::Table& k = kernels::table();
  parallel_ranges(m, 1, [&](int64_t begin, int64_t end) { k.bn_input_gradient(bn, x, y, dy, dx, begin, end); }, C);
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
