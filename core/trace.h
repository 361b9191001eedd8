// The per-rank timeline (`profile { trace: "FILE" }`, `trainer train
// --trace FILE`): what each rank did when, as Chrome-trace / Perfetto JSON.
//
// A TraceRecorder holds a fixed number of fixed-size records, reserved
// before training, so recording in the training step allocates nothing;
// names are `const char*` to static strings or to strings the layers and
// gradient buckets own, which outlive the recorder's use. Past capacity,
// later events are dropped and counted (the file says how many).
//
// Code marks what it does with ScopedTraceEvent (RAII). The recorder in use
// is process-wide (set_active_trace), so layers, the gradient reduction and
// the checkpoint writer can record without a recorder handed down to them;
// with tracing off, a ScopedTraceEvent is one load and one predictable
// branch at each end.
//
// Threads: the training thread and the background checkpoint writer record
// concurrently (a slot is claimed by an atomic increment); the records are
// read only after every recording thread has finished.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace lockstep {

class OutputFile;

// Thread lanes of a rank's process in the viewer (Chrome trace "tid").
enum class TraceLane : uint8_t {
  kCompute = 0,           // the training thread: data, layers, loss, optimizer, waits
  kReduction = 1,         // gradient buckets in flight (async spans)
  kCheckpointWriter = 2,  // the background checkpoint thread
};

// What an event is (Chrome trace "cat"); also says what its number means.
enum class TraceCategory : uint8_t {
  kEpoch,       // number: epoch (1-based)
  kStep,        // number: global step (1-based, this step included)
  kData,        // batch assembly
  kForward,     // number: layer index
  kBackward,    // number: layer index
  kLoss,
  kOptimizer,
  kReduction,   // a gradient bucket's all-reduce; number: bucket index
  kWait,        // waiting for a bucket (number: bucket index) or all of them
  kCollective,  // other collectives: BatchNorm statistics, step votes
  kValidation,
  kCheckpoint,
  kCount
};

struct TraceRecord {
  const char* name = nullptr;
  const char* note = nullptr;  // optional "absorbs" argument (layers run by another layer's pass)
  int64_t start_ns = 0;        // since the recorder's origin
  int64_t duration_ns = 0;
  int64_t number = -1;         // meaning per category; -1 = none
  TraceCategory category = TraceCategory::kStep;
  TraceLane lane = TraceLane::kCompute;
  bool async = false;          // may overlap others on its lane (a span of its own)
};

class TraceRecorder {
 public:
  // Reserves `capacity` records (allocates and touches them now).
  explicit TraceRecorder(size_t capacity);

  // Time zero of the timeline; ranks call it right after a barrier so their
  // timelines line up (to the barrier's exit skew, microseconds on one node).
  void set_origin_now() { origin_ = std::chrono::steady_clock::now(); }
  int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - origin_).count();
  }

  // Allocation-free; thread-safe.
  void record(const TraceRecord& r) {
    const size_t slot = next_.fetch_add(1, std::memory_order_relaxed);
    if (slot < records_.size()) records_[slot] = r;
  }
  // Forgets every record (not while another thread records).
  void clear() { next_.store(0); }
  size_t recorded() const { return std::min(next_.load(), records_.size()); }
  size_t dropped() const { return next_.load() - recorded(); }
  const TraceRecord& at(size_t i) const { return records_[i]; }

  // The Chrome-trace JSON object: metadata naming the process "rank R" and
  // its lanes, every record (pid = rank, tid = lane, ts/dur in µs), and
  // otherData with the rank count and the number of dropped events.
  void write_json(OutputFile& out, int rank, int ranks) const;

 private:
  std::vector<TraceRecord> records_;
  std::atomic<size_t> next_{0};
  std::chrono::steady_clock::time_point origin_ = std::chrono::steady_clock::now();
};

namespace trace_detail {
extern std::atomic<TraceRecorder*> g_active;
}

// The recorder in use, or nullptr when tracing is off.
inline TraceRecorder* active_trace() { return trace_detail::g_active.load(std::memory_order_relaxed); }
// Set before the recording threads start; cleared after they end.
void set_active_trace(TraceRecorder* recorder);

const char* trace_category_name(TraceCategory c);

// Records [construction, destruction) on the active recorder, if any. The
// members are set only when tracing is on: off, nothing but the branch.
class ScopedTraceEvent {
 public:
  ScopedTraceEvent(const char* name, TraceCategory category, int64_t number = -1, const char* note = nullptr,
                   TraceLane lane = TraceLane::kCompute)
      : recorder_(active_trace()) {
    if (recorder_) {
      name_ = name;
      note_ = note;
      number_ = number;
      category_ = category;
      lane_ = lane;
      start_ns_ = recorder_->now_ns();
    }
  }
  ~ScopedTraceEvent() {
    if (recorder_) end();
  }
  ScopedTraceEvent(const ScopedTraceEvent&) = delete;
  ScopedTraceEvent& operator=(const ScopedTraceEvent&) = delete;

 private:
  void end() {
    TraceRecord r;
    r.name = name_;
    r.note = note_;
    r.number = number_;
    r.category = category_;
    r.lane = lane_;
    r.start_ns = start_ns_;
    r.duration_ns = recorder_->now_ns() - start_ns_;
    recorder_->record(r);
  }
  TraceRecorder* recorder_;
  const char* name_;
  const char* note_;
  int64_t number_;
  int64_t start_ns_;
  TraceCategory category_;
  TraceLane lane_;
};

}  // namespace lockstep
