// Communicator over an MPI communicator (Open MPI).
//
// Every collective, the blocking ones included, is started nonblocking and
// completed by a polling loop with a deadline, so a rank whose peer has died
// or skipped a collective gets a lockstep::Error ("rank R: no progress for
// 300 s in all-reduce of 'gradient bucket 3 (...)'") instead of hanging in
// MPI_Wait forever. The loop spins briefly, then yields and sleeps, so
// oversubscribed ranks (more ranks than cores) do not starve each other.
//
// Requests live in a fixed pool allocated at construction: starting and
// waiting allocate nothing (the gradient all-reduce relies on that). Counts
// above INT_MAX are split into several MPI calls (MPI-3 counts are int).
//
// Not thread-safe: call it from the thread that initialised MPI
// (MPI_THREAD_FUNNELED).
#pragma once

// Only the C API: OMPI_SKIP_MPICXX comes from CMake (lockstep::distributed).
#include <mpi.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "distributed/shm_allreduce.h"

namespace lockstep {

class MpiCommunicator final : public Communicator {
 public:
  // Nonblocking collectives that may be in flight at once on one
  // communicator. A ticket of more than INT_MAX elements takes one slot per
  // chunk.
  static constexpr int kMaxRequests = 64;
  static constexpr double kDefaultTimeoutSeconds = 300;

  // Wraps `comm`. When `owned`, the destructor frees it (communicators made
  // by split()); MPI_COMM_WORLD is wrapped with owned = false. Switches the
  // communicator to MPI_ERRORS_RETURN so MPI failures become lockstep::Error.
  // Collective: when all ranks share a node it sets up the shared-memory
  // all-reduce for float sums (LOCKSTEP_SHM_ALLREDUCE=0 turns that off);
  // over several nodes the hierarchical one (shared memory on each node,
  // a chain in node order across nodes; LOCKSTEP_HIERARCHICAL=0 keeps
  // MPI_Iallreduce over all ranks). Where a node cannot make the shared
  // window, rank 0 warns once and MPI's all-reduce is used.
  //
  // Nodes are MPI_Comm_split_type(SHARED). Test-only: LOCKSTEP_NODE_ID=N,
  // set on every rank, groups the ranks into pretend nodes by N instead, so
  // node layouts can be tried on one machine.
  explicit MpiCommunicator(MPI_Comm comm, bool owned = false);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void allreduce_sum(float* data, size_t count, const char* label = "allreduce_sum") override;
  void allreduce_sum(double* data, size_t count, const char* label = "allreduce_sum") override;
  void allreduce_max(int64_t* data, size_t count, const char* label = "allreduce_max") override;

  int start_allreduce_sum(float* data, size_t count, const char* label) override;
  void wait(int ticket) override;

  // Through shared memory, on one node or hierarchically over several.
  bool supports_reduce_update() const override { return shm_enabled_; }
  int start_reduce_update(float* grads, float* params, size_t count, size_t offset, ReducedRangeUpdate& update,
                          const char* label) override;
  float* shared_arena(size_t floats) override;

  // One MPI_Iallreduce with a user-defined operation that merges
  // (count, mean, m2) triples with lockstep::merge_moments.
  void allreduce_moments(Moments* data, size_t count, const char* label = "allreduce_moments") override;

  void broadcast(void* data, size_t bytes, int root) override;
  void allgather(const void* send, void* recv, size_t bytes) override;
  void barrier() override;

  // MPI_Comm_split, preceded by a barrier so a missing rank times out
  // instead of hanging. The result inherits the time-out. color must be >= 0.
  std::unique_ptr<Communicator> split(int color, int key) override;

  void set_timeout_seconds(double seconds) override;
  double timeout_seconds() const { return timeout_seconds_; }

  MPI_Comm comm() const { return comm_; }
  // True when float sums go through ShmAllreduce (all ranks on one node and
  // LOCKSTEP_SHM_ALLREDUCE is not 0 on any rank).
  bool uses_shared_memory() const { return shm_enabled_; }
  // True when float sums go through the hierarchical all-reduce (several
  // nodes). Double sums and moments are then all-gathered and combined in
  // rank order on every rank, as on one node, so every layout gets the
  // same bits.
  bool hierarchical() const { return shm_enabled_ && shm_->hierarchical(); }

  // Largest count one MPI call carries (default INT_MAX). Tests lower it to
  // exercise the chunking without multi-gigabyte buffers; float sums then
  // go through MPI, not shared memory.
  void set_max_chunk_for_testing(size_t count);

 private:
  enum class SlotState : unsigned char { kFree, kActive, kAbandoned };

  // Reserves `n` consecutive free slots; returns the first.
  int acquire(int n, const char* op, const char* label);
  // Polls the run of slots starting at `first` until done; on time-out the
  // slots are abandoned (never reused) and an Error naming op and label is
  // thrown.
  void complete(int first);
  bool poll(int first, int n, double seconds);
  // Throws Error for a failed MPI call; the run at `first` (if >= 0) is
  // abandoned because its state is unknown.
  void check(int rc, const char* call, int first);
  int chunk(size_t remaining) const;
  // Blocking in-place all-reduce, chunked.
  void allreduce(void* data, size_t count, size_t elem_bytes, MPI_Datatype type, MPI_Op op,
                 const char* label);
  void set_up_shared_memory();
  // This rank's node (see LOCKSTEP_NODE_ID above); the caller frees it.
  MPI_Comm node_communicator();
  // All ranks' `data` gathered, then data = combine(...combine(r0, r1)..., rN)
  // in rank order: the same bits on every rank and for every node layout.
  template <typename T, typename Combine>
  void gather_in_rank_order(T* data, size_t count, Combine combine);

  MPI_Comm comm_;
  bool owned_;
  int rank_ = 0;
  int size_ = 1;
  std::string where_;  // "rank R", R the rank in MPI_COMM_WORLD
  double timeout_seconds_ = kDefaultTimeoutSeconds;
  size_t max_chunk_;

  // Tickets of shared-memory all-reduces are kShmTicketBase + its own ticket.
  static constexpr int kShmTicketBase = 1 << 16;
  std::unique_ptr<ShmAllreduce> shm_;
  std::unique_ptr<ShmReplicatedReduce> shm_small_;  // double sums, moments
  bool shm_enabled_ = false;
  std::vector<char> gathered_;  // gather_in_rank_order's; grows, never shrinks

  std::array<MPI_Request, kMaxRequests> requests_;
  std::array<MPI_Status, kMaxRequests> statuses_;  // to explain MPI_ERR_IN_STATUS
  std::array<SlotState, kMaxRequests> state_;
  std::array<int, kMaxRequests> run_length_;  // > 0 only at a run's first slot
  std::array<const char*, kMaxRequests> op_;     // "all-reduce", ... for messages
  std::array<const char*, kMaxRequests> label_;  // caller's label
};

}  // namespace lockstep
