// threads_within_share: threads per rank beyond the rank's share of the cores.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "core/threads.h"

namespace lockstep {
namespace {

TEST(ThreadsWithinShare, UnsetOrWithinTheShareIsKept) {
  unsetenv("OMP_WAIT_POLICY");
  std::string why;
  EXPECT_EQ(threads_within_share(0, 4, &why), 4);  // unset: the share
  EXPECT_EQ(threads_within_share(3, 4, &why), 3);
  EXPECT_EQ(threads_within_share(4, 4, &why), 4);
  EXPECT_EQ(threads_within_share(0, 0, &why), 1);  // a share below one core is still one thread
  EXPECT_TRUE(why.empty()) << why;
}

TEST(ThreadsWithinShare, BeyondTheShare) {
  unsetenv("OMP_WAIT_POLICY");
  std::string why;
  const int got = threads_within_share(4, 2, &why);
#ifdef _OPENMP
  // The spinning OpenMP pool: capped, and said why and how to keep 4.
  EXPECT_EQ(got, 2);
  EXPECT_NE(why.find("threads: 4 per rank"), std::string::npos) << why;
  EXPECT_NE(why.find("running 2"), std::string::npos) << why;
  EXPECT_NE(why.find("OMP_WAIT_POLICY=PASSIVE"), std::string::npos) << why;
  // libgomp told not to spin: the count asked for stands.
  for (const char* passive : {"PASSIVE", "passive"}) {
    setenv("OMP_WAIT_POLICY", passive, 1);
    std::string none;
    EXPECT_EQ(threads_within_share(4, 2, &none), 4) << passive;
    EXPECT_TRUE(none.empty()) << none;
  }
  setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
  EXPECT_EQ(threads_within_share(4, 2, &why), 2);
  unsetenv("OMP_WAIT_POLICY");
#else
  // OpenBLAS' pthreads yield while they wait: the count asked for stands.
  EXPECT_EQ(got, 4);
  EXPECT_TRUE(why.empty()) << why;
#endif
}

}  // namespace
}  // namespace lockstep
