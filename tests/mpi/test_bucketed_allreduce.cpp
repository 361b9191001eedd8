// BucketedAllreduce gives the same gradients as one plain all-reduce, for
// buckets smaller than, equal to and larger than the arena, ready() ranges
// that ignore bucket boundaries, overlap on and off; and ready()/finish()
// allocate nothing (alloc_counter.cpp counts every operator new).
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "distributed/bucketed_allreduce.h"

namespace lockstep {
Communicator& test_world();     // mpi_test_main.cpp
long test_allocation_count();   // alloc_counter.cpp

namespace {

constexpr size_t kCount = 1237;  // odd, so buckets rarely divide it

// Multiples of 1/4 with small numerators: every summation order is exact, so
// bucketed and plain all-reduce must agree bit for bit.
float gradient(int rank, size_t i, int step) {
  return 0.25f * static_cast<float>((rank + 1) * ((i * 7 + step) % 13 + 1));
}

enum class Pattern { kIrregular, kWholeArena, kNone, kIrregularWithGaps, kPerElement };

// Reports gradients from the end of the arena towards its start, in chunks
// whose sizes have nothing to do with the bucket size.
void report(GradientSync& sync, Pattern pattern) {
  static const size_t kSizes[] = {1, 37, 250, 3, 101, 64, 9};
  switch (pattern) {
    case Pattern::kNone:
      return;
    case Pattern::kWholeArena:
      sync.ready(0, kCount);
      return;
    case Pattern::kPerElement:
      for (size_t e = kCount; e > 0; --e) sync.ready(e - 1, e);
      return;
    case Pattern::kIrregular:
    case Pattern::kIrregularWithGaps: {
      size_t k = 0;
      for (size_t end = kCount; end > 0; ++k) {
        const size_t begin = end > kSizes[k % 7] ? end - kSizes[k % 7] : 0;
        // Gaps: a layer without gradients, or one that reports nothing;
        // finish() still reduces those elements.
        if (pattern == Pattern::kIrregular || k % 3 != 1) sync.ready(begin, end);
        end = begin;
      }
      return;
    }
  }
}

using Params = std::tuple<size_t /*bucket bytes*/, bool /*overlap*/, Pattern>;

class BucketedAllreduceTest : public ::testing::TestWithParam<Params> {};

// "400_bytes_overlap_gaps"
std::string param_name(const ::testing::TestParamInfo<Params>& info) {
  static const char* const kPatterns[] = {"irregular", "whole", "none", "gaps", "per_element"};
  const auto [bytes, overlap, pattern] = info.param;
  return std::to_string(bytes) + "_bytes_" + (overlap ? "overlap_" : "no_overlap_") +
         kPatterns[static_cast<int>(pattern)];
}

TEST_P(BucketedAllreduceTest, EqualsPlainAllreduce) {
  const auto [bucket_bytes, overlap, pattern] = GetParam();
  Communicator& world = test_world();
  std::vector<float> grads(kCount), expected(kCount);
  BucketedAllreduce sync(world, bucket_bytes, overlap);
  sync.attach(grads.data(), grads.size());
  const size_t elems = std::max<size_t>(1, bucket_bytes / sizeof(float));
  EXPECT_EQ(sync.bucket_count(), (kCount + elems - 1) / elems);

  for (int step = 0; step < 3; ++step) {  // state must reset between steps
    for (size_t i = 0; i < kCount; ++i) grads[i] = expected[i] = gradient(world.rank(), i, step);
    world.allreduce_sum(expected.data(), expected.size());
    report(sync, pattern);
    sync.finish();
    for (size_t i = 0; i < kCount; ++i) ASSERT_EQ(grads[i], expected[i]) << "step " << step << " element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Buckets, BucketedAllreduceTest,
    ::testing::Combine(::testing::Values(size_t{4},            // one float per bucket
                                         size_t{6},            // rounds down to one float
                                         size_t{40},           // 124 buckets: more than in flight
                                         size_t{400},          // smaller than the arena
                                         size_t{4000},         // 1000 + a short last bucket
                                         size_t{4 * kCount},   // exactly the arena
                                         size_t{12 * kCount},  // larger than the arena
                                         BucketedAllreduce::kDefaultBucketBytes),
                       ::testing::Bool(),
                       ::testing::Values(Pattern::kIrregular, Pattern::kWholeArena, Pattern::kNone,
                                         Pattern::kIrregularWithGaps, Pattern::kPerElement)),
    param_name);

TEST(BucketedAllreduce, StepAllocatesNothing) {
  Communicator& world = test_world();
  for (bool overlap : {true, false}) {
    std::vector<float> grads(kCount);
    BucketedAllreduce sync(world, 400, overlap);
    sync.attach(grads.data(), grads.size());
    long allocations[3] = {0, 0, 0};
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < kCount; ++i) grads[i] = gradient(world.rank(), i, step);
      const long before = test_allocation_count();
      report(sync, Pattern::kIrregular);
      sync.finish();
      allocations[step] = test_allocation_count() - before;
    }
    for (int step = 0; step < 3; ++step) EXPECT_EQ(allocations[step], 0) << "overlap " << overlap << " step " << step;
    EXPECT_EQ(grads[5], 0.25f * ((5 * 7 + 2) % 13 + 1) * world.size() * (world.size() + 1) / 2);
  }
}

TEST(BucketedAllreduce, OneRankMpiCommunicatorLeavesGradientsAlone) {
  auto self = test_world().split(test_world().rank(), 0);
  std::vector<float> grads(kCount, 1.5f);
  BucketedAllreduce sync(*self, 400, true);
  sync.attach(grads.data(), grads.size());
  report(sync, Pattern::kIrregular);
  sync.finish();
  for (float g : grads) ASSERT_EQ(g, 1.5f);
}

}  // namespace
}  // namespace lockstep
