#include "distributed/runtime.h"

// Only the C API: OMPI_SKIP_MPICXX comes from CMake (lockstep::distributed).
#include <mpi.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/error.h"
#include "distributed/local_communicator.h"
#include "distributed/mpi_communicator.h"

namespace lockstep {
namespace {

std::atomic<bool> g_runtime_alive{false};

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

long env_long(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtol(v, nullptr, 10) : 0;
}

// Processes the launcher started, 0 if it does not say.
long launcher_world_size() {
  if (env_set("OMPI_COMM_WORLD_SIZE")) return env_long("OMPI_COMM_WORLD_SIZE");
  if (env_set("PMI_SIZE")) return env_long("PMI_SIZE");
  if (env_set("SLURM_STEP_ID")) {
    return env_set("SLURM_STEP_NUM_TASKS") ? env_long("SLURM_STEP_NUM_TASKS") : env_long("SLURM_NTASKS");
  }
  return 0;
}

bool mpi_active() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

}  // namespace

std::string mpi_library_version() {
  // Both calls are allowed before MPI_Init and after MPI_Finalize (MPI 3.0).
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  std::string s = MPI_Get_library_version(text, &length) == MPI_SUCCESS ? std::string(text, length) : "unknown";
  while (!s.empty() && (s.back() == '\0' || s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  int major = 0, minor = 0;
  if (MPI_Get_version(&major, &minor) == MPI_SUCCESS)
    s += " (MPI " + std::to_string(major) + "." + std::to_string(minor) + ")";
  return s;
}

bool launched_by_mpi() {
  if (env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMIX_RANK")) return true;
  if (env_set("PMI_SIZE") || env_set("PMI_RANK")) return true;
  return env_set("SLURM_STEP_ID") && launcher_world_size() > 1;
}

Runtime::Runtime() : Runtime(StartupWatchdogOptions{startup_timeout_from_env()}) {}

Runtime::Runtime(const StartupWatchdogOptions& startup) : startup_seconds_(startup.seconds) {
  if (g_runtime_alive.exchange(true)) throw_runtime_error("start-up", "only one lockstep::Runtime per process");
  try {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized && !launched_by_mpi()) {
      world_ = std::make_unique<LocalCommunicator>();
      return;
    }
    // Armed before MPI_Init: a peer that dies there leaves this rank in
    // MPI_Init's fence, which has no time-out of its own.
    StartupWatchdog watchdog(startup, startup_where(), "in MPI_Init");
    if (!initialized) init_mpi();
    watchdog.set_stage("in the first collectives, waiting for the other ranks");
    join_world();
    watchdog.disarm();
  } catch (...) {
    world_.reset();
    if (owns_mpi_) MPI_Finalize();
    g_runtime_alive = false;
    throw;
  }
}

void Runtime::init_mpi() {
  // PMIx's default shared-memory store (gds ds21) guards its segment with a
  // process-shared mutex. A rank killed while it holds that mutex during
  // MPI_Init leaves it locked for good, and Open MPI 4.1's mpirun (PMIx
  // 4.2) then deadlocks in its own finalize after it has ended the job: it
  // never exits. With the "hash" store a rank never takes that lock (it asks
  // the server instead; the cost is start-up time at thousands of ranks). A
  // value the user set wins.
  setenv("PMIX_MCA_gds", "hash", /*overwrite=*/0);
  // FUNNELED: only this thread calls MPI; BLAS/Eigen threads never do (nor
  // does the start-up watchdog). Open MPI always provides it, so `provided`
  // needs no check.
  int provided = MPI_THREAD_SINGLE;
  const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (rc != MPI_SUCCESS) throw_runtime_error("start-up", "MPI_Init_thread failed (code " + std::to_string(rc) + ")");
  owns_mpi_ = true;
}

// The world communicator (its constructor's all-reduce is the first
// collective) and this rank's place on its node.
void Runtime::join_world() {
  using_mpi_ = true;
  auto world = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD);
  const long expected = launcher_world_size();
  if (expected > 1 && world->size() == 1) {
    throw_runtime_error("start-up", "the launcher started " + std::to_string(expected) +
                                        " processes but MPI sees 1 rank, so each would train alone "
                                        "(under srun pass --mpi=pmix or --mpi=pmi2)");
  }
  MPI_Comm node = MPI_COMM_NULL;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world->rank(), MPI_INFO_NULL, &node) !=
      MPI_SUCCESS) {
    throw_runtime_error("rank " + std::to_string(world->rank()), "MPI_Comm_split_type failed at start-up");
  }
  MPI_Comm_rank(node, &local_rank_);
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
  world_ = std::move(world);
}

Runtime::~Runtime() {
  world_.reset();  // frees its requests before MPI goes away
  if (owns_mpi_ && mpi_active()) MPI_Finalize();
  g_runtime_alive = false;
}

int Runtime::default_threads() const {
  const unsigned hw = std::thread::hardware_concurrency();
  const int node_share = hw > 0 ? static_cast<int>(hw) / local_size_ : available_cores();
  return std::max(1, std::min(available_cores(), node_share));
}

void Runtime::abort_job(int exit_code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (using_mpi_ && mpi_active()) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

std::unique_ptr<Communicator> make_group_communicator(Communicator& world, int group_size) {
  if (group_size < 0) {
    throw_input_error("sync_group_size", "must be >= 0 (0 = all ranks), got " + std::to_string(group_size));
  }
  if (world.size() == 1 || group_size == 1) return std::make_unique<LocalCommunicator>();
  if (group_size == 0 || group_size >= world.size()) return world.split(0, world.rank());
  return world.split(world.rank() / group_size, world.rank());
}

}  // namespace lockstep
