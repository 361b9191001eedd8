// The hierarchical all-reduce over pretend nodes on one machine (the world
// split by node index: every contiguous layout the rank count allows, even
// and uneven, single-rank nodes included): sums bit-identical to the flat
// sum in rank order, the sharded update touching every element exactly
// once and leaving the same parameters on every rank, zero-copy arenas,
// many tickets in flight, and the communicator-level set-up.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "distributed/bucketed_allreduce.h"
#include "distributed/mpi_communicator.h"
#include "distributed/shm_allreduce.h"
#include "tests/mpi/many_tickets.h"

namespace lockstep {
Communicator& test_world();  // mpi_test_main.cpp

namespace {

constexpr size_t kSlotFloats = 1024;  // small: many pieces pipeline

MPI_Comm world_comm() { return dynamic_cast<MpiCommunicator&>(test_world()).comm(); }

// Node sizes of the layouts to try: all ranks in blocks of b (the last
// block smaller when b does not divide), for every b < size. np = 4 gives
// 1+1+1+1, 2+2 and 3+1.
std::vector<int> block_sizes() {
  std::vector<int> sizes;
  for (int b = 1; b < test_world().size(); ++b) sizes.push_back(b);
  return sizes;
}

std::unique_ptr<ShmAllreduce> make_hierarchical(int block) {
  const int r = test_world().rank();
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split(world_comm(), r / block, r, &node);
  return ShmAllreduce::create_hierarchical(world_comm(), node, "rank " + std::to_string(r), true, kSlotFloats);
}

// Values whose sums round: the summation order shows in the bits.
float value(int rank, size_t i, int salt) {
  return 1.0f / static_cast<float>(3 + rank + (i * 7 + static_cast<size_t>(salt)) % 13) + 1e-3f * rank;
}

// The flat sum in rank order, as one node's shared memory forms it.
float rank_order_sum(int ranks, size_t i, int salt) {
  float sum = value(0, i, salt);
  for (int q = 1; q < ranks; ++q) sum += value(q, i, salt);
  return sum;
}

std::string layout(int block) { return "nodes of " + std::to_string(block) + " ranks"; }

TEST(HierAllreduce, SumsEqualTheFlatSumInRankOrderBitForBit) {
  const int r = test_world().rank(), n = test_world().size();
  for (int block : block_sizes()) {
    auto hier = make_hierarchical(block);
    ASSERT_NE(hier, nullptr) << layout(block);
    EXPECT_TRUE(hier->hierarchical());
    for (size_t count : {size_t{0}, size_t{1}, size_t{17}, size_t{1024}, size_t{1025}, size_t{9 * 1024 + 3},
                         size_t{40'000}}) {
      const int salt = static_cast<int>(count % 1000);
      std::vector<float> data(count);
      for (size_t i = 0; i < count; ++i) data[i] = value(r, i, salt);
      hier->wait(hier->start(data.data(), count, "sum"), 60);
      for (size_t i = 0; i < count; ++i) {
        const float want = rank_order_sum(n, i, salt);
        ASSERT_EQ(std::memcmp(&data[i], &want, sizeof want), 0)
            << layout(block) << ", count " << count << ", element " << i << ": " << data[i] << " vs " << want;
      }
    }
  }
}

TEST(HierAllreduce, ManyTicketsInFlightWaitedInAnyOrder) {
  auto hier = make_hierarchical(2);
  ASSERT_NE(hier, nullptr);
  expect_many_tickets_in_any_order(*hier, test_world(), value, rank_order_sum);
}

// params -= 0.5 * sum, and a count of how often each element was updated.
class CountingStep final : public ReducedRangeUpdate {
 public:
  explicit CountingStep(size_t count) : updates(count, 0.0f) {}
  void apply(size_t begin, size_t count, const float* summed, float* params) override {
    for (size_t i = 0; i < count; ++i) {
      params[i] -= 0.5f * summed[i];
      updates[begin + i] += 1.0f;
    }
  }
  std::vector<float> updates;
};

float initial_param(size_t i) { return 0.25f * static_cast<float>(i % 29); }

// Every element updated by exactly one rank of the world, from the sum in
// rank order, and every rank left with the same parameters.
// This rank's share of the updates with nodes of `block` ranks: its node's
// 1/N, divided among the node's ranks by slice (on a node with fewer ranks
// than the largest, some ranks take several slices).
double share(int block, int* slices_handled) {
  const int r = test_world().rank(), n = test_world().size();
  const int nodes = (n + block - 1) / block, node_size = std::min(block, n - r / block * block);
  int handled = 0;
  for (int k = 0; k < block; ++k) handled += k % node_size == r % block ? 1 : 0;
  *slices_handled = handled;
  return static_cast<double>(handled) / (block * nodes);
}

void check_sharded_step(ShmAllreduce& hier, float* grads, float* params, size_t count, int block,
                        const std::string& what) {
  const int r = test_world().rank(), n = test_world().size();
  for (size_t i = 0; i < count; ++i) {
    grads[i] = value(r, i, 5);
    params[i] = initial_param(i);
  }
  CountingStep step(count);
  hier.wait(hier.start_update(grads, params, count, 0, step, "step"), 60);
  for (size_t i = 0; i < count; ++i) {
    const float want = initial_param(i) - 0.5f * rank_order_sum(n, i, 5);
    ASSERT_EQ(params[i], want) << what << ", element " << i;
  }
  test_world().allreduce_sum(step.updates.data(), count, "update counts");
  for (size_t i = 0; i < count; ++i) ASSERT_EQ(step.updates[i], 1.0f) << what << ", element " << i;
  // No rank does more than its share (plus the rounding to cache lines).
  int handled = 0;
  const double fraction = share(block, &handled);
  size_t mine = 0;
  CountingStep again(count);
  for (size_t i = 0; i < count; ++i) grads[i] = 0;
  hier.wait(hier.start_update(grads, params, count, 0, again, "step"), 60);
  for (float u : again.updates) mine += u != 0.0f ? 1 : 0;
  const size_t pieces = (count + kSlotFloats - 1) / kSlotFloats;
  EXPECT_LE(mine, static_cast<size_t>(fraction * count) + 32 * handled * pieces) << what;
}

TEST(HierAllreduce, ShardedUpdateOverEveryRankOfEveryNode) {
  for (int block : block_sizes()) {
    auto hier = make_hierarchical(block);
    ASSERT_NE(hier, nullptr);
    for (size_t count : {size_t{1}, size_t{100}, size_t{5000}, size_t{20'000}}) {
      std::vector<float> grads(count), params(count);
      check_sharded_step(*hier, grads.data(), params.data(), count, block, layout(block) + ", count " + std::to_string(count));
    }
  }
}

TEST(HierAllreduce, ShardedUpdateInASharedArena) {
  for (int block : block_sizes()) {
    auto hier = make_hierarchical(block);
    ASSERT_NE(hier, nullptr);
    const size_t count = 12'345;
    float* arena = hier->allocate_arena(2 * count);
    check_sharded_step(*hier, arena, arena + count, count, block, layout(block) + ", zero-copy");
  }
}

// The world communicator's set-up with pretend nodes: a new communicator
// over a copy of the world, LOCKSTEP_NODE_ID = rank / 2 on every rank.
TEST(HierAllreduce, CommunicatorGoesHierarchicalAcrossNodes) {
  const int r = test_world().rank(), n = test_world().size();
  MPI_Comm copy = MPI_COMM_NULL;
  MPI_Comm_dup(world_comm(), &copy);
  setenv("LOCKSTEP_NODE_ID", std::to_string(r / 2).c_str(), 1);
  MpiCommunicator comm(copy, /*owned=*/true);
  unsetenv("LOCKSTEP_NODE_ID");
  EXPECT_EQ(comm.hierarchical(), n > 2);
  EXPECT_TRUE(comm.uses_shared_memory());
  EXPECT_TRUE(comm.supports_reduce_update());
  // Double sums and moments: combined in rank order, the same bits anywhere.
  std::vector<double> d(5);
  std::vector<Moments> m(3);
  for (size_t i = 0; i < d.size(); ++i) d[i] = 1.0 / (3.0 + r + static_cast<double>(i));
  for (size_t i = 0; i < m.size(); ++i) m[i] = Moments{1.0 + r, 0.1 * r + static_cast<double>(i), 0.3 / (1 + r)};
  std::vector<double> d_want(d.size());
  std::vector<Moments> m_want(m.size());
  for (size_t i = 0; i < d.size(); ++i) {
    d_want[i] = 1.0 / (3.0 + static_cast<double>(i));
    for (int q = 1; q < n; ++q) d_want[i] += 1.0 / (3.0 + q + static_cast<double>(i));
  }
  for (size_t i = 0; i < m.size(); ++i) {
    m_want[i] = Moments{1.0, static_cast<double>(i), 0.3};
    for (int q = 1; q < n; ++q) merge_moments(m_want[i], Moments{1.0 + q, 0.1 * q + static_cast<double>(i), 0.3 / (1 + q)});
  }
  comm.allreduce_sum(d.data(), d.size(), "doubles");
  comm.allreduce_moments(m.data(), m.size(), "moments");
  for (size_t i = 0; i < d.size(); ++i) EXPECT_EQ(d[i], d_want[i]) << i;
  for (size_t i = 0; i < m.size(); ++i) {
    EXPECT_EQ(m[i].count, m_want[i].count) << i;
    EXPECT_EQ(m[i].mean, m_want[i].mean) << i;
    EXPECT_EQ(m[i].m2, m_want[i].m2) << i;
  }
  // Float sums, blocking and bucketed, in rank order.
  std::vector<float> g(300'000);
  for (size_t i = 0; i < g.size(); ++i) g[i] = value(r, i, 9);
  BucketedAllreduce buckets(comm, 64 << 10);
  buckets.attach(g.data(), g.size());
  buckets.ready(g.size() / 2, g.size());
  buckets.finish();
  for (size_t i = 0; i < g.size(); ++i) ASSERT_EQ(g[i], rank_order_sum(n, i, 9)) << i;
}

TEST(HierAllreduce, OneNodeWithoutRoomMeansNoHierarchyAnywhere) {
  const int r = test_world().rank(), n = test_world().size();
  MPI_Comm node = MPI_COMM_NULL;
  MPI_Comm_split(world_comm(), r / 2, r, &node);
  // The last rank found too little shared memory: every rank, on every
  // node, gets nullptr (and falls back to MPI's all-reduce).
  auto hier = ShmAllreduce::create_hierarchical(world_comm(), node, "rank " + std::to_string(r), r != n - 1,
                                                kSlotFloats);
  EXPECT_EQ(hier, nullptr);
}

TEST(HierAllreduce, NodeIdSetOnSomeRanksOnlyIsAnError) {
  const int r = test_world().rank();
  MPI_Comm copy = MPI_COMM_NULL;
  MPI_Comm_dup(world_comm(), &copy);
  if (r == 0) setenv("LOCKSTEP_NODE_ID", "0", 1);
  try {
    MpiCommunicator comm(copy, /*owned=*/true);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput);
    EXPECT_NE(std::string(e.what()).find("LOCKSTEP_NODE_ID"), std::string::npos) << e.what();
    MPI_Comm_free(&copy);  // the constructor threw: nobody else frees it
  }
  unsetenv("LOCKSTEP_NODE_ID");
}

}  // namespace
}  // namespace lockstep
