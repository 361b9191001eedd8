// Data-parallel gradient all-reduce in buckets, overlapped with backward.
//
// attach() cuts the gradient arena into buckets of at most bucket_bytes,
// starting from the END of the arena (backward finalises the last layers'
// gradients first), so bucket 0 is the arena's tail and the last, possibly
// smaller, bucket its head. ready() counts finished elements per bucket; with
// overlap on, a bucket whose elements are all ready is all-reduced at once
// (start_allreduce_sum) while backward continues. finish() starts whatever is
// left and waits for everything.
//
// Buckets are always started in index order, whatever the granularity of the
// ready() calls, because every rank must start nonblocking collectives in
// the same order. At most kMaxInFlight buckets are in flight; starting one
// more first waits for the oldest.
//
// attach() allocates everything; ready() and finish() allocate nothing. With
// a one-rank communicator nothing is communicated. After an error (time-out)
// the object is in an unknown state; the job is expected to end.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "core/gradient_sync.h"

namespace lockstep {

// Describes elements [begin, end) of the gradient arena for time-out
// messages, e.g. "dense_1/kernel..dense_2/bias". May return "".
using BucketLabeler = std::function<std::string(size_t begin, size_t end)>;

struct NamedRange {
  std::string name;  // "dense_1/kernel"
  size_t begin = 0;  // offset into the gradient arena
  size_t end = 0;
};

// A labeler naming the first and last of `ranges` (in arena order) that
// overlap a bucket: "dense_1/kernel..dense_2/bias", or one name.
BucketLabeler label_by_ranges(std::vector<NamedRange> ranges);

class BucketedAllreduce final : public GradientSync {
 public:
  static constexpr size_t kDefaultBucketBytes = size_t{4} << 20;
  static constexpr size_t kMaxInFlight = 16;  // of MpiCommunicator's 64 slots

  // comm must outlive this object. bucket_bytes is rounded down to whole
  // floats (at least one). Without a labeler, buckets are named by range.
  explicit BucketedAllreduce(Communicator& comm, size_t bucket_bytes = kDefaultBucketBytes,
                             bool overlap = true, BucketLabeler labeler = nullptr);

  void attach(float* grads, size_t count) override;
  void ready(size_t begin, size_t end) override;
  void finish() override;
  // Sharded when the communicator supports reduce-and-update (all ranks on
  // one node); each bucket is then one reduce-and-update.
  bool shard_update(Optimizer& optimizer, float* params) override;
  void begin_update(float learning_rate) override;
  float* shared_arena(size_t floats) override { return comm_.size() > 1 ? comm_.shared_arena(floats) : nullptr; }
  void gather_optimizer_state() override;
  bool sharded() const { return optimizer_update_.optimizer != nullptr; }

  size_t bucket_count() const { return buckets_.size(); }
  // "gradient bucket 3 (dense_1/kernel..dense_2/bias)" or
  // "gradient bucket 3 [1024, 2048)"
  const std::string& bucket_label(size_t i) const { return buckets_.at(i).label; }
  size_t bucket_begin(size_t i) const { return buckets_.at(i).begin; }
  size_t bucket_end(size_t i) const { return buckets_.at(i).end; }

 private:
  struct Bucket {
    size_t begin = 0;
    size_t end = 0;
    size_t pending = 0;  // elements not yet reported ready this step
    int ticket = -1;
    int64_t started_ns = 0;  // on the timeline, when tracing
    std::string label;
  };

  // Hands a bucket's summed slice to the optimizer.
  class OptimizerUpdate final : public ReducedRangeUpdate {
   public:
    Optimizer* optimizer = nullptr;  // set by shard_update()
    void apply(size_t begin, size_t count, const float* summed, float* params) override;
  };
  // Leaves the slice as it is: reduce-and-update with it is an all-gather of
  // what each rank owns (its optimizer slots).
  class KeepOwned final : public ReducedRangeUpdate {
   public:
    void apply(size_t, size_t, const float*, float*) override {}
  };

  Optimizer& optimizer() { return *optimizer_update_.optimizer; }  // only when sharded()
  size_t bucket_of(size_t element) const { return (count_ - 1 - element) / bucket_elems_; }
  void start_completed_buckets();
  void start_next_bucket();
  // Waits for bucket i; on the timeline, the wait and the bucket's span
  // from its start to now (when this rank learns it is done).
  void wait_bucket(size_t i);
  void reset_step();

  Communicator& comm_;
  size_t bucket_elems_;
  bool overlap_;
  BucketLabeler labeler_;
  bool communicate_ = false;

  float* grads_ = nullptr;
  size_t count_ = 0;
  std::vector<Bucket> buckets_;
  size_t next_start_ = 0;  // buckets [next_wait_, next_start_) are in flight
  size_t next_wait_ = 0;
  size_t lowest_ready_ = 0;  // ready() ranges must end at or below this

  float* params_ = nullptr;          // the trainable arena, when sharded
  OptimizerUpdate optimizer_update_;  // its optimizer is set when the step is sharded
  KeepOwned keep_owned_;
  bool update_begun_ = false;
};

}  // namespace lockstep
