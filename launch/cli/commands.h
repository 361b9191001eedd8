#pragma once

#include <csignal>

#include "distributed/runtime.h"
#include "launch/cli/args.h"

namespace lockstep::cli {

// Exit status when training stopped on SIGTERM/SIGUSR1/SIGINT after writing a
// checkpoint: EX_TEMPFAIL, "try again", which requeue scripts test for.
inline constexpr int kExitPreempted = 75;

// SIGTERM and SIGUSR1 (pre-emption) and a first SIGINT (Ctrl-C) set the
// flag instead of killing the process. main() installs the handlers for `train` before MPI starts, so a
// signal during start-up is never lost; the start-up watchdog and training's
// StopOnSignal read the flag. Idempotent.
void install_stop_signal_handlers();
const volatile std::sig_atomic_t* stop_signal_flag();

int run_train(const Args& args, Runtime& runtime);
int run_evaluate(const Args& args, Runtime& runtime);  // launch/cli/evaluate_command.cpp
int run_predict(const Args& args, Runtime& runtime);
// --model DIR (a run's final/ folder, or the model.pb inside) or --checkpoint FILE.
std::string model_file(const Args& args);
int run_summary(const Args& args, Runtime& runtime);
int run_inspect(const Args& args, Runtime& runtime);
int run_export(const Args& args, Runtime& runtime);
int run_report(const Args& args, Runtime& runtime);  // launch/cli/report_command.cpp

}  // namespace lockstep::cli
