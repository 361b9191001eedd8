#include "distributed/bucketed_allreduce.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "core/optim/optimizer.h"
#include "core/trace.h"

namespace lockstep {
namespace {
const char* const kWhere = "gradient all-reduce";
}

BucketLabeler label_by_ranges(std::vector<NamedRange> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const NamedRange& a, const NamedRange& b) { return a.begin < b.begin; });
  return [ranges = std::move(ranges)](size_t begin, size_t end) -> std::string {
    const NamedRange* first = nullptr;
    const NamedRange* last = nullptr;
    for (const NamedRange& r : ranges) {
      if (r.begin < end && begin < r.end) {
        if (first == nullptr) first = &r;
        last = &r;
      }
    }
    if (first == nullptr) return "";
    return first == last ? first->name : first->name + ".." + last->name;
  };
}

BucketedAllreduce::BucketedAllreduce(Communicator& comm, size_t bucket_bytes, bool overlap,
                                     BucketLabeler labeler)
    : comm_(comm),
      bucket_elems_(std::max<size_t>(1, bucket_bytes / sizeof(float))),
      overlap_(overlap),
      labeler_(std::move(labeler)) {
  if (bucket_bytes == 0) throw_input_error("bucket_bytes", "must be > 0");
}

void BucketedAllreduce::attach(float* grads, size_t count) {
  if (next_start_ != next_wait_) throw_runtime_error(kWhere, "attach() while buckets are in flight");
  grads_ = grads;
  count_ = count;
  communicate_ = comm_.size() > 1;
  buckets_.clear();
  for (size_t end = count; end > 0;) {
    Bucket b;
    b.end = end;
    b.begin = end > bucket_elems_ ? end - bucket_elems_ : 0;
    const std::string index = "gradient bucket " + std::to_string(buckets_.size());
    const std::string what = labeler_ ? labeler_(b.begin, b.end) : std::string();
    b.label = what.empty() ? index + " [" + std::to_string(b.begin) + ", " + std::to_string(b.end) + ")"
                           : index + " (" + what + ")";
    buckets_.push_back(std::move(b));
    end = buckets_.back().begin;
  }
  reset_step();
}

void BucketedAllreduce::reset_step() {
  for (Bucket& b : buckets_) {
    b.pending = b.end - b.begin;
    b.ticket = -1;
  }
  next_start_ = next_wait_ = 0;
  lowest_ready_ = count_;
}

void BucketedAllreduce::ready(size_t begin, size_t end) {
  if (begin > end || end > lowest_ready_) {
    throw_runtime_error(kWhere, "ready(" + std::to_string(begin) + ", " + std::to_string(end) +
                                    ") must lie below the previous range (which began at " +
                                    std::to_string(lowest_ready_) + ") in an arena of " +
                                    std::to_string(count_) + " gradients");
  }
  if (begin == end) return;
  lowest_ready_ = begin;
  // Buckets are numbered from the arena's end: end - 1 is in the lowest one.
  for (size_t i = bucket_of(end - 1); i <= bucket_of(begin); ++i) {
    Bucket& b = buckets_[i];
    b.pending -= std::min(end, b.end) - std::max(begin, b.begin);
  }
  if (overlap_) start_completed_buckets();
}

void BucketedAllreduce::start_completed_buckets() {
  while (next_start_ < buckets_.size() && buckets_[next_start_].pending == 0) start_next_bucket();
}

void BucketedAllreduce::start_next_bucket() {
  // Checked before anything is queued, so every rank throws at the same point.
  if (sharded() && !update_begun_)
    throw_runtime_error(kWhere, "sharded optimizer step: begin_update() must precede backward");
  Bucket& b = buckets_[next_start_++];
  if (!communicate_) return;
  if (next_start_ - 1 - next_wait_ >= kMaxInFlight) wait_bucket(next_wait_++);
  if (TraceRecorder* trace = active_trace()) b.started_ns = trace->now_ns();
  if (sharded()) {
    b.ticket = comm_.start_reduce_update(grads_ + b.begin, params_ + b.begin, b.end - b.begin, b.begin,
                                         optimizer_update_, b.label.c_str());
  } else {
    b.ticket = comm_.start_allreduce_sum(grads_ + b.begin, b.end - b.begin, b.label.c_str());
  }
}

void BucketedAllreduce::finish() {
  // Gradients never reported ready are taken as final: every bucket is
  // reduced every step, on every rank, in the same order.
  while (next_start_ < buckets_.size()) start_next_bucket();
  if (communicate_) {
    while (next_wait_ < buckets_.size()) wait_bucket(next_wait_++);
  }
  if (sharded()) {
    optimizer().end_step();
    update_begun_ = false;
  }
  reset_step();
}

void BucketedAllreduce::wait_bucket(size_t i) {
  const Bucket& b = buckets_[i];
  {
    ScopedTraceEvent event(b.label.c_str(), TraceCategory::kWait, static_cast<int64_t>(i));
    comm_.wait(b.ticket);
  }
  if (TraceRecorder* trace = active_trace()) {
    TraceRecord span;
    span.name = b.label.c_str();
    span.category = TraceCategory::kReduction;
    span.lane = TraceLane::kReduction;
    span.async = true;
    span.number = static_cast<int64_t>(i);
    span.start_ns = b.started_ns;
    span.duration_ns = trace->now_ns() - b.started_ns;
    trace->record(span);
  }
}

bool BucketedAllreduce::shard_update(Optimizer& optimizer, float* params) {
  if (next_start_ != next_wait_) throw_runtime_error(kWhere, "shard_update() while buckets are in flight");
  if (!communicate_ || !comm_.supports_reduce_update()) return false;
  optimizer_update_.optimizer = &optimizer;
  params_ = params;
  return true;
}

void BucketedAllreduce::begin_update(float learning_rate) {
  if (!sharded()) throw_runtime_error(kWhere, "begin_update() without a sharded optimizer step");
  optimizer().begin_step(count_, learning_rate);
  update_begun_ = true;
}

void BucketedAllreduce::OptimizerUpdate::apply(size_t begin, size_t count, const float* summed, float* params) {
  optimizer->update(begin, count, params, summed);
}

void BucketedAllreduce::gather_optimizer_state() {
  if (!sharded()) return;
  if (next_start_ != 0 || update_begun_)
    throw_runtime_error(kWhere, "gather_optimizer_state() in the middle of a step");
  // The same buckets, so the same pieces and slices as the updates: each
  // rank's owned part of every slot goes to all.
  for (const std::string& name : optimizer().slot_names()) {
    std::vector<float>& slot = optimizer().slot(name);
    if (slot.size() != count_) throw_runtime_error(kWhere, "optimizer slot '" + name + "' has the wrong size");
    size_t waited = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      if (i - waited >= kMaxInFlight) comm_.wait(buckets_[waited++].ticket);
      Bucket& b = buckets_[i];
      float* values = slot.data() + b.begin;
      b.ticket = comm_.start_reduce_update(values, values, b.end - b.begin, b.begin, keep_owned_, b.label.c_str());
    }
    while (waited < buckets_.size()) comm_.wait(buckets_[waited++].ticket);
  }
  reset_step();
}

}  // namespace lockstep
