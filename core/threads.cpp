#include "core/threads.h"

#include <cblas.h>

namespace lockstep {
void set_compute_threads(int threads) { openblas_set_num_threads(threads < 1 ? 1 : threads); }
int compute_threads() { return openblas_get_num_threads(); }
}  // namespace lockstep
