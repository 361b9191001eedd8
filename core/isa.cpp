#include "core/isa.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

// Set by CMakeLists.txt for lockstep_core: LOCKSTEP_ISA_VARIANTS when the
// avx2 and avx512 kernel files are built (x86-64, portable build),
// LOCKSTEP_NATIVE_BUILD for -DLOCKSTEP_NATIVE=ON.
#if defined(LOCKSTEP_ISA_VARIANTS) && !(defined(__x86_64__) || defined(__i386__))
#error "LOCKSTEP_ISA_VARIANTS is for x86 builds only"
#endif

namespace lockstep {
namespace {

#if defined(LOCKSTEP_ISA_VARIANTS)
// x86-64-v3 and -v4 as the kernel files are compiled (-march=x86-64-v3/-v4).
// GCC's and Clang's run-time checks also ask the operating system (XGETBV)
// whether it saves the YMM/ZMM registers. Clang 14 knows no level names.
bool cpu_has_v3() {
  __builtin_cpu_init();
#if defined(__clang__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
         __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
#else
  return __builtin_cpu_supports("x86-64-v3");
#endif
}

bool cpu_has_v4() {
  __builtin_cpu_init();
#if defined(__clang__)
  return cpu_has_v3() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512cd");
#else
  return __builtin_cpu_supports("x86-64-v4");
#endif
}
#endif

// The best path this build and CPU run.
Isa best_isa() {
#if defined(LOCKSTEP_NATIVE_BUILD)
  return Isa::kNative;
#elif defined(LOCKSTEP_ISA_VARIANTS)
  if (cpu_has_v4()) return Isa::kAvx512;
  if (cpu_has_v3()) return Isa::kAvx2;
  return Isa::kBaseline;
#else
  return Isa::kBaseline;
#endif
}

std::string known_paths() {
  std::string out;
  for (Isa isa : {Isa::kBaseline, Isa::kAvx2, Isa::kAvx512, Isa::kNative})
    if (isa_supported(isa)) out += std::string(out.empty() ? "" : ", ") + isa_name(isa);
  return out;
}

// Why this CPU or build cannot run `isa`, for the error message.
std::string why_unsupported(Isa isa) {
#if defined(LOCKSTEP_NATIVE_BUILD)
  (void)isa;
  return "this build (-DLOCKSTEP_NATIVE=ON) has only the native path";
#elif defined(LOCKSTEP_ISA_VARIANTS)
  if (isa == Isa::kNative) return "this is a portable build (configure with -DLOCKSTEP_NATIVE=ON for native)";
  return std::string("this CPU cannot run it (it lacks ") +
         (isa == Isa::kAvx2 ? "x86-64-v3: AVX2, FMA, BMI2" : "x86-64-v4: AVX-512 F, BW, CD, DQ, VL") + ")";
#else
  (void)isa;
  return "this build is not for x86-64: it has only the baseline path";
#endif
}

// Set once by active_isa(): where the choice came from.
bool g_forced = false;

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kBaseline: return "baseline";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kNative: return "native";
  }
  return "?";
}

bool isa_supported(Isa isa) {
#if defined(LOCKSTEP_NATIVE_BUILD)
  return isa == Isa::kNative;
#elif defined(LOCKSTEP_ISA_VARIANTS)
  switch (isa) {
    case Isa::kBaseline: return true;  // the whole program is built for it
    case Isa::kAvx2: return cpu_has_v3();
    case Isa::kAvx512: return cpu_has_v4();
    case Isa::kNative: return false;
  }
  return false;
#else
  return isa == Isa::kBaseline;
#endif
}

Isa resolve_isa(const char* requested) {
  if (requested == nullptr || *requested == '\0') return best_isa();
  for (Isa isa : {Isa::kBaseline, Isa::kAvx2, Isa::kAvx512, Isa::kNative}) {
    if (std::strcmp(requested, isa_name(isa)) != 0) continue;
    if (!isa_supported(isa))
      throw_input_error(std::string("LOCKSTEP_ISA=") + requested,
                        std::string("cannot use the ") + isa_name(isa) + " path: " + why_unsupported(isa) +
                            " (this machine runs: " + known_paths() + ")");
    return isa;
  }
  throw_input_error(std::string("LOCKSTEP_ISA=") + requested,
                    "unknown path (known: baseline, avx2, avx512, native; this machine runs: " + known_paths() + ")");
}

Isa active_isa() {
  // A function-local static: decided once, thread-safely, and a throw
  // leaves it undecided, so every later call reports the same error.
  static const Isa isa = [] {
    const char* requested = std::getenv("LOCKSTEP_ISA");
    const Isa chosen = resolve_isa(requested);
    g_forced = requested != nullptr && *requested != '\0';
    return chosen;
  }();
  return isa;
}

std::string isa_description() {
  const Isa isa = active_isa();
  std::string text = isa_name(isa);
  if (isa == Isa::kNative) return text + " (built with -march=native)";
  text += g_forced ? std::string(" (forced by LOCKSTEP_ISA; this machine runs: ") + known_paths() + ")"
                   : std::string(" (chosen from the CPU; LOCKSTEP_ISA can force: ") + known_paths() + ")";
  return text;
}

}  // namespace lockstep
