// Dense: gradients against finite differences for every activation, with
// and without bias, gradient accumulation, golden values of Linear + tanh
// from PyTorch, and the error for an image input without Flatten.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "core/keras.h"
#include "core/model.h"
#include "tests/unit/gradcheck_util.h"
#include "tests/unit/layers/layer_test_util.h"

namespace lockstep {
namespace {

using gradtest::LayerHarness;

// Pre-activations z = x·W + b of a harness' Dense layer, in double.
std::vector<double> dense_preactivations(LayerHarness& h, int64_t in, int64_t out, bool use_bias) {
  const float* kernel = h.params().value(h.params().find(h.layer().name() + "/kernel"));
  const float* bias = use_bias ? h.params().value(h.params().find(h.layer().name() + "/bias")) : nullptr;
  std::vector<double> z;
  for (int64_t r = 0; r < h.rows(); ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = bias ? bias[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) s += static_cast<double>(h.x()[r * in + i]) * kernel[i * out + o];
      z.push_back(s);
    }
  return z;
}

class DenseGradient : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(DenseGradient, MatchesFiniteDifferences) {
  const auto& [activation, use_bias] = GetParam();
  const LayerSpec spec = keras::Dense(3).activation(activation).use_bias(use_bias).bias_initializer("uniform");
  // A perturbation of 1e-3 moves z by at most ~2e-3: take the first seed
  // whose pre-activations stay clear of the kinks of relu/leaky_relu/elu at 0.
  for (uint64_t seed = 11;; ++seed) {
    ASSERT_LT(seed, 40u) << "no seed keeps z away from 0";
    LayerHarness h(spec, {4}, 5, seed);
    double min_abs_z = 1e9;
    for (double z : dense_preactivations(h, 4, 3, use_bias)) min_abs_z = std::min(min_abs_z, std::fabs(z));
    if (min_abs_z < 0.01) continue;
    h.check("Dense(" + activation + (use_bias ? ", bias)" : ", no bias)"));
    break;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryActivation, DenseGradient,
                         ::testing::Combine(::testing::Values("linear", "relu", "tanh", "sigmoid", "softmax", "elu",
                                                              "leaky_relu", "gelu"),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param) + (std::get<1>(info.param) ? "_bias" : "_nobias");
                         });

// The Dense check also covers the whole kernel and bias: their gradients come
// from the arena, so a layer that forgot to accumulate (or wrote the wrong
// slice) fails here.
TEST(Dense, AccumulatesParameterGradients) {
  LayerHarness h(keras::Dense(2).activation("sigmoid"), {3}, 4);
  std::vector<double> once;
  h.analytic(&once);
  // A second backward without zeroing doubles the parameter gradients.
  h.layer().backward(h.ctx(), h.x().data(), h.y().data(), h.w().data(), nullptr, h.rows());
  const auto elements = gradtest::trainable_elements(h.params());
  ASSERT_EQ(elements.size(), once.size());
  for (size_t k = 0; k < elements.size(); ++k)
    EXPECT_FLOAT_EQ(h.params().grad(elements[k].id)[elements[k].offset], 2 * once[k]) << k;
}

// ---------------------------------------------------------------------------
// Golden values from PyTorch 1.13 (Debian python3-torch), float64:
//   x = [[0.2,-0.5,1.0,0.3],[-1.0,0.4,0.6,-0.2],[0.7,0.1,-0.3,0.9],
//        [0.05,-0.8,0.25,0.5],[-0.4,0.6,-0.9,0.15]]   (requires_grad)
//   w = [[0.3,-0.8,0.5],[1.1,0.2,-0.4],[-0.6,0.7,0.9],[0.25,-0.35,0.15],[0.8,0.45,-1.0]]
//   lin = torch.nn.Linear(4, 3).double()
//   lin.weight = [[0.5,-0.3,0.8,0.1],[-0.2,0.6,0.4,-0.7],[0.9,0.05,-0.5,0.3]]
//   lin.bias = [0.1,-0.2,0.05]
//   y = torch.tanh(lin(x)); (y * w).sum().backward()
//   print y, x.grad, lin.weight.grad.t(), lin.bias.grad   ("%.9g")
// Keras' kernel is [in, out], the transpose of torch's weight.

TEST(Dense, TanhMatchesPyTorch) {
  const std::vector<float> x = {0.2f, -0.5f, 1.0f, 0.3f,  -1.0f, 0.4f, 0.6f,  -0.2f, 0.7f, 0.1f,
                                -0.3f, 0.9f, 0.05f, -0.8f, 0.25f, 0.5f, -0.4f, 0.6f, -0.9f, 0.15f};
  const std::vector<float> w = {0.3f, -0.8f, 0.5f, 1.1f,  0.2f,  -0.4f, -0.6f, 0.7f,
                                0.9f, 0.25f, -0.35f, 0.15f, 0.8f, 0.45f, -1.0f};
  const float weight[3][4] = {{0.5f, -0.3f, 0.8f, 0.1f}, {-0.2f, 0.6f, 0.4f, -0.7f}, {0.9f, 0.05f, -0.5f, 0.3f}};
  const float bias[3] = {0.1f, -0.2f, 0.05f};
  const double torch_y[] = {0.827451617, -0.33637555, -0.202175758, -0.0599281,  0.551128036,
                            -0.830578862, 0.263624834, -0.773908337, 0.802287852, 0.547637159,
                            -0.73522226, 0.079829774, -0.755222233, -0.221278459, 0.211747349};
  const double torch_dx[] = {0.620801035, -0.430089753, -0.447896003, 0.649965291,  0.408524478,
                             -0.251466684, 0.994567984, -0.0250878046, -0.0466691123, 0.351973075,
                             -0.494692883, -0.15614216, 0.253812739,  -0.141538945, 0.001173917,
                             0.174780379, -0.773384207, 0.105908079,  0.923737191,  -0.551754064};
  const double torch_dkernel[] = {-1.59667431, -0.263852328, 0.833975974,  0.401499297,
                                  0.823941021, -0.949666464, 0.654132682,  -1.13552532,
                                  1.20582672,  -0.554233386, -0.00423168585, 0.388558131};
  const double torch_dbias[] = {1.15108035, -0.0223242449, -0.129911217};

  LayerHarness h(keras::Dense(3).activation("tanh"), {4}, 5);
  ParameterStore& p = h.params();
  float* kernel = p.value(p.find("dense_1/kernel"));
  for (int i = 0; i < 4; ++i)
    for (int o = 0; o < 3; ++o) kernel[i * 3 + o] = weight[o][i];
  std::copy(bias, bias + 3, p.value(p.find("dense_1/bias")));
  h.x() = x;
  h.w() = w;
  std::vector<double> unused;
  const std::vector<double> dx = h.analytic(&unused);
  for (int i = 0; i < 15; ++i) EXPECT_NEAR(h.y()[i], torch_y[i], 1e-6) << "y[" << i << "]";
  for (int i = 0; i < 20; ++i) EXPECT_NEAR(dx[i], torch_dx[i], 1e-6) << "dx[" << i << "]";
  const float* dkernel = p.grad(p.find("dense_1/kernel"));
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(dkernel[i], torch_dkernel[i], 1e-6) << "dkernel[" << i << "]";
  const float* dbias = p.grad(p.find("dense_1/bias"));
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(dbias[i], torch_dbias[i], 1e-6) << "dbias[" << i << "]";
}

// ---------------------------------------------------------------------------
// Keras would apply Dense to the last axis of an image; lockstep refuses,
// naming the layer, the shape and the fix.

TEST(DenseSpecErrors, ImageInputWithoutFlatten) {
  using layertest::sequential;
  layertest::expect_spec_error(sequential({6, 6, 1}, {keras::Conv2D(4, 3), keras::Dense(10)}), "model.layers[1]",
                               {"dense_1", "Dense", "1-D input", "[4, 4, 4]", "Flatten"});
  layertest::expect_spec_error(sequential({28, 28, 1}, {keras::Dense(10)}), "model.layers[0]",
                               {"dense_1", "[28, 28, 1]", "Flatten"});
  EXPECT_NO_THROW({ Model m(sequential({6, 6, 1}, {keras::Conv2D(4, 3), keras::Flatten(), keras::Dense(10)})); });
}

}  // namespace
}  // namespace lockstep
