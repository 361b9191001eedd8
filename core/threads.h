// One thread pool per rank. Built with OpenMP (the default, CMakeLists.txt),
// it is the libgomp team that OpenBLAS' OpenMP build runs products on and
// that the optimizer step and gradient zeroing are split over
// (core/parallel.h); otherwise it is OpenBLAS' own and everything else runs
// on the calling thread. Either way nothing competes with it.
#pragma once

#include <cstdint>
#include <string>

namespace lockstep {
// The rank's compute threads: what large matrix products use.
void set_compute_threads(int threads);
int compute_threads();

// Products below this many multiply-adds (m*n*k) run on one thread: waking
// OpenBLAS' workers costs more than they save. Measured with bench_train at 2
// threads on the development VM: [256x64]x[64x64] 16 us on 1 thread, 20 us on
// 2; [256x128]x[128x10] 8 us vs 19-32 us; [256x256]x[256x128] 125 us vs
// 90-110 us. (OpenBLAS' own cut-off, 262,144, threads all of these.)
constexpr int64_t kThreadedProductMinMultiplyAdds = int64_t{4} << 20;

// Sets OpenBLAS' thread count for the next product of m x k by k x n: all
// compute threads for a large one, one for a small one. The choice depends
// only on the shape and set_compute_threads(), so a run is repeatable for a
// given thread count. (Different thread counts can differ in the last bits:
// OpenBLAS blocks a threaded product differently from a single-threaded one.)
void threads_for_product(int64_t m, int64_t n, int64_t k);

// The thread count to run with when `requested` threads per rank were asked
// for (0: none) and `fair` fill this rank's share of the node's cores. With
// the OpenMP pool, whose idle threads spin while they wait, more than the
// fair share only slows every rank down (fashion_mlp, 2 ranks x 2 threads on
// 2 cores: 6.7 k instead of 193 k samples/s), so the count is capped at
// `fair` and `why` says so, unless OMP_WAIT_POLICY=PASSIVE asks libgomp not
// to spin. Without OpenMP (OpenBLAS' pthreads yield), `requested` stands.
int threads_within_share(int requested, int fair, std::string* why);
}  // namespace lockstep
