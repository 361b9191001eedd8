#include "core/layers/conv2d.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "core/kernels/kernels.h"
#include "core/parallel.h"
#include "core/threads.h"

namespace lockstep {
namespace {
// Patches per block: about this many bytes, so a block stays in the caches
// between its gather and its product (measured with bench_train on the
// Fashion CNN; see bench/README.md).
constexpr int64_t kBlockBytes = int64_t{2} << 20;

// Rows of work on the pool's threads when `split`, else on this thread.
template <class F>
void rows_on_threads(bool split, int64_t count, int64_t row_size, F&& f) {
  if (split) parallel_ranges(count, 1, f, row_size);
  else if (count > 0) f(int64_t{0}, count);
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
  // Fan-in, fan-out and the patch width below are factors of this count.
  (void)checked_numel({o.kernel_h, o.kernel_w, in_channels_, o.filters}, "");
  const int64_t fan_in = o.kernel_h * o.kernel_w * in_channels_, fan_out = o.kernel_h * o.kernel_w * o.filters;
  kernel_id_ = store.declare(name() + "/kernel", {o.kernel_h, o.kernel_w, in_channels_, o.filters}, true,
                             {o.kernel_initializer, fan_in, fan_out});
  if (o.use_bias) bias_id_ = store.declare(name() + "/bias", {o.filters}, true, {o.bias_initializer, fan_in, fan_out});
  // Saturates: a sample's patches larger than 2^63 bytes make blocks of one
  // sample, and the memory plan refuses such a layer before it is reserved.
  int64_t patch_bytes = 0;
  if (__builtin_mul_overflow(positions(), patch_width(), &patch_bytes) ||
      __builtin_mul_overflow(patch_bytes, static_cast<int64_t>(sizeof(float)), &patch_bytes))
    patch_bytes = INT64_MAX;
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

// What reserve() below allocates: z and dz, a block of patches and their
// gradients per part, and a kernel gradient per part when there are several.
uint64_t Conv2DLayer::scratch_bytes(int64_t max_rows) const {
  const std::string& at = name();
  uint64_t bytes = 0;
  if (!options_.activation.is_linear()) bytes = mul_bytes(2, rows_bytes(max_rows, output_width(), sizeof(float), at), at);
  const uint64_t parts =
      static_cast<uint64_t>(std::max<int64_t>(1, std::min<int64_t>(parallel_parts_available(), blocks(max_rows))));
  if (!patches_are_input()) {
    const auto patches_of = [&](int64_t samples) {
      return rows_bytes(checked_mul(samples, positions(), at, "patch rows"), patch_width(), sizeof(float), at);
    };
    const uint64_t block = patches_of(std::min(block_samples_, max_rows));
    bytes = add_bytes(bytes, mul_bytes(parts, block, at), at);  // dpatches
    bytes = add_bytes(bytes, keeps_patches() ? patches_of(max_rows) : mul_bytes(parts, block, at), at);
  }
  if (parts > 1)
    bytes = add_bytes(bytes, mul_bytes(parts, rows_bytes(patch_width(), options_.filters, sizeof(float), at), at), at);
  return bytes;
}

// Scratch for as many parts as the pool has threads now (and blocks).
void Conv2DLayer::reserve(int64_t max_rows) {
  if (!options_.activation.is_linear()) {
    z_.assign(static_cast<size_t>(max_rows * output_width()), 0.0f);
    dz_.assign(z_.size(), 0.0f);
  }
  reserved_parts_ = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(parallel_parts_available(), blocks(max_rows))));
  if (!patches_are_input()) {
    const int64_t block = std::min(block_samples_, max_rows);
    dpatches_.assign(static_cast<size_t>(reserved_parts_ * block * positions() * patch_width()), 0.0f);
    patches_.assign(keeps_patches() ? static_cast<size_t>(max_rows * positions() * patch_width()) : dpatches_.size(),
                    0.0f);
    if (keeps_patches()) kept_patches_ = patches_.data();
  }
  if (reserved_parts_ > 1) dkernel_parts_.assign(static_cast<size_t>(reserved_parts_ * patch_width() * options_.filters), 0.0f);
}

bool Conv2DLayer::patches_are_input() const {
  return options_.kernel_h == 1 && options_.kernel_w == 1 && options_.stride_h == 1 && options_.stride_w == 1;
}

bool Conv2DLayer::keeps_patches() const { return !patches_are_input() && patch_width() <= options_.filters; }

float* Conv2DLayer::block_patches(int64_t first, float* room) const {
  return kept_patches_ ? kept_patches_ + first * positions() * patch_width() : room;
}

kernels::ConvGeometry Conv2DLayer::geometry() const {
  kernels::ConvGeometry g;
  g.height = height_, g.width = width_;
  g.in_channels = in_channels_, g.kernel_h = options_.kernel_h, g.kernel_w = options_.kernel_w;
  return g;
}

// patches[(n, oh, ow), (kh, kw, c)] = x[n, ih, iw, c] or 0 outside the input
// (the loop: core/kernels/variant.inc, one copy per ISA path).
void Conv2DLayer::gather_patches(const float* x, int64_t first, int64_t count, float* patches, bool split) const {
  const kernels::ConvGeometry g = geometry();
  const kernels::Table& k = kernels::table();
  rows_on_threads(split, count * height_.output, width_.output * patch_width(), [&](int64_t begin, int64_t end) {
    k.conv_gather(g, x, first, patches, begin, end);
  });
}

// The adjoint of gather_patches: every patch value is added back to the
// input cell it came from. Split over samples (each thread owns its samples'
// dx), and within a sample in the fixed order of the positions.
void Conv2DLayer::scatter_patches(const float* dpatches, int64_t first, int64_t count, float* dx, bool split) const {
  const kernels::ConvGeometry g = geometry();
  const kernels::Table& k = kernels::table();
  rows_on_threads(split, count, positions() * patch_width(), [&](int64_t begin, int64_t end) {
    k.conv_scatter(g, dpatches, first, dx, begin, end);
  });
}

int64_t Conv2DLayer::blocks(int64_t rows) const { return (rows + block_samples_ - 1) / block_samples_; }

int Conv2DLayer::parts_for(int64_t rows) const {
  return static_cast<int>(std::min<int64_t>({parallel_parts_available(), reserved_parts_, blocks(rows)}));
}

// Blocks [begin, end) of samples: patches (into `patches`, one block's room),
// then z = patches·K (+ b). `alone`: this call has the pool to itself, so
// the gather and the product use every thread; otherwise it runs on the
// calling thread, beside other parts.
void Conv2DLayer::forward_blocks(const float* x, float* z, int64_t rows, int64_t begin, int64_t end, float* patches,
                                 bool alone) const {
  const int64_t F = options_.filters, P = patch_width(), positions_per_sample = positions();
  for (int64_t b = begin; b < end; ++b) {
    const int64_t first = b * block_samples_, count = std::min(block_samples_, rows - first);
    const int64_t m = count * positions_per_sample;
    float* zb = z + first * positions_per_sample * F;
    const float* a = x + first * positions_per_sample * P;  // 1x1: the input rows are the patches
    if (!patches_are_input()) {
      float* block = block_patches(first, patches);
      gather_patches(x, first, count, block, alone);
      a = block;
    }
    float beta = 0.0f;
    if (bias_) {  // start from the bias so the product accumulates onto it
      for (int64_t r = 0; r < m; ++r) std::memcpy(zb + r * F, bias_, sizeof(float) * F);
      beta = 1.0f;
    }
    if (alone) threads_for_product(m, F, P);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, F, P, 1.0f, a, P, kernel_, F, beta, zb, F);
  }
}

// On several threads each takes a contiguous run of blocks with its own
// patch buffer: one single-threaded product per block beats one threaded
// product of a block's small shapes (see bench/README.md). Every block is
// computed the same way either way, so the output does not depend on it.
void Conv2DLayer::forward(const StepContext&, const float* x, float* y, int64_t rows) {
  if (rows == 0) return;
  float* z = options_.activation.is_linear() ? y : z_.data();
  const int parts = parts_for(rows);
  const size_t room = dpatches_.size() / static_cast<size_t>(std::max(1, reserved_parts_));
  if (parts <= 1) {
    forward_blocks(x, z, rows, 0, blocks(rows), patches_.data(), true);
  } else {
    parallel_parts(blocks(rows), parts, [&](int part, int64_t begin, int64_t end) {
      forward_blocks(x, z, rows, begin, end, patches_.data() + part * room, false);
    });
  }
  if (!options_.activation.is_linear())
    activation_forward(options_.activation, z, y, rows * positions(), options_.filters);
}

// Blocks [begin, end): dK_target += patchesᵀ·dz and, with dx, dpatches =
// dz·Kᵀ scattered back onto the input cells.
void Conv2DLayer::backward_blocks(const float* x, const float* dz, float* dx, int64_t rows, int64_t begin,
                                  int64_t end, float* patches, float* dpatches, float* dkernel, bool alone) const {
  const int64_t F = options_.filters, P = patch_width(), positions_per_sample = positions();
  for (int64_t b = begin; b < end; ++b) {
    const int64_t first = b * block_samples_, count = std::min(block_samples_, rows - first);
    const int64_t m = count * positions_per_sample;
    const float* dzb = dz + first * positions_per_sample * F;
    const float* a = x + first * positions_per_sample * P;
    if (kept_patches_) {
      a = block_patches(first, patches);  // forward's
    } else if (!patches_are_input()) {
      gather_patches(x, first, count, patches, alone);
      a = patches;
    }
    if (alone) threads_for_product(P, F, m);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, F, m, 1.0f, a, P, dzb, F, 1.0f, dkernel, F);
    if (!dx) continue;
    // 1x1: the patch gradient is dx itself.
    float* dp = patches_are_input() ? dx + first * positions_per_sample * P : dpatches;
    if (alone) threads_for_product(m, P, F);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, P, F, 1.0f, dzb, F, kernel_, F, 0.0f, dp, P);
    if (!patches_are_input()) scatter_patches(dp, first, count, dx, alone);
  }
}

// With z = patches·K + b per output position:
//   dK += patchesᵀ·dz,  db += Σ dz over samples and positions,
//   dpatches = dz·Kᵀ, scattered back onto the input cells (dx).
// On several threads each part sums its blocks' dK apart; the parts are
// then added in order (so, like a threaded product, another thread count
// may change the last bits of dK).
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
  const kernels::Table& k = kernels::table();
  if (dbias_) k.add_rows_into(dbias_, dz, rows * positions_per_sample, F);
  const int parts = parts_for(rows);
  if (parts <= 1) {
    backward_blocks(x, dz, dx, rows, 0, blocks(rows), patches_.data(), dpatches_.data(), dkernel_, true);
    return;
  }
  const size_t room = dpatches_.size() / static_cast<size_t>(reserved_parts_);
  const size_t kernel_size = static_cast<size_t>(P * F);
  parallel_parts(blocks(rows), parts, [&](int part, int64_t begin, int64_t end) {
    float* partial = dkernel_parts_.data() + part * kernel_size;
    std::fill(partial, partial + kernel_size, 0.0f);
    backward_blocks(x, dz, dx, rows, begin, end, patches_.data() + part * room, dpatches_.data() + part * room,
                    partial, false);
  });
  for (int part = 0; part < parts; ++part)
    k.add_into(dkernel_, dkernel_parts_.data() + part * kernel_size, kernel_size);
}

}  // namespace lockstep
