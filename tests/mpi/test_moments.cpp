// allreduce_moments: one collective merging per-channel (count, mean, m2).
// Each rank generates its data deterministically from (rank, index,
// channel), so every rank can regenerate all ranks' data and compute the
// exact statistics of the concatenation in long double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/communicator.h"

namespace lockstep {
Communicator& test_world();  // mpi_test_main.cpp

namespace {

constexpr int kChannels = 4;
// Channel 0 is the hard case of DESIGN.md: mean 1e4, std 1e-2. sum/sum-of-
// squares in double would lose the variance entirely.
constexpr double kMean[kChannels] = {1e4, -5.0, 0.0, 3e3};
constexpr double kStd[kChannels] = {1e-2, 3.0, 1.0, 1e-3};

uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Samples on rank r. Rank 1 has none (an empty share of the batch).
int samples_on(int r) { return r == 1 ? 0 : 5 + 7 * r; }

// float, as BatchNormalization's inputs are; uniform with the channel's std.
float value(int r, int i, int c) {
  const uint64_t bits = mix(mix(mix(static_cast<uint64_t>(r)) ^ static_cast<uint64_t>(i)) ^ static_cast<uint64_t>(c));
  const double u = static_cast<double>(bits >> 11) * 0x1.0p-53;  // [0, 1)
  return static_cast<float>(kMean[c] + kStd[c] * std::sqrt(3.0) * (2 * u - 1));
}

// Two-pass statistics of this rank's data in double, as a layer computes them.
std::vector<Moments> local_moments(int r) {
  std::vector<Moments> m(kChannels);
  const int n = samples_on(r);
  for (int c = 0; c < kChannels; ++c) {
    if (n == 0) continue;
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += value(r, i, c);
    const double mean = sum / n;
    double m2 = 0;
    for (int i = 0; i < n; ++i) m2 += (value(r, i, c) - mean) * (value(r, i, c) - mean);
    m[c] = Moments{static_cast<double>(n), mean, m2};
  }
  return m;
}

TEST(AllreduceMoments, EqualsStatisticsOfConcatenatedData) {
  Communicator& world = test_world();
  std::vector<Moments> merged = local_moments(world.rank());
  world.allreduce_moments(merged.data(), merged.size());

  for (int c = 0; c < kChannels; ++c) {
    long double count = 0, sum = 0;
    for (int r = 0; r < world.size(); ++r) {
      for (int i = 0; i < samples_on(r); ++i) sum += value(r, i, c);
      count += samples_on(r);
    }
    const long double mean = sum / count;
    long double m2 = 0;
    for (int r = 0; r < world.size(); ++r) {
      for (int i = 0; i < samples_on(r); ++i) m2 += (value(r, i, c) - mean) * (value(r, i, c) - mean);
    }
    const double variance = static_cast<double>(m2 / count);
    EXPECT_EQ(merged[c].count, static_cast<double>(count)) << "channel " << c;
    EXPECT_NEAR(merged[c].mean, static_cast<double>(mean), 1e-12 * (std::fabs(kMean[c]) + kStd[c]))
        << "channel " << c;
    EXPECT_NEAR(merged[c].m2 / merged[c].count, variance, 1e-3 * variance) << "channel " << c;
  }
}

TEST(AllreduceMoments, EveryRankGetsIdenticalBits) {
  // Replicas must stay identical: the merge is made commutative bit for bit.
  Communicator& world = test_world();
  std::vector<Moments> merged = local_moments(world.rank());
  world.allreduce_moments(merged.data(), merged.size());
  const size_t bytes = merged.size() * sizeof(Moments);
  std::vector<Moments> all(merged.size() * world.size());
  world.allgather(merged.data(), all.data(), bytes);
  for (int r = 0; r < world.size(); ++r) {
    EXPECT_EQ(std::memcmp(all.data() + r * merged.size(), merged.data(), bytes), 0) << "rank " << r;
  }
}

TEST(AllreduceMoments, AllEmptyAndOneRankOnly) {
  Communicator& world = test_world();
  // No rank has data: count 0, no NaN.
  Moments none;
  world.allreduce_moments(&none, 1);
  EXPECT_EQ(none.count, 0);
  EXPECT_EQ(none.mean, 0);
  EXPECT_EQ(none.m2, 0);
  // Only the last rank has data: its statistics come back unchanged.
  const Moments last{3, 2.5, 0.75};
  Moments m = world.rank() == world.size() - 1 ? last : Moments{};
  world.allreduce_moments(&m, 1);
  EXPECT_EQ(m.count, last.count);
  EXPECT_EQ(m.mean, last.mean);
  EXPECT_EQ(m.m2, last.m2);
}

}  // namespace
}  // namespace lockstep
