// parallel_ranges: the split of element-wise work over the compute threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/parallel.h"
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

}  // namespace
}  // namespace lockstep
