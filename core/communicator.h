// The only way core/ talks to other ranks. Implementations live in
// distributed/ (Open MPI, single process). The single-process implementation
// is the identity: an all-reduce over one rank returns its input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/error.h"

namespace lockstep {

// Per-channel statistics of a set of values, merged the Chan/Welford way.
struct Moments {
  double count = 0;
  double mean = 0;
  double m2 = 0;  // sum of squared deviations from mean
};

// Merge b into a (Chan et al.); robust for large means and tiny variances and
// for empty sets (count 0).
inline void merge_moments(Moments& a, const Moments& b) {
  if (b.count == 0) return;
  if (a.count == 0) {
    a = b;
    return;
  }
  const double n = a.count + b.count;
  const double delta = b.mean - a.mean;
  a.mean += delta * (b.count / n);
  a.m2 += b.m2 + delta * delta * (a.count * b.count / n);
  a.count = n;
}

// The sharded optimizer step's hook: what the one rank that sums a range of
// gradients does with the sum.
class ReducedRangeUpdate {
 public:
  virtual ~ReducedRangeUpdate() = default;
  // `summed` holds the all-rank sum of gradients [begin, begin + count) of
  // the arena and `params` points at parameter `begin`: update them in place.
  // Must not allocate or throw (it runs inside the reduction's progress).
  virtual void apply(size_t begin, size_t count, const float* summed, float* params) = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // `label` names what is being reduced (a layer, a gradient bucket) in the
  // error a collective that makes no progress ends with; it must outlive the
  // call. Overrides repeat these defaults.
  // In-place element-wise sums over all ranks.
  virtual void allreduce_sum(float* data, size_t count, const char* label = "allreduce_sum") = 0;
  virtual void allreduce_sum(double* data, size_t count, const char* label = "allreduce_sum") = 0;
  // In-place element-wise maximum (used for "did any rank fail?" flags).
  virtual void allreduce_max(int64_t* data, size_t count, const char* label = "allreduce_max") = 0;

  // Nonblocking in-place float sum. `label` names what is being reduced
  // (gradient bucket, layer) for time-out messages; it must outlive the
  // request. Returns a ticket for wait().
  virtual int start_allreduce_sum(float* data, size_t count, const char* label) = 0;
  // Blocks until the request finishes (or fails with a time-out error that
  // names the label).
  virtual void wait(int ticket) = 0;

  // Reduce-and-update, the sharded optimizer step (ZeRO stage 1) fused into
  // the reduction: grads[0, count) are summed over all ranks as by
  // start_allreduce_sum, but each element's sum reaches one rank only, which
  // hands it to `update` (arena offset `offset` + i); every rank then
  // receives params[0, count) as the updating ranks left them, so replicas
  // stay identical while each rank updates about 1/size of the parameters.
  // grads are left partly reduced. Only where supports_reduce_update();
  // wait() completes it. `update` and `label` must outlive the request.
  virtual bool supports_reduce_update() const { return false; }
  virtual int start_reduce_update(float* grads, float* params, size_t count, size_t offset,
                                  ReducedRangeUpdate& update, const char* label);
  // Collective. Memory for `floats` floats that the other ranks can reach
  // (all ranks on one node), valid as long as this communicator: when the
  // trainable parameters and their gradients live there, at the same offsets
  // on every rank, reduce-and-update reads the other ranks' gradients in
  // place and writes their parameters directly, with no copies through
  // staging buffers. nullptr (the default) where there is no such memory.
  virtual float* shared_arena(size_t floats) {
    (void)floats;
    return nullptr;
  }

  // Per-channel moments merged over all ranks (one collective).
  virtual void allreduce_moments(Moments* data, size_t count, const char* label = "allreduce_moments") = 0;

  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  // recv receives size() * bytes bytes, rank r's contribution at r * bytes.
  virtual void allgather(const void* send, void* recv, size_t bytes) = 0;
  virtual void barrier() = 0;

  // Sub-communicator of the ranks with the same color, ordered by key.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // Seconds a collective may make no progress before the job is ended.
  virtual void set_timeout_seconds(double seconds) { (void)seconds; }
};

inline int Communicator::start_reduce_update(float*, float*, size_t, size_t, ReducedRangeUpdate&, const char* label) {
  throw_runtime_error("communicator", std::string("reduce-and-update of '") + label +
                                          "' on a communicator without it (check supports_reduce_update())");
}

}  // namespace lockstep
