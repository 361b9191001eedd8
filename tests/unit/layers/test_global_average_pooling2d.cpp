// GlobalAveragePooling2D ([H, W, C] -> [C]): gradients against finite
// differences, golden values from PyTorch, the output shape, empty batches,
// spec errors.
#include <gtest/gtest.h>

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

TEST(GlobalAveragePooling2D, GradientMatchesFiniteDifferences) {
  for (const Shape& input : {Shape{4, 5, 3}, Shape{1, 1, 2}, Shape{3, 7, 1}}) {
    LayerHarness h(keras::GlobalAveragePooling2D(), input, 3);
    h.check("GlobalAveragePooling2D on " + shape_string(input));
  }
}

TEST(GlobalAveragePooling2D, MatchesPyTorch) {
  const golden::Case& c = golden::find_case("global_average_pooling");
  LayerHarness h(keras::GlobalAveragePooling2D(), c.tensor("x").per_sample(), c.tensor("x").shape[0]);
  golden::run_and_compare_activations(h, c);
}

TEST(GlobalAveragePooling2D, OutputIsOneValuePerChannel) {
  Model model(sequential({6, 5, 3}, {keras::Conv2D(8, 3), keras::GlobalAveragePooling2D(), keras::Dense(2)}));
  EXPECT_EQ(model.layer(1).output_shape(), Shape{8});
  EXPECT_EQ(std::string(model.layer(1).type_name()), "GlobalAveragePooling2D");
  EXPECT_NE(model_summary(model).find("global_average_pooling2d_1 (GlobalAveragePooling2D)"), std::string::npos);
  EXPECT_NE(model_summary(model).find("(None, 8)"), std::string::npos) << model_summary(model);
  // Channel c of every position holds c + 1: the means are 1, 2, 3.
  LayerHarness h(keras::GlobalAveragePooling2D(), {3, 4, 3}, 1);
  for (size_t i = 0; i < h.x().size(); ++i) h.x()[i] = static_cast<float>(i % 3 + 1);
  h.objective();
  EXPECT_EQ(h.y(), (std::vector<float>{1, 2, 3}));
}

TEST(GlobalAveragePooling2D, EmptyBatch) {
  layertest::expect_empty_batch_is_harmless(keras::GlobalAveragePooling2D(), {4, 5, 3});
}

TEST(GlobalAveragePooling2DSpecErrors, InputThatIsNotAnImage) {
  layertest::expect_spec_error(sequential({14}, {keras::GlobalAveragePooling2D()}), "model.layers[0]",
                               {"global_average_pooling2d_1", "[height, width, channels]", "[14]"});
}

}  // namespace
}  // namespace lockstep
