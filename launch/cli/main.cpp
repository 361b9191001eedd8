// trainer: one binary for a laptop (no MPI start-up), mpirun and srun.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>

#include "core/blas_kernels.h"
#include "core/error.h"
#include "core/isa.h"
#include "core/protobuf_log.h"
#include "distributed/runtime.h"
#include "launch/cli/args.h"
#include "launch/cli/commands.h"
#include "lockstep/version.h"

using namespace lockstep;

namespace {

// Launchers do not always pass the ranks' status on: Slurm 22.05's srun exits
// 0 when it could not start the tasks at all. A batch script that must tell
// "finished" from "never ran" sets LOCKSTEP_STATUS_FILE; rank 0 writes its exit
// status there as it ends (train.sbatch treats a missing file as a failure).
void report_status(int rank, int status) {
  const char* path = std::getenv("LOCKSTEP_STATUS_FILE");
  if (rank != 0 || !path || !*path) return;
  if (FILE* f = std::fopen(path, "w")) {
    std::fprintf(f, "%d\n", status);
    std::fclose(f);
  }
}

// The start-up watchdog's last act before it ends the process: rank 0's
// status for the batch script, as main() would have written it.
void report_startup_status(int status) { report_status(launcher_rank(), status); }

// Start-up (MPI_Init and the first collectives) is bounded by
// LOCKSTEP_STARTUP_TIMEOUT. For `train`, SIGTERM, SIGUSR1 and SIGINT are caught from
// here on: during start-up they end the rank at once with status 75
// (nothing was trained, so nothing is lost, and requeue scripts run the same
// command again); later every rank stops at the next step boundary.
StartupWatchdogOptions startup_options(const cli::Args& args) {
  StartupWatchdogOptions o;
  o.seconds = startup_timeout_from_env();
  o.before_exit = &report_startup_status;
  if (args.command == "train") {
    cli::install_stop_signal_handlers();
    o.stop_signal = cli::stop_signal_flag();
    o.stop_status = cli::kExitPreempted;
  }
  return o;
}

// `trainer --version`: what a bug report needs. Runs without mpirun and
// without MPI_Init (MPI_Get_library_version needs neither).
int print_version() {
#if defined(__clang__)
  const char* compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  const char* compiler = "GCC " __VERSION__;
#else
  const char* compiler = __VERSION__;
#endif
  const std::string isa = isa_description();  // throws for a bad LOCKSTEP_ISA: before any output
  std::printf("lockstep %s\n", LOCKSTEP_VERSION);
  std::printf("git revision: %s\n", LOCKSTEP_GIT_REVISION);
  std::printf("compiler: %s (C++ %ld, %s build)\n", compiler, static_cast<long>(__cplusplus), LOCKSTEP_BUILD_TYPE);
  std::printf("BLAS: %s\n", blas_description().c_str());
  std::printf("ISA: %s\n", isa.c_str());
  std::printf("MPI: %s\n", mpi_library_version().c_str());
  return 0;
}

int dispatch(const cli::Args& args, Runtime& runtime) {
  if (args.command == "train") return cli::run_train(args, runtime);
  if (args.command == "evaluate") return cli::run_evaluate(args, runtime);
  if (args.command == "predict") return cli::run_predict(args, runtime);
  if (args.command == "summary") return cli::run_summary(args, runtime);
  if (args.command == "export") return cli::run_export(args, runtime);
  if (args.command == "report") return cli::run_report(args, runtime);
  return cli::run_inspect(args, runtime);
}

// Prints "error: WHERE: WHAT" (with the rank when there are several) and
// ends the job: under MPI every rank goes down, none waits in a collective.
[[noreturn]] void fail(Runtime* runtime, const std::string& message, int exit_code) {
  const int ranks = runtime ? runtime->world().size() : 1;
  const int rank = runtime ? runtime->world().rank() : 0;
  if (ranks > 1 && rank != 0 && exit_code == kExitInput) {
    // The same bad config usually fails on every rank: give rank 0 a moment
    // to report it once and end the job.
    usleep(300 * 1000);
  }
  // Errors from collectives already say which rank they happened on.
  if (ranks > 1 && message.rfind("rank ", 0) != 0) std::fprintf(stderr, "error: rank %d: %s\n", rank, message.c_str());
  else std::fprintf(stderr, "error: %s\n", message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  report_status(rank, exit_code);
  if (runtime) runtime->abort_job(exit_code);
  std::_Exit(exit_code);
}

}  // namespace

int main(int argc, char** argv) {
  select_blas_kernels(argv);  // may re-execute: before anything else, MPI included
  install_protobuf_log_handler();  // protobuf's own messages: one line each, or folded into errors
  cli::Args args;
  try {
    args = cli::parse_args(argc, argv);
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  }
  if (args.command == "help" || args.flag("help")) {
    std::fputs((args.help_topic.empty() ? cli::usage_text() : cli::command_help(args.help_topic)).c_str(), stdout);
    return 0;
  }
  if (args.command == "completion" || args.command == "manpage") {
    std::fputs((args.command == "completion" ? cli::bash_completion() : cli::man_page(LOCKSTEP_VERSION)).c_str(), stdout);
    return 0;
  }
  if (args.command == "version") {
    try {
      return print_version();
    } catch (const Error& e) {  // a bad LOCKSTEP_ISA
      std::fprintf(stderr, "error: %s\n", e.what());
      return e.exit_code();
    }
  }
  std::unique_ptr<Runtime> runtime;
  try {
    runtime = std::make_unique<Runtime>(startup_options(args));
    active_isa();  // a bad LOCKSTEP_ISA ends the job here, reported once (fail below)
    const int status = dispatch(args, *runtime);
    std::fflush(stdout);
    report_status(runtime->world().rank(), status);
    return status;
  } catch (const Error& e) {
    fail(runtime.get(), e.what(), e.exit_code());
  } catch (const std::bad_alloc&) {
    fail(runtime.get(), "out of memory", kExitRuntime);
  } catch (const std::exception& e) {
    fail(runtime.get(), std::string("internal: ") + e.what(), kExitRuntime);
  }
}
