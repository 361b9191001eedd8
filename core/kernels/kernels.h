// The loops lockstep writes itself, built once per instruction-set path
// (core/isa.h) and called through one table of function pointers chosen at
// start-up.
//
// Why a table and per-file flags rather than GCC's target_clones:
//  - target_clones resolves through an ifunc from the CPU alone, so
//    LOCKSTEP_ISA could not force a path, and nothing could report it;
//  - a target attribute covers one function: lambdas, OpenMP regions and
//    Eigen's packet code inside it stay at the default target (Eigen picks
//    its packet width from __AVX2__/__AVX512F__, which only a whole file's
//    -march sets). Whole files compiled with -march=x86-64-v3/-v4 vectorise
//    all of it.
// The cost is one indirect call per kernel call, and a kernel call covers a
// row range or a whole tensor (thousands of values): nothing measurable
// (bench/README.md, "Portable binaries").
//
// Kernels are pure loops on pointers: threading stays with the callers
// (parallel_ranges), so every path splits work identically.
//
// Bits: the variant files are compiled with -ffp-contract=off, so the
// optimizers, BatchNormalization, pooling, im2col, dropout and the
// gradient sums give the same bits on every path (IEEE add, multiply,
// divide and sqrt are exact whatever the vector width), and replicas on
// nodes of different CPU generations stay identical. Only tanh, sigmoid,
// elu (Eigen's polynomials use FMA instructions where the path has them)
// and gelu/softmax (libm, which has its own FMA variants) may differ in the
// last bit between paths.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/isa.h"
#include "core/layers/activation_functions.h"
#include "core/layers/window.h"

namespace lockstep {
namespace kernels {

// Pooling windows over [H, W, C] samples (H, W in the axes).
struct PoolGeometry {
  WindowAxis height, width;
  int64_t channels = 0;
};

// Conv2D's im2col: patch rows of kernel_h * kernel_w * in_channels values.
struct ConvGeometry {
  WindowAxis height, width;
  int64_t in_channels = 0, kernel_h = 1, kernel_w = 1;
  int64_t patch_width() const { return kernel_h * kernel_w * in_channels; }
};

struct AdamCoefficients {
  float alpha, one_minus_beta_1, one_minus_beta_2, epsilon, decay;
};

struct RmsPropCoefficients {
  float lr, rho, one_minus_rho, momentum, epsilon;
};

// BatchNormalization's per-channel vectors for rows of C values: training
// uses mean (double), inv_std, scale (gamma or gamma * inv_std) and shift.
struct BatchNormRows {
  int64_t C;
  const double* mean;
  const float* inv_std;
  const float* scale;
  const float* shift;
  const double* mean_dy;       // input gradient: Σ_g dy / M
  const double* mean_dy_xhat;  // and Σ_g dy·xhat / M
  bool relu;                   // a following relu runs in the same pass
  // The tensor is too large for the caches (BatchNormLayer decides): the
  // backward loops then run on 256-bit vectors where the path has 512-bit
  // ones (variant.inc says why). Same operations, same bits.
  bool large = false;
};

struct Table {
  // core/layers/activation_functions.cpp: y = f(z), dz = f'(z)·dy over rows x cols.
  void (*activation_forward)(const ActivationFn& f, const float* z, float* y, int64_t rows, int64_t cols);
  void (*activation_backward)(const ActivationFn& f, const float* z, const float* y, const float* dy, float* dz,
                              int64_t rows, int64_t cols);

  // core/layers/batch_norm.cpp, rows [first, last) of x (C values each).
  // Per channel: mean and M2 (squared deviations from it), two passes in double.
  void (*bn_moments)(const float* x, int64_t rows, int64_t C, double* mean, double* m2);
  // y = f(scale · xhat + shift) with the batch's mean and inv_std.
  void (*bn_normalize)(const BatchNormRows& bn, const float* x, float* y, int64_t first, int64_t last);
  // y = f((x − mean) · scale + shift) with float moving statistics (mean as floats in `moving_mean`).
  void (*bn_normalize_inference)(const BatchNormRows& bn, const float* moving_mean, const float* x, float* y,
                                 int64_t first, int64_t last);
  // sum_dy += Σ dy, sum_dy_xhat += Σ dy·xhat (dy through the relu).
  void (*bn_gradient_sums)(const BatchNormRows& bn, const float* x, const float* y, const float* dy, int64_t first,
                           int64_t last, double* sum_dy, double* sum_dy_xhat);
  // dx = scale · (dy − mean_dy − xhat · mean_dy_xhat).
  void (*bn_input_gradient)(const BatchNormRows& bn, const float* x, const float* y, const float* dy, float* dx,
                            int64_t first, int64_t last);

  // core/layers/conv2d.cpp: patch rows [begin, end) (row = sample n, output
  // row oh) of samples first + n; the adjoint adds samples [begin, end)'s
  // patch values back onto dx (zeroed first).
  void (*conv_gather)(const ConvGeometry& g, const float* x, int64_t first, float* patches, int64_t begin,
                      int64_t end);
  void (*conv_scatter)(const ConvGeometry& g, const float* dpatches, int64_t first, float* dx, int64_t begin,
                       int64_t end);

  // core/layers/max_pooling2d.cpp, average_pooling2d.cpp: output rows
  // [begin, end) (row = sample, output row); backward per sample.
  void (*max_pool_forward)(const PoolGeometry& g, const float* x, float* y, int32_t* argmax, int64_t begin,
                           int64_t end);
  void (*max_pool_backward_tiled)(const PoolGeometry& g, const int32_t* where, const float* dy, float* dx);
  void (*average_pool_forward)(const PoolGeometry& g, const float* x, float* y, int64_t begin, int64_t end);
  void (*average_pool_backward)(const PoolGeometry& g, const float* dy, float* dx, int64_t begin, int64_t end);

  // core/layers/dropout.cpp: masks keyed by (key, batch_offset + row, unit).
  void (*dropout_forward)(uint64_t key, int64_t batch_offset, uint64_t threshold, float kept_scale, const float* x,
                          float* y, float* multiplier, int64_t rows, int64_t width);

  // core/optim/*.cpp: one pass over `count` parameters.
  void (*adam)(float* p, const float* g, float* m, float* v, size_t count, const AdamCoefficients& c, bool decay);
  void (*sgd)(float* p, const float* g, size_t count, float lr);
  void (*sgd_momentum)(float* p, const float* g, float* velocity, size_t count, float lr, float mu, bool nesterov);
  void (*rmsprop)(float* p, const float* g, float* v, float* mg, float* mom, size_t count,
                  const RmsPropCoefficients& c);  // mg, mom: nullptr when not centered / no momentum

  // Element-wise: out = a · b; out = a + b; sum += a; (distributed/shm_allreduce.cpp, dropout, Conv2D).
  void (*multiply)(const float* a, const float* b, float* out, size_t n);
  void (*add)(const float* a, const float* b, float* out, size_t n);
  void (*add_into)(float* sum, const float* a, size_t n);
  void (*add_twice)(const float* a, const float* b, float* out, float* out2, size_t n);  // out = out2 = a + b
  // sum[c] += Σ_r a[r·cols + c], rows in order (bias gradients).
  void (*add_rows_into)(float* sum, const float* a, int64_t rows, int64_t cols);
};

// The table of active_isa() (core/isa.h), chosen at the first call; throws
// as active_isa() does for a bad LOCKSTEP_ISA (call it outside parallel
// regions the first time: programs call active_isa() at start-up).
const Table& table();

// Each path's table, for tests that compare paths; nullptr where this build
// has no such path. (kNative: the one table of a -DLOCKSTEP_NATIVE=ON build.)
const Table* table_for(Isa isa);

}  // namespace kernels
}  // namespace lockstep
