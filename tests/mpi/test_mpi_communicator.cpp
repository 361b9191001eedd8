// Collectives of MpiCommunicator. Every expected value is written for any
// world size >= 2.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "distributed/mpi_communicator.h"
#include "distributed/runtime.h"

namespace lockstep {
Communicator& test_world();  // mpi_test_main.cpp

namespace {

// Sum over ranks 0..n-1 of f(rank).
template <class F>
double sum_over_ranks(int n, F f) {
  double s = 0;
  for (int r = 0; r < n; ++r) s += f(r);
  return s;
}

// A sub-communicator of all ranks whose MPI calls carry at most `chunk`
// elements, so tests reach the INT_MAX chunking without 8 GB buffers.
std::unique_ptr<Communicator> chunked_world(size_t chunk) {
  auto sub = test_world().split(0, test_world().rank());
  dynamic_cast<MpiCommunicator&>(*sub).set_max_chunk_for_testing(chunk);
  return sub;
}

TEST(MpiCommunicator, RankAndSizeMatchWorld) {
  Communicator& world = test_world();
  EXPECT_GE(world.size(), 2);
  EXPECT_GE(world.rank(), 0);
  EXPECT_LT(world.rank(), world.size());
}

TEST(MpiCommunicator, AllreduceSumFloat) {
  Communicator& world = test_world();
  const int r = world.rank(), n = world.size();
  std::vector<float> v(1000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((r + 1) * (i % 17));
  world.allreduce_sum(v.data(), v.size());
  const double ranks = sum_over_ranks(n, [](int q) { return q + 1.0; });
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], static_cast<float>(ranks * (i % 17))) << i;
}

TEST(MpiCommunicator, AllreduceSumDouble) {
  Communicator& world = test_world();
  const int r = world.rank(), n = world.size();
  std::vector<double> v = {0.5 * r, -1.0, 1e15 + r};
  world.allreduce_sum(v.data(), v.size());
  EXPECT_EQ(v[0], 0.5 * n * (n - 1) / 2);
  EXPECT_EQ(v[1], -1.0 * n);
  EXPECT_EQ(v[2], 1e15 * n + n * (n - 1) / 2);
}

TEST(MpiCommunicator, AllreduceMaxInt64) {
  Communicator& world = test_world();
  const int64_t r = world.rank(), n = world.size();
  std::vector<int64_t> v = {r, -r, (int64_t{1} << 40) * r, r == 1 ? 7 : -5};
  world.allreduce_max(v.data(), v.size());
  EXPECT_EQ(v[0], n - 1);
  EXPECT_EQ(v[1], 0);
  EXPECT_EQ(v[2], (int64_t{1} << 40) * (n - 1));
  EXPECT_EQ(v[3], 7);
}

TEST(MpiCommunicator, ZeroCountsAreFine) {
  Communicator& world = test_world();
  world.allreduce_sum(static_cast<float*>(nullptr), 0);
  world.broadcast(nullptr, 0, 0);
  world.allgather(nullptr, nullptr, 0);
  world.wait(world.start_allreduce_sum(nullptr, 0, "empty"));
}

TEST(MpiCommunicator, ConcurrentNonblockingTickets) {
  Communicator& world = test_world();
  const int r = world.rank(), n = world.size();
  // Different sizes, started in the same order everywhere, waited in reverse.
  const std::vector<size_t> sizes = {1, 1000, 0, 100000, 17};
  std::vector<std::vector<float>> bufs;
  for (size_t k = 0; k < sizes.size(); ++k) {
    bufs.emplace_back(sizes[k]);
    for (size_t i = 0; i < sizes[k]; ++i) bufs[k][i] = static_cast<float>(r + k + (i % 5));
  }
  std::vector<int> tickets;
  for (size_t k = 0; k < sizes.size(); ++k) {
    tickets.push_back(world.start_allreduce_sum(bufs[k].data(), sizes[k], "test ticket"));
  }
  for (size_t k = sizes.size(); k-- > 0;) world.wait(tickets[k]);
  const double ranks = n * (n - 1) / 2.0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    for (size_t i = 0; i < sizes[k]; ++i) {
      ASSERT_EQ(bufs[k][i], static_cast<float>(ranks + n * (k + (i % 5)))) << k << " " << i;
    }
  }
}

TEST(MpiCommunicator, TicketPoolRunsOutWithAnError) {
  auto comm = test_world().split(0, test_world().rank());
  std::vector<float> v(MpiCommunicator::kMaxRequests + 1, 1.0f);
  std::vector<int> tickets;
  for (int k = 0; k < MpiCommunicator::kMaxRequests; ++k) {
    tickets.push_back(comm->start_allreduce_sum(&v[k], 1, "pool"));
  }
  // The failing start happens on every rank before any MPI call: no
  // collective is left half-started.
  EXPECT_THROW(comm->start_allreduce_sum(&v.back(), 1, "one too many"), Error);
  for (int t : tickets) comm->wait(t);
  for (int k = 0; k < MpiCommunicator::kMaxRequests; ++k) EXPECT_EQ(v[k], comm->size());
  EXPECT_THROW(comm->wait(tickets[0]), Error);  // already completed
}

TEST(MpiCommunicator, Broadcast) {
  Communicator& world = test_world();
  for (int root = 0; root < world.size(); ++root) {
    struct Payload {
      int32_t root;
      double x;
      char text[16];
    } p{};
    if (world.rank() == root) {
      p.root = root;
      p.x = 0.25 + root;
      std::snprintf(p.text, sizeof p.text, "from %d", root);
    }
    world.broadcast(&p, sizeof p, root);
    EXPECT_EQ(p.root, root);
    EXPECT_EQ(p.x, 0.25 + root);
    EXPECT_EQ(std::string(p.text), "from " + std::to_string(root));
  }
  float dummy = 0;
  EXPECT_THROW(world.broadcast(&dummy, sizeof dummy, world.size()), Error);  // local check
}

TEST(MpiCommunicator, Allgather) {
  Communicator& world = test_world();
  const int r = world.rank(), n = world.size();
  const int32_t mine[3] = {r, r * r, 7};
  std::vector<int32_t> all(3 * n, -1);
  world.allgather(mine, all.data(), sizeof mine);
  for (int q = 0; q < n; ++q) {
    EXPECT_EQ(all[3 * q], q);
    EXPECT_EQ(all[3 * q + 1], q * q);
    EXPECT_EQ(all[3 * q + 2], 7);
  }
}

TEST(MpiCommunicator, BarrierCompletes) {
  for (int i = 0; i < 10; ++i) test_world().barrier();
}

TEST(MpiCommunicator, ChunkedCollectivesMatchUnchunked) {
  const int r = test_world().rank(), n = test_world().size();
  auto comm = chunked_world(7);

  std::vector<float> f(100);
  std::vector<double> d(100);
  std::vector<int64_t> m(100);
  for (size_t i = 0; i < 100; ++i) {
    f[i] = static_cast<float>(r * 1000 + i);
    d[i] = 0.5 * r + i;
    m[i] = static_cast<int64_t>(i) * (r + 1);
  }
  comm->allreduce_sum(f.data(), f.size());
  comm->allreduce_sum(d.data(), d.size());
  comm->allreduce_max(m.data(), m.size());
  for (size_t i = 0; i < 100; ++i) {
    ASSERT_EQ(f[i], static_cast<float>(1000.0 * n * (n - 1) / 2 + n * i));
    ASSERT_EQ(d[i], 0.25 * n * (n - 1) + n * i);
    ASSERT_EQ(m[i], static_cast<int64_t>(i) * n);
  }

  // Nonblocking: one ticket spanning 15 request slots.
  std::vector<float> g(100, 1.0f);
  comm->wait(comm->start_allreduce_sum(g.data(), g.size(), "chunked"));
  for (float x : g) ASSERT_EQ(x, n);
  // 65 chunks cannot fit in 64 slots: a clear error on every rank.
  std::vector<float> big(7 * 65, 1.0f);
  EXPECT_THROW(comm->start_allreduce_sum(big.data(), big.size(), "too many chunks"), Error);

  std::vector<unsigned char> bytes(100);
  if (comm->rank() == n - 1) std::iota(bytes.begin(), bytes.end(), 1);
  comm->broadcast(bytes.data(), bytes.size(), n - 1);
  for (size_t i = 0; i < bytes.size(); ++i) ASSERT_EQ(bytes[i], i + 1);

  // 50 bytes per rank in chunks of 7: rank q's bytes must land at q * 50.
  std::vector<unsigned char> mine(50), all(50 * n, 0);
  for (size_t i = 0; i < mine.size(); ++i) mine[i] = static_cast<unsigned char>(r * 50 + i);
  comm->allgather(mine.data(), all.data(), mine.size());
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], static_cast<unsigned char>(i)) << i;
}

TEST(MpiCommunicator, SplitIntoGroupsOfTwo) {
  Communicator& world = test_world();
  const int r = world.rank(), n = world.size();
  auto group = make_group_communicator(world, 2);
  const int first = (r / 2) * 2;
  const int expected_size = std::min(2, n - first);
  EXPECT_EQ(group->size(), expected_size);
  EXPECT_EQ(group->rank(), r % 2);
  double v = r + 1;
  group->allreduce_sum(&v, 1);
  double expected = 0;
  for (int q = first; q < first + expected_size; ++q) expected += q + 1;
  EXPECT_EQ(v, expected);
  // The group inherits the time-out and works for nonblocking calls too.
  float w = 1.0f;
  group->wait(group->start_allreduce_sum(&w, 1, "group"));
  EXPECT_EQ(w, expected_size);
}

TEST(MpiCommunicator, GroupSizesZeroOneAndLarge) {
  Communicator& world = test_world();
  const int n = world.size();
  auto all = make_group_communicator(world, 0);
  EXPECT_EQ(all->size(), n);
  EXPECT_EQ(all->rank(), world.rank());
  auto alone = make_group_communicator(world, 1);
  EXPECT_EQ(alone->size(), 1);
  EXPECT_EQ(alone->rank(), 0);
  auto larger = make_group_communicator(world, n + 5);
  EXPECT_EQ(larger->size(), n);
  int64_t x = world.rank();
  all->allreduce_max(&x, 1);
  EXPECT_EQ(x, n - 1);
  EXPECT_THROW(make_group_communicator(world, -1), Error);
}

TEST(MpiCommunicator, SplitOrdersByKey) {
  Communicator& world = test_world();
  const int r = world.rank(), n = world.size();
  auto reversed = world.split(0, n - 1 - r);
  EXPECT_EQ(reversed->rank(), n - 1 - r);
  auto self = world.split(r, 0);  // a one-rank MPI communicator
  EXPECT_EQ(self->size(), 1);
  float v = 3.5f;
  self->allreduce_sum(&v, 1);
  EXPECT_EQ(v, 3.5f);
  // Splitting a split works too.
  auto nested = reversed->split(reversed->rank() % 2, 0);
  EXPECT_EQ(nested->size(), (n - reversed->rank() % 2 + 1) / 2);
}

}  // namespace
}  // namespace lockstep
