#include "core/kernels/kernels.h"

namespace lockstep {
namespace kernels {

// Defined by variant_*.cpp, each compiled for its path (CMakeLists.txt).
const Table& baseline_table();
#if defined(LOCKSTEP_ISA_VARIANTS)
const Table& avx2_table();
const Table& avx512_table();
#endif

const Table* table_for(Isa isa) {
  if (!isa_supported(isa)) return nullptr;
  switch (isa) {
    case Isa::kBaseline:
    case Isa::kNative: return &baseline_table();  // a native build's one table
#if defined(LOCKSTEP_ISA_VARIANTS)
    case Isa::kAvx2: return &avx2_table();
    case Isa::kAvx512: return &avx512_table();
#endif
    default: return nullptr;
  }
}

const Table& table() {
  static const Table& chosen = *table_for(active_isa());
  return chosen;
}

}  // namespace kernels
}  // namespace lockstep
