#include "core/blas_kernels.h"

#include <cblas.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lockstep {
namespace {
// Set together with OPENBLAS_CORETYPE when lockstep chose it, so the
// re-executed program can say so.
const char* const kSelectedVariable = "LOCKSTEP_BLAS_SELECTED";
}  // namespace

std::string blas_coretype_override() {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return "";
  const char* picked = openblas_get_corename();
  if (picked == nullptr || std::strcmp(picked, "Prescott") != 0) return "";
#if defined(__x86_64__) || defined(__i386__)  // Prescott is an x86 core; the checks exist only there
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  if (avx512) return __builtin_cpu_supports("avx512bf16") ? "Cooperlake" : "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return "";
}

void select_blas_kernels(char** argv) {
  const char* mode = std::getenv("LOCKSTEP_BLAS_AUTO");
  if (mode != nullptr && std::strcmp(mode, "0") == 0) return;
  const std::string core = blas_coretype_override();
  if (core.empty()) return;
  setenv("OPENBLAS_CORETYPE", core.c_str(), 1);
  setenv(kSelectedVariable, core.c_str(), 1);
  // The same process (pid, MPI launcher's environment) with OpenBLAS loaded anew.
  execv("/proc/self/exe", argv);
  const int error = errno;
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv(kSelectedVariable);
  std::fprintf(stderr,
               "warning: OpenBLAS chose its generic Prescott kernels on this CPU and re-executing with "
               "OPENBLAS_CORETYPE=%s failed (%s): matrix products will be slow; set OPENBLAS_CORETYPE=%s\n",
               core.c_str(), std::strerror(error), core.c_str());
}

std::string blas_description() {
  // openblas_get_config(): "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64"
  std::string config = openblas_get_config();
  const size_t version_end = config.find(' ', config.find(' ') + 1);
  std::string text = config.substr(0, version_end) + ", " + openblas_get_corename() + " kernels";
  const char* selected = std::getenv(kSelectedVariable);
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  if (selected != nullptr && forced != nullptr && std::strcmp(selected, forced) == 0) {
    text += " (selected by lockstep from the CPU's features: this OpenBLAS detects the CPU as Prescott)";
  } else if (forced != nullptr) {
    text += std::string(" (OPENBLAS_CORETYPE=") + forced + ")";
  }
  // 2: OpenMP, one libgomp team with lockstep's own loops (core/parallel.h).
  const int parallel = openblas_get_parallel();
  text += parallel == 2 ? "; OpenMP threads" : parallel == 1 ? "; pthreads" : "; single-threaded";
  return text;
}

}  // namespace lockstep
