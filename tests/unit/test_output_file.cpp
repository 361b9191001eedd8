// Every write lockstep makes is checked: a failed write, fsync or close is a
// runtime error (exit 1) naming the file and the OS's reason; a checkpoint
// that cannot be written leaves the previous one as it was.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/output_file.h"
#include "core/run_dir.h"
#include "temp_files.h"

namespace lockstep {
namespace {

using test_files::temp_dir;
using test_files::read_bytes;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return std::to_string(e.exit_code()) + " " + e.what();
  }
  return "no error";
}

// A write that fails (here: over the process's file size limit, which the
// kernel reports as EFBIG) names the checkpoint and the OS's reason, exits
// 1, and leaves the previous checkpoint and no temporary file.
TEST(CheckpointWrite, AFailedWriteKeepsThePreviousCheckpoint) {
  const std::string dir = temp_dir("output"), path = dir + "/ckpt.pb";
  const std::vector<float> values(4096, 0.5f);  // 16 kB: over the limit below
  const std::vector<TensorRef> tensors = {{"dense_1/kernel", TensorRecord::PARAMETER, {64, 64}, values.data()}};
  write_checkpoint(path, CheckpointHeader(), tensors);
  const std::string before = read_bytes(path);
  struct rlimit old_limit;
  getrlimit(RLIMIT_FSIZE, &old_limit);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string e = error_of([&] { write_checkpoint(path, CheckpointHeader(), tensors); });
  setrlimit(RLIMIT_FSIZE, &old_limit);
  signal(SIGXFSZ, old_handler);
  EXPECT_EQ(e, "1 " + path + ": cannot write the checkpoint: File too large");
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_FALSE(file_exists(path + ".tmp." + std::to_string(getpid())));
}

TEST(OutputFile, AFullDeviceIsAnErrorNamingTheFileAndTheReason) {
  EXPECT_EQ(error_of([] { write_text_file("/dev/full", "{\"epoch\": 1}\n", true); }),
            "1 /dev/full: cannot write: No space left on device");
  EXPECT_EQ(error_of([] {
              OutputFile f("/dev/full", OutputFile::Mode::kTruncate);
              f.write("index,p0\n");  // buffered: the failure shows at close()
              f.close();
            }),
            "1 /dev/full: cannot write: No space left on device");
  // A device that cannot sync is no error: /dev/null takes anything.
  EXPECT_EQ(error_of([] { write_text_file("/dev/null", "x\n", false); }), "no error");
  EXPECT_NE(error_of([] { write_text_file("/nonexistent/dir/history.jsonl", "x", false); })
                .find("1 /nonexistent/dir/history.jsonl: cannot open for writing: No such file or directory"),
            std::string::npos);
}

// Reports are replaced by a rename, except where the path is a device: a
// link to /dev/full (in a temporary folder, so a mistake here could only
// replace the link) is written to, fails, and stays a link.
TEST(OutputFile, ReplaceFileRenamesRegularFilesAndWritesIntoDevices) {
  const std::string dir = temp_dir("output");
  replace_file(dir + "/report.html", "<html>1</html>");
  replace_file(dir + "/report.html", "<html>2</html>");
  EXPECT_EQ(read_bytes(dir + "/report.html"), "<html>2</html>");
  const std::string link = dir + "/full.html";
  ASSERT_EQ(symlink("/dev/full", link.c_str()), 0);
  EXPECT_EQ(error_of([&] { replace_file(link, "<html></html>"); }), "1 " + link + ": cannot write: No space left on device");
  struct stat st;
  ASSERT_EQ(lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

}  // namespace
}  // namespace lockstep
