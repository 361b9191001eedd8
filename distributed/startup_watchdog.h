// Start-up watchdog: a thread that ends this process when start-up (MPI_Init
// and the first collectives) does not finish within a bound, or when a stop
// signal arrives while the main thread is stuck in a call that cannot be
// interrupted.
//
// Why a thread: MPI_Init and the blocking collectives of start-up
// (MPI_Comm_split_type, MPI_Win_allocate_shared) have no time-out. mpirun
// ends the job when a rank dies, but not when one is alive and stuck or
// never gets to MPI_Init (a hung file system, a node that does not start
// the process, a stopped process): then every other rank waits in
// MPI_Init's fence forever. The watchdog makes each waiting rank exit with a
// message; a rank that exits non-zero makes mpirun end the rest of the job.
//
// The thread never calls MPI (MPI_THREAD_FUNNELED): it writes its message
// with write(2) and ends the process with _exit.
#pragma once

#include <csignal>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace lockstep {

// LOCKSTEP_STARTUP_TIMEOUT (seconds, > 0), default kDefaultStartupTimeoutSeconds.
// A value that is not a positive number is an input error (exit status 2).
inline constexpr double kDefaultStartupTimeoutSeconds = 60;
double startup_timeout_from_env();

// This process's rank as the launcher's environment gives it
// (OMPI_COMM_WORLD_RANK, PMIX_RANK, PMI_RANK, SLURM_PROCID), known before
// MPI_Init; -1 when no launcher says.
int launcher_rank();

// "rank R on HOST", for messages written before MPI_Init.
std::string startup_where();

struct StartupWatchdogOptions {
  double seconds = kDefaultStartupTimeoutSeconds;
  // Non-zero while armed: a stop signal (SIGTERM, SIGUSR1) arrived; the
  // process exits with stop_status. Null: signals are not watched.
  const volatile std::sig_atomic_t* stop_signal = nullptr;
  int stop_status = 75;
  // Called on the watchdog's thread just before _exit, with the status
  // (e.g. to write a status file for a batch script).
  void (*before_exit)(int status) = nullptr;
};

class StartupWatchdog {
 public:
  // Arms the watchdog; `stage` says what start-up is doing ("in MPI_Init").
  StartupWatchdog(const StartupWatchdogOptions& options, std::string where, const char* stage);
  ~StartupWatchdog();  // disarms
  StartupWatchdog(const StartupWatchdog&) = delete;
  StartupWatchdog& operator=(const StartupWatchdog&) = delete;

  // What start-up is doing now, for the message (a string literal).
  void set_stage(const char* stage);
  // Start-up finished: the thread ends without touching the process.
  void disarm();

 private:
  void watch();
  [[noreturn]] void end_process(const std::string& line, int status);

  StartupWatchdogOptions options_;
  std::string where_;
  const char* stage_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool disarmed_ = false;
  std::thread thread_;
};

}  // namespace lockstep
