// One thread pool per rank: OpenBLAS' own. lockstep's element-wise code is
// single-threaded, so nothing competes with it.
#pragma once

namespace lockstep {
void set_compute_threads(int threads);
int compute_threads();
}  // namespace lockstep
