// The run directory's folder and file handling (core/run_dir.h, on
// std::filesystem): nested folders made, checkpoints listed newest first
// with temporaries and strangers ignored, pruning and clean-up touching
// only what a run writes.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/run_dir.h"
#include "temp_files.h"

namespace lockstep {
namespace {

using test_files::temp_dir;

namespace fs = std::filesystem;

void touch(const std::string& path) { std::ofstream(path) << "x"; }

TEST(RunDir, MakeDirsCreatesEveryMissingFolderAndAcceptsExistingOnes) {
  const std::string dir = temp_dir("run_dir") + "/a/b/c";
  make_dirs(dir);
  EXPECT_TRUE(fs::is_directory(dir));
  make_dirs(dir);  // already there
  make_dirs(dir + "/");
  EXPECT_TRUE(fs::is_directory(dir));
}

TEST(RunDir, MakeDirsThroughAFileIsARuntimeErrorNamingTheFolder) {
  const std::string dir = temp_dir("run_dir");
  touch(dir + "/file");
  try {
    make_dirs(dir + "/file/sub");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitRuntime);
    EXPECT_EQ(e.where(), dir + "/file/sub");
    EXPECT_NE(e.message().find("cannot create folder: "), std::string::npos) << e.what();
  }
}

TEST(RunDir, CheckpointsAreListedNewestFirstWithoutTemporariesOrOtherFiles) {
  const std::string run = temp_dir("run_dir");
  make_dirs(checkpoint_dir(run));
  for (int64_t step : {20, 100, 3}) touch(checkpoint_path(run, step));
  for (const char* other : {"ckpt-00000200.pb.tmp.123", "ckpt-x.pb", "notes.txt", "ckpt-.pb"})
    touch(checkpoint_dir(run) + "/" + other);
  EXPECT_EQ(list_checkpoints(run), (std::vector<std::string>{checkpoint_path(run, 100), checkpoint_path(run, 20),
                                                              checkpoint_path(run, 3)}));
  EXPECT_TRUE(list_checkpoints(run + "/none").empty());  // no folder: no checkpoints
}

TEST(RunDir, PruningKeepsTheNewestAndStaleTemporariesGoAlone) {
  const std::string run = temp_dir("run_dir");
  make_dirs(checkpoint_dir(run));
  for (int64_t step = 1; step <= 5; ++step) touch(checkpoint_path(run, step));
  touch(checkpoint_dir(run) + "/ckpt-00000006.pb.tmp.99");
  touch(checkpoint_dir(run) + "/keep.me");
  prune_checkpoints(run, 2);
  EXPECT_EQ(list_checkpoints(run), (std::vector<std::string>{checkpoint_path(run, 5), checkpoint_path(run, 4)}));
  EXPECT_TRUE(file_exists(checkpoint_dir(run) + "/ckpt-00000006.pb.tmp.99"));
  remove_stale_temporaries(run);
  EXPECT_FALSE(file_exists(checkpoint_dir(run) + "/ckpt-00000006.pb.tmp.99"));
  EXPECT_TRUE(file_exists(checkpoint_dir(run) + "/keep.me"));
  EXPECT_EQ(list_checkpoints(run).size(), 2u);
}

TEST(RunDir, RemovingARunsFilesLeavesOtherFiles) {
  const std::string run = temp_dir("run_dir");
  make_dirs(checkpoint_dir(run));
  make_dirs(run + "/final");
  touch(checkpoint_path(run, 7));
  for (const char* name : {"history.jsonl", "config.pbtxt", "final/model.pb", "mine.txt"}) touch(run_file(run, name));
  remove_run_files(run);
  EXPECT_TRUE(list_checkpoints(run).empty());
  for (const char* name : {"history.jsonl", "config.pbtxt", "final/model.pb"})
    EXPECT_FALSE(file_exists(run_file(run, name))) << name;
  EXPECT_TRUE(file_exists(run_file(run, "mine.txt")));
  remove_run_files(run + "/none");  // nothing there: nothing to do, no error
}

}  // namespace
}  // namespace lockstep
