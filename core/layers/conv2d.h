// Conv2D, channels-last: y[n, oh, ow, f] = activation(bias[f] +
//   Σ_{kh, kw, c} x[n, oh*sh - pad_top + kh*dh, ow*sw - pad_left + kw*dw, c] * kernel[kh, kw, c, f])
// with zeros outside the input (Keras' "same"; see window.h). The kernel is
// [kernel_h, kernel_w, in_channels, filters] as Keras stores it, so the
// product is one matrix multiplication per block of samples: the patches
// (im2col, one row per output position, (kh, kw, c) per row) times the
// kernel seen as a [kernel_h * kernel_w * in_channels, filters] matrix.
// Caches: the pre-activation (only when the activation is not linear) and
// one block of patches per thread; backward rebuilds each block's patches
// rather than keeping all of them (a 256-sample batch of the Fashion CNN's
// second layer would need 58 MB). Except when a patch row is no wider than
// an output row (few input channels: the first layer of an image model):
// then the whole batch's patches take no more memory than the layer's
// output, and backward reuses forward's (the Fashion CNN's first layer:
// 7.2 MB at batch 256 and about 4 ms per step fewer, bench/README.md).
#pragma once

#include <vector>

#include "core/layers/activation_functions.h"
#include "core/layers/layer.h"
#include "core/layers/window.h"

namespace lockstep {
namespace kernels {
struct ConvGeometry;
}

struct Conv2DOptions {
  int64_t filters = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  bool same_padding = false;
  ActivationFn activation;
  bool use_bias = true;
  std::string kernel_initializer = "glorot_uniform";
  std::string bias_initializer = "zeros";
};

class Conv2DLayer final : public Layer {
 public:
  Conv2DLayer(std::string name, Conv2DOptions options) : Layer(std::move(name)), options_(std::move(options)) {}
  const char* type_name() const override { return "Conv2D"; }

  void bind(ParameterStore& store) override;
  void reserve(int64_t max_rows) override;
  uint64_t scratch_bytes(int64_t max_rows) const override;
  void forward(const StepContext& ctx, const float* x, float* y, int64_t rows) override;
  void backward(const StepContext& ctx, const float* x, const float* y, const float* dy, float* dx,
                int64_t rows) override;
  ActivationKind output_activation() const override { return options_.activation.kind; }
  void fuse_output_activation() override { fused_output_ = true; }

  const Conv2DOptions& options() const { return options_; }
  const WindowAxis& rows_axis() const { return height_; }
  const WindowAxis& columns_axis() const { return width_; }
  // The matrix products of a batch of `rows` samples, as (m, n, k) of
  // cblas_sgemm, for benchmarks: forward, kernel gradient, patch gradient.
  int64_t patch_width() const { return options_.kernel_h * options_.kernel_w * in_channels_; }
  int64_t positions() const { return height_.output * width_.output; }
  // Samples per block of patches (fixed by the shapes only, so a result
  // does not depend on the batch size beyond rounding of the sums).
  int64_t block_samples() const { return block_samples_; }

 protected:
  Shape build_impl(const Shape& input_shape, ParameterStore& store) override;

 private:
  bool patches_are_input() const;  // 1x1 kernel, stride 1: the input rows are the patches
  bool keeps_patches() const;      // forward's patches of the whole batch stay for backward
  // Where block `first..` keeps its patches: in the batch's kept patches, or
  // in `room` (one block's scratch).
  float* block_patches(int64_t first, float* room) const;
  kernels::ConvGeometry geometry() const;  // for the im2col kernels
  void gather_patches(const float* x, int64_t first, int64_t count, float* patches, bool split) const;
  void scatter_patches(const float* dpatches, int64_t first, int64_t count, float* dx, bool split) const;
  int64_t blocks(int64_t rows) const;
  int parts_for(int64_t rows) const;  // threads that take blocks of their own
  void forward_blocks(const float* x, float* z, int64_t rows, int64_t begin, int64_t end, float* patches,
                      bool alone) const;
  void backward_blocks(const float* x, const float* dz, float* dx, int64_t rows, int64_t begin, int64_t end,
                       float* patches, float* dpatches, float* dkernel, bool alone) const;

  Conv2DOptions options_;
  WindowAxis height_, width_;
  int64_t in_channels_ = 0;
  int64_t block_samples_ = 1;
  int kernel_id_ = -1, bias_id_ = -1;
  float *kernel_ = nullptr, *bias_ = nullptr, *dkernel_ = nullptr, *dbias_ = nullptr;
  std::vector<float> z_;         // pre-activation, [max_rows, positions, filters]
  std::vector<float> dz_;        // gradient wrt z, same shape
  int reserved_parts_ = 1;             // threads with scratch of their own
  std::vector<float> patches_;         // per part, one block: [block_samples * positions, patch_width];
                                       // or the whole batch's when keeps_patches()
  float* kept_patches_ = nullptr;      // patches_ when keeps_patches()
  std::vector<float> dpatches_;        // their gradients (per part, one block)
  std::vector<float> dkernel_parts_;   // per part (several only): its blocks' kernel gradient
  bool fused_output_ = false;
};

}  // namespace lockstep
