// bench_bn_width: BatchNormalization's backward loops on this CPU's kernel
// path, at 512-bit and 256-bit vector width, from tensors that fit in the
// caches to tensors that stream from memory.
//
//   bench_bn_width [--repeats R]
//
// BatchNormLayer marks a rank's activations of 8 MB and more as large
// (core/layers/batch_norm.cpp); the avx512 path then runs a 256-bit copy of
// the gradient-sum and input-gradient loops (core/kernels/variant.inc). This
// program times both copies on the same data, so the threshold can be
// checked on another CPU: each row gives the median over R repeats of one
// pass over `values` rows of C channels (the gradient sums in chunks of
// 2,048 rows, as the layer calls them), with BatchNormRows::large false and
// true. On the baseline and avx2 paths both columns run the same code.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/isa.h"
#include "core/kernels/kernels.h"
#include "core/random.h"

namespace {

using lockstep::kernels::BatchNormRows;
using lockstep::kernels::Table;

template <class F>
double median_ms(int repeats, F&& f) {
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto a = std::chrono::steady_clock::now();
    f();
    const auto b = std::chrono::steady_clock::now();
    t.push_back(std::chrono::duration<double, std::milli>(b - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Case {
  int64_t values, channels, passes;  // passes per timed call: small tensors run several
};

struct Timing {
  double sums_ms, input_gradient_ms;
};

// Both loops over `values` x C, `passes` times; per pass.
Timing time_loops(const Table& k, const Case& c, bool large, int repeats) {
  const int64_t n = c.values * c.channels, C = c.channels;
  std::vector<float> x(n), y(n), dy(n), dx(n);
  lockstep::CounterRng rng(7);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(rng.next_normal());
    dy[i] = static_cast<float>(rng.next_normal());
    y[i] = x[i] > 0 ? x[i] : 0.0f;
  }
  std::vector<double> mean(C, 0.01), mean_dy(C, 0.02), mean_dy_xhat(C, -0.03), sums(2 * C);
  std::vector<float> inv_std(C, 1.1f), scale(C, 0.9f);
  const BatchNormRows bn{C, mean.data(), inv_std.data(), scale.data(), nullptr,
                         mean_dy.data(), mean_dy_xhat.data(), true, large};
  constexpr int64_t kChunkRows = 2048;  // as BatchNormLayer::gradient_sums
  Timing t;
  t.sums_ms = median_ms(repeats, [&] {
    for (int64_t p = 0; p < c.passes; ++p)
      for (int64_t first = 0; first < c.values; first += kChunkRows) {
        std::fill(sums.begin(), sums.end(), 0.0);
        k.bn_gradient_sums(bn, x.data(), y.data(), dy.data(), first, std::min(c.values, first + kChunkRows),
                           sums.data(), sums.data() + C);
      }
  }) / c.passes;
  t.input_gradient_ms = median_ms(repeats, [&] {
    for (int64_t p = 0; p < c.passes; ++p) k.bn_input_gradient(bn, x.data(), y.data(), dy.data(), dx.data(), 0, c.values);
  }) / c.passes;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 11;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--repeats" && i + 1 < argc) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "error: usage: bench_bn_width [--repeats R]\n");
      return 2;
    }
  }
  const Table& k = lockstep::kernels::table();
  std::printf("BatchNorm backward loops, kernel path %s; ms per pass, medians of %d; 'large' = the 256-bit copy\n",
              lockstep::isa_name(lockstep::active_isa()), repeats);
  std::printf("| rows x channels | MB per tensor | sums | sums, large | input gradient | input gradient, large |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  // From an MLP's activations to the Fashion CNN's (256 x 28 x 28 x 32 and
  // 256 x 14 x 14 x 64 values).
  const Case cases[] = {{256, 64, 400},   {256, 1024, 40}, {2048, 32, 200},  {32768, 32, 12},
                        {50176, 64, 4},   {100000, 32, 4}, {200704, 32, 2}};
  for (const Case& c : cases) {
    const Timing narrow = time_loops(k, c, false, repeats), wide = time_loops(k, c, true, repeats);
    std::printf("| %lld x %lld | %.2f | %.3f | %.3f | %.3f | %.3f |\n", static_cast<long long>(c.values),
                static_cast<long long>(c.channels), c.values * c.channels * 4e-6 / 1.048576, narrow.sums_ms,
                wide.sums_ms, narrow.input_gradient_ms, wide.input_gradient_ms);
  }
  return 0;
}
