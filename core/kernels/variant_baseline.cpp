// The kernels for the baseline path: compiled with the program's own flags
// (x86-64-v2 by default, -march=native with -DLOCKSTEP_NATIVE=ON, the
// compiler's default elsewhere).
#define LOCKSTEP_KERNEL_NS baseline
#include "core/kernels/variant.inc"
