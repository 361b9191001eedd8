// AveragePooling2D (channels last, Keras "same" padding, padded cells not
// counted): gradients against finite differences, golden values from
// PyTorch (emulating Keras' count), output shapes, empty batches, spec
// errors.
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

std::vector<PoolGeometry> average_pool_geometries() {
  using keras::AveragePooling2D;
  return {
      {"p2_valid", AveragePooling2D(2), {4, 6, 3}},
      {"p2_valid_odd_input", AveragePooling2D(2), {5, 7, 2}},
      {"p2_same_odd_input", AveragePooling2D(2).padding("same"), {5, 5, 2}},
      {"p2_stride1_same", AveragePooling2D(2).strides(1).padding("same"), {4, 5, 2}},
      {"p3_stride1_valid", AveragePooling2D(3).strides(1), {5, 5, 2}},
      {"p3_stride2_same", AveragePooling2D(3).strides(2).padding("same"), {5, 7, 2}},
      {"p3_default_strides_same", AveragePooling2D(3).padding("same"), {7, 8, 2}},
      {"p2x3_same", AveragePooling2D({2, 3}).padding("same"), {5, 7, 2}},
      {"p3x2_strides1x2_valid", AveragePooling2D({3, 2}).strides({1, 2}), {5, 6, 2}},
      {"p2_strides2x1_same", AveragePooling2D(2).strides({2, 1}).padding("same"), {5, 4, 3}},
      {"p2_stride3_valid", AveragePooling2D(2).strides(3), {7, 8, 2}},  // cells between windows
      {"p2_stride3_same", AveragePooling2D(2).strides(3).padding("same"), {7, 8, 2}},
      {"p3_same_larger_than_input", AveragePooling2D(3).strides(1).padding("same"), {2, 2, 3}},
  };
}

class AveragePooling2DGradient : public ::testing::TestWithParam<PoolGeometry> {};

TEST_P(AveragePooling2DGradient, MatchesFiniteDifferences) {
  const PoolGeometry& g = GetParam();
  LayerHarness h(g.spec, g.input, 2);
  h.check("AveragePooling2D " + g.name);
}

INSTANTIATE_TEST_SUITE_P(Geometries, AveragePooling2DGradient, ::testing::ValuesIn(average_pool_geometries()),
                         [](const auto& info) { return info.param.name; });

class AveragePooling2DGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(AveragePooling2DGolden, MatchesPyTorch) {
  const golden::Case& c = golden::find_case(GetParam());
  LayerSpec spec;
  golden::set_pool_attrs(c, spec.mutable_average_pooling2d());
  LayerHarness h(spec, c.tensor("x").per_sample(), c.tensor("x").shape[0]);
  golden::run_and_compare_activations(h, c);
}

INSTANTIATE_TEST_SUITE_P(Cases, AveragePooling2DGolden,
                         ::testing::Values("avgpool_2_valid", "avgpool_3_s2_same", "avgpool_2_same_odd"),
                         [](const auto& info) { return info.param; });

TEST(AveragePooling2D, SamePaddingIsNotCountedAndGoesBottomRight) {
  LayerHarness h(keras::AveragePooling2D(2).padding("same"), {3, 3, 1}, 1);
  h.x() = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  h.w() = {1, 1, 1, 1};
  h.objective();
  // Windows start at rows/columns 0 and 2 and average their real cells only:
  // (1+2+4+5)/4, (3+6)/2, (7+8)/2, 9. Counting the padding would give 2.25,
  // 3.75 and 2.25 for the last three; top/left padding 1, 2.5, 5.5, 7.
  EXPECT_EQ(h.y(), (std::vector<float>{3, 4.5f, 7.5f, 9}));
}

TEST(AveragePooling2D, ConstantInputGivesTheConstantEverywhere) {
  LayerHarness h(keras::AveragePooling2D(3).strides(2).padding("same"), {6, 7, 2}, 2);
  std::fill(h.x().begin(), h.x().end(), 1.5f);
  h.objective();
  for (size_t i = 0; i < h.y().size(); ++i) ASSERT_EQ(h.y()[i], 1.5f) << i;
}

TEST(AveragePooling2D, OutputShapesFollowKeras) {
  struct Expected {
    LayerSpec spec;
    Shape output;
  };
  for (const Expected& e : {Expected{keras::AveragePooling2D(), {3, 3, 3}},  // pool 2, strides = pool
                            Expected{keras::AveragePooling2D(2).padding("same"), {4, 3, 3}},
                            Expected{keras::AveragePooling2D(3).strides(1), {5, 4, 3}},
                            Expected{keras::AveragePooling2D({2, 3}), {3, 2, 3}},
                            Expected{keras::AveragePooling2D(3).strides(2).padding("same"), {4, 3, 3}},
                            Expected{keras::AveragePooling2D({3, 2}).strides({1, 2}).padding("same"), {7, 3, 3}},
                            Expected{keras::AveragePooling2D({7, 6}), {1, 1, 3}}}) {
    Model model(sequential({7, 6, 3}, {e.spec}));
    EXPECT_EQ(model.output_shape(), e.output) << e.spec.ShortDebugString();
    EXPECT_TRUE(model.parameters().entries().empty());
    EXPECT_EQ(std::string(model.layer(0).type_name()), "AveragePooling2D");
  }
}

TEST(AveragePooling2D, EmptyBatch) {
  layertest::expect_empty_batch_is_harmless(keras::AveragePooling2D(3).strides(2).padding("same"), {5, 7, 2});
}

TEST(AveragePooling2DSpecErrors, WindowLargerThanAValidInputNamesLayerAndShapes) {
  expect_spec_error(sequential({5, 2, 1}, {keras::AveragePooling2D(3)}), "model.layers[0]",
                    {"average_pooling2d_1", "AveragePooling2D", "[5, 2, 1]", "3 along the width", "valid"});
  EXPECT_NO_THROW({ Model m(sequential({5, 2, 1}, {keras::AveragePooling2D(3).padding("same")})); });
}

TEST(AveragePooling2DSpecErrors, BadFields) {
  expect_spec_error(sequential({8, 8, 1}, {keras::AveragePooling2D(2).padding("causal")}),
                    "model.layers[0].average_pooling2d.padding", {"unknown padding 'causal'"});
  expect_spec_error(sequential({8, 8, 1}, {keras::AveragePooling2D({1, 2, 3})}),
                    "model.layers[0].average_pooling2d.pool_size", {"one number or two"});
  expect_spec_error(sequential({8, 8, 1}, {keras::AveragePooling2D(2).strides({2, -1})}),
                    "model.layers[0].average_pooling2d.strides", {"must be >= 1"});
}

TEST(AveragePooling2DSpecErrors, InputThatIsNotAnImage) {
  expect_spec_error(sequential({3, 4}, {keras::AveragePooling2D(2)}), "model.layers[0]",
                    {"average_pooling2d_1", "[height, width, channels]", "[3, 4]"});
}

}  // namespace
}  // namespace lockstep
