// MaxPooling2D (channels last, Keras "same" padding): gradients against
// finite differences on tie-free inputs, golden values from PyTorch, ties,
// padding that never wins, output shapes, empty batches, spec errors.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "core/keras.h"
#include "core/model.h"
#include "tests/unit/gradcheck_util.h"
#include "tests/unit/layers/golden.h"
#include "tests/unit/layers/layer_test_util.h"

namespace lockstep {
namespace {

using gradtest::LayerHarness;
using layertest::expect_spec_error;
using layertest::sequential;

struct PoolGeometry {
  std::string name;
  LayerSpec spec;
  Shape input;
};

// Failure messages name the geometry rather than dump its bytes.
void PrintTo(const PoolGeometry& g, std::ostream* os) { *os << g.name; }

std::vector<PoolGeometry> max_pool_geometries() {
  using keras::MaxPooling2D;
  return {
      {"p2_valid", MaxPooling2D(2), {4, 6, 3}},
      {"p2_valid_odd_input", MaxPooling2D(2), {5, 7, 2}},  // the last row and column are dropped
      {"p2_same_odd_input", MaxPooling2D(2).padding("same"), {5, 5, 2}},
      {"p2_stride1_same", MaxPooling2D(2).strides(1).padding("same"), {4, 5, 2}},
      {"p3_stride1_valid", MaxPooling2D(3).strides(1), {5, 5, 2}},
      {"p3_stride2_same", MaxPooling2D(3).strides(2).padding("same"), {5, 7, 2}},
      {"p3_default_strides_same", MaxPooling2D(3).padding("same"), {7, 8, 2}},
      {"p2x3_same", MaxPooling2D({2, 3}).padding("same"), {5, 7, 2}},
      {"p3x2_strides1x2_valid", MaxPooling2D({3, 2}).strides({1, 2}), {5, 6, 2}},
      {"p2_strides2x1_same", MaxPooling2D(2).strides({2, 1}).padding("same"), {5, 4, 3}},
      {"p2_stride3_valid", MaxPooling2D(2).strides(3), {7, 8, 2}},  // cells between windows
      {"p2_stride3_same", MaxPooling2D(2).strides(3).padding("same"), {7, 8, 2}},
      {"p3_same_larger_than_input", MaxPooling2D(3).strides(1).padding("same"), {2, 2, 3}},
  };
}

class MaxPooling2DGradient : public ::testing::TestWithParam<PoolGeometry> {};

TEST_P(MaxPooling2DGradient, MatchesFiniteDifferences) {
  const PoolGeometry& g = GetParam();
  LayerHarness h(g.spec, g.input, 2);
  h.x() = layertest::distinct_values(h.x().size(), 5);
  h.check("MaxPooling2D " + g.name);
}

INSTANTIATE_TEST_SUITE_P(Geometries, MaxPooling2DGradient, ::testing::ValuesIn(max_pool_geometries()),
                         [](const auto& info) { return info.param.name; });

class MaxPooling2DGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(MaxPooling2DGolden, MatchesPyTorch) {
  const golden::Case& c = golden::find_case(GetParam());
  LayerSpec spec;
  golden::set_pool_attrs(c, spec.mutable_max_pooling2d());
  LayerHarness h(spec, c.tensor("x").per_sample(), c.tensor("x").shape[0]);
  golden::run_and_compare_activations(h, c);
}

INSTANTIATE_TEST_SUITE_P(Cases, MaxPooling2DGolden,
                         ::testing::Values("maxpool_2_valid", "maxpool_3_s2_same", "maxpool_2_same_odd"),
                         [](const auto& info) { return info.param; });

TEST(MaxPooling2D, TiesSendTheGradientToTheFirstCellOfTheWindow) {
  LayerHarness h(keras::MaxPooling2D(2), {4, 4, 1}, 1);
  std::fill(h.x().begin(), h.x().end(), 0.5f);
  h.w() = {1, 2, 3, 4};
  std::vector<double> unused;
  const std::vector<double> dx = h.analytic(&unused);
  // Each window's top-left cell, in row-major order.
  EXPECT_EQ(dx, (std::vector<double>{1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0}));
}

TEST(MaxPooling2D, SamePaddingNeverWinsAndGoesBottomRight) {
  // All inputs negative: a zero from padding would win if it took part.
  LayerHarness h(keras::MaxPooling2D(2).padding("same"), {3, 3, 1}, 1);
  h.x() = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
  h.w() = {1, 1, 1, 1};
  h.objective();
  // The extra row and column are at the bottom and right: windows start at
  // rows/columns 0 and 2 (top/left padding would give -1, -2, -4, -5).
  EXPECT_EQ(h.y(), (std::vector<float>{-1, -3, -7, -9}));
}

TEST(MaxPooling2D, OutputShapesFollowKeras) {
  struct Expected {
    LayerSpec spec;
    Shape output;
  };
  for (const Expected& e : {Expected{keras::MaxPooling2D(), {3, 3, 3}},  // pool 2, strides = pool
                            Expected{keras::MaxPooling2D(2).padding("same"), {4, 3, 3}},
                            Expected{keras::MaxPooling2D(3).strides(1), {5, 4, 3}},
                            Expected{keras::MaxPooling2D({2, 3}), {3, 2, 3}},
                            Expected{keras::MaxPooling2D(3).strides(2).padding("same"), {4, 3, 3}},
                            Expected{keras::MaxPooling2D({3, 2}).strides({1, 2}).padding("same"), {7, 3, 3}},
                            Expected{keras::MaxPooling2D({7, 6}), {1, 1, 3}}}) {
    Model model(sequential({7, 6, 3}, {e.spec}));
    EXPECT_EQ(model.output_shape(), e.output) << e.spec.ShortDebugString();
    EXPECT_TRUE(model.parameters().entries().empty());
    EXPECT_EQ(std::string(model.layer(0).type_name()), "MaxPooling2D");
  }
}

TEST(MaxPooling2D, EmptyBatch) {
  layertest::expect_empty_batch_is_harmless(keras::MaxPooling2D(3).strides(2).padding("same"), {5, 7, 2});
}

TEST(MaxPooling2DSpecErrors, WindowLargerThanAValidInputNamesLayerAndShapes) {
  expect_spec_error(sequential({2, 5, 1}, {keras::MaxPooling2D(3)}), "model.layers[0]",
                    {"max_pooling2d_1", "MaxPooling2D", "[2, 5, 1]", "3 along the height", "valid"});
  expect_spec_error(sequential({6, 6, 1}, {keras::Conv2D(2, 3), keras::MaxPooling2D({2, 5})}), "model.layers[1]",
                    {"max_pooling2d_1", "[4, 4, 2]", "5 along the width"});
  EXPECT_NO_THROW({ Model m(sequential({2, 5, 1}, {keras::MaxPooling2D(3).padding("same")})); });
}

TEST(MaxPooling2DSpecErrors, BadFields) {
  expect_spec_error(sequential({8, 8, 1}, {keras::MaxPooling2D(2).padding("full")}),
                    "model.layers[0].max_pooling2d.padding", {"unknown padding 'full'", "valid", "same"});
  expect_spec_error(sequential({8, 8, 1}, {keras::MaxPooling2D({2, 2, 2})}), "model.layers[0].max_pooling2d.pool_size",
                    {"one number or two"});
  expect_spec_error(sequential({8, 8, 1}, {keras::MaxPooling2D(0)}), "model.layers[0].max_pooling2d.pool_size",
                    {"must be >= 1"});
  expect_spec_error(sequential({8, 8, 1}, {keras::MaxPooling2D(2).strides(0)}),
                    "model.layers[0].max_pooling2d.strides", {"must be >= 1"});
}

TEST(MaxPooling2DSpecErrors, InputThatIsNotAnImage) {
  expect_spec_error(sequential({14}, {keras::MaxPooling2D(2)}), "model.layers[0]",
                    {"max_pooling2d_1", "[height, width, channels]", "[14]"});
}

}  // namespace
}  // namespace lockstep
