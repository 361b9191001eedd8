// OpenBLAS kernel selection that survives OpenBLAS' CPU-detection gaps.
//
// Debian 12's OpenBLAS (0.3.21, DYNAMIC_ARCH) falls back to its generic
// "Prescott" (SSE3) kernels on Intel CPUs it does not know by model number,
// e.g. Emerald Rapids (family 6, model 207): sgemm then runs about 5x slower
// (28 instead of 140 GFLOP/s on one core here). OpenBLAS 0.3.25 fixed the
// fallback (OpenMathLib/OpenBLAS#4267); until clusters have it, lockstep's
// programs pick the kernels from the CPU's features instead.
#pragma once

#include <string>

namespace lockstep {

// The OpenBLAS core type to force on this CPU, or "" when OpenBLAS' own
// choice stands: OPENBLAS_CORETYPE is set (a site's pin is respected), or
// OpenBLAS picked something other than its generic fallback, or the CPU has
// nothing better. SkylakeX for AVX-512 (F, BW, DQ, VL), Cooperlake if it also
// has AVX512-BF16, Haswell for AVX2 with FMA.
std::string blas_coretype_override();

// Call first in main(), before MPI is initialised: when
// blas_coretype_override() names a core type, re-executes this program with
// OPENBLAS_CORETYPE set to it (OpenBLAS reads it only when it is loaded).
// Returns normally otherwise, or when the re-execution fails (a warning on
// stderr). LOCKSTEP_BLAS_AUTO=0 turns it off.
void select_blas_kernels(char** argv);

// "OpenBLAS 0.3.21, Cooperlake kernels (selected by lockstep: ...)", for
// `trainer summary` and the benchmarks.
std::string blas_description();

}  // namespace lockstep
