// Time-outs. One rank stays out of a collective on a sub-communicator while
// the others time out; then it joins late, so the abandoned operation can
// complete and MPI is left in a clean state for the tests that follow.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "distributed/mpi_communicator.h"

namespace lockstep {
Communicator& test_world();  // mpi_test_main.cpp

namespace {

TEST(MpiTimeout, BarrierThatOneRankSkipsTimesOutWithRankAndLabel) {
  Communicator& world = test_world();
  auto sub = world.split(0, world.rank());
  sub->set_timeout_seconds(1.0);
  if (world.rank() != 0) {
    try {
      sub->barrier();
      ADD_FAILURE() << "barrier completed without rank 0";
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), "rank " + std::to_string(world.rank()));
      EXPECT_NE(e.message().find("no progress for 1 s in barrier of 'barrier'"), std::string::npos) << e.message();
      EXPECT_EQ(e.exit_code(), kExitRuntime);
    }
  }
  world.barrier();                         // rank 0 waits until the others gave up
  if (world.rank() == 0) sub->barrier();   // late arrival completes the abandoned barrier
  world.barrier();
}  // sub's destructor retires the abandoned requests

TEST(MpiTimeout, NonblockingAllreduceNamesItsLabel) {
  Communicator& world = test_world();
  const int n = world.size();
  const char* label = "gradient bucket 3 (dense_1/kernel..dense_2/bias)";
  std::vector<float> data(8, 1.0f);  // declared first: outlives sub's drain
  auto sub = world.split(0, world.rank());
  sub->set_timeout_seconds(1.0);
  if (world.rank() != 0) {
    const int ticket = sub->start_allreduce_sum(data.data(), data.size(), label);
    try {
      sub->wait(ticket);
      ADD_FAILURE() << "all-reduce completed without rank 0";
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), "rank " + std::to_string(world.rank()));
      EXPECT_NE(e.message().find(std::string("no progress for 1 s in all-reduce of '") + label + "'"),
                std::string::npos)
          << e.message();
    }
  }
  world.barrier();
  if (world.rank() == 0) sub->allreduce_sum(data.data(), data.size());
  world.barrier();
  sub.reset();  // waits (briefly) for the abandoned request to finish
  for (float x : data) EXPECT_EQ(x, n);
}

TEST(MpiTimeout, SetTimeoutRejectsNonPositive) {
  MpiCommunicator& world = dynamic_cast<MpiCommunicator&>(test_world());
  EXPECT_THROW(world.set_timeout_seconds(0), Error);
  EXPECT_THROW(world.set_timeout_seconds(-1), Error);
  EXPECT_EQ(world.timeout_seconds(), 60);  // set by mpi_test_main
}

}  // namespace
}  // namespace lockstep
