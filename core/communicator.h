// The only way core/ talks to other ranks. Implementations live in
// distributed/ (Open MPI, single process). The single-process implementation
// is the identity: an all-reduce over one rank returns its input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

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

}  // namespace lockstep
