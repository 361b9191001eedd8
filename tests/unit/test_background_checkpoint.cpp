// The background checkpoint writer: the file holds the tensors as they were
// when the write was submitted, a failure is rethrown on the training thread
// (exit 1) with nothing pruned, and one write is in flight at most.
#include "core/background_checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <future>

#include "core/error.h"
#include "core/run_dir.h"
#include "temp_files.h"

namespace lockstep {
namespace {

using test_files::temp_dir;

std::vector<TensorRef> refs_to(const std::vector<float>& values) {
  return {{"dense_1/kernel", TensorRecord::PARAMETER, {static_cast<int64_t>(values.size())}, values.data()}};
}

TEST(BackgroundCheckpoint, WritesTheSnapshotTakenAtSubmit) {
  const std::string path = temp_dir("background") + "/ckpt-1.pb";
  std::vector<float> values(100000, 1.5f);
  BackgroundCheckpoint writer;
  CheckpointHeader header;
  header.set_seed(42);
  std::atomic<int> after_calls{0};
  writer.submit(path, header, refs_to(values), [&] { ++after_calls; });
  std::fill(values.begin(), values.end(), -7.0f);  // training goes on
  writer.wait();
  EXPECT_FALSE(writer.in_flight());
  EXPECT_EQ(after_calls.load(), 1);
  const CheckpointContents read = read_checkpoint(path);
  EXPECT_EQ(read.header.seed(), 42u);
  ASSERT_EQ(read.tensors.size(), 1u);
  EXPECT_EQ(read.tensors[0].values, std::vector<float>(100000, 1.5f));
}

TEST(BackgroundCheckpoint, TheNextSubmitWaitsForTheOneInFlight) {
  const std::string dir = temp_dir("background");
  std::vector<float> values(1000);
  BackgroundCheckpoint writer;
  for (int i = 0; i < 5; ++i) {
    std::fill(values.begin(), values.end(), static_cast<float>(i));
    writer.submit(dir + "/ckpt-" + std::to_string(i) + ".pb", CheckpointHeader(), refs_to(values), nullptr);
  }
  writer.wait();
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(read_checkpoint(dir + "/ckpt-" + std::to_string(i) + ".pb").tensors[0].values,
              std::vector<float>(1000, static_cast<float>(i)));
}

// The write fails in the background (its folder is gone); the training
// thread learns it at its next check, as a runtime error naming the file,
// and the after-write step (pruning) does not run.
TEST(BackgroundCheckpoint, AFailureIsRethrownOnTheTrainingThreadOnce) {
  const std::string path = temp_dir("background") + "/gone/ckpt-2.pb";
  std::vector<float> values(10, 1.0f);
  BackgroundCheckpoint writer;
  bool pruned = false;
  writer.submit(path, CheckpointHeader(), refs_to(values), [&] { pruned = true; });
  try {
    writer.wait();
    FAIL() << "the failed write was not reported";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitRuntime);
    EXPECT_EQ(e.where().rfind(path, 0), 0u) << e.what();
  }
  EXPECT_FALSE(pruned);
  EXPECT_NO_THROW(writer.wait());  // reported once
}

TEST(BackgroundCheckpoint, RethrowFailureDoesNotBlockOrThrowWhileWriting) {
  const std::string path = temp_dir("background") + "/ckpt-3.pb";
  std::vector<float> values(1 << 20, 2.0f);
  BackgroundCheckpoint writer;
  EXPECT_NO_THROW(writer.rethrow_failure());  // nothing submitted yet
  writer.submit(path, CheckpointHeader(), refs_to(values), nullptr);
  EXPECT_NO_THROW(writer.rethrow_failure());
  writer.wait();
  EXPECT_TRUE(file_exists(path));
}

// writing() is what when_busy: "skip" asks: true from submit until the
// write (and its pruning step) has finished, false after, without a wait().
TEST(BackgroundCheckpoint, WritingIsTrueUntilTheWriteHasFinished) {
  const std::string dir = temp_dir("background");
  std::vector<float> values(10, 1.0f);
  BackgroundCheckpoint writer;
  EXPECT_FALSE(writer.writing());
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> done;
  writer.submit(dir + "/ckpt-4.pb", CheckpointHeader(), refs_to(values), [released, &done] {
    released.wait();  // a slow disk, held until the test says so
    done.set_value();
  });
  EXPECT_TRUE(writer.writing());
  release.set_value();
  done.get_future().wait();
  while (writer.writing()) std::this_thread::yield();  // the worker's last lines
  EXPECT_TRUE(writer.in_flight());                     // finished, not joined yet
  writer.wait();
  EXPECT_FALSE(writer.writing());
  EXPECT_TRUE(file_exists(dir + "/ckpt-4.pb"));
}

}  // namespace
}  // namespace lockstep
