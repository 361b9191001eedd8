// Losses: values for known inputs, Keras' probability clipping, accuracy
// counting, which activations fuse, label checks and error messages.
// Gradients are checked against finite differences in test_gradcheck.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/error.h"
#include "core/loss.h"

namespace lockstep {
namespace {

struct Result {
  LossTotals totals;
  std::vector<float> grad;
};

Result run(const std::string& name, const std::vector<float>& out, int64_t width, const std::vector<float>& labels,
           int64_t label_width, LabelKind kind, bool fused = false) {
  Loss loss(name, "loss");
  loss.set_fused(fused);
  const int64_t rows = static_cast<int64_t>(out.size()) / width;
  Result r;
  r.grad.assign(out.size(), 0.0f);
  loss.evaluate(out.data(), rows, width, labels.data(), label_width, kind, 1.0f / rows, r.grad.data(), r.totals);
  return r;
}

template <typename F>
void expect_input_error(F&& f, const std::string& where, const std::vector<std::string>& what_parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected " << where;
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput) << e.what();
    EXPECT_EQ(e.where(), where) << e.what();
    for (const auto& part : what_parts)
      EXPECT_NE(e.message().find(part), std::string::npos) << "message: " << e.message() << "\nwanted: " << part;
  }
}

TEST(Loss, UnknownNameListsTheKnownLosses) {
  expect_input_error([] { Loss("hinge", "loss"); }, "loss",
                     {"unknown loss 'hinge'", "categorical_crossentropy", "sparse_categorical_crossentropy",
                      "binary_crossentropy", "mean_squared_error"});
  expect_input_error([] { Loss("", "validation.loss"); }, "validation.loss", {"known:"});
}

TEST(Loss, KnownNamesAndTheMseAlias) {
  EXPECT_EQ(Loss("categorical_crossentropy", "loss").kind(), LossKind::kCategoricalCrossentropy);
  EXPECT_EQ(Loss("sparse_categorical_crossentropy", "loss").kind(), LossKind::kSparseCategoricalCrossentropy);
  EXPECT_EQ(Loss("binary_crossentropy", "loss").kind(), LossKind::kBinaryCrossentropy);
  const Loss mse("mse", "loss");
  EXPECT_EQ(mse.kind(), LossKind::kMeanSquaredError);
  EXPECT_EQ(mse.name(), "mean_squared_error");
}

TEST(Loss, WhichFinalActivationsFuse) {
  for (const char* name : {"categorical_crossentropy", "sparse_categorical_crossentropy"}) {
    const Loss l(name, "loss");
    EXPECT_TRUE(l.fuses_with(ActivationKind::kSoftmax)) << name;
    EXPECT_FALSE(l.fuses_with(ActivationKind::kSigmoid)) << name;
    EXPECT_FALSE(l.fuses_with(ActivationKind::kLinear)) << name;
  }
  const Loss bce("binary_crossentropy", "loss");
  EXPECT_TRUE(bce.fuses_with(ActivationKind::kSigmoid));
  EXPECT_FALSE(bce.fuses_with(ActivationKind::kSoftmax));
  const Loss mse("mean_squared_error", "loss");
  for (ActivationKind k : {ActivationKind::kSoftmax, ActivationKind::kSigmoid, ActivationKind::kLinear,
                           ActivationKind::kTanh})
    EXPECT_FALSE(mse.fuses_with(k));
}

TEST(Loss, CrossentropyOfUniformProbabilitiesIsLogC) {
  const int64_t C = 4;
  const std::vector<float> uniform(3 * C, 0.25f);
  for (bool fused : {false, true}) {
    const Result sparse = run("sparse_categorical_crossentropy", uniform, C, {0, 3, 2}, 1, LabelKind::kClassIndex, fused);
    EXPECT_NEAR(sparse.totals.loss_sum / 3, std::log(4.0), 1e-6);
    const std::vector<float> one_hot = {1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0};
    const Result cat = run("categorical_crossentropy", uniform, C, one_hot, C, LabelKind::kOneHot, fused);
    EXPECT_NEAR(cat.totals.loss_sum / 3, std::log(4.0), 1e-6);
    // A categorical loss given class indices (label_width 1) means the same.
    const Result cat_index = run("categorical_crossentropy", uniform, C, {0, 3, 2}, 1, LabelKind::kClassIndex, fused);
    EXPECT_NEAR(cat_index.totals.loss_sum / 3, std::log(4.0), 1e-6);
  }
}

TEST(Loss, KnownValues) {
  // -log(0.7) and -log(0.2).
  const Result sparse = run("sparse_categorical_crossentropy", {0.1f, 0.7f, 0.2f, 0.5f, 0.3f, 0.2f}, 3, {1, 2}, 1,
                            LabelKind::kClassIndex);
  EXPECT_NEAR(sparse.totals.loss_sum, -std::log(0.7) - std::log(0.2), 1e-6);
  // Soft labels: -(0.25 log 0.5 + 0.75 log 0.5).
  const Result soft = run("categorical_crossentropy", {0.5f, 0.5f}, 2, {0.25f, 0.75f}, 2, LabelKind::kOneHot);
  EXPECT_NEAR(soft.totals.loss_sum, std::log(2.0), 1e-6);
  // Binary, averaged over the units of a sample: (-log 0.8 - log 0.7) / 2.
  const Result bce = run("binary_crossentropy", {0.8f, 0.3f}, 2, {1, 0}, 2, LabelKind::kOneHot);
  EXPECT_NEAR(bce.totals.loss_sum, (-std::log(0.8) - std::log(0.7)) / 2, 1e-6);
  // Binary, one unit with class-index labels.
  const Result bce1 = run("binary_crossentropy", {0.9f, 0.4f}, 1, {1, 0}, 1, LabelKind::kClassIndex);
  EXPECT_NEAR(bce1.totals.loss_sum, -std::log(0.9) - std::log(0.6), 1e-6);
  // MSE: mean over the units of a sample of (p - t)^2, summed over samples.
  const Result mse = run("mean_squared_error", {1.0f, 2.0f, 0.5f, -1.0f}, 2, {0.0f, 4.0f, 0.5f, 1.0f}, 2,
                         LabelKind::kValue);
  EXPECT_NEAR(mse.totals.loss_sum, (1.0 + 4.0) / 2 + (0.0 + 4.0) / 2, 1e-6);
  // MSE against class indices: one-hot targets.
  const Result mse_index = run("mean_squared_error", {0.2f, 0.8f}, 2, {1}, 1, LabelKind::kClassIndex);
  EXPECT_NEAR(mse_index.totals.loss_sum, (0.04 + 0.04) / 2, 1e-6);
}

TEST(Loss, GradientIsScaledByTheGlobalBatch) {
  // Fused softmax cross-entropy: (p - t) * grad_scale.
  Loss loss("sparse_categorical_crossentropy", "loss");
  loss.set_fused(true);
  const std::vector<float> p = {0.2f, 0.5f, 0.3f};
  const float label = 1;
  std::vector<float> g(3);
  LossTotals t;
  loss.evaluate(p.data(), 1, 3, &label, 1, LabelKind::kClassIndex, 0.125f, g.data(), t);
  EXPECT_FLOAT_EQ(g[0], 0.2f * 0.125f);
  EXPECT_FLOAT_EQ(g[1], -0.5f * 0.125f);
  EXPECT_FLOAT_EQ(g[2], 0.3f * 0.125f);
  // Without a gradient buffer only the totals are computed, and they add up.
  loss.evaluate(p.data(), 1, 3, &label, 1, LabelKind::kClassIndex, 0.125f, nullptr, t);
  EXPECT_NEAR(t.loss_sum, -2 * std::log(0.5), 1e-6);
  EXPECT_EQ(t.correct, 2.0);
}

// Keras' label_smoothing: targets t * (1 - s) + s / K (s / 2 for binary),
// in the loss and in the gradient; accuracy still counts the true class.
TEST(Loss, LabelSmoothingAsKeras) {
  Loss ce("sparse_categorical_crossentropy", "loss");
  ce.set_fused(true);
  ce.set_label_smoothing(0.3f, "label_smoothing");
  const std::vector<float> p = {0.2f, 0.5f, 0.3f};
  const float label = 1;
  std::vector<float> g(3);
  LossTotals t;
  ce.evaluate(p.data(), 1, 3, &label, 1, LabelKind::kClassIndex, 1.0f, g.data(), t);
  const double t_other = 0.1, t_true = 0.7 + 0.1;
  EXPECT_NEAR(t.loss_sum, -(t_other * std::log(0.2) + t_true * std::log(0.5) + t_other * std::log(0.3)), 1e-6);
  EXPECT_NEAR(g[0], 0.2 - t_other, 1e-6);
  EXPECT_NEAR(g[1], 0.5 - t_true, 1e-6);
  EXPECT_EQ(t.correct, 1.0);

  Loss bce("binary_crossentropy", "loss");
  bce.set_label_smoothing(0.2f, "label_smoothing");
  const float prob = 0.6f, one = 1;
  LossTotals b;
  bce.evaluate(&prob, 1, 1, &one, 1, LabelKind::kClassIndex, 1.0f, nullptr, b);
  EXPECT_NEAR(b.loss_sum, -(0.9 * std::log(0.6) + 0.1 * std::log(0.4)), 1e-6);

  expect_input_error([] { Loss("mean_squared_error", "loss").set_label_smoothing(0.1f, "label_smoothing"); },
                     "label_smoothing", {"cross-entropies"});
  expect_input_error([] { Loss("binary_crossentropy", "loss").set_label_smoothing(1.5f, "label_smoothing"); },
                     "label_smoothing", {"[0, 1]"});
}

// Sample and class weights multiply each row's loss and gradient; the sum
// is still over rows (Keras' sum_over_batch_size), accuracy is unweighted.
TEST(Loss, WeightsMultiplyEachRow) {
  Loss loss("sparse_categorical_crossentropy", "loss");
  loss.set_fused(true);
  const std::vector<float> p = {0.2f, 0.8f, 0.6f, 0.4f};
  const std::vector<float> labels = {1, 1};
  const std::vector<float> weights = {2.0f, 0.0f};
  std::vector<float> g(4), g1(4);
  LossTotals weighted, plain;
  loss.evaluate(p.data(), 2, 2, labels.data(), 1, LabelKind::kClassIndex, 0.5f, g.data(), weighted, weights.data());
  loss.evaluate(p.data(), 2, 2, labels.data(), 1, LabelKind::kClassIndex, 0.5f, g1.data(), plain);
  EXPECT_NEAR(weighted.loss_sum, -2 * std::log(0.8), 1e-6);
  EXPECT_FLOAT_EQ(g[0], 2 * g1[0]);
  EXPECT_FLOAT_EQ(g[1], 2 * g1[1]);
  EXPECT_EQ(g[2], 0.0f);
  EXPECT_EQ(g[3], 0.0f);
  EXPECT_EQ(weighted.correct, plain.correct);
}

TEST(Loss, KerasClipsProbabilitiesAt1e7) {
  // Keras clips p to [1e-7, 1 - 1e-7] (float32) before the log.
  const double log_eps = -std::log(static_cast<double>(1e-7f));                 // ~16.118
  const double log_one_minus = -std::log(1.0 - static_cast<double>(1.0f - 1e-7f));  // ~15.942
  const Result ce = run("sparse_categorical_crossentropy", {0.0f, 1.0f, 1.0f, 0.0f}, 2, {0, 0}, 1,
                        LabelKind::kClassIndex);
  EXPECT_NEAR(ce.totals.loss_sum, log_eps, 1e-4);  // the second sample is (almost) free
  EXPECT_GE(ce.totals.loss_sum, log_eps - 1e-4);
  for (float g : ce.grad) EXPECT_TRUE(std::isfinite(g));
  EXPECT_NEAR(ce.grad[0], -1e7 / 2, 5.0);  // -t / clip(p) / rows

  const Result bce = run("binary_crossentropy", {0.0f, 1.0f}, 1, {1, 0}, 1, LabelKind::kClassIndex);
  EXPECT_NEAR(bce.totals.loss_sum, log_eps + log_one_minus, 1e-3);
  for (float g : bce.grad) EXPECT_TRUE(std::isfinite(g));

  const Result cat = run("categorical_crossentropy", {0.0f, 1.0f}, 2, {1, 0}, 2, LabelKind::kOneHot);
  EXPECT_NEAR(cat.totals.loss_sum, log_eps, 1e-4);
}

TEST(Loss, AccuracyCountsClassIndexAndOneHotLabels) {
  const std::vector<float> out = {0.1f, 0.7f, 0.2f,   // predicts 1
                                  0.6f, 0.3f, 0.1f,   // predicts 0
                                  0.2f, 0.2f, 0.6f,   // predicts 2
                                  0.3f, 0.4f, 0.3f};  // predicts 1
  const std::vector<float> index = {1, 0, 1, 2};      // right, right, wrong, wrong
  const std::vector<float> one_hot = {0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
  EXPECT_EQ(run("sparse_categorical_crossentropy", out, 3, index, 1, LabelKind::kClassIndex).totals.correct, 2.0);
  EXPECT_EQ(run("categorical_crossentropy", out, 3, one_hot, 3, LabelKind::kOneHot).totals.correct, 2.0);
  EXPECT_EQ(run("categorical_crossentropy", out, 3, index, 1, LabelKind::kClassIndex).totals.correct, 2.0);
  // MSE on class labels counts argmax hits too; on regression targets nothing.
  EXPECT_EQ(run("mean_squared_error", out, 3, one_hot, 3, LabelKind::kOneHot).totals.correct, 2.0);
  EXPECT_EQ(run("mean_squared_error", out, 3, one_hot, 3, LabelKind::kValue).totals.correct, 0.0);
}

TEST(Loss, BinaryAccuracyThresholdIsHalf) {
  // Keras binary_accuracy predicts 1 for p > 0.5: p = 0.5 exactly is a 0.
  const std::vector<float> p = {0.7f, 0.2f, 0.5f, 0.49f, 0.51f, 0.5f};
  const std::vector<float> t = {1, 0, 0, 0, 1, 1};  // right, right, right, right, right, wrong
  EXPECT_DOUBLE_EQ(run("binary_crossentropy", p, 1, t, 1, LabelKind::kClassIndex).totals.correct, 5.0);
  // Multi-label: the fraction of right units per sample.
  const Result multi = run("binary_crossentropy", {0.9f, 0.8f, 0.1f, 0.2f}, 2, {1, 0, 0, 0}, 2, LabelKind::kOneHot);
  EXPECT_DOUBLE_EQ(multi.totals.correct, 0.5 + 1.0);
}

Dataset labels_only(LabelKind kind, int64_t label_width, int32_t num_classes) {
  Dataset d;
  d.sample_shape = {2};
  d.num_samples = 1;
  d.features = {0, 0};
  d.label_kind = kind;
  d.label_width = label_width;
  d.labels.assign(label_width, 0.0f);
  d.num_classes = num_classes;
  d.source = "test";
  return d;
}

TEST(Loss, CheckLabelsAcceptsFittingData) {
  EXPECT_NO_THROW(Loss("sparse_categorical_crossentropy", "loss")
                      .check_labels(labels_only(LabelKind::kClassIndex, 1, 3), 3, "data"));
  EXPECT_NO_THROW(Loss("sparse_categorical_crossentropy", "loss")
                      .check_labels(labels_only(LabelKind::kClassIndex, 1, 2), 3, "data"));
  EXPECT_NO_THROW(Loss("categorical_crossentropy", "loss").check_labels(labels_only(LabelKind::kOneHot, 4, 4), 4, "data"));
  EXPECT_NO_THROW(Loss("binary_crossentropy", "loss").check_labels(labels_only(LabelKind::kClassIndex, 1, 2), 1, "data"));
  EXPECT_NO_THROW(Loss("binary_crossentropy", "loss").check_labels(labels_only(LabelKind::kOneHot, 3, 3), 3, "data"));
  EXPECT_NO_THROW(Loss("mean_squared_error", "loss").check_labels(labels_only(LabelKind::kValue, 2, 0), 2, "data"));
}

TEST(Loss, CheckLabelsErrors) {
  expect_input_error(
      [] {
        Loss("sparse_categorical_crossentropy", "loss").check_labels(labels_only(LabelKind::kClassIndex, 1, 5), 3, "data");
      },
      "data", {"5 classes", "3 units", "set the last Dense to 5 units"});
  expect_input_error(
      [] { Loss("binary_crossentropy", "loss").check_labels(labels_only(LabelKind::kClassIndex, 1, 3), 1, "data"); },
      "data", {"binary_crossentropy needs labels 0/1", "3 classes"});
  expect_input_error(
      [] { Loss("categorical_crossentropy", "loss").check_labels(labels_only(LabelKind::kOneHot, 4, 4), 3, "data"); },
      "data", {"4 columns", "3 units"});
  expect_input_error(
      [] { Loss("mean_squared_error", "loss").check_labels(labels_only(LabelKind::kValue, 1, 0), 2, "validation_data"); },
      "validation_data", {"1 columns", "2 units"});
  expect_input_error(
      [] { Loss("categorical_crossentropy", "loss").check_labels(labels_only(LabelKind::kValue, 3, 0), 3, "data"); },
      "data", {"categorical_crossentropy needs class labels", "regression targets"});
}

}  // namespace
}  // namespace lockstep
