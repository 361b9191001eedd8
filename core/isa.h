// Which instruction-set path lockstep's own loops run on (core/kernels/).
//
// The default build targets x86-64-v2 (SSE4.2), so one binary runs on every
// node of a cluster; the element-wise loops lockstep writes itself (see
// core/kernels/kernels.h) are built three times, for x86-64-v2 ("baseline"),
// x86-64-v3 ("avx2": AVX2, FMA) and x86-64-v4 ("avx512": AVX-512 F, BW, CD,
// DQ, VL), and one of them is chosen once per process: the best the CPU
// runs, or the one LOCKSTEP_ISA names. OpenBLAS picks its own kernels.
// A -DLOCKSTEP_NATIVE=ON build has one path, "native" (-march=native).
#pragma once

#include <string>

namespace lockstep {

enum class Isa { kBaseline, kAvx2, kAvx512, kNative };

// "baseline", "avx2", "avx512", "native".
const char* isa_name(Isa isa);

// Whether this CPU (and its operating system, which must save the wider
// registers) can run the path, and whether this build has it.
bool isa_supported(Isa isa);

// The path for LOCKSTEP_ISA's value (nullptr or "" for unset: the best
// supported path). Throws an input error (exit status 2) naming
// LOCKSTEP_ISA for an unknown name or a path this CPU or build cannot run.
Isa resolve_isa(const char* requested);

// The path of this process: resolve_isa(getenv("LOCKSTEP_ISA")), decided at
// the first call and kept. Programs call it early in main() (trainer does,
// before MPI start-up) so a bad LOCKSTEP_ISA ends them with one error line.
Isa active_isa();

// "avx512 (chosen from the CPU: ...)" or "avx2 (LOCKSTEP_ISA=avx2; ...)",
// for `trainer --version` and the benchmarks.
std::string isa_description();

}  // namespace lockstep
