#include "core/layers/conv2d.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "core/parallel.h"
#include "core/threads.h"

namespace lockstep {
namespace {
// Patches per block: about this many bytes, so a block stays in the caches
// between its gather and its product (measured with bench_train on the
// Fashion CNN; see bench/README.md).
constexpr int64_t kBlockBytes = int64_t{2} << 20;

// Runs are short (3 floats for a 3x3 kernel on one channel): an inlined
// loop, which GCC would otherwise turn back into a memcpy call per run.
__attribute__((optimize("no-tree-loop-distribute-patterns"))) inline void copy_run(const float* __restrict src,
                                                                                   int64_t n, float* __restrict dst) {
  if (n >= 64) {
    std::memcpy(dst, src, sizeof(float) * n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}
}  // namespace

Shape Conv2DLayer::build_impl(const Shape& input_shape, ParameterStore& store) {
  if (input_shape.size() != 3)
    throw_input_error("", "Conv2D expects [height, width, channels] per sample, got " + shape_string(input_shape) +
                              (input_shape.size() == 1 ? " (set input_shape: [H, W, C] for images)" : ""));
  const Conv2DOptions& o = options_;
  try {
    height_ = window_axis("height", input_shape[0], o.kernel_h, o.stride_h, o.dilation_h, o.same_padding);
    width_ = window_axis("width", input_shape[1], o.kernel_w, o.stride_w, o.dilation_w, o.same_padding);
  } catch (const Error& e) {
    throw_input_error("", "input " + shape_string(input_shape) + ": " + e.message());
  }
  in_channels_ = input_shape[2];
  const int64_t fan_in = o.kernel_h * o.kernel_w * in_channels_, fan_out = o.kernel_h * o.kernel_w * o.filters;
  kernel_id_ = store.declare(name() + "/kernel", {o.kernel_h, o.kernel_w, in_channels_, o.filters}, true,
                             {o.kernel_initializer, fan_in, fan_out});
  if (o.use_bias) bias_id_ = store.declare(name() + "/bias", {o.filters}, true, {o.bias_initializer, fan_in, fan_out});
  const int64_t patch_bytes = positions() * patch_width() * static_cast<int64_t>(sizeof(float));
  block_samples_ = std::max<int64_t>(1, kBlockBytes / std::max<int64_t>(1, patch_bytes));
  return {height_.output, width_.output, o.filters};
}

void Conv2DLayer::bind(ParameterStore& store) {
  kernel_ = store.value(kernel_id_);
  dkernel_ = store.grad(kernel_id_);
  if (bias_id_ >= 0) {
    bias_ = store.value(bias_id_);
    dbias_ = store.grad(bias_id_);
  }
}

void Conv2DLayer::reserve(int64_t max_rows) {
  if (!options_.activation.is_linear()) {
    z_.assign(static_cast<size_t>(max_rows * output_width()), 0.0f);
    dz_.assign(z_.size(), 0.0f);
  }
  if (!patches_are_input()) {
    const int64_t block = std::min(block_samples_, max_rows);
    patches_.assign(static_cast<size_t>(block * positions() * patch_width()), 0.0f);
    dpatches_.assign(patches_.size(), 0.0f);
  }
}

bool Conv2DLayer::patches_are_input() const {
  return options_.kernel_h == 1 && options_.kernel_w == 1 && options_.stride_h == 1 && options_.stride_w == 1;
}

// patches[(n, oh, ow), (kh, kw, c)] = x[n, ih, iw, c] or 0 outside the input.
// With channels last and no dilation along the width, the KW * C values of
// one kernel row are one contiguous run of the input row.
void Conv2DLayer::gather_patches(const float* x, int64_t first, int64_t count, float* patches) const {
  const int64_t H = height_.input, W = width_.input, C = in_channels_;
  const int64_t KH = options_.kernel_h, KW = options_.kernel_w, P = patch_width();
  const int64_t OH = height_.output, OW = width_.output;
  const bool runs = width_.dilation == 1;
  parallel_ranges(count * OH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {  // row = (sample, oh)
      const int64_t n = row / OH, oh = row % OH;
      const float* sample = x + (first + n) * H * W * C;
      float* out = patches + row * OW * P;
      for (int64_t ow = 0; ow < OW; ++ow, out += P) {
        const int64_t iw0 = width_.start(ow);
        // Kernel columns [kw0, kw1) fall inside the input (with runs).
        const int64_t kw0 = std::max<int64_t>(0, -iw0), kw1 = std::min(KW, W - iw0);
        for (int64_t kh = 0; kh < KH; ++kh) {
          const int64_t ih = height_.start(oh) + kh * height_.dilation;
          float* dst = out + kh * KW * C;
          if (ih < 0 || ih >= H) {
            std::fill(dst, dst + KW * C, 0.0f);
          } else if (runs) {
            const float* src = sample + ih * W * C;
            std::fill(dst, dst + kw0 * C, 0.0f);
            copy_run(src + (iw0 + kw0) * C, (kw1 - kw0) * C, dst + kw0 * C);
            std::fill(dst + kw1 * C, dst + KW * C, 0.0f);
          } else {
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t iw = iw0 + kw * width_.dilation;
              if (iw < 0 || iw >= W) std::fill(dst + kw * C, dst + (kw + 1) * C, 0.0f);
              else copy_run(sample + (ih * W + iw) * C, C, dst + kw * C);
            }
          }
        }
      }
    }
  }, OW * P);
}

// The adjoint of gather_patches: every patch value is added back to the
// input cell it came from. Split over samples (each thread owns its samples'
// dx), and within a sample in the fixed order of the positions.
void Conv2DLayer::scatter_patches(const float* dpatches, int64_t first, int64_t count, float* dx) const {
  const int64_t H = height_.input, W = width_.input, C = in_channels_;
  const int64_t KH = options_.kernel_h, KW = options_.kernel_w, P = patch_width();
  const int64_t OH = height_.output, OW = width_.output;
  parallel_ranges(count, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* sample = dx + (first + n) * H * W * C;
      std::fill(sample, sample + H * W * C, 0.0f);
      const float* in = dpatches + n * OH * OW * P;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow, in += P)
          for (int64_t kh = 0; kh < KH; ++kh) {
            const int64_t ih = height_.start(oh) + kh * height_.dilation;
            if (ih < 0 || ih >= H) continue;
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t iw = width_.start(ow) + kw * width_.dilation;
              if (iw < 0 || iw >= W) continue;
              float* cell = sample + (ih * W + iw) * C;
              const float* src = in + (kh * KW + kw) * C;
              for (int64_t c = 0; c < C; ++c) cell[c] += src[c];
            }
          }
    }
  }, OH * OW * P);
}

void Conv2DLayer::forward(const StepContext&, const float* x, float* y, int64_t rows) {
  if (rows == 0) return;
  const int64_t F = options_.filters, P = patch_width(), positions_per_sample = positions();
  float* z = options_.activation.is_linear() ? y : z_.data();
  for (int64_t first = 0; first < rows; first += block_samples_) {
    const int64_t count = std::min(block_samples_, rows - first);
    const int64_t m = count * positions_per_sample;
    float* zb = z + first * positions_per_sample * F;
    const float* patches = x + first * positions_per_sample * P;  // 1x1: the input rows
    if (!patches_are_input()) {
      gather_patches(x, first, count, patches_.data());
      patches = patches_.data();
    }
    float beta = 0.0f;
    if (bias_) {  // start from the bias so the product accumulates onto it
      for (int64_t r = 0; r < m; ++r) std::memcpy(zb + r * F, bias_, sizeof(float) * F);
      beta = 1.0f;
    }
    threads_for_product(m, F, P);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, F, P, 1.0f, patches, P, kernel_, F, beta, zb, F);
  }
  if (!options_.activation.is_linear()) activation_forward(options_.activation, z, y, rows * positions_per_sample, F);
}

// With z = patches·K + b per output position:
//   dK += patchesᵀ·dz,  db += Σ dz over samples and positions,
//   dpatches = dz·Kᵀ, scattered back onto the input cells (dx).
void Conv2DLayer::backward(const StepContext&, const float* x, const float* y, const float* dy, float* dx,
                           int64_t rows) {
  if (rows == 0) return;
  const int64_t F = options_.filters, P = patch_width(), positions_per_sample = positions();
  const float* dz = dy;
  if (!options_.activation.is_linear() && !fused_output_) {
    activation_backward(options_.activation, z_.data(), y, dy, dz_.data(), rows * positions_per_sample, F);
    dz = dz_.data();
  }
  // Rows in order: the bias gradient must not depend on the blocking.
  if (dbias_)
    for (int64_t r = 0; r < rows * positions_per_sample; ++r)
      for (int64_t f = 0; f < F; ++f) dbias_[f] += dz[r * F + f];
  for (int64_t first = 0; first < rows; first += block_samples_) {
    const int64_t count = std::min(block_samples_, rows - first);
    const int64_t m = count * positions_per_sample;
    const float* dzb = dz + first * positions_per_sample * F;
    const float* patches = x + first * positions_per_sample * P;
    if (!patches_are_input()) {
      gather_patches(x, first, count, patches_.data());
      patches = patches_.data();
    }
    threads_for_product(P, F, m);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, F, m, 1.0f, patches, P, dzb, F, 1.0f, dkernel_, F);
    if (!dx) continue;
    // 1x1: the patch gradient is dx itself.
    float* dpatches = patches_are_input() ? dx + first * positions_per_sample * P : dpatches_.data();
    threads_for_product(m, P, F);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, P, F, 1.0f, dzb, F, kernel_, F, 0.0f, dpatches, P);
    if (!patches_are_input()) scatter_patches(dpatches, first, count, dx);
  }
}

}  // namespace lockstep
