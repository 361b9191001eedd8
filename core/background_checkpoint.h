// Periodic checkpoints written off the training path: the tensors are copied
// into a snapshot (a memcpy, microseconds to milliseconds), and a background
// thread serializes, writes, fsyncs and renames the file while training goes
// on. One write is in flight at most: the next one waits for it first, which
// also lets the snapshot's buffers be reused without a new allocation.
//
// A failed background write is kept and rethrown by the next call on the
// training thread (rethrow_failure, submit, wait), so the run ends with that
// error (exit 1) at the next step; the file it was writing never replaces the
// previous checkpoint (write_checkpoint is atomic) and nothing is pruned.
#pragma once

#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/checkpoint.h"

namespace lockstep {

class BackgroundCheckpoint {
 public:
  BackgroundCheckpoint() = default;
  BackgroundCheckpoint(const BackgroundCheckpoint&) = delete;
  BackgroundCheckpoint& operator=(const BackgroundCheckpoint&) = delete;
  // Waits for the write in flight; its failure, if any, is dropped (the
  // destructor runs while another error is already ending the run).
  ~BackgroundCheckpoint();

  // Copies `tensors` and returns; the thread writes `path`, then calls
  // `after_write` (pruning old checkpoints) when the write succeeded.
  void submit(const std::string& path, CheckpointHeader header, const std::vector<TensorRef>& tensors,
              std::function<void()> after_write);
  // Blocks until no write is in flight; rethrows its failure.
  void wait();
  // Rethrows the failure of a finished write, without blocking.
  void rethrow_failure();
  bool in_flight() const { return worker_.joinable(); }
  // A write is in flight and not finished yet (the disk is still busy).
  bool writing();

 private:
  void take_snapshot(const std::vector<TensorRef>& tensors);

  std::thread worker_;
  std::mutex mutex_;
  std::exception_ptr failure_;  // guarded by mutex_
  bool finished_ = false;       // guarded by mutex_: the worker is done
  std::vector<std::vector<float>> buffers_;
  std::vector<TensorRef> snapshot_;
};

}  // namespace lockstep
