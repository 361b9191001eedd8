// The cross-node half of the hierarchical all-reduce: one slice of every
// piece, summed over the nodes of a multi-node job.
//
// Which algorithm, and why not Open MPI's own. Horovod's hierarchical
// all-reduce and NCCL hand the cross-node step to a ring (or tree). Ring,
// recursive doubling and Rabenseifner (tuned's and libnbc's allreduce and
// reduce_scatter) all add each element in an order that depends on how
// many nodes there are and where the element's block sits in the ring, so
// 2 nodes x 2 ranks and 1 node x 4 ranks would differ in the last bits. A
// pipelined chain does not: node 0 sends its node sum of the slice to node
// 1, which adds its ranks' gradients in local-rank order on top and sends
// it on, and so on. When every node holds consecutive ranks (mpirun's
// default --map-by core/slot, Slurm's block distribution), every element is
// summed ((g0 + g1) + g2) + g3 ... in global rank order, exactly as one
// node's shared-memory reduction sums it: identical bits for every layout.
// The last node then sends sub-slice j of the final sums to node j (a
// scatter), node j's rank updates that sub-slice (the optimizer stays
// sharded over every rank of every node) and an MPI_Iallgatherv returns
// the results to all nodes: the reduce-scatter + all-gather shape, with
// the reduce-scatter done in a fixed order.
//
// Cost: each node sends and receives the slice once in the chain and
// about once more in scatter + all-gather, ~2x the slice per link like a
// ring all-reduce (2(N-1)/N). The chain's N-1 hops add latency per piece,
// hidden by the ShmAllreduce pipeline (kSlots pieces in flight) and by
// backward still running; at hundreds of nodes that latency would show.
//
// Per-slot state, no allocation after construction. Every call is
// nonblocking; MPI failures throw lockstep::Error naming `where`.
#pragma once

#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lockstep {

struct Range {
  size_t begin, end;
  size_t size() const { return end - begin; }
};

// Part `index` of `parts` of [0, count): equal parts rounded up to whole
// cache lines (16 floats); the last parts may be shorter or empty.
Range split_range(size_t count, int parts, int index);

class NodeChain {
 public:
  // Takes `comm` (one rank per node, in node order) and frees it. `slots`
  // pieces may be in flight, each slice at most `max_floats` long.
  NodeChain(MPI_Comm comm, int slots, size_t max_floats, std::string where);
  ~NodeChain();
  NodeChain(const NodeChain&) = delete;
  NodeChain& operator=(const NodeChain&) = delete;

  int node() const { return node_; }
  int nodes() const { return nodes_; }
  // This node's sub-slice of a slice of `len` floats: what it updates.
  Range own(size_t len) const { return split_range(len, nodes_, node_); }

  // True once the previous node's partial sum of the piece in `slot` (len
  // floats) has arrived; posts the receive on first call. Always true on
  // the first node.
  bool incoming_ready(int slot, size_t len);
  const float* incoming(int slot) const { return node_ == 0 ? nullptr : buffer(slot, kIncoming); }
  // Where this node writes incoming + its own ranks' gradients.
  float* partial(int slot) { return buffer(slot, kPartial); }
  // Sends partial on to the next node; the last node sends each node its
  // sub-slice of the final sums. Posts the receive of this node's own.
  void pass_on(int slot, size_t len);
  // True once result(slot) + own(len).begin holds this node's sub-slice of
  // the final sums.
  bool own_ready(int slot);
  float* result(int slot) { return buffer(slot, kResult); }
  // All-gathers every node's own part of result(slot) (sums, or the
  // parameters updated from them) into all of result(slot).
  void start_gather(int slot, size_t len);
  // True once the all-gather and every send of the slot are complete.
  bool gathered(int slot);

 private:
  enum Buffer { kIncoming, kPartial, kResult, kBuffers };
  struct Slot {
    MPI_Request incoming = MPI_REQUEST_NULL, own = MPI_REQUEST_NULL, gather = MPI_REQUEST_NULL;
    std::vector<MPI_Request> sends;  // to the next node, or the scatter
    std::vector<int> counts, displs;  // of the all-gather
    bool incoming_posted = false, incoming_arrived = false;
  };
  float* buffer(int slot, Buffer which) const {
    return buffers_ + (static_cast<size_t>(slot) * kBuffers + which) * max_floats_;
  }
  // MPI_Test(all); throws on failure.
  bool test(int n, MPI_Request* requests, const char* what);
  void check(int rc, const char* call);

  MPI_Comm comm_;
  int node_ = 0, nodes_ = 1;
  size_t max_floats_;
  std::string where_;
  std::vector<float> storage_;
  float* buffers_ = nullptr;
  std::vector<Slot> slots_;
};

}  // namespace lockstep
