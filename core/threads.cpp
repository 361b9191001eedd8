#include "core/threads.h"

#include <cblas.h>

namespace lockstep {
namespace {
int configured_threads = 1;  // set_compute_threads()
int openblas_threads = 0;    // what OpenBLAS was last told; 0 = unknown
}  // namespace

void set_compute_threads(int threads) {
  configured_threads = threads < 1 ? 1 : threads;
  openblas_set_num_threads(configured_threads);
  openblas_threads = configured_threads;
}

int compute_threads() { return configured_threads; }

void threads_for_product(int64_t m, int64_t n, int64_t k) {
  const int want = m * n * k >= kThreadedProductMinMultiplyAdds ? configured_threads : 1;
  if (want != openblas_threads) {
    openblas_set_num_threads(want);
    openblas_threads = want;
  }
}
}  // namespace lockstep
