#include "distributed/node_chain.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "core/error.h"

namespace lockstep {
namespace {
constexpr size_t kAlign = 16;  // floats: whole cache lines
constexpr int kTagChain = 1, kTagOwn = 2;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

std::string mpi_error_text(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(text, len);
}
}  // namespace

Range split_range(size_t count, int parts, int index) {
  const size_t per = round_up((count + parts - 1) / parts, kAlign);
  const size_t begin = std::min(count, static_cast<size_t>(index) * per);
  return Range{begin, std::min(count, begin + per)};
}

NodeChain::NodeChain(MPI_Comm comm, int slots, size_t max_floats, std::string where)
    : comm_(comm), max_floats_(round_up(std::max<size_t>(max_floats, 1), kAlign)), where_(std::move(where)) {
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &node_);
  MPI_Comm_size(comm_, &nodes_);
  if (max_floats_ > static_cast<size_t>(INT_MAX)) throw_runtime_error(where_, "node chain slice too large");
  // One extra line so the buffers start on a cache line.
  storage_.assign(static_cast<size_t>(slots) * kBuffers * max_floats_ + kAlign, 0.0f);
  buffers_ = reinterpret_cast<float*>(round_up(reinterpret_cast<uintptr_t>(storage_.data()), kAlign * sizeof(float)));
  slots_.resize(static_cast<size_t>(slots));
  for (Slot& s : slots_) {
    s.sends.assign(static_cast<size_t>(nodes_), MPI_REQUEST_NULL);
    s.counts.assign(static_cast<size_t>(nodes_), 0);
    s.displs.assign(static_cast<size_t>(nodes_), 0);
  }
}

NodeChain::~NodeChain() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm_);
}

void NodeChain::check(int rc, const char* call) {
  if (rc != MPI_SUCCESS) {
    throw_runtime_error(where_, std::string(call) + " failed in the cross-node all-reduce (node " +
                                    std::to_string(node_) + " of " + std::to_string(nodes_) +
                                    "): " + mpi_error_text(rc));
  }
}

bool NodeChain::test(int n, MPI_Request* requests, const char* what) {
  int done = 0;
  check(MPI_Testall(n, requests, &done, MPI_STATUSES_IGNORE), what);
  return done != 0;
}

bool NodeChain::incoming_ready(int slot, size_t len) {
  if (node_ == 0) return true;
  Slot& s = slots_[slot];
  if (s.incoming_arrived) return true;
  if (!s.incoming_posted) {
    check(MPI_Irecv(buffer(slot, kIncoming), static_cast<int>(len), MPI_FLOAT, node_ - 1, kTagChain, comm_,
                    &s.incoming),
          "MPI_Irecv");
    s.incoming_posted = true;
  }
  s.incoming_arrived = test(1, &s.incoming, "MPI_Test");
  return s.incoming_arrived;
}

void NodeChain::pass_on(int slot, size_t len) {
  Slot& s = slots_[slot];
  const float* sums = partial(slot);
  const Range mine = own(len);
  s.incoming_posted = s.incoming_arrived = false;  // for the slot's next piece
  if (node_ + 1 < nodes_) {
    check(MPI_Isend(sums, static_cast<int>(len), MPI_FLOAT, node_ + 1, kTagChain, comm_, &s.sends[0]), "MPI_Isend");
    check(MPI_Irecv(result(slot) + mine.begin, static_cast<int>(mine.size()), MPI_FLOAT, nodes_ - 1, kTagOwn, comm_,
                    &s.own),
          "MPI_Irecv");
    return;
  }
  // The last node holds the final sums: each node gets the sub-slice it owns.
  for (int j = 0; j + 1 < nodes_; ++j) {
    const Range r = split_range(len, nodes_, j);
    check(MPI_Isend(sums + r.begin, static_cast<int>(r.size()), MPI_FLOAT, j, kTagOwn, comm_, &s.sends[j]),
          "MPI_Isend");
  }
  std::memcpy(result(slot) + mine.begin, sums + mine.begin, mine.size() * sizeof(float));
}

bool NodeChain::own_ready(int slot) { return test(1, &slots_[slot].own, "MPI_Test"); }

void NodeChain::start_gather(int slot, size_t len) {
  Slot& s = slots_[slot];
  for (int j = 0; j < nodes_; ++j) {
    const Range r = split_range(len, nodes_, j);
    s.counts[j] = static_cast<int>(r.size());
    s.displs[j] = static_cast<int>(r.begin);
  }
  check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, result(slot), s.counts.data(), s.displs.data(), MPI_FLOAT,
                        comm_, &s.gather),
        "MPI_Iallgatherv");
}

bool NodeChain::gathered(int slot) {
  Slot& s = slots_[slot];
  return test(1, &s.gather, "MPI_Test") && test(nodes_, s.sends.data(), "MPI_Testall");
}

}  // namespace lockstep
