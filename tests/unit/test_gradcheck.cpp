// Finite-difference gradient checks (training mode) for every layer and every
// loss, fused and unfused, plus the article's whole model, plus golden values
// of a Linear+tanh layer from PyTorch. See gradcheck_util.h for the method.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/layers/activation_functions.h"
#include "core/layers/batch_norm.h"
#include "core/layers/dense.h"
#include "core/layers/dropout.h"
#include "core/keras.h"
#include "core/loss.h"
#include "core/model.h"
#include "tests/unit/gradcheck_util.h"

namespace lockstep {
namespace {

using gradtest::away_from_zero;
using gradtest::central_difference;
using gradtest::expect_gradients_match;
using gradtest::LayerHarness;
using gradtest::Tolerance;
using gradtest::uniform_values;

// ---------------------------------------------------------------------------
// The comparison itself has teeth.

TEST(GradCheck, ComparisonRejectsAGradientScaledBy1Point1) {
  // f(x) = sum w_i sin(x_i), df/dx_i = w_i cos(x_i), evaluated in float.
  std::vector<float> x = uniform_values(12, 3, -2, 2), w = uniform_values(12, 4, -1, 1);
  auto f = [&] {
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) s += static_cast<double>(w[i]) * std::sin(x[i]);
    return static_cast<double>(static_cast<float>(s));  // float rounding, as in the layers
  };
  std::vector<double> numeric, exact;
  for (size_t i = 0; i < x.size(); ++i) {
    numeric.push_back(central_difference(&x[i], 1e-3, f));
    exact.push_back(w[i] * std::cos(x[i]));
  }
  EXPECT_TRUE(gradtest::compare(numeric, exact, {}).passes());
  EXPECT_FALSE(gradtest::compare(numeric, exact, {}, 1.1).passes());
  EXPECT_FALSE(gradtest::compare(numeric, exact, {}, 0.9).passes());
  std::vector<double> one_wrong = exact;
  one_wrong[5] = -one_wrong[5];
  EXPECT_FALSE(gradtest::compare(numeric, one_wrong, {}).passes());
}

TEST(GradCheck, ComparisonRejectsAWrongDenseGradient) {
  LayerHarness h(keras::Dense(3).activation("tanh"), {4}, 5);
  std::vector<double> param_ana;
  const std::vector<double> input_ana = h.analytic(&param_ana);
  const auto input_num = h.numeric_input(1e-3);
  const auto param_num = h.numeric_params(1e-3);
  EXPECT_TRUE(gradtest::compare(input_num, input_ana, {}).passes());
  EXPECT_TRUE(gradtest::compare(param_num, param_ana, {}).passes());
  EXPECT_FALSE(gradtest::compare(input_num, input_ana, {}, 1.1).passes());
  EXPECT_FALSE(gradtest::compare(param_num, param_ana, {}, 1.1).passes());
}

// ---------------------------------------------------------------------------
// Dense: every activation, with and without bias.

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
TEST(GradCheck, DenseAccumulatesParameterGradients) {
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
// Activation layers.

class ActivationGradient : public ::testing::TestWithParam<std::string> {};

TEST_P(ActivationGradient, MatchesFiniteDifferences) {
  // Inputs have |x| >= 0.2, so relu, leaky_relu and elu are differentiable.
  LayerHarness h(keras::Activation(GetParam()), {6}, 4);
  h.check("Activation(" + GetParam() + ")");
}

INSTANTIATE_TEST_SUITE_P(Every, ActivationGradient,
                         ::testing::Values("relu", "tanh", "sigmoid", "softmax", "linear", "elu", "leaky_relu",
                                           "gelu"));

TEST(GradCheck, ActivationWithExplicitAlpha) {
  LayerHarness leaky(keras::Activation("leaky_relu").alpha(0.3f), {5}, 3);
  leaky.check("leaky_relu(alpha=0.3)");
  LayerHarness elu(keras::Activation("elu").alpha(0.5f), {5}, 3);
  elu.check("elu(alpha=0.5)");
}

// ---------------------------------------------------------------------------
// Dropout in training mode: the mask is fixed by the StepContext.

TEST(GradCheck, DropoutTrainingMode) {
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

TEST(GradCheck, DropoutInferenceIsIdentity) {
  LayerHarness h(keras::Dropout(0.5f), {7}, 3);
  h.ctx().training = false;
  h.objective();
  EXPECT_EQ(h.y(), h.x());
  h.check("Dropout inference");
}

// ---------------------------------------------------------------------------
// BatchNormalization in training mode: batch sizes 1..8, every center/scale
// combination, gamma and beta away from their initial ones/zeros.

void randomize_bn_parameters(LayerHarness& h, uint64_t seed) {
  for (const char* p : {"/gamma", "/beta"}) {
    const int id = h.params().find(h.layer().name() + p);
    if (id < 0) continue;
    const auto v = uniform_values(h.params().info(id).size, seed++, 0.5, 1.5);
    std::copy(v.begin(), v.end(), h.params().value(id));
  }
}

class BatchNormGradient : public ::testing::TestWithParam<std::tuple<int, bool, bool>> {};

TEST_P(BatchNormGradient, MatchesFiniteDifferences) {
  const auto& [rows, center, scale] = GetParam();
  LayerHarness h(keras::BatchNormalization().center(center).scale(scale), {3}, rows, /*seed=*/rows + 3);
  randomize_bn_parameters(h, rows);
  const std::string what = "BatchNormalization(rows=" + std::to_string(rows) + ", center=" +
                           std::to_string(center) + ", scale=" + std::to_string(scale) + ")";
  h.check(what);
  if (rows == 1) {
    // Zero variance: the output is beta, and nothing flows back to x.
    std::vector<double> unused;
    for (double g : h.analytic(&unused)) EXPECT_NEAR(g, 0.0, 1e-6) << what;
    const float* beta = center ? h.params().value(h.params().find(h.layer().name() + "/beta")) : nullptr;
    for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(h.y()[c], beta ? beta[c] : 0.0f) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(BatchSizes1To8, BatchNormGradient,
                         ::testing::Combine(::testing::Range(1, 9), ::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return "rows" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_center" : "_nocenter") +
                                  (std::get<2>(info.param) ? "_scale" : "_noscale");
                         });

TEST(GradCheck, BatchNormOverSpatialPositions) {
  // [2, 2, 3] samples: statistics per channel over rows and the 2x2 positions.
  LayerHarness h(keras::BatchNormalization(), {2, 2, 3}, 3);
  randomize_bn_parameters(h, 5);
  h.check("BatchNormalization([2,2,3])");
}

// ---------------------------------------------------------------------------
// Losses, directly: dL/d(output) unfused, dL/d(logits) fused, where
// L = (sum of per-sample losses) / rows and grad_scale = 1 / rows.

struct LossCase {
  std::string loss;
  LabelKind label_kind;
  int64_t label_width;
  std::vector<float> labels;  // rows x label_width
};

double loss_mean(const Loss& loss, const std::vector<float>& out, int64_t rows, int64_t width, const LossCase& c) {
  LossTotals t;
  loss.evaluate(out.data(), rows, width, c.labels.data(), c.label_width, c.label_kind, 1.0f, nullptr, t);
  return t.loss_sum / rows;
}

void check_loss_gradient(const LossCase& c, int64_t rows, int64_t width, const std::string& final_activation) {
  Loss loss(c.loss, "loss");
  const bool fused = !final_activation.empty();
  loss.set_fused(fused);
  const ActivationFn act = parse_activation(fused ? final_activation : "linear", false, 0, "test");
  // Unfused, the loss sees probabilities directly (kept inside (0, 1) and
  // away from the 1e-7 clipping); fused, it sees logits.
  std::vector<float> in = fused ? uniform_values(rows * width, 21, -2, 2) : uniform_values(rows * width, 22, 0.05, 0.95);
  std::vector<float> out(in.size()), grad(in.size());
  auto objective = [&] {
    activation_forward(act, in.data(), out.data(), rows, width);
    return loss_mean(loss, out, rows, width, c);
  };
  objective();
  LossTotals totals;
  loss.evaluate(out.data(), rows, width, c.labels.data(), c.label_width, c.label_kind, 1.0f / rows, grad.data(),
                totals);
  std::vector<double> numeric, analytic(grad.begin(), grad.end());
  for (size_t i = 0; i < in.size(); ++i) numeric.push_back(central_difference(&in[i], 1e-3, objective));
  expect_gradients_match(c.loss + (fused ? " fused with " + final_activation : " unfused"), numeric, analytic);
}

const LossCase kSparse = {"sparse_categorical_crossentropy", LabelKind::kClassIndex, 1, {2, 0, 1, 2}};
const LossCase kCategorical = {"categorical_crossentropy", LabelKind::kOneHot, 3,
                               {0, 0, 1, 1, 0, 0, 0, 1, 0, 0.2f, 0.3f, 0.5f}};  // last row: soft labels
const LossCase kBinaryMultiLabel = {"binary_crossentropy", LabelKind::kOneHot, 3,
                                    {1, 0, 1, 0, 0, 1, 1, 1, 0, 0.3f, 0.9f, 0}};
const LossCase kBinarySingle = {"binary_crossentropy", LabelKind::kClassIndex, 1, {1, 0, 0, 1}};
const LossCase kMse = {"mean_squared_error", LabelKind::kValue, 3,
                       {0.5f, -1, 2, 0, 0.1f, 0.3f, -0.7f, 1.2f, 0.4f, 2, 2, -2}};

TEST(GradCheck, SparseCategoricalCrossentropy) {
  check_loss_gradient(kSparse, 4, 3, "");
  check_loss_gradient(kSparse, 4, 3, "softmax");
}

TEST(GradCheck, CategoricalCrossentropy) {
  check_loss_gradient(kCategorical, 4, 3, "");
  check_loss_gradient(kCategorical, 4, 3, "softmax");
}

TEST(GradCheck, BinaryCrossentropy) {
  check_loss_gradient(kBinaryMultiLabel, 4, 3, "");
  check_loss_gradient(kBinaryMultiLabel, 4, 3, "sigmoid");
  check_loss_gradient(kBinarySingle, 4, 1, "");
  check_loss_gradient(kBinarySingle, 4, 1, "sigmoid");
}

TEST(GradCheck, MeanSquaredError) {
  check_loss_gradient(kMse, 4, 3, "");
  check_loss_gradient(kMse, 4, 3, "linear");  // "fused" with nothing: same gradient
}

// ---------------------------------------------------------------------------
// Losses through a Model: the fused path (Model::fuse_final_activation +
// Loss::set_fused) must give the parameter gradients of loss(activation(z)).

class ModelLossHarness {
 public:
  ModelLossHarness(const ModelSpec& spec, const LossCase& c, int64_t rows, bool fuse, uint64_t seed = 3)
      : model_(spec, seed), loss_(c.loss, "loss"), case_(c), rows_(rows) {
    model_.reserve(rows);
    if (fuse) {
      EXPECT_TRUE(loss_.fuses_with(model_.final_activation()));
      model_.fuse_final_activation();
      loss_.set_fused(true);
    }
    ctx_.training = true;
    ctx_.seed = 99;
    ctx_.global_rows = rows;
    x_ = uniform_values(rows * model_.input_width(), seed + 100, -1.5, 1.5);
  }
  Model& model() { return model_; }

  double objective() {
    const float* out = model_.forward(ctx_, x_.data(), rows_);
    LossTotals t;
    loss_.evaluate(out, rows_, model_.output_width(), case_.labels.data(), case_.label_width, case_.label_kind, 1.0f,
                   nullptr, t);
    return t.loss_sum / rows_;
  }

  // Gradients of the chosen trainable elements (all when `which` is empty).
  void check(const std::string& what, std::vector<gradtest::ParamElement> which = {}, double eps = 1e-3,
             Tolerance tol = {}) {
    ParameterStore& p = model_.parameters();
    if (which.empty()) which = gradtest::trainable_elements(p);
    p.zero_grads();
    const float* out = model_.forward(ctx_, x_.data(), rows_);
    LossTotals t;
    loss_.evaluate(out, rows_, model_.output_width(), case_.labels.data(), case_.label_width, case_.label_kind,
                   1.0f / rows_, model_.output_grad(), t);
    model_.backward(ctx_, model_.output_grad(), rows_, nullptr);
    std::vector<double> analytic, numeric;
    for (const auto& e : which) analytic.push_back(p.grad(e.id)[e.offset]);
    for (const auto& e : which)
      numeric.push_back(central_difference(p.value(e.id) + e.offset, eps, [this] { return objective(); }));
    expect_gradients_match(what, numeric, analytic, tol);
  }

 private:
  Model model_;
  Loss loss_;
  LossCase case_;
  int64_t rows_;
  StepContext ctx_;
  std::vector<float> x_;
};

ModelSpec two_layer(int in, LayerSpec a, LayerSpec b) {
  keras::Sequential s({in});
  s.add(a).add(b);
  return s.spec();
}
ModelSpec one_layer(int in, LayerSpec a) {
  keras::Sequential s({in});
  s.add(a);
  return s.spec();
}

TEST(GradCheck, FusedSoftmaxActivationLayerWithCrossentropies) {
  const ModelSpec spec = two_layer(4, keras::Dense(3), keras::Activation("softmax"));
  for (const LossCase* c : {&kSparse, &kCategorical}) {
    ModelLossHarness fused(spec, *c, 4, true);
    fused.check(c->loss + " fused with Activation(softmax)");
    ModelLossHarness unfused(spec, *c, 4, false);
    unfused.check(c->loss + " through Activation(softmax), unfused");
  }
}

TEST(GradCheck, FusedDenseSoftmaxWithCrossentropies) {
  const ModelSpec spec = one_layer(4, keras::Dense(3).activation("softmax"));
  for (const LossCase* c : {&kSparse, &kCategorical}) {
    ModelLossHarness fused(spec, *c, 4, true);
    fused.check(c->loss + " fused with Dense(softmax)");
    ModelLossHarness unfused(spec, *c, 4, false);
    unfused.check(c->loss + " through Dense(softmax), unfused");
  }
}

TEST(GradCheck, FusedSigmoidWithBinaryCrossentropy) {
  for (const ModelSpec& spec : {two_layer(4, keras::Dense(3), keras::Activation("sigmoid")),
                                one_layer(4, keras::Dense(3).activation("sigmoid"))}) {
    ModelLossHarness fused(spec, kBinaryMultiLabel, 4, true);
    fused.check("binary_crossentropy fused with sigmoid");
    ModelLossHarness unfused(spec, kBinaryMultiLabel, 4, false);
    unfused.check("binary_crossentropy through sigmoid, unfused");
  }
  ModelLossHarness single(two_layer(4, keras::Dense(1), keras::Activation("sigmoid")), kBinarySingle, 4, true);
  single.check("binary_crossentropy, one sigmoid unit, fused");
}

TEST(GradCheck, MeanSquaredErrorThroughAModel) {
  ModelLossHarness h(two_layer(4, keras::Dense(3).activation("tanh"), keras::Dense(3)), kMse, 4, false);
  EXPECT_FALSE(Loss("mean_squared_error", "loss").fuses_with(h.model().final_activation()));
  h.check("mean_squared_error through Dense(tanh) -> Dense");
}

// ---------------------------------------------------------------------------
// The article's model, whole: Dense(64 uniform) -> BN -> tanh -> Dropout(0.5)
// -> Dense(64) -> BN -> tanh -> Dropout -> Dense(2) -> BN -> softmax, sparse
// categorical cross-entropy fused with the softmax, dropout masks fixed.

ModelSpec article_model() {
  keras::Sequential s({14});
  s.add(keras::Dense(64).kernel_initializer("uniform"))
      .add(keras::BatchNormalization())
      .add(keras::Activation("tanh"))
      .add(keras::Dropout(0.5))
      .add(keras::Dense(64).kernel_initializer("uniform"))
      .add(keras::BatchNormalization())
      .add(keras::Activation("tanh"))
      .add(keras::Dropout(0.5))
      .add(keras::Dense(2).kernel_initializer("uniform"))
      .add(keras::BatchNormalization())
      .add(keras::Activation("softmax"));
  return s.spec();
}

TEST(GradCheck, ArticleModelWholeGradientOnRandomParameters) {
  const int64_t rows = 8;
  LossCase labels = {"sparse_categorical_crossentropy", LabelKind::kClassIndex, 1, {0, 1, 1, 0, 1, 0, 0, 1}};
  ModelLossHarness h(article_model(), labels, rows, true);
  const auto all = gradtest::trainable_elements(h.model().parameters());
  ASSERT_EQ(all.size(), 5510u);
  // 40 parameters chosen at random, plus the last BatchNormalization's gamma
  // and beta (the closest to the loss).
  std::vector<gradtest::ParamElement> chosen;
  CounterRng rng(2024);
  for (int k = 0; k < 40; ++k) chosen.push_back(all[rng.next_below(all.size())]);
  for (size_t k = all.size() - 4; k < all.size(); ++k) chosen.push_back(all[k]);
  h.check("article model", chosen);
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

TEST(GradCheck, DenseTanhMatchesPyTorch) {
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

}  // namespace
}  // namespace lockstep
