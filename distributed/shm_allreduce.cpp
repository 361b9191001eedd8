#include "distributed/shm_allreduce.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>

#include "core/error.h"
#include "core/kernels/kernels.h"
#include "distributed/backoff.h"

namespace lockstep {
namespace {

constexpr size_t kPage = 4096;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

uint64_t load_acquire(const uint64_t& v) { return __atomic_load_n(&v, __ATOMIC_ACQUIRE); }

// Every live instance, for progress_all(). One thread drives MPI and these.
std::vector<ShmAllreduce*>& instances() {
  static std::vector<ShmAllreduce*> all;
  return all;
}

// Polls until done(), moving every shared-memory reduction on meanwhile
// (other ranks may be waiting for this rank's part); after `timeout_seconds`
// without any progress, an error naming the label.
template <typename Done>
void wait_for(Done done, const std::string& where, const char* label, int ranks, double timeout_seconds) {
  using Clock = std::chrono::steady_clock;
  auto since = Clock::now();
  const auto limit = std::chrono::duration<double>(timeout_seconds);
  while (!done()) {
    if (ShmAllreduce::progress_all()) {
      since = Clock::now();
      continue;
    }
    const auto waited = Clock::now() - since;
    if (waited >= limit) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", timeout_seconds);
      throw_runtime_error(where, std::string("no progress for ") + seconds + " s in all-reduce of '" + label +
                                     "' (shared memory, communicator of " + std::to_string(ranks) +
                                     " ranks); another rank has probably failed, stopped or skipped "
                                     "this collective");
    }
    back_off(waited);
  }
}

// Every rank gets the same answer: if one node holds all ranks, no other
// node holds any.
bool all_on_one_node(MPI_Comm comm) {
  MPI_Comm node = MPI_COMM_NULL;
  if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS) return false;
  int node_size = 0, size = 0;
  MPI_Comm_size(node, &node_size);
  MPI_Comm_size(comm, &size);
  MPI_Comm_free(&node);
  return node_size == size;
}

// A shared window of `bytes` on this rank; bases[q] = rank q's segment,
// aligned to kLine bytes. Open MPI aligns segments to 8 bytes only (osc/sm
// with alloc_shared_noncontig gave 0x...108), while Control needs 64
// (UBSan: misaligned member access) and the arenas want whole cache lines:
// so a line more is asked for and each base rounded up. Every process maps
// the shared memory at a page-aligned address, so the rounding skips the
// same bytes of a segment on every rank.
constexpr size_t kLine = 64;
MPI_Win allocate_window(MPI_Comm comm, size_t bytes, const std::string& where, std::vector<char*>& bases) {
  bytes += kLine;
  MPI_Info info;
  MPI_Info_create(&info);
  // Each rank's segment on its own pages (first touch puts them near it).
  MPI_Info_set(info, "alloc_shared_noncontig", "true");
  void* base = nullptr;
  MPI_Win window = MPI_WIN_NULL;
  const int rc = MPI_Win_allocate_shared(static_cast<MPI_Aint>(bytes), 1, info, comm, &base, &window);
  MPI_Info_free(&info);
  if (rc != MPI_SUCCESS) {
    throw_runtime_error(where, "MPI_Win_allocate_shared of " + std::to_string(bytes >> 10) +
                                   " KiB for shared-memory reductions failed (set "
                                   "LOCKSTEP_SHM_ALLREDUCE=0 to use MPI's collectives)");
  }
  int size = 0;
  MPI_Comm_size(comm, &size);
  bases.assign(size, nullptr);
  for (int q = 0; q < size; ++q) {
    MPI_Aint qbytes = 0;
    int disp = 0;
    void* qbase = nullptr;
    MPI_Win_shared_query(window, q, &qbytes, &disp, &qbase);
    bases[q] = reinterpret_cast<char*>(round_up(reinterpret_cast<uintptr_t>(qbase), kLine));
  }
  return window;
}

void free_window(MPI_Win& window) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  // MPI_Win_free synchronises all ranks. While an error unwinds the stack
  // only this rank is here (the job is about to end): leave the window to
  // MPI_Finalize or MPI_Abort rather than hang.
  if (!finalized && std::uncaught_exceptions() == 0) MPI_Win_free(&window);
}

}  // namespace

std::unique_ptr<ShmAllreduce> ShmAllreduce::create(MPI_Comm comm, const std::string& where,
                                                   size_t slot_floats) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  if (size < 2 || slot_floats == 0 || !all_on_one_node(comm)) return nullptr;
  return make(comm, where, slot_floats);
}

std::unique_ptr<ShmAllreduce> ShmAllreduce::make(MPI_Comm comm, const std::string& where, size_t slot_floats) {
  int size = 1, rank = 0;
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(comm, &rank);
  slot_floats = round_up(slot_floats, kPage / sizeof(float));
  const size_t slots_bytes = kSlots * slot_floats * sizeof(float);
  const size_t control_bytes = round_up(sizeof(Control), kPage);
  // Rank 0's segment also holds the reduced pieces.
  const size_t bytes = control_bytes + slots_bytes + (rank == 0 ? slots_bytes : 0);
  std::vector<char*> bases;
  MPI_Win window = allocate_window(comm, bytes, where, bases);
  std::unique_ptr<ShmAllreduce> shm(new ShmAllreduce(comm, window, rank, size, slot_floats, where));
  for (int q = 0; q < size; ++q) {
    shm->control_[q] = reinterpret_cast<Control*>(bases[q]);
    shm->stages_[q] = reinterpret_cast<float*>(bases[q] + control_bytes);
  }
  shm->out_ = reinterpret_cast<float*>(bases[0] + control_bytes + slots_bytes);
  Control* mine = shm->control_[rank];
  mine->staged.value = mine->reduced.value = mine->copied.value = 0;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  // Nobody reads a counter before its owner has zeroed it. (The caller ran a
  // barrier with a deadline before this call, so every rank is here.)
  MPI_Barrier(comm);
  return shm;
}

std::unique_ptr<ShmAllreduce> ShmAllreduce::create_hierarchical(MPI_Comm world, MPI_Comm node,
                                                                const std::string& where, bool room,
                                                                size_t slot_floats) {
  int node_rank = 0, node_size = 1, world_rank = 0;
  MPI_Comm_rank(node, &node_rank);
  MPI_Comm_size(node, &node_size);
  MPI_Comm_rank(world, &world_rank);
  // The node's lowest world rank orders the nodes in every chain alike.
  int leader = world_rank, slices = node_size;
  MPI_Allreduce(MPI_IN_PLACE, &leader, 1, MPI_INT, MPI_MIN, node);
  MPI_Allreduce(MPI_IN_PLACE, &slices, 1, MPI_INT, MPI_MAX, world);
  std::unique_ptr<ShmAllreduce> shm;
  // Decided per node (the window is collective over it), then world-wide.
  int failed = room ? 0 : 1;
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, node);
  try {
    if (failed == 0) shm = make(node, where, std::max<size_t>(slot_floats, 1));
  } catch (const Error&) {
    failed = 1;
  }
  // One node without its window means no hierarchy anywhere.
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, world);
  if (failed != 0) {
    shm.reset();
    MPI_Comm_free(&node);
    return nullptr;
  }
  shm->owned_comm_ = node;
  shm->slices_ = slices;
  const size_t max_slice = split_range(shm->slot_floats_, slices, 0).size();
  // Slice k is reduced by local rank k mod node_size: on a node with fewer
  // ranks than the largest, some ranks take several.
  for (int k = 0; k < slices; ++k) {
    const bool mine = k % node_size == node_rank;
    MPI_Comm chain = MPI_COMM_NULL;
    if (MPI_Comm_split(world, mine ? 0 : MPI_UNDEFINED, leader, &chain) != MPI_SUCCESS)
      throw_runtime_error(where, "MPI_Comm_split for the cross-node all-reduce failed");
    if (!mine) continue;
    shm->handled_.push_back(k);
    shm->chains_.push_back(std::make_unique<NodeChain>(chain, kSlots, max_slice, where));
  }
  return shm;
}

ShmAllreduce::ShmAllreduce(MPI_Comm comm, MPI_Win window, int rank, int size, size_t slot_floats,
                           std::string where)
    : comm_(comm),
      window_(window),
      rank_(rank),
      size_(size),
      slot_floats_(slot_floats),
      where_(std::move(where)),
      control_(size, nullptr),
      stages_(size, nullptr),
      slices_(size) {
  instances().push_back(this);
}

bool ShmAllreduce::progress_all() {
  bool any = false;
  for (ShmAllreduce* shm : instances()) any |= shm->progress();
  return any;
}

ShmAllreduce::~ShmAllreduce() {
  auto& all = instances();
  all.erase(std::remove(all.begin(), all.end(), this), all.end());
  for (Arena& a : arenas_) free_window(a.window);
  free_window(window_);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owned_comm_ != MPI_COMM_NULL && !finalized && std::uncaught_exceptions() == 0) MPI_Comm_free(&owned_comm_);
}

float* ShmAllreduce::stage(int rank, uint64_t seq) const {
  return stages_[rank] + static_cast<size_t>(slot_of(seq)) * slot_floats_;
}

float* ShmAllreduce::out(uint64_t seq) const { return out_ + static_cast<size_t>(slot_of(seq)) * slot_floats_; }

uint64_t ShmAllreduce::min_counter(Counter Control::*which) const {
  uint64_t m = UINT64_MAX;
  for (int q = 0; q < size_; ++q) m = std::min(m, load_acquire((control_[q]->*which).value));
  return m;
}

void ShmAllreduce::publish(Counter Control::*which, uint64_t seq) {
  __atomic_store_n(&(control_[rank_]->*which).value, seq, __ATOMIC_RELEASE);
}

int ShmAllreduce::start(float* data, size_t count, const char* label) {
  return enqueue(Piece{data, data, count, nullptr, 0, -1}, label);
}

int ShmAllreduce::start_update(float* grads, float* params, size_t count, size_t offset, ReducedRangeUpdate& update,
                               const char* label) {
  const int a = arena_of(grads, count);
  const bool zero_copy = a >= 0 && grads != params && arena_of(params, count) == a;
  return enqueue(Piece{grads, params, count, &update, offset, zero_copy ? a : -1}, label);
}

float* ShmAllreduce::allocate_arena(size_t floats) {
  std::vector<char*> bases;
  const size_t bytes = round_up(std::max<size_t>(floats, 1) * sizeof(float), kPage);
  Arena arena{allocate_window(comm_, bytes, where_, bases), {}, floats};
  for (char* b : bases) arena.bases.push_back(reinterpret_cast<float*>(b));
  arenas_.push_back(std::move(arena));
  return arenas_.back().bases[rank_];
}

int ShmAllreduce::arena_of(const float* p, size_t count) const {
  for (size_t a = 0; a < arenas_.size(); ++a) {
    const float* base = arenas_[a].bases[rank_];
    if (p >= base && p + count <= base + arenas_[a].floats) return static_cast<int>(a);
  }
  return -1;
}

int ShmAllreduce::enqueue(const Piece& whole, const char* label) {
  const size_t count = whole.count;
  int ticket = -1;
  for (int i = 0; i < kMaxTickets; ++i) {
    const int t = (next_ticket_ + i) % kMaxTickets;
    if (!tickets_[t].active) {
      ticket = t;
      break;
    }
  }
  const size_t pieces = (count + slot_floats_ - 1) / slot_floats_;
  if (ticket < 0 || (next_seq_ - copy_seq_) + pieces > kMaxPieces) {
    throw_runtime_error(where_, std::string("cannot start all-reduce of '") + label +
                                    "': too many shared-memory all-reduces in flight (wait() for earlier "
                                    "tickets first)");
  }
  next_ticket_ = (ticket + 1) % kMaxTickets;
  for (size_t done = 0; done < count; done += slot_floats_) {
    piece(next_seq_++) = Piece{whole.data + done, whole.home + done, std::min(slot_floats_, count - done),
                               whole.update, whole.offset + done, whole.arena};
  }
  tickets_[ticket] = Ticket{true, next_seq_ - 1, label};
  progress();
  return ticket;
}

const float* ShmAllreduce::source(const Piece& p, uint64_t seq, int q) const {
  if (q == rank_) return p.data;
  return p.arena >= 0 ? in_rank(p.arena, q, p.data) : stage(q, seq);
}

void ShmAllreduce::reduce_flat(const Piece& p, uint64_t seq) {
  const Slice mine = slice(p.count, rank_);
  const size_t len = mine.size();
  float* __restrict sum = out(seq) + mine.begin;
  const float* __restrict a = source(p, seq, 0) + mine.begin;
  const float* __restrict b = source(p, seq, 1) + mine.begin;
  // Rank order, whoever reduces: ((r0 + r1) + r2) + ... (the loops:
  // core/kernels/variant.inc, the same bits on every ISA path).
  const kernels::Table& k = kernels::table();
  if (p.update != nullptr) {
    // Sharded step: the sum is this rank's to apply; the others receive
    // the parameters it produces.
    k.add(a, b, sum, len);
    for (int q = 2; q < size_; ++q) k.add_into(sum, source(p, seq, q) + mine.begin, len);
    float* params = p.home + mine.begin;
    p.update->apply(p.offset + mine.begin, len, sum, params);
    if (p.arena >= 0) {
      for (int q = 0; q < size_; ++q)
        if (q != rank_) std::memcpy(in_rank(p.arena, q, params), params, len * sizeof(float));
    } else {
      std::memcpy(sum, params, len * sizeof(float));
    }
  } else if (size_ == 2) {
    float* __restrict back = p.data + mine.begin;  // my slice's result goes straight home too
    k.add_twice(a, b, sum, back, len);
  } else {
    k.add(a, b, sum, len);
    for (int q = 2; q < size_; ++q) k.add_into(sum, source(p, seq, q) + mine.begin, len);
    std::memcpy(p.data + mine.begin, sum, len * sizeof(float));
  }
}

void ShmAllreduce::sum_slice(const Piece& p, uint64_t seq, Slice s, const float* incoming, float* sum) const {
  const kernels::Table& k = kernels::table();
  const size_t len = s.size();
  int q = 0;
  if (incoming != nullptr) {  // ((earlier nodes) + r0) + r1 ...: world-rank order
    k.add(incoming, source(p, seq, 0) + s.begin, sum, len);
    q = 1;
  } else if (size_ == 1) {
    std::memcpy(sum, source(p, seq, 0) + s.begin, len * sizeof(float));
    q = 1;
  } else {
    k.add(source(p, seq, 0) + s.begin, source(p, seq, 1) + s.begin, sum, len);
    q = 2;
  }
  for (; q < size_; ++q) k.add_into(sum, source(p, seq, q) + s.begin, len);
}

// Hierarchical, stage 1: my slices of the piece summed on top of the
// previous nodes' partial sums and passed on, once every rank of the node
// has staged it and every rank has copied back the piece that used the
// slot kSlots pieces ago (so its chain buffers and output slot are free).
bool ShmAllreduce::sum_and_pass_on() {
  const uint64_t seq = summed_seq_;
  if (seq >= stage_seq_ || min_counter(&Control::staged) < seq) return false;
  if (seq > kSlots && min_counter(&Control::copied) < seq - kSlots) return false;
  const Piece& p = piece(seq);
  const int slot = slot_of(seq);
  for (size_t c = 0; c < chains_.size(); ++c)
    if (!chains_[c]->incoming_ready(slot, slice(p.count, handled_[c]).size())) return false;
  for (size_t c = 0; c < chains_.size(); ++c) {
    const Slice s = slice(p.count, handled_[c]);
    NodeChain& chain = *chains_[c];
    sum_slice(p, seq, s, chain.incoming(slot), chain.partial(slot));
    chain.pass_on(slot, s.size());
  }
  ++summed_seq_;
  return true;
}

// Stage 2: the sub-slice of the final sums this rank owns is updated (the
// optimizer sharded over the world) and all-gathered, in piece order so
// every chain starts its all-gathers in the same order on every node.
bool ShmAllreduce::update_and_gather() {
  const uint64_t seq = gathered_seq_;
  if (seq >= summed_seq_) return false;
  const int slot = slot_of(seq);
  for (auto& chain : chains_)
    if (!chain->own_ready(slot)) return false;
  const Piece& p = piece(seq);
  for (size_t c = 0; c < chains_.size(); ++c) {
    const Slice s = slice(p.count, handled_[c]);
    NodeChain& chain = *chains_[c];
    const Range own = chain.own(s.size());
    if (p.update != nullptr) {
      float* summed = chain.result(slot) + own.begin;
      float* params = p.home + s.begin + own.begin;
      p.update->apply(p.offset + s.begin + own.begin, own.size(), summed, params);
      std::memcpy(summed, params, own.size() * sizeof(float));
    }
    chain.start_gather(slot, s.size());
  }
  ++gathered_seq_;
  return true;
}

// Stage 3: the gathered slices go where this node's ranks copy them from.
bool ShmAllreduce::deliver() {
  const uint64_t seq = reduce_seq_;
  if (seq >= gathered_seq_) return false;
  const int slot = slot_of(seq);
  for (auto& chain : chains_)
    if (!chain->gathered(slot)) return false;
  const Piece& p = piece(seq);
  for (size_t c = 0; c < chains_.size(); ++c) {
    const Slice s = slice(p.count, handled_[c]);
    const float* result = chains_[c]->result(slot);
    if (p.arena >= 0) {  // zero-copy: straight into every rank's parameters
      for (int q = 0; q < size_; ++q)
        std::memcpy(in_rank(p.arena, q, p.home + s.begin), result, s.size() * sizeof(float));
    } else {
      std::memcpy(out(seq) + s.begin, result, s.size() * sizeof(float));
    }
  }
  publish(&Control::reduced, seq);
  ++reduce_seq_;
  return true;
}

bool ShmAllreduce::progress() {
  bool any = false;
  for (;;) {
    bool moved = false;
    // Stage: my piece into my slot, once every rank has reduced the piece
    // that used the slot kSlots pieces ago.
    if (stage_seq_ < next_seq_ &&
        (stage_seq_ <= kSlots || min_counter(&Control::reduced) >= stage_seq_ - kSlots)) {
      const Piece& p = piece(stage_seq_);
      float* slot = stage(rank_, stage_seq_);
      if (p.arena >= 0 || size_ == 1) {
        // zero-copy, or nobody to read it: the data stays where it is
      } else if (hierarchical()) {  // my slices are sums of several ranks' too
        std::memcpy(slot, p.data, p.count * sizeof(float));
      } else {  // only what the other ranks reduce: my own slice I read from p.data
        const Slice mine = slice(p.count, rank_);
        std::memcpy(slot, p.data, mine.begin * sizeof(float));
        std::memcpy(slot + mine.end, p.data + mine.end, (p.count - mine.end) * sizeof(float));
      }
      publish(&Control::staged, stage_seq_);
      ++stage_seq_;
      moved = true;
    }
    if (hierarchical()) {
      moved |= sum_and_pass_on();
      moved |= update_and_gather();
      moved |= deliver();
    } else if (reduce_seq_ < stage_seq_ && min_counter(&Control::staged) >= reduce_seq_ &&
               (reduce_seq_ <= kSlots || min_counter(&Control::copied) >= reduce_seq_ - kSlots)) {
      // Reduce: my 1/p of the piece, once every rank has staged it and every
      // rank has copied back the piece that used the output slot before.
      reduce_flat(piece(reduce_seq_), reduce_seq_);
      publish(&Control::reduced, reduce_seq_);
      ++reduce_seq_;
      moved = true;
    }
    // Copy back: the whole reduced piece, once every rank has reduced its part.
    if (copy_seq_ < reduce_seq_ && min_counter(&Control::reduced) >= copy_seq_) {
      const Piece& p = piece(copy_seq_);
      const float* reduced = out(copy_seq_);
      if (p.arena >= 0) {
        // zero-copy: the reducing ranks wrote the parameters here
      } else if (hierarchical()) {
        std::memcpy(p.home, reduced, p.count * sizeof(float));
      } else {  // the other ranks' slices; mine is already home
        const Slice mine = slice(p.count, rank_);
        std::memcpy(p.home, reduced, mine.begin * sizeof(float));
        std::memcpy(p.home + mine.end, reduced + mine.end, (p.count - mine.end) * sizeof(float));
      }
      publish(&Control::copied, copy_seq_);
      ++copy_seq_;
      moved = true;
    }
    if (!moved) return any;
    any = true;
  }
}

void ShmAllreduce::wait(int ticket, double timeout_seconds) {
  if (!active(ticket)) {
    throw_runtime_error(where_, "wait() on shared-memory ticket " + std::to_string(ticket) +
                                    ", which is not an outstanding request");
  }
  Ticket& t = tickets_[ticket];
  wait_for([&] { return copy_seq_ > t.last_seq; }, where_, t.label, size_, timeout_seconds);
  t.active = false;
}

// ---- ShmReplicatedReduce ----

std::unique_ptr<ShmReplicatedReduce> ShmReplicatedReduce::create(MPI_Comm comm, const std::string& where) {
  int size = 1, rank = 0;
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(comm, &rank);
  if (size < 2 || !all_on_one_node(comm)) return nullptr;
  const size_t control_bytes = round_up(sizeof(Control), kPage);
  std::vector<char*> bases;
  MPI_Win window = allocate_window(comm, control_bytes + kSlots * kSlotBytes, where, bases);
  std::unique_ptr<ShmReplicatedReduce> shm(new ShmReplicatedReduce(window, rank, size, where));
  for (int q = 0; q < size; ++q) {
    shm->control_[q] = reinterpret_cast<Control*>(bases[q]);
    shm->slots_[q] = bases[q] + control_bytes;
  }
  shm->control_[rank]->staged.value = shm->control_[rank]->done.value = 0;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  MPI_Barrier(comm);
  return shm;
}

ShmReplicatedReduce::ShmReplicatedReduce(MPI_Win window, int rank, int size, std::string where)
    : window_(window), rank_(rank), size_(size), where_(std::move(where)), control_(size), slots_(size) {}

ShmReplicatedReduce::~ShmReplicatedReduce() { free_window(window_); }

uint64_t ShmReplicatedReduce::min_counter(Counter Control::*which) const {
  uint64_t m = UINT64_MAX;
  for (int q = 0; q < size_; ++q) m = std::min(m, load_acquire((control_[q]->*which).value));
  return m;
}

template <typename T, typename Combine>
void ShmReplicatedReduce::reduce(T* data, size_t count, const char* label, double timeout_seconds,
                                 Combine combine) {
  const size_t per_slot = kSlotBytes / sizeof(T);
  for (size_t done = 0; done < count; done += per_slot) {
    const size_t n = std::min(per_slot, count - done);
    const uint64_t seq = ++seq_;
    const size_t offset = static_cast<size_t>((seq - 1) % kSlots) * kSlotBytes;
    // The slot is free once every rank has read what it held kSlots rounds ago.
    if (seq > kSlots) {
      wait_for([&] { return min_counter(&Control::done) >= seq - kSlots; }, where_, label, size_, timeout_seconds);
    }
    std::memcpy(slots_[rank_] + offset, data + done, n * sizeof(T));
    __atomic_store_n(&control_[rank_]->staged.value, seq, __ATOMIC_RELEASE);
    wait_for([&] { return min_counter(&Control::staged) >= seq; }, where_, label, size_, timeout_seconds);
    // Rank order on every rank: the same bits everywhere.
    T* out = data + done;
    std::memcpy(out, slots_[0] + offset, n * sizeof(T));
    for (int q = 1; q < size_; ++q) {
      const T* in = reinterpret_cast<const T*>(slots_[q] + offset);
      for (size_t i = 0; i < n; ++i) combine(out[i], in[i]);
    }
    __atomic_store_n(&control_[rank_]->done.value, seq, __ATOMIC_RELEASE);
  }
}

void ShmReplicatedReduce::sum(double* data, size_t count, const char* label, double timeout_seconds) {
  reduce(data, count, label, timeout_seconds, [](double& a, double b) { a += b; });
}

void ShmReplicatedReduce::merge(Moments* data, size_t count, const char* label, double timeout_seconds) {
  reduce(data, count, label, timeout_seconds, [](Moments& a, const Moments& b) { merge_moments(a, b); });
}

}  // namespace lockstep
