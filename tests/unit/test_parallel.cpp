// parallel_ranges: the split of element-wise work over the compute threads,
// and the layers that use it give the same bits on any number of threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/keras.h"
#include "core/model.h"
#include "core/parallel.h"
#include "core/random.h"
#include "core/threads.h"

namespace lockstep {
namespace {

struct Calls {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  std::set<int> threads;
};

Calls split(int64_t count, int64_t align, int threads) {
  set_compute_threads(threads);
  Calls calls;
  std::mutex mutex;
  parallel_ranges(count, align, [&](int64_t begin, int64_t end) {
    std::lock_guard<std::mutex> lock(mutex);
    calls.ranges.emplace_back(begin, end);
#ifdef _OPENMP
    calls.threads.insert(omp_get_thread_num());
#endif
  });
  set_compute_threads(1);
  std::sort(calls.ranges.begin(), calls.ranges.end());
  return calls;
}

TEST(ParallelRanges, CoverTheCountOnceInAlignedPieces) {
  for (int threads : {1, 2, 3}) {
    for (int64_t count : {int64_t{1} << 20, (int64_t{1} << 20) + 45, int64_t{300} * 1024 + 7}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + " count " + std::to_string(count));
      const Calls calls = split(count, 64, threads);
      ASSERT_FALSE(calls.ranges.empty());
      int64_t next = 0;
      for (const auto& [begin, end] : calls.ranges) {
        EXPECT_EQ(begin, next);
        EXPECT_LT(begin, end);
        if (end != count) {
          EXPECT_EQ(end % 64, 0);
        }
        next = end;
      }
      EXPECT_EQ(next, count);
#ifdef _OPENMP
      // Built with OpenMP (the default where Debian's OpenMP OpenBLAS is
      // installed), large work really is spread over the threads.
      EXPECT_EQ(calls.ranges.size(), static_cast<size_t>(threads));
      EXPECT_EQ(calls.threads.size(), static_cast<size_t>(threads));
#endif
    }
  }
}

TEST(ParallelRanges, SmallWorkStaysOnTheCallingThread) {
  const Calls small = split(kParallelMinPerThread + 5, 16, 2);
  ASSERT_EQ(small.ranges.size(), 1u);
  EXPECT_EQ(small.ranges[0], std::make_pair(int64_t{0}, kParallelMinPerThread + 5));
  EXPECT_TRUE(split(0, 16, 2).ranges.empty());
}

TEST(ParallelRanges, ItemsOfWorkSplitByTheirSize) {
  // 40 image rows of 4 K values: worth two threads; 40 single values: not.
  const auto rows = [](int64_t item_size) {
    set_compute_threads(2);
    std::mutex mutex;
    std::vector<std::pair<int64_t, int64_t>> ranges;
    parallel_ranges(40, 1, [&](int64_t begin, int64_t end) {
      std::lock_guard<std::mutex> lock(mutex);
      ranges.emplace_back(begin, end);
    }, item_size);
    set_compute_threads(1);
    return ranges.size();
  };
#ifdef _OPENMP
  EXPECT_EQ(rows(4096), 2u);
#endif
  EXPECT_EQ(rows(1), 1u);
}

// One training-mode forward and backward of a layer without matrix products
// (OpenBLAS blocks a threaded product differently, so those may differ in
// the last bits) on `threads` threads: output and input gradient.
std::vector<float> layer_pass(const LayerSpec& layer, const Shape& sample, int threads) {
  ModelSpec spec;
  for (int64_t d : sample) spec.add_input_shape(static_cast<int>(d));
  *spec.add_layers() = layer;
  Model model(spec, 1);
  const int64_t rows = 64;
  model.reserve(rows);
  CounterRng rng(9);
  std::vector<float> x(static_cast<size_t>(rows * numel(sample)));
  for (float& v : x) v = static_cast<float>(3.0 + rng.next_normal());
  set_compute_threads(threads);
  StepContext ctx;
  ctx.training = true;
  const float* y = model.forward(ctx, x.data(), rows);
  std::vector<float> out(y, y + rows * model.output_width());
  std::vector<float> dy(out.size()), dx(x.size());
  for (float& v : dy) v = static_cast<float>(rng.next_normal());
  model.layer(0).backward(ctx, x.data(), y, dy.data(), dx.data(), rows);
  set_compute_threads(1);
  out.insert(out.end(), dx.begin(), dx.end());
  return out;
}

TEST(ParallelLayers, TwoThreadsGiveTheBitsOfOne) {
  const Shape image = {24, 24, 16};  // 64 x 9,216 values: split over threads
  const std::vector<std::pair<const char*, LayerSpec>> layers = {
      {"BatchNormalization", keras::BatchNormalization()},
      {"MaxPooling2D", keras::MaxPooling2D(3).strides(2).padding("same")},
      {"AveragePooling2D", keras::AveragePooling2D(2).padding("same")},
      {"Activation relu", keras::Activation("relu")},
      {"Activation tanh", keras::Activation("tanh")},
      {"Activation softmax", keras::Activation("softmax")},
  };
  for (const auto& [what, layer] : layers) {
    const std::vector<float> one = layer_pass(layer, image, 1), two = layer_pass(layer, image, 2);
    ASSERT_EQ(one.size(), two.size()) << what;
    size_t differ = 0;
    for (size_t i = 0; i < one.size(); ++i) differ += one[i] != two[i];
    EXPECT_EQ(differ, 0u) << what;
  }
}

// Conv2D on two threads: each takes blocks of samples of its own. Every
// block is computed as on one thread, so y and dx keep their bits; the
// kernel gradient sums the two halves apart, so it may differ in the last
// bits only. A build without OpenMP has no pool to split blocks over: there
// the products themselves run on OpenBLAS' two threads, whose partition of
// the matrix may change the last bits of y and dx too.
void expect_two_threads_split_blocks(const LayerSpec& conv, const Shape& image) {
  const auto run = [&](int threads, std::vector<float>* dkernel) {
    ModelSpec spec;
    for (int64_t d : image) spec.add_input_shape(static_cast<int>(d));
    *spec.add_layers() = conv;
    *spec.add_layers() = keras::Flatten();  // makes conv2d_1 compute dx
    set_compute_threads(threads);
    Model model(spec, 1);
    const int64_t rows = 64;
    model.reserve(rows);
    CounterRng rng(4);
    std::vector<float> x(static_cast<size_t>(rows * numel(image)));
    for (float& v : x) v = static_cast<float>(rng.next_normal());
    StepContext ctx;
    ctx.training = true;
    const float* y = model.forward(ctx, x.data(), rows);
    std::vector<float> out(y, y + rows * model.output_width()), dx(x.size());
    model.parameters().zero_grads();
    // Flatten's output holds conv2d_1's values; linear Conv2D ignores y.
    model.layer(0).backward(ctx, x.data(), y, out.data(), dx.data(), rows);
    ParameterStore& p = model.parameters();
    const int id = p.find("conv2d_1/kernel");
    dkernel->assign(p.grad(id), p.grad(id) + p.info(id).size);
    set_compute_threads(1);
    out.insert(out.end(), dx.begin(), dx.end());
    return out;
  };
  std::vector<float> dk1, dk2;
  const std::vector<float> one = run(1, &dk1), two = run(2, &dk2);
  set_compute_threads(2);
  const bool blocks_split = parallel_parts_available() > 1;
  set_compute_threads(1);
  if (blocks_split) {
    EXPECT_EQ(one, two);
  } else {
    ASSERT_EQ(one.size(), two.size());
    for (size_t i = 0; i < one.size(); ++i) EXPECT_NEAR(one[i], two[i], 1e-5 * (1 + std::fabs(one[i]))) << i;
  }
  ASSERT_EQ(dk1.size(), dk2.size());
  for (size_t i = 0; i < dk1.size(); ++i) EXPECT_NEAR(dk1[i], dk2[i], 1e-5 * (1 + std::fabs(dk1[i]))) << i;
}

TEST(ParallelLayers, Conv2DOnTwoThreadsSplitsBlocks) {
  // 110 KB of patches per sample: several blocks in 64 samples.
  expect_two_threads_split_blocks(keras::Conv2D(8, 3).padding("same"), {32, 32, 3});
  // Patch rows (9 values) no wider than the filters (16): the batch's
  // patches are kept for backward, each part writing its own blocks.
  expect_two_threads_split_blocks(keras::Conv2D(16, 3).padding("same"), {32, 32, 1});
}

}  // namespace
}  // namespace lockstep
