#include "distributed/startup_watchdog.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace lockstep {
namespace {

// How often the thread looks at the stop flag: a signal handler cannot
// notify a condition variable, so the flag is polled.
constexpr auto kPollInterval = std::chrono::milliseconds(50);

const char* signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    case SIGINT: return "SIGINT";
    default: return "a signal";
  }
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

}  // namespace

double startup_timeout_from_env() {
  const char* v = std::getenv("LOCKSTEP_STARTUP_TIMEOUT");
  if (v == nullptr || *v == '\0') return kDefaultStartupTimeoutSeconds;
  char* end = nullptr;
  errno = 0;
  const double s = std::strtod(v, &end);
  if (errno != 0 || end == v || *end != '\0' || !std::isfinite(s) || !(s > 0))
    throw_input_error("LOCKSTEP_STARTUP_TIMEOUT", std::string("must be a number of seconds > 0, got '") + v + "'");
  return s;
}

int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') continue;
    char* end = nullptr;
    const long r = std::strtol(v, &end, 10);
    if (*end == '\0' && r >= 0 && r <= INT_MAX) return static_cast<int>(r);
  }
  return -1;
}

std::string startup_where() {
  const int rank = launcher_rank();
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown host");
  return "rank " + (rank >= 0 ? std::to_string(rank) : std::string("?")) + " on " + host;
}

StartupWatchdog::StartupWatchdog(const StartupWatchdogOptions& options, std::string where, const char* stage)
    : options_(options), where_(std::move(where)), stage_(stage) {
  thread_ = std::thread([this] { watch(); });
}

StartupWatchdog::~StartupWatchdog() { disarm(); }

void StartupWatchdog::set_stage(const char* stage) {
  std::lock_guard<std::mutex> lock(mutex_);
  stage_ = stage;
}

void StartupWatchdog::disarm() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    disarmed_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StartupWatchdog::watch() {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(options_.seconds));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!disarmed_) {
    if (options_.stop_signal != nullptr && *options_.stop_signal != 0) {
      end_process(where_ + ": stopped by " + signal_name(*options_.stop_signal) + " during start-up (" + stage_ +
                      "), before the first step: nothing to save; exit status " +
                      std::to_string(options_.stop_status) + " (the same command continues the run)",
                  options_.stop_status);
    }
    const auto now = Clock::now();
    if (now >= deadline) {
      end_process("error: " + where_ + ": start-up did not finish within " + seconds_text(options_.seconds) +
                      " s (" + stage_ + "): another rank probably died or never started; "
                      "LOCKSTEP_STARTUP_TIMEOUT sets the bound",
                  kExitRuntime);
    }
    wake_.wait_until(lock, std::min(deadline, now + kPollInterval));
  }
}

void StartupWatchdog::end_process(const std::string& line, int status) {
  // write(2), not stdio: the main thread may hold stderr's lock while it is
  // stuck, and _exit does not flush stdio anyway.
  const std::string text = line + "\n";
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(STDERR_FILENO, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (options_.before_exit != nullptr) options_.before_exit(status);
  _exit(status);
}

}  // namespace lockstep
