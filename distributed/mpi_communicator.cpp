#include "distributed/mpi_communicator.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <type_traits>
#include <utility>

#include <sys/statvfs.h>

#include "core/error.h"
#include "distributed/backoff.h"

namespace lockstep {
namespace {

// How long a destructor waits for requests that timed out (or were never
// waited) before leaving them to MPI_Finalize.
constexpr double kDrainSeconds = 1.0;

static_assert(std::is_standard_layout_v<Moments> && sizeof(Moments) == 3 * sizeof(double),
              "Moments is sent as three contiguous doubles");

// MPI may combine partial results in a different order on each rank, and
// merge_moments(a, b) and merge_moments(b, a) differ in the last bits. Putting
// the operands in a canonical order first makes the operation commutative
// bit for bit, so every replica sees identical statistics.
bool canonically_before(const Moments& a, const Moments& b) {
  if (a.count != b.count) return a.count < b.count;
  if (a.mean != b.mean) return a.mean < b.mean;
  return a.m2 < b.m2;
}

void merge_moments_op(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const Moments*>(in);
  auto* b = static_cast<Moments*>(inout);
  for (int i = 0; i < *len; ++i) {
    Moments x = a[i], y = b[i];
    if (canonically_before(y, x)) std::swap(x, y);
    merge_moments(x, y);
    b[i] = x;
  }
}

struct MomentsMpi {
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_Op op = MPI_OP_NULL;
};

// Created once per process, on first use (after MPI_Init); MPI_Finalize
// releases them.
const MomentsMpi& moments_mpi() {
  static const MomentsMpi m = [] {
    MomentsMpi r;
    MPI_Type_contiguous(3, MPI_DOUBLE, &r.type);
    MPI_Type_commit(&r.type);
    MPI_Op_create(&merge_moments_op, /*commute=*/1, &r.op);
    return r;
  }();
  return m;
}

std::string mpi_error_string(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(text, len);
}

bool mpi_finalized() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized != 0;
}

std::string seconds_string(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

// Where Open MPI's shared windows live (osc/sm's backing files), and whether
// `bytes` more fit there. A tmpfs that runs out either fails the window's
// allocation or, where the backing file is only truncated to size, kills the
// process (SIGBUS) at the first touch of a page it cannot back; checking the
// room first turns both into a fallback. Containers often give /dev/shm 64 MB.
bool shared_memory_has_room(uint64_t bytes, std::string* dir_out, uint64_t* free_out) {
  const char* dir = std::getenv("OMPI_MCA_osc_sm_backing_directory");
  if (dir == nullptr || *dir == '\0') dir = "/dev/shm";
  *dir_out = dir;
  struct statvfs st;
  if (statvfs(dir, &st) != 0) return true;  // not there: Open MPI uses its session directory
  *free_out = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  return *free_out >= bytes;
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, bool owned)
    : comm_(comm), owned_(owned), max_chunk_(static_cast<size_t>(INT_MAX)) {
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  where_ = "rank " + std::to_string(world_rank);
  requests_.fill(MPI_REQUEST_NULL);
  state_.fill(SlotState::kFree);
  run_length_.fill(0);
  op_.fill("");
  label_.fill("");
  moments_mpi();
  if (size_ > 1) {
    // Any rank may opt out; a timed collective first, so a missing rank is
    // an error rather than a hang in MPI_Win_allocate_shared.
    const char* env = std::getenv("LOCKSTEP_SHM_ALLREDUCE");
    int64_t off = (env != nullptr && std::string(env) == "0") ? 1 : 0;
    allreduce_max(&off, 1, "shared-memory all-reduce set-up");
    if (off == 0) set_up_shared_memory();
  }
}

MPI_Comm MpiCommunicator::node_communicator() {
  const char* id = std::getenv("LOCKSTEP_NODE_ID");
  const bool pretend = id != nullptr && *id != '\0';
  int64_t votes[2] = {pretend ? 1 : 0, pretend ? 0 : 1};
  allreduce_max(votes, 2, "node layout set-up");
  if (votes[0] != 0 && votes[1] != 0)
    throw_input_error("LOCKSTEP_NODE_ID", "set on some ranks but not on others: set it on every rank or none");
  MPI_Comm node = MPI_COMM_NULL;
  int rc = MPI_SUCCESS;
  if (pretend) {
    char* end = nullptr;
    const long color = std::strtol(id, &end, 10);
    if (*end != '\0' || color < 0 || color > INT_MAX)
      throw_input_error("LOCKSTEP_NODE_ID", std::string("must be an integer >= 0, got '") + id + "'");
    rc = MPI_Comm_split(comm_, static_cast<int>(color), rank_, &node);
  } else {
    rc = MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node);
  }
  check(rc, pretend ? "MPI_Comm_split" : "MPI_Comm_split_type", -1);
  return node;
}

void MpiCommunicator::set_up_shared_memory() {
  MPI_Comm node = node_communicator();
  int node_size = 1;
  MPI_Comm_size(node, &node_size);
  if (node_size == size_) {  // one node: every rank says so
    MPI_Comm_free(&node);
    shm_ = ShmAllreduce::create(comm_, where_);
    if (shm_) shm_small_ = ShmReplicatedReduce::create(comm_, where_);
    shm_enabled_ = shm_ != nullptr && shm_small_ != nullptr;
    return;
  }
  const char* env = std::getenv("LOCKSTEP_HIERARCHICAL");
  int64_t flat = (env != nullptr && std::string(env) == "0") ? 1 : 0;
  allreduce_max(&flat, 1, "hierarchical all-reduce set-up");
  if (flat != 0) {
    MPI_Comm_free(&node);
    return;
  }
  // Each rank's staging slots, and rank 0's output slots: about 8 MiB each.
  const uint64_t need = static_cast<uint64_t>(node_size + 1) * ShmAllreduce::kSlots *
                        ShmAllreduce::kDefaultSlotFloats * sizeof(float);
  std::string dir;
  uint64_t free_bytes = 0;
  const bool room = shared_memory_has_room(need, &dir, &free_bytes);
  shm_ = ShmAllreduce::create_hierarchical(comm_, node, where_, room);  // takes `node`
  shm_enabled_ = shm_ != nullptr;
  // Once per job: by world rank 0, and not again for communicators split
  // from the world later.
  static bool warned = false;
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  if (!shm_enabled_ && world_rank == 0 && !warned) {
    warned = true;
    std::fprintf(stderr,
                 "warning: %s: a node could not make the shared-memory window for the hierarchical all-reduce: "
                 "gradients are summed with MPI_Iallreduce over all ranks and the optimizer is not sharded\n",
                 where_.c_str());
  }
}

template <typename T, typename Combine>
void MpiCommunicator::gather_in_rank_order(T* data, size_t count, Combine combine) {
  // Small vectors only (BatchNormalization's per-channel statistics):
  // size() copies of `count` arrive on every rank.
  const size_t bytes = count * sizeof(T);
  if (gathered_.size() < bytes * static_cast<size_t>(size_)) gathered_.resize(bytes * static_cast<size_t>(size_));
  allgather(data, gathered_.data(), bytes);
  const T* all = reinterpret_cast<const T*>(gathered_.data());
  for (size_t i = 0; i < count; ++i) {
    T v = all[i];
    for (int q = 1; q < size_; ++q) combine(v, all[static_cast<size_t>(q) * count + i]);
    data[i] = v;
  }
}

MpiCommunicator::~MpiCommunicator() {
  if (mpi_finalized()) return;  // a sub-communicator that outlived the Runtime
  shm_small_.reset();
  shm_.reset();
  // Requests that timed out may complete once the late rank arrives; give
  // them a moment so MPI can retire them, then leave the rest to MPI.
  for (int i = 0; i < kMaxRequests; ++i) {
    if (run_length_[i] == 0 || state_[i] == SlotState::kFree) continue;
    try {
      poll(i, run_length_[i], kDrainSeconds);
    } catch (const Error&) {
      // Destructors must not throw; the job is ending with an error anyway.
    }
  }
  if (owned_) MPI_Comm_free(&comm_);
}

void MpiCommunicator::set_timeout_seconds(double seconds) {
  if (!(seconds > 0)) throw_input_error("timeout_seconds", "must be > 0, got " + seconds_string(seconds));
  timeout_seconds_ = seconds;
}

void MpiCommunicator::set_max_chunk_for_testing(size_t count) {
  max_chunk_ = std::clamp<size_t>(count, 1, static_cast<size_t>(INT_MAX));
  shm_enabled_ = false;  // the chunking under test is MPI's
}

int MpiCommunicator::chunk(size_t remaining) const {
  return static_cast<int>(std::min(remaining, max_chunk_));
}

int MpiCommunicator::acquire(int n, const char* op, const char* label) {
  for (int first = 0; first + n <= kMaxRequests; ++first) {
    int free_run = 0;
    while (free_run < n && state_[first + free_run] == SlotState::kFree) ++free_run;
    if (free_run < n) {
      first += free_run;  // the slot at first + free_run is busy; skip past it
      continue;
    }
    for (int i = first; i < first + n; ++i) {
      state_[i] = SlotState::kActive;
      requests_[i] = MPI_REQUEST_NULL;
      op_[i] = op;
      label_[i] = label;
    }
    run_length_[first] = n;
    return first;
  }
  throw_runtime_error(where_, std::string("cannot start ") + op + " of '" + label + "': more than " +
                                  std::to_string(kMaxRequests) +
                                  " nonblocking collectives in flight on one communicator "
                                  "(wait() for earlier tickets first)");
}

void MpiCommunicator::check(int rc, const char* call, int first) {
  if (rc == MPI_SUCCESS) return;
  std::string context;
  if (first >= 0) {
    for (int i = first; i < first + run_length_[first]; ++i) state_[i] = SlotState::kAbandoned;
    context = std::string(" (") + op_[first] + " of '" + label_[first] + "')";
  }
  throw_runtime_error(where_, std::string(call) + " failed" + context + ": " + mpi_error_string(rc));
}

bool MpiCommunicator::poll(int first, int n, double seconds) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto limit = std::chrono::duration<double>(seconds);
  for (;;) {
    int done = 0;
    int rc = MPI_Testall(n, &requests_[first], &done, &statuses_[first]);
    if (rc == MPI_ERR_IN_STATUS) {
      // The operation's own error is more telling than "error in status".
      for (int i = first; i < first + n; ++i) {
        if (statuses_[i].MPI_ERROR != MPI_SUCCESS) rc = statuses_[i].MPI_ERROR;
      }
    }
    if (rc != MPI_SUCCESS) check(rc, "MPI_Testall", first);
    // Shared-memory reductions other ranks may be waiting for (this rank's
    // MPI collective may itself be waiting for those ranks).
    ShmAllreduce::progress_all();
    if (done) {
      for (int i = first; i < first + n; ++i) state_[i] = SlotState::kFree;
      run_length_[first] = 0;
      return true;
    }
    const auto waited = Clock::now() - start;
    if (waited >= limit) return false;
    back_off(waited);
  }
}

void MpiCommunicator::complete(int first) {
  const int n = run_length_[first];
  if (poll(first, n, timeout_seconds_)) return;
  for (int i = first; i < first + n; ++i) state_[i] = SlotState::kAbandoned;
  throw_runtime_error(where_, "no progress for " + seconds_string(timeout_seconds_) + " s in " +
                                  op_[first] + " of '" + label_[first] + "' (communicator of " +
                                  std::to_string(size_) +
                                  " ranks); another rank has probably failed, stopped or "
                                  "skipped this collective");
}

void MpiCommunicator::allreduce(void* data, size_t count, size_t elem_bytes, MPI_Datatype type,
                                MPI_Op op, const char* label) {
  char* bytes = static_cast<char*>(data);
  for (size_t done = 0; done < count;) {
    const int n = chunk(count - done);
    const int slot = acquire(1, "all-reduce", label);
    check(MPI_Iallreduce(MPI_IN_PLACE, bytes + done * elem_bytes, n, type, op, comm_,
                         &requests_[slot]),
          "MPI_Iallreduce", slot);
    complete(slot);
    done += static_cast<size_t>(n);
  }
}

void MpiCommunicator::allreduce_sum(float* data, size_t count, const char* label) {
  if (shm_enabled_) return shm_->wait(shm_->start(data, count, label), timeout_seconds_);
  allreduce(data, count, sizeof(float), MPI_FLOAT, MPI_SUM, label);
}

void MpiCommunicator::allreduce_sum(double* data, size_t count, const char* label) {
  if (shm_enabled_ && shm_small_) return shm_small_->sum(data, count, label, timeout_seconds_);
  if (hierarchical()) return gather_in_rank_order(data, count, [](double& a, double b) { a += b; });
  allreduce(data, count, sizeof(double), MPI_DOUBLE, MPI_SUM, label);
}

void MpiCommunicator::allreduce_max(int64_t* data, size_t count, const char* label) {
  allreduce(data, count, sizeof(int64_t), MPI_INT64_T, MPI_MAX, label);
}

void MpiCommunicator::allreduce_moments(Moments* data, size_t count, const char* label) {
  if (shm_enabled_ && shm_small_) return shm_small_->merge(data, count, label, timeout_seconds_);
  if (hierarchical())
    return gather_in_rank_order(data, count, [](Moments& a, const Moments& b) { merge_moments(a, b); });
  const MomentsMpi& m = moments_mpi();
  allreduce(data, count, sizeof(Moments), m.type, m.op, label);
}

int MpiCommunicator::start_reduce_update(float* grads, float* params, size_t count, size_t offset,
                                         ReducedRangeUpdate& update, const char* label) {
  if (!shm_enabled_) return Communicator::start_reduce_update(grads, params, count, offset, update, label);
  return kShmTicketBase + shm_->start_update(grads, params, count, offset, update, label);
}


float* MpiCommunicator::shared_arena(size_t floats) {
  if (!shm_enabled_) return nullptr;
  const char* env = std::getenv("LOCKSTEP_SHARED_ARENA");
  const bool opted_out = env != nullptr && std::string(env) == "0";
  // Every rank of the node maps its own segment; leave 64 MiB for the rest.
  const uint64_t need =
      static_cast<uint64_t>(floats) * sizeof(float) * static_cast<uint64_t>(shm_->node_size()) + (64u << 20);
  std::string dir;
  uint64_t free_bytes = 0;
  const bool room = shared_memory_has_room(need, &dir, &free_bytes);
  // One timed collective decides for all (a missing rank is an error, not a
  // hang in MPI_Win_allocate_shared): sizes must agree, and one rank without
  // room or opted out means nobody places the arena.
  int64_t votes[2] = {static_cast<int64_t>(floats), (opted_out || !room) ? 1 : 0};
  allreduce_max(votes, 2, "shared parameter arena set-up");
  if (votes[0] != static_cast<int64_t>(floats))
    throw_runtime_error(where_, "shared parameter arena: ranks asked for different sizes (" + std::to_string(floats) +
                                    " floats here, " + std::to_string(votes[0]) + " elsewhere)");
  if (votes[1] != 0) {
    if (!room && !opted_out && rank_ == 0) {  // the node's ranks share the directory
      std::fprintf(stderr,
                   "warning: %s: %s has %llu MB free, the shared parameter arena needs %llu MB: parameters stay in "
                   "each rank's own memory (the sharded step then copies through staging buffers)\n",
                   where_.c_str(), dir.c_str(), static_cast<unsigned long long>(free_bytes >> 20),
                   static_cast<unsigned long long>(need >> 20));
    }
    return nullptr;
  }
  return shm_->allocate_arena(floats);
}

int MpiCommunicator::start_allreduce_sum(float* data, size_t count, const char* label) {
  if (shm_enabled_) return kShmTicketBase + shm_->start(data, count, label);
  // One slot per chunk; an empty reduction still gets a (null) request so
  // the caller has a ticket to wait on.
  const size_t chunks = std::max<size_t>(1, (count + max_chunk_ - 1) / max_chunk_);
  if (chunks > static_cast<size_t>(kMaxRequests)) {
    throw_runtime_error(where_, "all-reduce of '" + std::string(label) + "' needs " +
                                    std::to_string(chunks) + " MPI calls, more than the " +
                                    std::to_string(kMaxRequests) + " request slots");
  }
  const int first = acquire(static_cast<int>(chunks), "all-reduce", label);
  size_t done = 0;
  for (int i = first; done < count; ++i) {
    const int n = chunk(count - done);
    check(MPI_Iallreduce(MPI_IN_PLACE, data + done, n, MPI_FLOAT, MPI_SUM, comm_, &requests_[i]),
          "MPI_Iallreduce", first);
    done += static_cast<size_t>(n);
  }
  return first;
}

void MpiCommunicator::wait(int ticket) {
  if (shm_ && ticket >= kShmTicketBase) return shm_->wait(ticket - kShmTicketBase, timeout_seconds_);
  if (ticket < 0 || ticket >= kMaxRequests || run_length_[ticket] == 0 ||
      state_[ticket] != SlotState::kActive) {
    throw_runtime_error(where_, "wait() on ticket " + std::to_string(ticket) +
                                    ", which is not an outstanding request");
  }
  complete(ticket);
}

void MpiCommunicator::broadcast(void* data, size_t bytes, int root) {
  if (root < 0 || root >= size_) {
    throw_runtime_error(where_, "broadcast root " + std::to_string(root) + " is not a rank of a " +
                                    std::to_string(size_) + "-rank communicator");
  }
  char* p = static_cast<char*>(data);
  for (size_t done = 0; done < bytes;) {
    const int n = chunk(bytes - done);
    const int slot = acquire(1, "broadcast", "broadcast");
    check(MPI_Ibcast(p + done, n, MPI_BYTE, root, comm_, &requests_[slot]), "MPI_Ibcast", slot);
    complete(slot);
    done += static_cast<size_t>(n);
  }
}

void MpiCommunicator::allgather(const void* send, void* recv, size_t bytes) {
  const char* in = static_cast<const char*>(send);
  char* out = static_cast<char*>(recv);
  for (size_t done = 0; done < bytes;) {
    const int n = chunk(bytes - done);
    // Rank r's piece of this chunk goes to out + r * bytes + done: a block of
    // n bytes whose extent is the whole per-rank stride.
    MPI_Datatype recv_type = MPI_BYTE;
    int recv_count = n;
    if (n != static_cast<int>(bytes)) {
      MPI_Datatype block;
      MPI_Type_contiguous(n, MPI_BYTE, &block);
      MPI_Type_create_resized(block, 0, static_cast<MPI_Aint>(bytes), &recv_type);
      MPI_Type_commit(&recv_type);
      MPI_Type_free(&block);
      recv_count = 1;
    }
    const int slot = acquire(1, "all-gather", "allgather");
    const int rc = MPI_Iallgather(in + done, n, MPI_BYTE, out + done, recv_count, recv_type, comm_,
                                  &requests_[slot]);
    // Freeing a type that a pending operation uses is allowed: MPI keeps it
    // until the operation completes.
    if (recv_type != MPI_BYTE) MPI_Type_free(&recv_type);
    check(rc, "MPI_Iallgather", slot);
    complete(slot);
    done += static_cast<size_t>(n);
  }
}

void MpiCommunicator::barrier() {
  const int slot = acquire(1, "barrier", "barrier");
  check(MPI_Ibarrier(comm_, &requests_[slot]), "MPI_Ibarrier", slot);
  complete(slot);
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key) {
  if (color < 0) throw_runtime_error(where_, "split color must be >= 0, got " + std::to_string(color));
  // MPI_Comm_split has no nonblocking form; a barrier with a deadline first
  // makes a missing rank a time-out error rather than a hang.
  const int slot = acquire(1, "split", "split");
  check(MPI_Ibarrier(comm_, &requests_[slot]), "MPI_Ibarrier", slot);
  complete(slot);
  MPI_Comm sub = MPI_COMM_NULL;
  check(MPI_Comm_split(comm_, color, key, &sub), "MPI_Comm_split", -1);
  auto result = std::make_unique<MpiCommunicator>(sub, /*owned=*/true);
  result->timeout_seconds_ = timeout_seconds_;
  result->max_chunk_ = max_chunk_;
  return result;
}

}  // namespace lockstep
