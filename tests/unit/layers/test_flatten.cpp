// Flatten: the values do not move (bit for bit, both ways), the output
// shape and summary, golden values from PyTorch, empty batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "core/keras.h"
#include "core/model.h"
#include "core/summary.h"
#include "tests/unit/gradcheck_util.h"
#include "tests/unit/layers/golden.h"
#include "tests/unit/layers/layer_test_util.h"

namespace lockstep {
namespace {

using gradtest::LayerHarness;
using layertest::sequential;

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Values an arithmetic copy could change: -0, a denormal, the extremes, NaN.
std::vector<float> awkward_values(size_t n) {
  std::vector<float> v = gradtest::uniform_values(n, 17, -3, 3);
  const float awkward[] = {-0.0f, std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max(),
                           -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()};
  for (size_t i = 0; i < std::size(awkward) && i < n; ++i) v[i * 3] = awkward[i];
  return v;
}

TEST(Flatten, ForwardAndBackwardKeepEveryBit) {
  LayerHarness h(keras::Flatten(), {3, 4, 2}, 3);
  h.x() = awkward_values(h.x().size());
  h.w() = awkward_values(h.w().size());
  std::reverse(h.w().begin(), h.w().end());
  h.layer().forward(h.ctx(), h.x().data(), h.y().data(), h.rows());
  EXPECT_TRUE(same_bits(h.y(), h.x()));
  std::vector<float> dx(h.x().size(), 7.0f);
  h.layer().backward(h.ctx(), h.x().data(), h.y().data(), h.w().data(), dx.data(), h.rows());
  EXPECT_TRUE(same_bits(dx, h.w()));
}

TEST(Flatten, GradientMatchesFiniteDifferences) {
  LayerHarness h(keras::Flatten(), {3, 4, 2}, 2);
  h.check("Flatten");
}

TEST(Flatten, MatchesPyTorch) {
  const golden::Case& c = golden::find_case("flatten");
  LayerHarness h(keras::Flatten(), c.tensor("x").per_sample(), c.tensor("x").shape[0]);
  golden::run_and_compare_activations(h, c);
}

TEST(Flatten, OutputShapeAndSummary) {
  Model model(sequential({28, 28, 1}, {keras::Conv2D(8, 3).padding("same"), keras::MaxPooling2D(2),
                                       keras::Flatten(), keras::Dense(10)}));
  EXPECT_EQ(model.layer(2).output_shape(), Shape{14 * 14 * 8});
  EXPECT_EQ(std::string(model.layer(2).type_name()), "Flatten");
  const std::string summary = model_summary(model);
  for (const char* part : {"conv2d_1 (Conv2D)", "(None, 28, 28, 8)", "80", "max_pooling2d_1 (MaxPooling2D)",
                           "(None, 14, 14, 8)", "flatten_1 (Flatten)", "(None, 1568)", "dense_1 (Dense)",
                           "15690", "Total params: 15,770"})
    EXPECT_NE(summary.find(part), std::string::npos) << "wanted " << part << " in\n" << summary;
  // Any rank flattens; a vector stays what it is.
  EXPECT_EQ(Model(sequential({3, 5}, {keras::Flatten()})).output_shape(), Shape{15});
  EXPECT_EQ(Model(sequential({2, 3, 4, 5}, {keras::Flatten()})).output_shape(), Shape{120});
  EXPECT_EQ(Model(sequential({7}, {keras::Flatten()})).output_shape(), Shape{7});
}

TEST(Flatten, EmptyBatch) { layertest::expect_empty_batch_is_harmless(keras::Flatten(), {3, 4, 2}); }

}  // namespace
}  // namespace lockstep
