#include "core/threads.h"

#include <cblas.h>

#include <cctype>
#include <cstdlib>

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

int threads_within_share(int requested, int fair, std::string* why) {
  fair = fair < 1 ? 1 : fair;
  if (requested <= 0) return fair;
  if (requested <= fair) return requested;
#ifdef _OPENMP
  std::string policy = std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "";
  for (char& c : policy) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (policy == "PASSIVE") return requested;
  if (why) {
    *why = "threads: " + std::to_string(requested) + " per rank is more than this rank's share of the node's cores (" +
           std::to_string(fair) + "); running " + std::to_string(fair) +
           ", since oversubscribed threads spin against each other (set OMP_WAIT_POLICY=PASSIVE to keep " +
           std::to_string(requested) + ")";
  }
  return fair;
#else
  (void)why;
  return requested;
#endif
}
}  // namespace lockstep
