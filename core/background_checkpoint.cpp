#include "core/background_checkpoint.h"

#include <utility>

#include "core/trace.h"

namespace lockstep {

BackgroundCheckpoint::~BackgroundCheckpoint() {
  if (worker_.joinable()) worker_.join();
}

// Same tensors at every checkpoint of a run, so after the first one the
// buffers already have their size and assign() does not allocate.
void BackgroundCheckpoint::take_snapshot(const std::vector<TensorRef>& tensors) {
  buffers_.resize(tensors.size());
  snapshot_ = tensors;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const size_t n = static_cast<size_t>(numel(tensors[i].shape));
    buffers_[i].assign(tensors[i].data, tensors[i].data + n);
    snapshot_[i].data = buffers_[i].data();
  }
}

void BackgroundCheckpoint::submit(const std::string& path, CheckpointHeader header,
                                  const std::vector<TensorRef>& tensors, std::function<void()> after_write) {
  wait();
  take_snapshot(tensors);
  finished_ = false;
  worker_ = std::thread([this, path, header = std::move(header), after = std::move(after_write)]() mutable {
    std::exception_ptr failure;
    try {
      ScopedTraceEvent event("checkpoint write", TraceCategory::kCheckpoint, -1, nullptr, TraceLane::kCheckpointWriter);
      write_checkpoint(path, std::move(header), snapshot_);
      if (after) after();
    } catch (...) {
      failure = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    failure_ = failure;
    finished_ = true;
  });
}

bool BackgroundCheckpoint::writing() {
  std::lock_guard<std::mutex> lock(mutex_);
  return worker_.joinable() && !finished_;
}

void BackgroundCheckpoint::wait() {
  if (worker_.joinable()) worker_.join();
  rethrow_failure();
}

void BackgroundCheckpoint::rethrow_failure() {
  std::exception_ptr failure;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!finished_) return;
    failure = std::exchange(failure_, nullptr);
  }
  if (worker_.joinable()) worker_.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace lockstep
