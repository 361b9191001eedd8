// Finite-difference gradient checks (training mode) of the comparison itself,
// of every loss, fused and unfused, and of whole models (the article's MLP, a
// small CNN). See gradcheck_util.h for the method; each layer's own checks
// are in tests/unit/layers/test_<layer>.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/layers/activation_functions.h"
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
// Small CNNs, whole, with sparse categorical cross-entropy fused with the
// final softmax: every trainable parameter. Max pooling comes first, where
// its inputs are the data, which no parameter moves: a perturbation cannot
// change a window's winner.

TEST(GradCheck, SmallCnnWithPoolingBatchNormAndFlatten) {
  keras::Sequential s({8, 8, 2});
  s.add(keras::MaxPooling2D(2))
      .add(keras::Conv2D(4, 3).padding("same").activation("tanh").bias_initializer("uniform"))
      .add(keras::AveragePooling2D(2))
      .add(keras::BatchNormalization())
      .add(keras::Flatten())
      .add(keras::Dense(3).activation("softmax"));
  ModelLossHarness h(s.spec(), kSparse, 4, true);
  ASSERT_EQ(gradtest::trainable_elements(h.model().parameters()).size(), 76u + 8u + 51u);
  h.check("MaxPooling2D -> Conv2D(tanh) -> AveragePooling2D -> BN -> Flatten -> Dense(softmax)");
}

TEST(GradCheck, SmallCnnWithStridedConvAndGlobalPooling) {
  // The first layer is a Conv2D: the model asks it for no input gradient.
  keras::Sequential s({6, 7, 2});
  s.add(keras::Conv2D(3, {2, 3}).strides(2).padding("same"))
      .add(keras::BatchNormalization())
      .add(keras::Activation("tanh"))
      .add(keras::GlobalAveragePooling2D())
      .add(keras::Dense(3))
      .add(keras::Activation("softmax"));
  ModelLossHarness h(s.spec(), kSparse, 4, true);
  h.check("Conv2D(strides 2, same) -> BN -> tanh -> GlobalAveragePooling2D -> Dense -> softmax");
}

}  // namespace
}  // namespace lockstep
