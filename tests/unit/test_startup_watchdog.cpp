// The start-up watchdog ends the process (in a death-test child here) when
// start-up overruns its bound or a stop signal arrives, with a one-line
// message naming rank and host, and leaves the process alone once disarmed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/error.h"
#include "distributed/startup_watchdog.h"

namespace lockstep {
namespace {

volatile std::sig_atomic_t g_flag = 0;
int g_reported = -1;
void remember_status(int status) {
  g_reported = status;
  // Visible to the parent of the death test through stderr.
  const std::string line = "reported " + std::to_string(status) + "\n";
  (void)!::write(STDERR_FILENO, line.data(), line.size());
}

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1);
    else unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(StartupWatchdogDeathTest, OverrunEndsTheProcessWithRankHostAndStage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  StartupWatchdogOptions o;
  o.seconds = 0.2;
  o.before_exit = &remember_status;
  EXPECT_EXIT(
      {
        StartupWatchdog w(o, "rank 3 on node7", "in MPI_Init");
        std::this_thread::sleep_for(std::chrono::seconds(30));
      },
      ::testing::ExitedWithCode(kExitRuntime),
      "error: rank 3 on node7: start-up did not finish within 0.2 s \\(in MPI_Init\\): another rank probably "
      "died or never started; LOCKSTEP_STARTUP_TIMEOUT sets the bound\nreported 1");
}

TEST(StartupWatchdogDeathTest, TheMessageNamesTheStageReachedLast) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  StartupWatchdogOptions o;
  o.seconds = 0.3;
  EXPECT_EXIT(
      {
        StartupWatchdog w(o, "rank 0 on a", "in MPI_Init");
        w.set_stage("in the first collectives");
        std::this_thread::sleep_for(std::chrono::seconds(30));
      },
      ::testing::ExitedWithCode(kExitRuntime), "within 0.3 s \\(in the first collectives\\)");
}

TEST(StartupWatchdogDeathTest, StopSignalEndsStartUpAtOnceWithItsStatus) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  StartupWatchdogOptions o;
  o.seconds = 60;
  o.stop_signal = &g_flag;
  o.stop_status = 75;
  o.before_exit = &remember_status;
  EXPECT_EXIT(
      {
        StartupWatchdog w(o, "rank 1 on b", "in MPI_Init");
        g_flag = SIGTERM;
        std::this_thread::sleep_for(std::chrono::seconds(30));
      },
      ::testing::ExitedWithCode(75),
      "^rank 1 on b: stopped by SIGTERM during start-up \\(in MPI_Init\\), before the first step: nothing to "
      "save; exit status 75 \\(the same command continues the run\\)\nreported 75");
}

TEST(StartupWatchdog, DisarmedWatchdogLeavesTheProcessAlone) {
  StartupWatchdogOptions o;
  o.seconds = 0.05;
  const auto start = std::chrono::steady_clock::now();
  {
    StartupWatchdog w(o, "rank 0 on c", "in MPI_Init");
    w.disarm();
    w.disarm();  // twice is fine (the destructor disarms too)
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // past the bound: still alive
  // Disarming wakes the thread: no waiting for a poll interval or the bound.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(StartupWatchdog, TimeoutFromTheEnvironment) {
  {
    ScopedEnv e("LOCKSTEP_STARTUP_TIMEOUT", nullptr);
    EXPECT_EQ(startup_timeout_from_env(), kDefaultStartupTimeoutSeconds);
  }
  {
    ScopedEnv e("LOCKSTEP_STARTUP_TIMEOUT", "2.5");
    EXPECT_EQ(startup_timeout_from_env(), 2.5);
  }
  for (const char* bad : {"0", "-1", "abc", "5s", "nan", "inf", "1e999"}) {
    ScopedEnv e("LOCKSTEP_STARTUP_TIMEOUT", bad);
    try {
      startup_timeout_from_env();
      ADD_FAILURE() << bad << " accepted";
    } catch (const Error& err) {
      EXPECT_EQ(err.exit_code(), kExitInput);
      EXPECT_EQ(std::string(err.what()),
                std::string("LOCKSTEP_STARTUP_TIMEOUT: must be a number of seconds > 0, got '") + bad + "'");
    }
  }
}

TEST(StartupWatchdog, RankFromTheLauncherEnvironment) {
  ScopedEnv a("OMPI_COMM_WORLD_RANK", nullptr), b("PMIX_RANK", nullptr), c("PMI_RANK", nullptr),
      d("SLURM_PROCID", nullptr);
  EXPECT_EQ(launcher_rank(), -1);
  EXPECT_EQ(startup_where().rfind("rank ? on ", 0), 0u) << startup_where();
  setenv("SLURM_PROCID", "5", 1);
  EXPECT_EQ(launcher_rank(), 5);
  setenv("OMPI_COMM_WORLD_RANK", "3", 1);  // mpirun's variable comes first
  EXPECT_EQ(launcher_rank(), 3);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_EQ(startup_where(), std::string("rank 3 on ") + host);
}

}  // namespace
}  // namespace lockstep
