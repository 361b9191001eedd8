// The kernels for the avx512 path: compiled with -march=x86-64-v4
// (CMakeLists.txt); only in portable x86-64 builds.
#if defined(LOCKSTEP_ISA_VARIANTS)
#define LOCKSTEP_KERNEL_NS avx512
#include "core/kernels/variant.inc"
#endif
