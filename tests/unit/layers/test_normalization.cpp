// Normalization (Keras' preprocessing layer, axis -1): adapt() computes the
// population mean and variance per feature / per channel (as numpy does),
// given statistics broadcast, the output is (x - mean) / max(sqrt(var), 1e-7),
// gradients against finite differences, the summary's 2C + 1 non-trainable
// values, and spec errors.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/keras.h"
#include "core/model.h"
#include "core/summary.h"
#include "tests/unit/gradcheck_util.h"
#include "tests/unit/layers/layer_test_util.h"

namespace lockstep {
namespace {

using gradtest::LayerHarness;
using layertest::sequential;

const float* state(const Model& m, const std::string& name) {
  const ParameterStore& p = m.parameters();
  return const_cast<ParameterStore&>(p).value(p.find(name));
}

TEST(Normalization, AdaptGivesThePopulationMeanAndVariancePerFeature) {
  Model m(sequential({3}, {keras::Normalization(), keras::Dense(2)}));
  EXPECT_TRUE(m.adapts_to_data());
  // Keras' docstring example, plus a constant third feature.
  const std::vector<float> x = {0, 7, 5, 2, 9, 5, 0, 7, 5, 2, 9, 5};
  m.adapt(x.data(), 4, nullptr);
  EXPECT_EQ(std::vector<float>(state(m, "normalization_1/mean"), state(m, "normalization_1/mean") + 3),
            (std::vector<float>{1, 8, 5}));
  EXPECT_EQ(std::vector<float>(state(m, "normalization_1/variance"), state(m, "normalization_1/variance") + 3),
            (std::vector<float>{1, 1, 0}));
  EXPECT_EQ(*state(m, "normalization_1/count"), 4.0f);
  const std::vector<float> one = {0, 7, 6};
  std::vector<float> out(3);
  m.layer(0).forward(StepContext{}, one.data(), out.data(), 1);
  EXPECT_FLOAT_EQ(out[0], -1.0f);
  EXPECT_FLOAT_EQ(out[1], -1.0f);
  EXPECT_FLOAT_EQ(out[2], 1.0f / 1e-7f);  // variance 0: the standard deviation's floor is 1e-7
}

TEST(Normalization, PerChannelOnImagesAndBroadcastStatistics) {
  Model m(sequential({2, 2, 2}, {keras::Normalization(), keras::Flatten(), keras::Dense(1)}));
  // Channel 0 holds 1..4 in both samples, channel 1 holds 10.
  std::vector<float> x;
  for (int s = 0; s < 2; ++s)
    for (int p = 0; p < 4; ++p) x.insert(x.end(), {static_cast<float>(p + 1), 10.0f});
  m.adapt(x.data(), 2, nullptr);
  EXPECT_FLOAT_EQ(state(m, "normalization_1/mean")[0], 2.5f);
  EXPECT_FLOAT_EQ(state(m, "normalization_1/variance")[0], 1.25f);
  EXPECT_FLOAT_EQ(state(m, "normalization_1/mean")[1], 10.0f);
  EXPECT_FLOAT_EQ(*state(m, "normalization_1/count"), 2.0f);

  Model given(sequential({3}, {keras::Normalization().mean({2}).variance({4}), keras::Dense(1)}));
  EXPECT_FALSE(given.adapts_to_data());
  std::vector<float> out(3);
  const std::vector<float> in = {2, 4, 0};
  given.layer(0).forward(StepContext{}, in.data(), out.data(), 1);
  EXPECT_EQ(out, (std::vector<float>{0, 1, -1}));
}

TEST(Normalization, GradientMatchesFiniteDifferences) {
  for (const Shape& input : {Shape{5}, Shape{3, 2, 4}}) {
    LayerHarness h(keras::Normalization().mean({0.5f}).variance({2.0f}), input, 3);
    h.check("Normalization on " + shape_string(input));
  }
}

TEST(Normalization, SummaryCountsKerasWeights) {
  Model m(sequential({8}, {keras::Normalization(), keras::Dense(2)}));
  const std::string s = model_summary(m);
  EXPECT_NE(s.find("normalization_1 (Normalization)"), std::string::npos) << s;
  EXPECT_NE(s.find("Non-trainable params: 17"), std::string::npos) << s;  // mean 8, variance 8, count 1
}

TEST(Normalization, SpecErrors) {
  layertest::expect_spec_error(sequential({3}, {keras::Dense(4), keras::Normalization()}), "model.layers[1]",
                               {"only the first layer can adapt", "give its mean and variance"});
  layertest::expect_spec_error(sequential({3}, {keras::Normalization().mean({1, 2}).variance({1, 2})}),
                               "model.layers[0]", {"mean has 2 values for 3 channels"});
  layertest::expect_spec_error(sequential({3}, {keras::Normalization().mean({1}).variance({-1})}),
                               "model.layers[0]", {"variance values must be finite and >= 0"});
  layertest::expect_spec_error(sequential({3}, {keras::Normalization().mean({1})}), "model.layers[0].normalization",
                               {"give both mean and variance"});
}

TEST(Normalization, EmptyBatch) {
  layertest::expect_empty_batch_is_harmless(keras::Normalization().mean({1}).variance({1}), {4, 3, 2});
}

}  // namespace
}  // namespace lockstep
