// Process start-up for the trainer and the tests: decides between MPI and
// single-process mode, owns MPI_Init/MPI_Finalize, and ends the whole job on
// a fatal error. Headers here do not include <mpi.h>, so launch/ can use them
// without depending on MPI's headers.
#pragma once

#include <memory>
#include <string>

#include "core/communicator.h"
#include "distributed/startup_watchdog.h"

namespace lockstep {

// True when an MPI or Slurm launcher started this process. Checked, in order:
//   OMPI_COMM_WORLD_SIZE        Open MPI mpirun/mpiexec
//   PMIX_RANK                   any PMIx launcher (Open MPI 5 prterun,
//                               srun --mpi=pmix)
//   PMI_SIZE or PMI_RANK        PMI-1/PMI-2 launchers (MPICH Hydra, Intel MPI,
//                               srun --mpi=pmi2)
//   SLURM_STEP_ID and SLURM_STEP_NUM_TASKS (else SLURM_NTASKS) > 1
//                               a multi-task srun step; SLURM_STEP_ID exists
//                               only inside a step, not in the batch script
//                               itself, and a one-task step runs alone.
// Otherwise the process runs alone and MPI is not initialised at all.
bool launched_by_mpi();

// The MPI library's own description (MPI_Get_library_version) and the MPI
// standard it implements, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, ...
// (MPI 3.1)". Needs no MPI_Init: callable before, without or after a Runtime.
std::string mpi_library_version();

// RAII start-up. Under a launcher: MPI_Init_thread(MPI_THREAD_FUNNELED) (MPI
// is called only from the main thread; compute threads never call it) and
// world() is an MpiCommunicator over MPI_COMM_WORLD; MPI_Finalize in the
// destructor. Otherwise world() is a LocalCommunicator. If MPI was already
// initialised (by a test's main, say) it is used and left for its owner to
// finalise. One Runtime per process. Throws lockstep::Error (exit status 1)
// when MPI cannot start, or when the launcher started several processes but
// MPI sees only one (e.g. srun without --mpi=pmix): each would train alone.
//
// Under a launcher, start-up (MPI_Init, the world's first collectives, the
// node split) runs under a StartupWatchdog: when it does not finish within
// `startup.seconds`, or a stop signal arrives meanwhile (when
// startup.stop_signal is given), the process exits with a one-line message
// naming its rank and host, and the launcher ends the job.
class Runtime {
 public:
  // The bound from LOCKSTEP_STARTUP_TIMEOUT (default 60 s); signals unwatched.
  Runtime();
  explicit Runtime(const StartupWatchdogOptions& startup);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  Communicator& world() { return *world_; }
  bool using_mpi() const { return using_mpi_; }

  // This rank among the ranks on the same node (shared-memory domain).
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  // Compute threads per rank: the cores this process may run on
  // (sched_getaffinity), but no more than the node's cores divided among its
  // ranks; at least 1.
  int default_threads() const;

  // The start-up bound in seconds (also a fit time-out for the first
  // collectives a command makes after the Runtime is up).
  double startup_timeout_seconds() const { return startup_seconds_; }

  // Ends the job now. Under MPI: MPI_Abort(MPI_COMM_WORLD, exit_code), which
  // makes mpirun kill every rank and exit non-zero itself (Open MPI also
  // prints an "MPI_ABORT was invoked" banner); no rank hangs in a collective
  // waiting for this one. Alone: std::exit(exit_code). Flushes stdout and
  // stderr first so the error message is not lost. Call it with the Runtime
  // still alive (from main's catch block), not after it was destroyed.
  [[noreturn]] void abort_job(int exit_code);

 private:
  void init_mpi();
  void join_world();

  double startup_seconds_;
  bool using_mpi_ = false;
  bool owns_mpi_ = false;
  int local_rank_ = 0;
  int local_size_ = 1;
  std::unique_ptr<Communicator> world_;
};

// Communicator for a group of ranks, e.g. synchronized BatchNormalization's
// sync_group_size: 0 = all ranks, k = consecutive groups of k ranks (rank / k;
// the last group is smaller when k does not divide the world size), 1 = each
// rank alone (a LocalCommunicator, no communication). Collective over
// `world`: every rank must call it with the same group_size. Negative sizes
// are a config error (exit status 2).
std::unique_ptr<Communicator> make_group_communicator(Communicator& world, int group_size);

}  // namespace lockstep
