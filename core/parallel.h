// Element-wise work split over the rank's compute threads. With OpenMP, the
// threads are the same libgomp team that OpenBLAS (its OpenMP build) runs
// its products on, so there is one pool per rank and nothing spins against
// it; without OpenMP, or for small work, the range runs on the calling
// thread. The split is fixed by (count, thread count) and every element is
// computed by the same code either way, so results never depend on it.
#pragma once

#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/threads.h"

namespace lockstep {

// Below this many elements per thread, waking the team costs more than the
// split saves (a pass over 32 K floats takes a few microseconds).
constexpr int64_t kParallelMinPerThread = int64_t{1} << 15;

// Calls f(begin, end) on disjoint ranges that cover [0, count), one per
// thread; range boundaries are multiples of `align` (a vector block). Each
// of the `count` items is `item_size` elements of work (an image row, a
// sample), which decides whether splitting pays.
template <class F>
void parallel_ranges(int64_t count, int64_t align, F&& f, int64_t item_size = 1) {
  int threads = static_cast<int>(std::min<int64_t>(compute_threads(), count * item_size / kParallelMinPerThread));
  threads = static_cast<int>(std::min<int64_t>(threads, (count + align - 1) / align));
#ifdef _OPENMP
  if (threads > 1) {
    const int64_t blocks = (count + align - 1) / align;
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), n = omp_get_num_threads();
      const int64_t begin = std::min(count, blocks * t / n * align);
      const int64_t end = std::min(count, blocks * (t + 1) / n * align);
      if (begin < end) f(begin, end);
    }
    return;
  }
#endif
  (void)threads;
  if (count > 0) f(int64_t{0}, count);
}

// How many threads parallel_parts can use: the compute threads with OpenMP,
// else 1 (without OpenMP only OpenBLAS has threads).
inline int parallel_parts_available() {
#ifdef _OPENMP
  return compute_threads();
#else
  return 1;
#endif
}

// Calls f(part, begin, end) on up to `parts` contiguous, as-even-as-possible
// ranges of [0, count), each on its own thread of the pool, for coarse work
// whose pieces run single-threaded (OpenBLAS runs a product called inside a
// parallel region on the calling thread). part < parts indexes per-thread
// scratch.
template <class F>
void parallel_parts(int64_t count, int parts, F&& f) {
#ifdef _OPENMP
  if (parts > 1 && count > 1) {
#pragma omp parallel num_threads(parts)
    {
      const int t = omp_get_thread_num(), n = omp_get_num_threads();
      const int64_t begin = count * t / n, end = count * (t + 1) / n;
      if (begin < end) f(t, begin, end);
    }
    return;
  }
#endif
  (void)parts;
  if (count > 0) f(0, int64_t{0}, count);
}

}  // namespace lockstep
