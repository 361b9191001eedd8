// The kernels for the avx2 path: compiled with -march=x86-64-v3
// (CMakeLists.txt); only in portable x86-64 builds.
#if defined(LOCKSTEP_ISA_VARIANTS)
#define LOCKSTEP_KERNEL_NS avx2
#include "core/kernels/variant.inc"
#endif
