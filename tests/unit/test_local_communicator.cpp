// The single-process side of distributed/: LocalCommunicator is the identity,
// Runtime without a launcher does not start MPI, and BucketedAllreduce's
// bookkeeping (bucket layout, labels, contract checks) works on one rank.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "distributed/bucketed_allreduce.h"
#include "distributed/local_communicator.h"
#include "distributed/runtime.h"

namespace lockstep {
namespace {

TEST(LocalCommunicator, IsRankZeroOfOne) {
  LocalCommunicator comm;
  EXPECT_EQ(comm.rank(), 0);
  EXPECT_EQ(comm.size(), 1);
}

TEST(LocalCommunicator, ReductionsReturnTheirInput) {
  LocalCommunicator comm;
  std::vector<float> f = {1.5f, -2.0f, 3e30f};
  std::vector<double> d = {0.1, -1e300};
  std::vector<int64_t> m = {-7, INT64_MAX};
  comm.allreduce_sum(f.data(), f.size());
  comm.allreduce_sum(d.data(), d.size());
  comm.allreduce_max(m.data(), m.size());
  EXPECT_EQ(f, (std::vector<float>{1.5f, -2.0f, 3e30f}));
  EXPECT_EQ(d, (std::vector<double>{0.1, -1e300}));
  EXPECT_EQ(m, (std::vector<int64_t>{-7, INT64_MAX}));

  std::vector<Moments> mo = {{3, 1e4, 2e-4}, {0, 0, 0}};
  comm.allreduce_moments(mo.data(), mo.size());
  EXPECT_EQ(mo[0].count, 3);
  EXPECT_EQ(mo[0].mean, 1e4);
  EXPECT_EQ(mo[0].m2, 2e-4);
  EXPECT_EQ(mo[1].count, 0);

  const int t1 = comm.start_allreduce_sum(f.data(), f.size(), "a");
  const int t2 = comm.start_allreduce_sum(nullptr, 0, "b");
  comm.wait(t2);
  comm.wait(t1);
  EXPECT_EQ(f[0], 1.5f);
}

TEST(LocalCommunicator, BroadcastAllgatherBarrier) {
  LocalCommunicator comm;
  int x = 42;
  comm.broadcast(&x, sizeof x, 0);
  EXPECT_EQ(x, 42);
  const int32_t send[3] = {1, 2, 3};
  int32_t recv[3] = {0, 0, 0};
  comm.allgather(send, recv, sizeof send);
  EXPECT_EQ(recv[0], 1);
  EXPECT_EQ(recv[2], 3);
  comm.allgather(recv, recv, sizeof recv);  // in place
  EXPECT_EQ(recv[1], 2);
  comm.barrier();
  comm.set_timeout_seconds(1);
}

TEST(LocalCommunicator, SplitGivesAnotherLocalCommunicator) {
  LocalCommunicator comm;
  auto sub = comm.split(5, 3);
  ASSERT_NE(sub, nullptr);
  EXPECT_NE(dynamic_cast<LocalCommunicator*>(sub.get()), nullptr);
  EXPECT_EQ(sub->size(), 1);
  EXPECT_EQ(sub->rank(), 0);
  double v = 2.5;
  sub->allreduce_sum(&v, 1);
  EXPECT_EQ(v, 2.5);
}

TEST(GroupCommunicator, EveryGroupSizeIsOneRankAlone) {
  LocalCommunicator world;
  for (int g : {0, 1, 2, 7}) {
    auto group = make_group_communicator(world, g);
    EXPECT_EQ(group->size(), 1) << g;
    EXPECT_EQ(group->rank(), 0) << g;
  }
  try {
    make_group_communicator(world, -1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput);
    EXPECT_EQ(e.where(), "sync_group_size");
  }
}

// Saves and clears the launcher variables; restores them afterwards.
class LauncherEnv {
 public:
  LauncherEnv() {
    for (const char* name : kNames) {
      const char* v = std::getenv(name);
      saved_.push_back(v ? std::string(v) : std::string("\x01unset"));
      unsetenv(name);
    }
  }
  ~LauncherEnv() {
    for (size_t i = 0; i < saved_.size(); ++i) {
      if (saved_[i] == "\x01unset") {
        unsetenv(kNames[i]);
      } else {
        setenv(kNames[i], saved_[i].c_str(), 1);
      }
    }
  }

 private:
  static constexpr const char* kNames[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK",
                                           "SLURM_STEP_ID", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"};
  std::vector<std::string> saved_;
};

TEST(Runtime, LauncherDetection) {
  LauncherEnv env;
  EXPECT_FALSE(launched_by_mpi());
  setenv("SLURM_NTASKS", "4", 1);  // a batch script, not a step
  EXPECT_FALSE(launched_by_mpi());
  setenv("SLURM_STEP_ID", "0", 1);
  setenv("SLURM_STEP_NUM_TASKS", "1", 1);  // srun -n 1: alone
  EXPECT_FALSE(launched_by_mpi());
  setenv("SLURM_STEP_NUM_TASKS", "4", 1);
  EXPECT_TRUE(launched_by_mpi());
  unsetenv("SLURM_STEP_ID");
  EXPECT_FALSE(launched_by_mpi());
  setenv("PMIX_RANK", "0", 1);
  EXPECT_TRUE(launched_by_mpi());
  unsetenv("PMIX_RANK");
  setenv("PMI_SIZE", "2", 1);
  EXPECT_TRUE(launched_by_mpi());
  unsetenv("PMI_SIZE");
  setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
  EXPECT_TRUE(launched_by_mpi());
}

TEST(Runtime, WithoutLauncherRunsAloneWithoutMpi) {
  LauncherEnv env;  // no launcher variables: MPI must not start
  Runtime runtime;
  EXPECT_FALSE(runtime.using_mpi());
  EXPECT_EQ(runtime.world().size(), 1);
  EXPECT_EQ(runtime.world().rank(), 0);
  EXPECT_NE(dynamic_cast<LocalCommunicator*>(&runtime.world()), nullptr);
  EXPECT_EQ(runtime.local_rank(), 0);
  EXPECT_EQ(runtime.local_size(), 1);
  EXPECT_GE(runtime.default_threads(), 1);
  const unsigned hw = std::thread::hardware_concurrency();
  if (hw > 0) {
    EXPECT_LE(runtime.default_threads(), static_cast<int>(hw));
  }
  EXPECT_THROW(Runtime second, Error);  // one per process
}

TEST(BucketedAllreduceLocal, BucketsRunFromTheEndOfTheArena) {
  LocalCommunicator comm;
  std::vector<float> grads(10, 1.0f);
  BucketedAllreduce sync(comm, 4 * sizeof(float));
  sync.attach(grads.data(), grads.size());
  ASSERT_EQ(sync.bucket_count(), 3u);
  EXPECT_EQ(sync.bucket_begin(0), 6u);
  EXPECT_EQ(sync.bucket_end(0), 10u);
  EXPECT_EQ(sync.bucket_begin(1), 2u);
  EXPECT_EQ(sync.bucket_begin(2), 0u);  // the short one is at the front
  EXPECT_EQ(sync.bucket_end(2), 2u);
  EXPECT_EQ(sync.bucket_label(0), "gradient bucket 0 [6, 10)");
  EXPECT_EQ(sync.bucket_label(2), "gradient bucket 2 [0, 2)");
  sync.ready(7, 10);
  sync.ready(1, 7);
  sync.ready(0, 1);
  sync.finish();
  for (float g : grads) EXPECT_EQ(g, 1.0f);  // identity on one rank
}

TEST(BucketedAllreduceLocal, LabelsNameTheParameters) {
  LocalCommunicator comm;
  std::vector<float> grads(12);
  BucketedAllreduce sync(comm, 5 * sizeof(float), true,
                         label_by_ranges({{"dense_2/bias", 10, 12},
                                          {"dense_1/kernel", 0, 6},
                                          {"dense_1/bias", 6, 8},
                                          {"dense_2/kernel", 8, 10}}));
  sync.attach(grads.data(), grads.size());
  ASSERT_EQ(sync.bucket_count(), 3u);
  EXPECT_EQ(sync.bucket_label(0), "gradient bucket 0 (dense_1/bias..dense_2/bias)");  // [7, 12)
  EXPECT_EQ(sync.bucket_label(1), "gradient bucket 1 (dense_1/kernel..dense_1/bias)");  // [2, 7)
  EXPECT_EQ(sync.bucket_label(2), "gradient bucket 2 (dense_1/kernel)");  // [0, 2)
}

TEST(BucketedAllreduceLocal, ReadyMustMoveTowardsTheStart) {
  LocalCommunicator comm;
  std::vector<float> grads(100);
  BucketedAllreduce sync(comm, 16);
  sync.attach(grads.data(), grads.size());
  EXPECT_THROW(sync.ready(90, 101), Error);  // past the arena
  EXPECT_THROW(sync.ready(50, 40), Error);   // reversed
  sync.ready(80, 100);
  EXPECT_THROW(sync.ready(70, 85), Error);   // overlaps the previous range
  EXPECT_THROW(sync.ready(90, 95), Error);   // goes back up
  sync.ready(60, 80);
  sync.ready(60, 60);                        // empty is fine
  sync.finish();
  sync.ready(90, 100);  // a new step starts from the end again
  sync.finish();
}

TEST(BucketedAllreduceLocal, EmptyArenaAndBadBucketSize) {
  LocalCommunicator comm;
  BucketedAllreduce sync(comm);
  sync.attach(nullptr, 0);
  EXPECT_EQ(sync.bucket_count(), 0u);
  sync.ready(0, 0);
  sync.finish();
  EXPECT_THROW(BucketedAllreduce(comm, 0), Error);
}

}  // namespace
}  // namespace lockstep
