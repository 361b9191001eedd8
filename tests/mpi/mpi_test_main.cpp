// GoogleTest main for the MPI tests. It FAILS (never skips) when it was not
// started by an MPI launcher or MPI does not come up, so CI cannot be green
// without distributed coverage. Every rank runs every test in the same order;
// rank 0 prints the usual report, the other ranks print only their failures,
// prefixed with their rank. At the end the failure flags are combined, so
// every rank exits with the same status.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "distributed/runtime.h"

namespace lockstep {
namespace {
Runtime* g_runtime = nullptr;
}

// The world of this run; the test files declare it themselves.
Communicator& test_world() { return g_runtime->world(); }

}  // namespace lockstep

namespace {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                 result.file_name() ? result.file_name() : "?", result.line_number(), result.message());
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Failed()) {
      std::fprintf(stderr, "[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(), info.name());
    }
  }

 private:
  int rank_;
};

// A collective that timed out or failed leaves the ranks out of step: later
// tests would only hang or fail for that reason. End the job at once instead.
class AbortOnTimeout : public ::testing::EmptyTestEventListener {
 public:
  explicit AbortOnTimeout(lockstep::Runtime& runtime) : runtime_(runtime) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    if (!std::strstr(result.message(), "no progress for") && !std::strstr(result.message(), "MPI_")) return;
    std::fprintf(stderr, "mpi_tests: a collective timed out or failed (see above); aborting the job\n");
    runtime_.abort_job(1);
  }

 private:
  lockstep::Runtime& runtime_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!lockstep::launched_by_mpi()) {
    std::fprintf(stderr,
                 "error: mpi_tests: not started by an MPI launcher; run it as "
                 "`mpiexec -n N mpi_tests` with N >= 2 (MPI tests fail rather than skip)\n");
    return 1;
  }
  std::unique_ptr<lockstep::Runtime> runtime;
  try {
    runtime = std::make_unique<lockstep::Runtime>();
  } catch (const lockstep::Error& e) {
    std::fprintf(stderr, "error: mpi_tests: %s\n", e.what());
    return 1;
  }
  lockstep::g_runtime = runtime.get();
  lockstep::Communicator& world = runtime->world();
  if (!runtime->using_mpi() || world.size() < 2) {
    std::fprintf(stderr, "error: mpi_tests: needs at least 2 ranks, got %d\n", world.size());
    return 1;
  }
  // A test that fails on one rank only can leave the others in a collective;
  // a minute is plenty for these tests and well inside CTest's time limit.
  world.set_timeout_seconds(60);
  // Collectives must be entered in the same order everywhere.
  GTEST_FLAG_SET(shuffle, false);

  ::testing::TestEventListeners& listeners = ::testing::UnitTest::GetInstance()->listeners();
  if (world.rank() != 0) {
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(world.rank()));
  }
  listeners.Append(new AbortOnTimeout(*runtime));  // after the printers

  const int rc = RUN_ALL_TESTS();
  int64_t failed = rc != 0 ? 1 : 0;
  try {
    world.allreduce_max(&failed, 1);
  } catch (const lockstep::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    runtime->abort_job(1);
  }
  if (failed && rc == 0 && world.rank() == 0) {
    std::fprintf(stderr, "mpi_tests: a test failed on another rank (see the [rank R] lines)\n");
  }
  return failed ? 1 : 0;
}
