// The classification report against values worked out by hand (as
// scikit-learn's classification_report, roc_auc_score and Keras'
// top_k_categorical_accuracy give them): per-class precision/recall/F1,
// the confusion matrix, AUC with tied scores, top-5 with more than 5 classes.
#include <gtest/gtest.h>

#include <vector>

#include "core/metrics.h"

namespace lockstep {
namespace {

Dataset labels_only(const std::vector<float>& labels, int classes) {
  Dataset d;
  d.num_samples = static_cast<int64_t>(labels.size());
  d.labels = labels;
  d.num_classes = classes;
  return d;
}

TEST(Metrics, PrecisionRecallF1AndConfusion) {
  // True 0,0,1,1,2; predicted 0,1,1,1,0.
  const std::vector<float> out = {0.9f, 0.1f, 0, 0.2f, 0.7f, 0.1f, 0.1f, 0.8f, 0.1f, 0, 1, 0, 0.5f, 0.2f, 0.3f};
  const ClassificationReport r = classification_report(out.data(), 5, 3, labels_only({0, 0, 1, 1, 2}, 3));
  EXPECT_EQ(r.confusion, (std::vector<int64_t>{1, 1, 0, 0, 2, 0, 1, 0, 0}));
  EXPECT_DOUBLE_EQ(r.precision[0], 0.5);
  EXPECT_DOUBLE_EQ(r.recall[0], 0.5);
  EXPECT_DOUBLE_EQ(r.precision[1], 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.recall[1], 1.0);
  EXPECT_DOUBLE_EQ(r.f1[1], 0.8);
  EXPECT_DOUBLE_EQ(r.f1[2], 0.0);  // never predicted: 0, as scikit-learn's zero_division=0
  EXPECT_DOUBLE_EQ(r.accuracy, 0.6);
  EXPECT_NEAR(r.macro_f1, (0.5 + 0.8 + 0) / 3, 1e-12);
  EXPECT_NEAR(r.weighted_f1, (0.5 * 2 + 0.8 * 2) / 5, 1e-12);
  EXPECT_EQ(r.top_k, 0);
  EXPECT_FALSE(r.has_auc);
}

TEST(Metrics, AucCountsTiesAsHalf) {
  // Positives score 0.8 and 0.4, negatives 0.4 and 0.1: pairs (0.8>0.4, 0.8>0.1, 0.4=0.4, 0.4>0.1) = 3.5 / 4.
  EXPECT_DOUBLE_EQ(roc_auc({0.8f, 0.4f, 0.4f, 0.1f}, {1, 1, 0, 0}), 0.875);
  EXPECT_DOUBLE_EQ(roc_auc({0.1f, 0.9f}, {1, 0}), 0.0);
  // A single sigmoid output: P(class 1), threshold 0.5.
  const std::vector<float> p = {0.8f, 0.3f, 0.6f, 0.2f};
  const ClassificationReport r = classification_report(p.data(), 4, 1, labels_only({1, 1, 0, 0}, 2));
  EXPECT_TRUE(r.has_auc);
  EXPECT_DOUBLE_EQ(r.auc, 0.75);
  EXPECT_EQ(r.confusion, (std::vector<int64_t>{1, 1, 1, 1}));
}

TEST(Metrics, TopFiveWithMoreThanFiveClasses) {
  // 7 classes; the true class ranks 1st, 5th and 6th.
  std::vector<float> out = {0.7f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f, 0.05f,   // true 0: 1st
                            0.3f, 0.25f, 0.2f, 0.1f, 0.08f, 0.05f, 0.02f,     // true 4: 5th
                            0.3f, 0.25f, 0.2f, 0.1f, 0.08f, 0.05f, 0.02f};    // true 5: 6th
  const ClassificationReport r = classification_report(out.data(), 3, 7, labels_only({0, 4, 5}, 7));
  EXPECT_EQ(r.top_k, 5);
  EXPECT_DOUBLE_EQ(r.top_k_accuracy, 2.0 / 3);
}

}  // namespace
}  // namespace lockstep
