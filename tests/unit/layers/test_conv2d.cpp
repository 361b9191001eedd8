// Conv2D (channels last, Keras "same" padding): gradients against finite
// differences over many geometries, golden values from PyTorch, output
// shapes, parameter names and Keras' fan-in/fan-out, batches spanning
// several blocks of patches, empty batches, and spec errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "core/keras.h"
#include "core/layers/conv2d.h"
#include "core/model.h"
#include "tests/unit/gradcheck_util.h"
#include "tests/unit/layers/golden.h"
#include "tests/unit/layers/layer_test_util.h"

namespace lockstep {
namespace {

using gradtest::LayerHarness;
using layertest::expect_spec_error;
using layertest::sequential;

// ---------------------------------------------------------------------------
// Gradients against finite differences (training mode).

struct ConvGeometry {
  std::string name;
  LayerSpec spec;
  Shape input;
  int64_t rows = 2;
};

// The bias starts away from zero so tanh is not evaluated around 0 only.
keras::Conv2D conv(int filters, std::initializer_list<int> kernel) {
  return keras::Conv2D(filters, kernel).bias_initializer("uniform");
}

std::vector<ConvGeometry> conv_geometries() {
  return {
      {"k3_valid", conv(3, {3}), {5, 6, 2}},
      {"k3_same_tanh", conv(3, {3}).padding("same").activation("tanh"), {5, 6, 2}},
      {"k2_same", conv(2, {2}).padding("same"), {5, 4, 3}},
      {"k2_valid_stride2_nobias", conv(3, {2}).strides(2).use_bias(false), {5, 6, 2}},
      {"k4_same_stride2", conv(2, {4}).strides(2).padding("same"), {7, 6, 2}},
      {"k4_valid_tanh", conv(2, {4}).activation("tanh"), {6, 5, 2}},
      {"k1", conv(4, {1}), {3, 4, 3}, 3},
      {"k1_stride2_nobias", conv(3, {1}).strides(2).use_bias(false), {5, 4, 2}},
      {"k1_same_tanh", conv(2, {1}).padding("same").activation("tanh"), {3, 3, 4}},
      {"k2x3_same_strides2x1", conv(3, {2, 3}).strides({2, 1}).padding("same"), {5, 6, 2}},
      {"k3x2_valid_strides1x2_tanh", conv(2, {3, 2}).strides({1, 2}).activation("tanh"), {5, 7, 3}},
      {"k3_same_strides1x2", conv(2, {3}).strides({1, 2}).padding("same"), {4, 7, 2}},
      {"k3_dilation2_same_tanh", conv(3, {3}).dilation_rate(2).padding("same").activation("tanh"), {6, 7, 2}},
      {"k2_dilation2_valid_nobias", conv(2, {2}).dilation_rate(2).use_bias(false), {5, 6, 2}},
      {"k3_dilation2x1_same", conv(2, {3}).dilation_rate({2, 1}).padding("same"), {6, 5, 2}},
      {"k3_same_stride2_one_filter", conv(1, {3}).strides(2).padding("same"), {6, 6, 1}, 3},
      // Patch rows no wider than the filters: backward reuses forward's patches.
      {"k3_same_kept_patches", conv(12, {3}).padding("same").activation("tanh"), {5, 6, 1}, 3},
      {"k2_stride2_kept_patches", conv(5, {2}).strides(2), {6, 5, 1}, 3},
  };
}

// Failure messages name the geometry rather than dump its bytes.
void PrintTo(const ConvGeometry& g, std::ostream* os) { *os << g.name; }

class Conv2DGradient : public ::testing::TestWithParam<ConvGeometry> {};

TEST_P(Conv2DGradient, MatchesFiniteDifferences) {
  const ConvGeometry& g = GetParam();
  LayerHarness h(g.spec, g.input, g.rows);
  h.check("Conv2D " + g.name);
}

INSTANTIATE_TEST_SUITE_P(Geometries, Conv2DGradient, ::testing::ValuesIn(conv_geometries()),
                         [](const auto& info) { return info.param.name; });

TEST(Conv2D, FusedOutputActivationTakesTheGradientOfItsInput) {
  // A loss that folds in the activation's derivative passes dL/dz: backward
  // must then skip the activation, i.e. behave as the linear layer would.
  LayerHarness fused(conv(2, {3}).padding("same").activation("sigmoid"), {4, 5, 2}, 2);
  LayerHarness linear(conv(2, {3}).padding("same"), {4, 5, 2}, 2);
  fused.layer().fuse_output_activation();
  EXPECT_EQ(fused.layer().output_activation(), ActivationKind::kSigmoid);
  std::vector<double> fused_params, linear_params;
  const std::vector<double> fused_dx = fused.analytic(&fused_params);
  const std::vector<double> linear_dx = linear.analytic(&linear_params);
  ASSERT_EQ(fused_dx.size(), linear_dx.size());
  for (size_t i = 0; i < fused_dx.size(); ++i) EXPECT_FLOAT_EQ(fused_dx[i], linear_dx[i]) << i;
  for (size_t i = 0; i < fused_params.size(); ++i) EXPECT_FLOAT_EQ(fused_params[i], linear_params[i]) << i;
}

TEST(Conv2D, AccumulatesParameterGradients) {
  LayerHarness h(conv(2, {3}).padding("same").activation("tanh"), {4, 5, 2}, 2);
  std::vector<double> once;
  h.analytic(&once);
  h.layer().backward(h.ctx(), h.x().data(), h.y().data(), h.w().data(), nullptr, h.rows());
  const auto elements = gradtest::trainable_elements(h.params());
  ASSERT_EQ(elements.size(), once.size());
  for (size_t k = 0; k < elements.size(); ++k)
    EXPECT_FLOAT_EQ(h.params().grad(elements[k].id)[elements[k].offset], 2 * once[k]) << k;
}

TEST(Conv2D, EmptyBatch) {
  layertest::expect_empty_batch_is_harmless(conv(3, {3}).padding("same").activation("tanh"), {5, 6, 2});
  layertest::expect_empty_batch_is_harmless(conv(3, {1}), {5, 6, 2});  // the 1x1 path: no patches
}

// ---------------------------------------------------------------------------
// Golden values from PyTorch (golden/make_golden.py): same inputs, kernel,
// bias and upstream gradient; y, dx, dkernel and dbias compared.

LayerSpec conv_spec(const golden::Case& c) {
  LayerSpec spec;
  lockstep::Conv2D* conv = spec.mutable_conv2d();
  conv->set_filters(c.ints("filters")[0]);
  for (int k : c.ints("kernel_size")) conv->add_kernel_size(k);
  for (int s : c.ints("strides")) conv->add_strides(s);
  for (int d : c.ints("dilation_rate")) conv->add_dilation_rate(d);
  conv->set_padding(c.attr("padding")[0]);
  conv->set_use_bias(c.ints("use_bias")[0] != 0);
  conv->set_activation(c.attr("activation")[0]);
  return spec;
}

class Conv2DGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(Conv2DGolden, MatchesPyTorch) {
  const golden::Case& c = golden::find_case(GetParam());
  const golden::Tensor& x = c.tensor("x");
  LayerHarness h(conv_spec(c), x.per_sample(), x.shape[0]);
  golden::set_parameter(h, "kernel", c.tensor("kernel"));
  const bool use_bias = c.ints("use_bias")[0] != 0;
  EXPECT_EQ(use_bias, c.has("bias"));
  if (use_bias) golden::set_parameter(h, "bias", c.tensor("bias"));
  golden::run_and_compare_activations(h, c);
  const golden::Tensor& dkernel = c.tensor("dkernel");
  golden::expect_close(c.name + " dkernel", golden::parameter_grad(h, "kernel"), dkernel);
  if (use_bias) golden::expect_close(c.name + " dbias", golden::parameter_grad(h, "bias"), c.tensor("dbias"));
}

INSTANTIATE_TEST_SUITE_P(Cases, Conv2DGolden,
                         ::testing::Values("conv_3x3_same_s1", "conv_2x2_same_s1", "conv_4x4_same_s2",
                                           "conv_3x3_valid_s2_tanh", "conv_3x3_dilation2_same", "conv_1x1_nobias",
                                           "conv_2x3_strides_2x1_same"),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------------------
// Shapes and parameters.

TEST(Conv2D, OutputShapesFollowKeras) {
  struct Expected {
    LayerSpec spec;
    Shape input, output;
  };
  // valid: floor((in - span) / stride) + 1, span = (k - 1) * dilation + 1;
  // same: ceil(in / stride).
  const std::vector<Expected> cases = {
      {keras::Conv2D(4, 3), {7, 6, 2}, {5, 4, 4}},
      {keras::Conv2D(4, 3).padding("same"), {7, 6, 2}, {7, 6, 4}},
      {keras::Conv2D(4, 3).strides(2), {7, 6, 2}, {3, 2, 4}},
      {keras::Conv2D(4, 4).strides(2).padding("same"), {7, 6, 2}, {4, 3, 4}},
      {keras::Conv2D(4, {2, 3}).strides({2, 1}).padding("same"), {5, 6, 2}, {3, 6, 4}},
      {keras::Conv2D(4, 3).dilation_rate(2), {6, 7, 2}, {2, 3, 4}},
      {keras::Conv2D(4, 3).dilation_rate(2).padding("same"), {6, 7, 2}, {6, 7, 4}},
      {keras::Conv2D(4, 7), {7, 7, 1}, {1, 1, 4}},  // the kernel exactly fits
      {keras::Conv2D(4, 5).strides(3).padding("same"), {2, 2, 1}, {1, 1, 4}},
  };
  for (const Expected& e : cases) {
    LayerHarness h(e.spec, e.input, 1);
    EXPECT_EQ(h.layer().output_shape(), e.output) << e.spec.ShortDebugString() << " on " << shape_string(e.input);
  }
}

TEST(Conv2D, ParameterNamesAndShapes) {
  Model model(sequential({9, 8, 3}, {keras::Conv2D(5, {2, 4}), keras::Conv2D(6, 1).use_bias(false)}));
  const ParameterStore& p = model.parameters();
  struct Expected {
    const char* name;
    Shape shape;
  };
  for (const Expected& e : {Expected{"conv2d_1/kernel", {2, 4, 3, 5}}, Expected{"conv2d_1/bias", {5}},
                            Expected{"conv2d_2/kernel", {1, 1, 5, 6}}}) {
    const int id = p.find(e.name);
    ASSERT_GE(id, 0) << e.name;
    EXPECT_EQ(p.info(id).shape, e.shape) << e.name;
    EXPECT_TRUE(p.info(id).trainable) << e.name;
  }
  EXPECT_LT(p.find("conv2d_2/bias"), 0) << "use_bias=false has no bias";
  EXPECT_EQ(model.output_shape(), (Shape{8, 5, 6}));
  EXPECT_EQ(std::string(model.layer(0).type_name()), "Conv2D");
}

TEST(Conv2D, GlorotUniformUsesKerasFans) {
  // Keras: fan_in = kh * kw * in, fan_out = kh * kw * filters. Taking the
  // fans of the [in, filters] matrix alone would give a limit 3x larger.
  const int kh = 3, kw = 3, in = 4, filters = 8;
  Model model(sequential({6, 6, in}, {keras::Conv2D(filters, kh)}));
  ParameterStore& p = model.parameters();
  const int id = p.find("conv2d_1/kernel");
  const double limit = std::sqrt(6.0 / (kh * kw * in + kh * kw * filters));
  const float* kernel = p.value(id);
  double largest = 0, sum = 0;
  for (size_t i = 0; i < p.info(id).size; ++i) {
    largest = std::max(largest, std::fabs(static_cast<double>(kernel[i])));
    sum += kernel[i];
  }
  EXPECT_LE(largest, limit * (1 + 1e-6));
  EXPECT_GT(largest, 0.95 * limit) << "288 uniform draws should come close to the limit";
  EXPECT_LT(std::fabs(sum / p.info(id).size), 0.1 * limit) << "centred on 0";
  for (int f = 0; f < filters; ++f) EXPECT_EQ(p.value(p.find("conv2d_1/bias"))[f], 0.0f);
}

// ---------------------------------------------------------------------------
// Batches larger than one block of patches: each sample's output and input
// gradient, and the summed kernel gradient, are those of the sample alone.

// One block and one more sample, whatever the block size is.
int64_t rows_for_two_blocks(const LayerSpec& spec, const Shape& input) {
  LayerHarness probe(spec, input, 1);
  return dynamic_cast<const Conv2DLayer&>(probe.layer()).block_samples() + 1;
}

void expect_batch_is_its_samples(const LayerSpec& spec, const Shape& input) {
  const int64_t rows = rows_for_two_blocks(spec, input);
  LayerHarness batch(spec, input, rows);
  std::vector<double> batch_params;
  const std::vector<double> batch_dx = batch.analytic(&batch_params);
  const int64_t in = batch.layer().input_width(), out = batch.layer().output_width();
  std::vector<double> summed_params(batch_params.size(), 0.0);
  LayerHarness one(spec, input, 1);  // same seed: same kernel and bias
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(batch.x().begin() + r * in, batch.x().begin() + (r + 1) * in, one.x().begin());
    std::copy(batch.w().begin() + r * out, batch.w().begin() + (r + 1) * out, one.w().begin());
    std::vector<double> params;
    const std::vector<double> dx = one.analytic(&params);
    for (int64_t i = 0; i < out; ++i)
      ASSERT_NEAR(batch.y()[r * out + i], one.y()[i], 1e-5 * std::max(1.0f, std::fabs(one.y()[i])))
          << "row " << r << " y[" << i << "]";
    for (int64_t i = 0; i < in; ++i)
      ASSERT_NEAR(batch_dx[r * in + i], dx[i], 1e-5 * std::max(1.0, std::fabs(dx[i]))) << "row " << r << " dx[" << i
                                                                                       << "]";
    for (size_t k = 0; k < params.size(); ++k) summed_params[k] += params[k];
  }
  for (size_t k = 0; k < summed_params.size(); ++k)
    EXPECT_NEAR(batch_params[k], summed_params[k], 1e-4 * std::max(1.0, std::fabs(summed_params[k]))) << "param " << k;
}

TEST(Conv2D, BatchSpanningSeveralBlocksIsItsSamples) {
  // 24x24 positions x 5*5*8 patch values = 450 KB per sample (4 per block
  // of 2 MB).
  expect_batch_is_its_samples(keras::Conv2D(4, 5).padding("same").activation("tanh"), {24, 24, 8});
  // 1x1, stride 1: the input rows are the patches (no gather); just over
  // 1 MB per sample.
  expect_batch_is_its_samples(keras::Conv2D(3, 1).bias_initializer("uniform"), {33, 32, 256});
  // Patch rows (25 values) no wider than the filters (32): forward's
  // patches of the whole batch are kept for backward; 160 KB per sample.
  expect_batch_is_its_samples(keras::Conv2D(32, 5).padding("same").bias_initializer("uniform"), {40, 40, 1});
}

// ---------------------------------------------------------------------------
// Spec errors: exit status 2, the field or the layer named.

TEST(Conv2DSpecErrors, KernelLargerThanAValidInputNamesLayerAndShapes) {
  expect_spec_error(sequential({2, 5, 1}, {keras::Conv2D(4, 3)}), "model.layers[0]",
                    {"conv2d_1", "Conv2D", "[2, 5, 1]", "3 along the height", "height 2", "valid"});
  expect_spec_error(sequential({8, 8, 1}, {keras::Conv2D(4, 3), keras::Conv2D(4, {2, 7})}), "model.layers[1]",
                    {"conv2d_2", "[6, 6, 4]", "7 along the width", "width 6"});
  // The dilated span counts: 3 taps 3 apart cover 7 cells.
  expect_spec_error(sequential({6, 9, 1}, {keras::Conv2D(4, 3).dilation_rate(3)}), "model.layers[0]",
                    {"conv2d_1", "[6, 9, 1]", "7 along the height"});
  // "same" always fits.
  EXPECT_NO_THROW({ Model m(sequential({2, 5, 1}, {keras::Conv2D(4, 3).padding("same")})); });
}

TEST(Conv2DSpecErrors, InputThatIsNotAnImage) {
  expect_spec_error(sequential({14}, {keras::Conv2D(4, 3)}), "model.layers[0]",
                    {"conv2d_1", "[height, width, channels]", "[14]", "input_shape"});
  expect_spec_error(sequential({4, 4, 4, 1}, {keras::Conv2D(4, 3)}), "model.layers[0]", {"[4, 4, 4, 1]"});
}

TEST(Conv2DSpecErrors, Padding) {
  expect_spec_error(sequential({8, 8, 1}, {keras::Conv2D(4, 3).padding("full")}), "model.layers[0].conv2d.padding",
                    {"unknown padding 'full'", "valid", "same"});
  expect_spec_error(sequential({8, 8, 1}, {keras::Conv2D(4, 3).padding("SAME")}), "model.layers[0].conv2d.padding",
                    {"'SAME'"});
}

TEST(Conv2DSpecErrors, KernelSizeStridesAndDilation) {
  const ModelSpec three_numbers = sequential({8, 8, 1}, {keras::Conv2D(4, {3, 3, 3})});
  expect_spec_error(three_numbers, "model.layers[0].conv2d.kernel_size", {"one number or two", "3"});
  expect_spec_error(sequential({8, 8, 1}, {keras::Conv2D(4, 0)}), "model.layers[0].conv2d.kernel_size",
                    {"must be >= 1", "0"});
  expect_spec_error(sequential({8, 8, 1}, {keras::Conv2D(4, 3).strides({1, 0})}), "model.layers[0].conv2d.strides",
                    {"must be >= 1"});
  expect_spec_error(sequential({8, 8, 1}, {keras::Conv2D(4, 3).strides({1, 1, 1})}),
                    "model.layers[0].conv2d.strides", {"one number or two"});
  expect_spec_error(sequential({8, 8, 1}, {keras::Conv2D(4, 3).dilation_rate(-1)}),
                    "model.layers[0].conv2d.dilation_rate", {"must be >= 1"});
  LayerSpec no_kernel = keras::Conv2D(4, 3);
  no_kernel.mutable_conv2d()->clear_kernel_size();
  expect_spec_error(sequential({8, 8, 1}, {no_kernel}), "model.layers[0].conv2d.kernel_size", {"missing"});
}

TEST(Conv2DSpecErrors, StridesTogetherWithDilation) {
  expect_spec_error(sequential({9, 9, 1}, {keras::Conv2D(4, 3).strides(2).dilation_rate(2)}),
                    "model.layers[0].conv2d.dilation_rate", {"strides > 1", "dilation_rate > 1"});
  expect_spec_error(sequential({9, 9, 1}, {keras::Conv2D(4, 3).strides({1, 2}).dilation_rate({2, 1})}),
                    "model.layers[0].conv2d.dilation_rate", {"not supported"});
}

TEST(Conv2DSpecErrors, Filters) {
  LayerSpec missing = keras::Conv2D(4, 3);
  missing.mutable_conv2d()->clear_filters();
  expect_spec_error(sequential({8, 8, 1}, {missing}), "model.layers[0].conv2d.filters", {"missing"});
  expect_spec_error(sequential({8, 8, 1}, {keras::Conv2D(0, 3)}), "model.layers[0].conv2d.filters",
                    {"must be > 0", "0"});
  expect_spec_error(sequential({8, 8, 1}, {keras::Conv2D(-2, 3)}), "model.layers[0].conv2d.filters",
                    {"must be > 0", "-2"});
}

TEST(Conv2DSpecErrors, UnknownActivationAndInitializer) {
  expect_spec_error(sequential({8, 8, 1}, {keras::Conv2D(4, 3).activation("swish")}),
                    "model.layers[0].conv2d.activation", {"unknown activation 'swish'"});
  expect_spec_error(sequential({8, 8, 1}, {keras::Conv2D(4, 3).kernel_initializer("xavier")}),
                    "model.layers[0].conv2d.kernel_initializer", {"unknown initializer 'xavier'"});
}

}  // namespace
}  // namespace lockstep
