// A rank's timeline file: which path, checked before training, and written
// at the end (or on the way out of a failed run).
//
// One file per rank, not one merged by rank 0: gathering every rank's
// events (up to tens of MB each) through MPI at the end of a run would cost
// memory and time on rank 0 and needs a path every rank agrees on, while
// each rank writing its own file works on node-local disks too and leaves a
// timeline even when another rank died. The files merge by concatenating
// their traceEvents (pid = rank, clocks zeroed at a common barrier):
// launch/merge_traces.py.
#pragma once

#include <memory>
#include <string>

#include "core/communicator.h"
#include "core/output_file.h"
#include "core/trace.h"

namespace lockstep {

// The file rank `rank` of `ranks` writes: `path` itself for one rank; with
// several, ".rankR" goes before the extension of the file name
// (trace.json -> trace.rank0.json, trace -> trace.rank0). A relative path is
// relative to the working directory, as run_dir is.
std::string trace_path_for_rank(const std::string& path, int rank, int ranks);

class TraceSession {
 public:
  // Checks and opens (creates, truncates) this rank's file, before any
  // training: a folder, a missing folder or an unwritable place is an input
  // error at `where` (exit 2). Reserves `capacity` events.
  TraceSession(const std::string& path, size_t capacity, int rank, int ranks, const std::string& where);
  // Collective, just before training: the ranks leave a barrier and take
  // that moment as time zero; the recorder is active from then on.
  void start(Communicator& world);
  // Without finish() (an error before or after training is ending the
  // run): writes the file without events, ignoring failures. The events'
  // names may point into layers already destroyed; a failure during
  // training calls finish() itself (launch/cli/train_command.cpp).
  ~TraceSession();
  TraceSession(const TraceSession&) = delete;
  TraceSession& operator=(const TraceSession&) = delete;

  // After every recording thread has ended: stops recording, writes the
  // file and closes it (checked: a failure is a runtime error naming it).
  void finish();
  const std::string& path() const { return path_; }
  const TraceRecorder& recorder() const { return recorder_; }

 private:
  std::string path_;
  int rank_ = 0;
  int ranks_ = 1;
  TraceRecorder recorder_;
  std::unique_ptr<OutputFile> file_;
};

}  // namespace lockstep
