// Float all-reduce through memory shared by the ranks of one node.
//
// Why: between ranks on one node, Open MPI's nonblocking all-reduce copies
// the buffer into fresh temporaries and (for in-place calls with < 4 ranks)
// reduces everything on rank 0 before broadcasting it back. Here every rank
// owns 1/p of the elements (its slice). It copies the rest of its piece into
// its staging slot of one MPI-3 shared window allocated once, sums its slice
// from its own buffer and the other ranks' slots into the shared output, and
// copies the other slices' sums back: no per-call allocation, no rank doing
// more than its share, and every element summed in the fixed order
// rank 0 + rank 1 + ... so every replica gets bit-identical results.
//
// Nonblocking: start() queues the buffer and does whatever needs no waiting
// (typically the copy into the staging slot); progress() advances queued
// pieces as far as the other ranks allow; wait() blocks (spin, then yield,
// then sleep, with a deadline) until a ticket is done. Buffers larger than a
// slot are cut into slot-sized pieces; up to kSlots pieces are in flight, so
// large reductions pipeline.
//
// Sharded optimizer step (start_update): the rank that sums a slice also
// applies the optimizer to it and publishes the updated parameters in place
// of the sum; the copy-back then fills the other ranks' parameters. The
// traffic is that of the plain all-reduce; the optimizer's work is split.
//
// The protocol: every rank publishes three counters, the sequence number of
// the last piece it has staged, reduced (its 1/p) and copied back. Pieces are
// numbered the same on every rank because every rank starts the same
// reductions in the same order (the rule for any collective). A slot is
// reused once every rank has finished with the piece that had it K pieces
// before.
//
// Several nodes (create_hierarchical): the same pipeline on each node, and
// between its reduce and copy-back stages a cross-node step per slice
// (distributed/node_chain.h): the rank reducing slice k on its node joins
// the ranks reducing slice k on the other nodes, the node sums are chained
// in node order, each rank of the world updates (or keeps) its sub-slice,
// and the results are all-gathered and shared on the node. Every node cuts
// pieces into as many slices as the largest node has ranks, so slices line
// up across nodes with uneven rank counts; a node with fewer ranks gives
// each of them several slices.
#pragma once

#include <mpi.h>  // the C API only: OMPI_SKIP_MPICXX comes from CMake

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "distributed/node_chain.h"

namespace lockstep {

class ShmAllreduce {
 public:
  static constexpr int kSlots = 8;
  static constexpr int kMaxTickets = 64;
  // queued, not yet copied back: 16 GiB of gradients in flight at 256 KiB slots
  static constexpr size_t kMaxPieces = size_t{1} << 16;
  // 1 MiB per slot. Measured both ways (bench_allreduce, bench_distributed):
  // a 64 MB all-reduce takes 6.4-6.8 ms with 1 MiB slots and 4.9-5.1 ms with
  // 256 KiB, but training fashion_mlp at np = 2 (a 0.9 MB gradient: one piece
  // instead of four) reaches 0.91-0.94 of no communication with 1 MiB and
  // 0.89 with 256 KiB. Training wins; both beat MPI_Allreduce at 64 MB.
  static constexpr size_t kDefaultSlotFloats = size_t{1} << 18;

  // Collective over `comm`. nullptr when the ranks do not all share one node
  // (then MPI's own all-reduce is the way). `where` prefixes error messages.
  static std::unique_ptr<ShmAllreduce> create(MPI_Comm comm, const std::string& where,
                                              size_t slot_floats = kDefaultSlotFloats);
  // Collective over `world`: the hierarchical all-reduce for a job over
  // several nodes. `node` holds this rank's node (consecutive world ranks
  // keep the sums in world-rank order; see node_chain.h); it is taken over
  // and freed. nullptr on every rank when some node could not make its
  // shared window (the caller falls back to MPI's all-reduce).
  // `room`: false where this rank found too little shared memory for it.
  static std::unique_ptr<ShmAllreduce> create_hierarchical(MPI_Comm world, MPI_Comm node, const std::string& where,
                                                           bool room, size_t slot_floats = kDefaultSlotFloats);
  ~ShmAllreduce();
  ShmAllreduce(const ShmAllreduce&) = delete;
  ShmAllreduce& operator=(const ShmAllreduce&) = delete;

  // In-place sum of `count` floats over all ranks; `label` must outlive the
  // ticket. Returns a ticket in [0, kMaxTickets).
  int start(float* data, size_t count, const char* label);
  // Communicator::start_reduce_update: the rank that reduces a slice passes
  // its sum to `update` together with params' slice, publishes the updated
  // params slice instead of the sum, and every rank copies the other
  // slices into params (not into grads).
  int start_update(float* grads, float* params, size_t count, size_t offset, ReducedRangeUpdate& update,
                   const char* label);
  // Collective: `floats` floats of this rank's in a new shared window that
  // every rank maps. start_update() of grads and params that lie in one such
  // arena (at the same offsets on every rank) copies nothing in and out of
  // the slots: the reducing rank reads the other ranks' gradients where
  // they are and writes the updated parameters straight into every rank's
  // arena. Lives as long as this object.
  float* allocate_arena(size_t floats);
  // Advances queued pieces without waiting; true when something moved.
  bool progress();
  // progress() of every ShmAllreduce of this process. Every waiting loop
  // (MPI's included) calls it, so a rank blocked anywhere still does its
  // part of reductions other ranks wait for, like MPI's progress engine.
  static bool progress_all();
  // Blocks until the ticket is done; throws lockstep::Error naming its label
  // after `timeout_seconds` without progress.
  void wait(int ticket, double timeout_seconds);
  // Ranks sharing this object's window (the node's, when hierarchical).
  int node_size() const { return size_; }
  bool hierarchical() const { return !chains_.empty(); }
  bool active(int ticket) const {
    return ticket >= 0 && ticket < kMaxTickets && tickets_[ticket].active;
  }

 private:
  struct alignas(64) Counter {
    uint64_t value;
    char pad[64 - sizeof(uint64_t)];
  };
  // Head of every rank's segment; each counter is written by its owner only.
  struct Control {
    Counter staged, reduced, copied;
  };
  struct Piece {
    float* data;  // what this rank contributes
    float* home;  // where the results land (data itself for a plain sum)
    size_t count;
    ReducedRangeUpdate* update;  // nullptr for a plain sum
    size_t offset;               // of data[0] in update's arena
    int arena;                   // index into arenas_ when zero-copy, else -1
  };
  struct Arena {
    MPI_Win window;
    std::vector<float*> bases;  // per rank
    size_t floats;
  };
  using Slice = Range;
  struct Ticket {
    bool active = false;
    uint64_t last_seq = 0;  // done when copied_seq_ >= last_seq
    const char* label = "";
  };

  ShmAllreduce(MPI_Comm comm, MPI_Win window, int rank, int size, size_t slot_floats, std::string where);
  // The window and counters over `comm`, whoever its ranks are.
  static std::unique_ptr<ShmAllreduce> make(MPI_Comm comm, const std::string& where, size_t slot_floats);

  // Queues `whole` as slot-sized pieces and hands out a ticket.
  int enqueue(const Piece& whole, const char* label);
  // Slice k of a piece of `count`: 1/slices_, on cache-line boundaries.
  // Flat: slices_ == size_ and rank k reduces slice k.
  Slice slice(size_t count, int k) const { return split_range(count, slices_, k); }
  // Sums my slice of the piece in my own slot (one node).
  void reduce_flat(const Piece& p, uint64_t seq);
  // Hierarchical stages between stage and copy-back; true when one moved.
  bool sum_and_pass_on();
  bool update_and_gather();
  bool deliver();
  // Sum of slice `k` of the piece: previous nodes' partial (if any), then
  // this node's ranks in order.
  void sum_slice(const Piece& p, uint64_t seq, Slice s, const float* incoming, float* sum) const;
  // Where local rank q's contribution to the piece is.
  const float* source(const Piece& p, uint64_t seq, int q) const;
  float* stage(int rank, uint64_t seq) const;
  float* out(uint64_t seq) const;
  uint64_t min_counter(Counter Control::*which) const;
  // The arena holding [p, p + count) of this rank's segment, or -1.
  int arena_of(const float* p, size_t count) const;
  // The same place as `mine` (in this rank's part of arena `a`) in rank q's.
  float* in_rank(int a, int q, const float* mine) const {
    return arenas_[a].bases[q] + (mine - arenas_[a].bases[rank_]);
  }
  static int slot_of(uint64_t seq) { return static_cast<int>((seq - 1) % kSlots); }
  Piece& piece(uint64_t seq) { return pieces_[(seq - 1) % kMaxPieces]; }
  void publish(Counter Control::*which, uint64_t seq);

  MPI_Comm comm_;  // the owner's; outlives this object
  MPI_Win window_;
  int rank_;
  int size_;
  size_t slot_floats_;
  std::string where_;
  std::vector<Control*> control_;  // per rank
  std::vector<float*> stages_;     // per rank: kSlots slots of slot_floats_
  float* out_ = nullptr;       // kSlots slots of reduced pieces (in rank 0's segment)
  std::vector<Arena> arenas_;

  // Hierarchical only: slices per piece (the largest node's rank count),
  // the ones this rank reduces, one chain per such slice, and the node
  // communicator this object owns.
  int slices_;
  std::vector<int> handled_;
  std::vector<std::unique_ptr<NodeChain>> chains_;
  MPI_Comm owned_comm_ = MPI_COMM_NULL;
  uint64_t summed_seq_ = 1, gathered_seq_ = 1;  // next to sum, to gather

  // Next sequence number to hand out, and the next to stage, reduce, copy back.
  uint64_t next_seq_ = 1, stage_seq_ = 1, reduce_seq_ = 1, copy_seq_ = 1;
  std::vector<Piece> pieces_ = std::vector<Piece>(kMaxPieces);  // 1 MiB: on the heap
  std::array<Ticket, kMaxTickets> tickets_{};
  int next_ticket_ = 0;
};

// Small blocking reductions (synchronized BatchNorm's per-channel moments and
// gradient sums) through shared memory: every rank publishes its vector and
// then reduces all of them itself, in rank order, so every rank gets the same
// bits without a second round trip. A few microseconds instead of an MPI
// collective's tens. Vectors larger than a slot go in slot-sized chunks.
class ShmReplicatedReduce {
 public:
  static constexpr int kSlots = 2;
  static constexpr size_t kSlotBytes = size_t{64} << 10;

  // Collective; nullptr unless all ranks of `comm` share one node.
  static std::unique_ptr<ShmReplicatedReduce> create(MPI_Comm comm, const std::string& where);
  ~ShmReplicatedReduce();
  ShmReplicatedReduce(const ShmReplicatedReduce&) = delete;
  ShmReplicatedReduce& operator=(const ShmReplicatedReduce&) = delete;

  void sum(double* data, size_t count, const char* label, double timeout_seconds);
  void merge(Moments* data, size_t count, const char* label, double timeout_seconds);

 private:
  struct alignas(64) Counter {
    uint64_t value;
    char pad[64 - sizeof(uint64_t)];
  };
  struct Control {
    Counter staged, done;
  };
  ShmReplicatedReduce(MPI_Win window, int rank, int size, std::string where);
  template <typename T, typename Combine>
  void reduce(T* data, size_t count, const char* label, double timeout_seconds, Combine combine);
  uint64_t min_counter(Counter Control::*which) const;

  MPI_Win window_;
  int rank_;
  int size_;
  std::string where_;
  std::vector<Control*> control_;
  std::vector<char*> slots_;  // per rank: kSlots slots of kSlotBytes
  uint64_t seq_ = 0;
};

}  // namespace lockstep
