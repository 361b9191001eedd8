// The shared-memory all-reduce: exact sums for every size (empty, smaller
// than a slice, not a multiple of the slot, many slots so pieces pipeline
// through the ring of slots), many tickets in flight waited in any order,
// bit-identical results on every rank, and the world communicator of a
// one-node job actually using it (the MPI tests run on one machine).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "distributed/mpi_communicator.h"
#include "distributed/shm_allreduce.h"
#include "tests/mpi/many_tickets.h"

namespace lockstep {
Communicator& test_world();  // mpi_test_main.cpp

namespace {

constexpr size_t kSlotFloats = 1024;  // one page: 8 slots hold 8 Ki floats

MPI_Comm world_comm() { return dynamic_cast<MpiCommunicator&>(test_world()).comm(); }

// Integers and halves: exact in any summation order.
float value(int rank, size_t i, int salt) {
  return 0.5f * static_cast<float>((rank + 2) * ((i * 31 + static_cast<size_t>(salt)) % 97) - 40);
}

float expected(int ranks, size_t i, int salt) {
  float sum = 0;
  for (int q = 0; q < ranks; ++q) sum += value(q, i, salt);
  return sum;
}

std::unique_ptr<ShmAllreduce> make() {
  auto shm = ShmAllreduce::create(world_comm(), "rank " + std::to_string(test_world().rank()), kSlotFloats);
  EXPECT_NE(shm, nullptr) << "the MPI tests run on one node: shared memory must be available";
  return shm;
}

TEST(ShmAllreduce, WorldOfOneNodeUsesSharedMemory) {
  auto& world = dynamic_cast<MpiCommunicator&>(test_world());
  EXPECT_TRUE(world.uses_shared_memory());
}

TEST(ShmAllreduce, ExactForEverySize) {
  auto shm = make();
  if (!shm) return;
  const int r = test_world().rank(), n = test_world().size();
  // 0, less than one slice, slot boundaries, > 8 slots (the ring wraps).
  for (size_t count : {size_t{0}, size_t{1}, size_t{15}, size_t{17}, size_t{1023}, size_t{1024}, size_t{1025},
                       size_t{8 * 1024}, size_t{8 * 1024 + 1}, size_t{50'000}}) {
    std::vector<float> data(count);
    for (size_t i = 0; i < count; ++i) data[i] = value(r, i, static_cast<int>(count));
    shm->wait(shm->start(data.data(), count, "exact"), 60);
    for (size_t i = 0; i < count; ++i) ASSERT_EQ(data[i], expected(n, i, static_cast<int>(count))) << count << " " << i;
  }
}

TEST(ShmAllreduce, ManyTicketsInFlightWaitedInAnyOrder) {
  auto shm = make();
  if (!shm) return;
  expect_many_tickets_in_any_order(*shm, test_world(), value, expected);
}

TEST(ShmAllreduce, RoundedSumsAreIdenticalOnEveryRank) {
  auto shm = make();
  if (!shm) return;
  const int r = test_world().rank();
  std::vector<float> data(30'000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = 1.0f / static_cast<float>(3 + r + (i % 11)) + 1e-3f * r;
  shm->wait(shm->start(data.data(), data.size(), "rounded"), 60);
  std::vector<float> from_root(data);
  test_world().broadcast(from_root.data(), from_root.size() * sizeof(float), 0);
  EXPECT_EQ(std::memcmp(from_root.data(), data.data(), data.size() * sizeof(float)), 0);
}

TEST(ShmAllreduce, CommunicatorSumsGoThroughIt) {
  // Blocking and nonblocking float sums of the world communicator, a split
  // communicator too, interleaved with MPI collectives.
  Communicator& world = test_world();
  const int r = world.rank(), n = world.size();
  auto half = world.split(r % 2, r);
  std::vector<float> a(70'000), b(1000);
  for (size_t i = 0; i < a.size(); ++i) a[i] = value(r, i, 1);
  for (size_t i = 0; i < b.size(); ++i) b[i] = value(r, i, 2);
  const int ta = world.start_allreduce_sum(a.data(), a.size(), "a");
  int64_t flag = r;
  world.allreduce_max(&flag, 1);  // MPI collective while the sum is in flight
  half->allreduce_sum(b.data(), b.size(), "b");
  world.wait(ta);
  EXPECT_EQ(flag, n - 1);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], expected(n, i, 1));
  for (size_t i = 0; i < b.size(); ++i) {
    float sum = 0;
    for (int q = r % 2; q < n; q += 2) sum += value(q, i, 2);
    ASSERT_EQ(b[i], sum);
  }
}

TEST(ShmAllreduce, WaitOnUnknownTicketIsAnError) {
  auto shm = make();
  if (!shm) return;
  EXPECT_THROW(shm->wait(3, 1.0), Error);
  EXPECT_THROW(shm->wait(-1, 1.0), Error);
}

}  // namespace
}  // namespace lockstep
