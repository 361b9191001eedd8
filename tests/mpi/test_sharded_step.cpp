// The sharded optimizer step (BucketedAllreduce::shard_update, ZeRO stage 1
// fused into the shared-memory all-reduce) against the plain data-parallel
// step: bucketed all-reduce, then every rank runs optimizer.step() over the
// whole arena. Both sum each element in rank order, so parameters must agree
// bit for bit on every rank, for every optimizer, bucket size and ready()
// pattern; gather_optimizer_state() must then give every rank whole slots
// equal to the plain step's; and the sharded step allocates nothing.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/optim/optimizer.h"
#include "distributed/bucketed_allreduce.h"
#include "train.pb.h"

namespace lockstep {
Communicator& test_world();    // mpi_test_main.cpp
long test_allocation_count();  // alloc_counter.cpp

namespace {

constexpr size_t kCount = 3001;  // odd: pieces and slices end off the SIMD width

const char* const kOptimizers[] = {
    "sgd { learning_rate: 0.1 }",
    "sgd { learning_rate: 0.1 momentum: 0.9 nesterov: true }",
    "adam { learning_rate: 0.01 }",
    "adamw { learning_rate: 0.01 weight_decay: 0.1 }",
    "rmsprop { learning_rate: 0.01 centered: true momentum: 0.5 }",
};

std::unique_ptr<Optimizer> make(const char* text) {
  OptimizerSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec)) << text;
  return make_optimizer(spec, "optimizer");
}

// Not multiples of a power of two: sums round, so a different summation
// order (or an update applied to a different sum) would show.
float gradient(int rank, size_t i, int step) {
  return static_cast<float>(std::sin(0.37 * static_cast<double>(i) + 1.3 * rank + 0.7 * step));
}

// Back to front in chunks that ignore the buckets, as Model::backward does.
void report(GradientSync& sync) {
  static const size_t kSizes[] = {1, 37, 250, 3, 101, 64, 9};
  size_t k = 0;
  for (size_t end = kCount; end > 0; ++k) {
    const size_t begin = end > kSizes[k % 7] ? end - kSizes[k % 7] : 0;
    sync.ready(begin, end);
    end = begin;
  }
}

// Every rank holds rank 0's bits.
void expect_same_on_every_rank(const std::vector<float>& values, const char* what) {
  std::vector<float> root = values;
  test_world().broadcast(root.data(), root.size() * sizeof(float), 0);
  EXPECT_EQ(std::memcmp(root.data(), values.data(), values.size() * sizeof(float)), 0)
      << what << " differs from rank 0's on rank " << test_world().rank();
}

struct Replica {
  std::unique_ptr<Optimizer> optimizer;
  std::vector<float> params, grads;
  std::unique_ptr<BucketedAllreduce> sync;
};

Replica replica(const char* spec, size_t bucket_bytes, bool overlap) {
  Replica r{make(spec), std::vector<float>(kCount), std::vector<float>(kCount), nullptr};
  for (size_t i = 0; i < kCount; ++i) r.params[i] = static_cast<float>(std::cos(0.11 * static_cast<double>(i)));
  r.optimizer->reserve(kCount);
  r.sync = std::make_unique<BucketedAllreduce>(test_world(), bucket_bytes, overlap);
  r.sync->attach(r.grads.data(), kCount);
  return r;
}

void fill_gradients(Replica& r, int step) {
  for (size_t i = 0; i < kCount; ++i) r.grads[i] = gradient(test_world().rank(), i, step);
}

TEST(ShardedStep, OneNodeWorldShards) {
  Replica r = replica("adam {}", 400, true);
  ASSERT_TRUE(r.sync->shard_update(*r.optimizer, r.params.data()))
      << "all ranks of the test job share a node, so the step must shard";
  EXPECT_TRUE(r.sync->sharded());
}

TEST(ShardedStep, EqualsAllreduceThenStepBitForBit) {
  for (const char* spec : kOptimizers) {
    for (size_t bucket_bytes : {size_t{400}, size_t{4 * kCount}, BucketedAllreduce::kDefaultBucketBytes}) {
      for (bool overlap : {true, false}) {
        SCOPED_TRACE(std::string(spec) + " bucket bytes " + std::to_string(bucket_bytes) +
                     (overlap ? " overlap" : " no overlap"));
        Replica plain = replica(spec, bucket_bytes, overlap);
        Replica sharded = replica(spec, bucket_bytes, overlap);
        ASSERT_TRUE(sharded.sync->shard_update(*sharded.optimizer, sharded.params.data()));
        for (int step = 0; step < 3; ++step) {
          const float lr = 0.5f / static_cast<float>(step + 1);  // a schedule: each step its own rate
          fill_gradients(plain, step);
          report(*plain.sync);
          plain.sync->finish();
          plain.optimizer->step(plain.params.data(), plain.grads.data(), kCount, lr);

          sharded.sync->begin_update(lr);
          fill_gradients(sharded, step);
          report(*sharded.sync);
          sharded.sync->finish();
          ASSERT_EQ(sharded.optimizer->iterations(), plain.optimizer->iterations());
          ASSERT_EQ(std::memcmp(plain.params.data(), sharded.params.data(), kCount * sizeof(float)), 0)
              << "step " << step;
        }
        expect_same_on_every_rank(sharded.params, "parameters");

        sharded.sync->gather_optimizer_state();
        for (const std::string& name : plain.optimizer->slot_names()) {
          const std::vector<float>& want = plain.optimizer->slot(name);
          const std::vector<float>& got = sharded.optimizer->slot(name);
          ASSERT_EQ(got.size(), want.size()) << name;
          EXPECT_EQ(std::memcmp(got.data(), want.data(), kCount * sizeof(float)), 0) << "slot " << name;
        }
        // Gathering leaves parameters alone and the next step still matches.
        fill_gradients(plain, 3);
        report(*plain.sync);
        plain.sync->finish();
        plain.optimizer->step(plain.params.data(), plain.grads.data(), kCount, 0.1f);
        sharded.sync->begin_update(0.1f);
        fill_gradients(sharded, 3);
        report(*sharded.sync);
        sharded.sync->finish();
        EXPECT_EQ(std::memcmp(plain.params.data(), sharded.params.data(), kCount * sizeof(float)), 0)
            << "after gather_optimizer_state";
      }
    }
  }
}

TEST(ShardedStep, InSharedArenaEqualsAllreduceThenStepBitForBit) {
  // Parameters and gradients in Communicator::shared_arena(): the reducing
  // rank reads the others' gradients in place and writes their parameters
  // directly. Same bits as the plain step, on every rank.
  Communicator& world = test_world();
  for (const char* spec : kOptimizers) {
    for (size_t bucket_bytes : {size_t{400}, BucketedAllreduce::kDefaultBucketBytes}) {
      SCOPED_TRACE(std::string(spec) + " bucket bytes " + std::to_string(bucket_bytes));
      float* arena = world.shared_arena(2 * kCount);
      ASSERT_NE(arena, nullptr) << "one node: the communicator must offer shared memory";
      float* params = arena;
      float* grads = arena + kCount;
      Replica plain = replica(spec, bucket_bytes, true);
      std::copy(plain.params.begin(), plain.params.end(), params);
      std::unique_ptr<Optimizer> optimizer = make(spec);
      optimizer->reserve(kCount);
      BucketedAllreduce sync(world, bucket_bytes, true);
      sync.attach(grads, kCount);
      ASSERT_TRUE(sync.shard_update(*optimizer, params));
      for (int step = 0; step < 3; ++step) {
        const float lr = 0.5f / static_cast<float>(step + 1);
        fill_gradients(plain, step);
        report(*plain.sync);
        plain.sync->finish();
        plain.optimizer->step(plain.params.data(), plain.grads.data(), kCount, lr);

        sync.begin_update(lr);
        for (size_t i = 0; i < kCount; ++i) grads[i] = gradient(world.rank(), i, step);
        report(sync);
        sync.finish();
        ASSERT_EQ(std::memcmp(plain.params.data(), params, kCount * sizeof(float)), 0) << "step " << step;
      }
      sync.gather_optimizer_state();
      for (const std::string& name : plain.optimizer->slot_names())
        EXPECT_EQ(optimizer->slot(name), plain.optimizer->slot(name)) << "slot " << name;
    }
  }
}

TEST(ShardedStep, EachRankUpdatesOnlyPartOfTheArena) {
  // Without the gather, a rank's slots are current only where it reduced:
  // with np > 1 every rank's first moment is partly still zero after a step
  // of non-zero gradients, and the parts the ranks own cover the arena.
  Replica r = replica("sgd { learning_rate: 0.1 momentum: 0.9 }", 400, true);
  ASSERT_TRUE(r.sync->shard_update(*r.optimizer, r.params.data()));
  r.sync->begin_update(0.1f);
  for (size_t i = 0; i < kCount; ++i) r.grads[i] = 1.0f;
  report(*r.sync);
  r.sync->finish();
  const std::vector<float>& momentum = r.optimizer->slot(r.optimizer->slot_names()[0]);
  std::vector<float> owned(kCount);
  size_t mine = 0;
  for (size_t i = 0; i < kCount; ++i) {
    owned[i] = momentum[i] != 0.0f ? 1.0f : 0.0f;
    mine += momentum[i] != 0.0f;
  }
  const int ranks = test_world().size();
  EXPECT_LT(mine, kCount) << "rank " << test_world().rank() << " updated everything";
  EXPECT_GT(mine, 0u) << "rank " << test_world().rank() << " updated nothing";
  test_world().allreduce_sum(owned.data(), kCount, "owned");
  for (size_t i = 0; i < kCount; ++i) ASSERT_EQ(owned[i], 1.0f) << "element " << i << " of " << ranks << " ranks";
}

TEST(ShardedStep, StepAndGatherAllocateNothing) {
  Replica r = replica("adam {}", 400, true);
  ASSERT_TRUE(r.sync->shard_update(*r.optimizer, r.params.data()));
  long allocations[3] = {0, 0, 0};
  for (int step = 0; step < 3; ++step) {
    fill_gradients(r, step);
    const long before = test_allocation_count();
    r.sync->begin_update(0.01f);
    report(*r.sync);
    r.sync->finish();
    allocations[step] = test_allocation_count() - before;
  }
  for (int step = 0; step < 3; ++step) EXPECT_EQ(allocations[step], 0) << "step " << step;
  const long before = test_allocation_count();
  r.sync->gather_optimizer_state();
  // slot_names() builds its vector of names; the reduction itself adds nothing.
  EXPECT_LE(test_allocation_count() - before, 8);
}

TEST(ShardedStep, BackwardWithoutBeginUpdateIsAnError) {
  // Every rank makes the same mistake, before anything is queued, so the job
  // gets an error rather than a hang.
  Replica r = replica("sgd {}", 400, true);
  ASSERT_TRUE(r.sync->shard_update(*r.optimizer, r.params.data()));
  fill_gradients(r, 0);
  EXPECT_THROW(report(*r.sync), Error);
}

}  // namespace
}  // namespace lockstep
