// Dropout's vectorised mask must be exactly keep(), the scalar definition the
// partition-independence tests and DESIGN.md rely on; gradients in training
// mode (mask fixed by the StepContext) and the identity at inference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "core/layers/dropout.h"
#include "core/keras.h"
#include "core/random.h"
#include "tests/unit/gradcheck_util.h"

namespace lockstep {
namespace {

using gradtest::LayerHarness;

TEST(Dropout, ThresholdIsTheFloatComparisonInIntegers) {
  CounterRng rng(99);
  std::vector<float> rates = {0.0f, 1e-9f, 5.96e-8f, 0.1f, 0.2f, 0.25f, 1.0f / 3.0f, 0.5f, 0.9f, 0.999999f};
  for (int i = 0; i < 200; ++i) rates.push_back(static_cast<float>(rng.next_double()));
  for (float rate : rates) {
    const uint64_t t = DropoutLayer::keep_threshold(rate);
    ASSERT_LE(t, 16777216u) << rate;
    // Every 24-bit draw near the threshold, and the ends of the range.
    for (int64_t d = -3; d <= 3; ++d) {
      const int64_t k = static_cast<int64_t>(t) + d;
      if (k < 0 || k >= 16777216) continue;
      const bool kept_by_float = static_cast<float>(k) * (1.0f / 16777216.0f) >= rate;
      EXPECT_EQ(static_cast<uint64_t>(k) >= t, kept_by_float) << "rate " << rate << " draw " << k;
    }
    EXPECT_EQ(0u >= t, 0.0f >= rate) << rate;
    EXPECT_EQ(16777215u >= t, 16777215.0f / 16777216.0f >= rate) << rate;
  }
}

TEST(Dropout, ForwardMaskIsKeepForEveryElement) {
  // Width 37: not a multiple of any vector width, so the loop's tail runs too.
  for (float rate : {0.1f, 0.2f, 1.0f / 3.0f, 0.5f, 0.9f}) {
    LayerHarness h(keras::Dropout(rate), {37}, 9);
    h.ctx().batch_offset = 1000;  // this rank's rows start at 1000 in the global batch
    h.ctx().global_rows = 2000;
    h.objective();
    const uint64_t key = DropoutLayer::layer_key(h.ctx(), 0);  // layer 0: the only one
    const float scale = 1.0f / (1.0f - rate);
    int dropped = 0;
    for (int64_t r = 0; r < h.rows(); ++r)
      for (int64_t u = 0; u < 37; ++u) {
        const size_t i = static_cast<size_t>(r * 37 + u);
        const bool kept = DropoutLayer::keep(key, 1000 + r, u, rate);
        dropped += !kept;
        ASSERT_EQ(h.y()[i], kept ? h.x()[i] * scale : 0.0f) << "rate " << rate << " row " << r << " unit " << u;
      }
    EXPECT_GT(dropped, 0) << rate;
  }
}

// ---------------------------------------------------------------------------
// Gradients in training mode: the mask is fixed by the StepContext.

TEST(Dropout, GradientTrainingMode) {
  for (float rate : {0.2f, 0.5f}) {
    LayerHarness h(keras::Dropout(rate), {10}, 6);
    // The mask really is in play: some units dropped, the rest scaled.
    h.objective();
    int dropped = 0, kept = 0;
    for (size_t i = 0; i < h.x().size(); ++i) {
      if (h.y()[i] == 0.0f) ++dropped;
      else if (std::fabs(h.y()[i] - h.x()[i] / (1.0f - rate)) <= 1e-6f * std::fabs(h.y()[i])) ++kept;
    }
    EXPECT_GT(dropped, 0) << rate;
    EXPECT_GT(kept, 0) << rate;
    EXPECT_EQ(dropped + kept, static_cast<int>(h.x().size())) << rate;
    h.check("Dropout(" + std::to_string(rate) + ")");
  }
}

TEST(Dropout, InferenceIsIdentity) {
  LayerHarness h(keras::Dropout(0.5f), {7}, 3);
  h.ctx().training = false;
  h.objective();
  EXPECT_EQ(h.y(), h.x());
  h.check("Dropout inference");
}

}  // namespace
}  // namespace lockstep
