// Synthetic Gaussian clusters: sizes, determinism, shards, and that the
// default set is learnable (simple classifiers beat chance by far).
#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/data/test_data_util.h"

namespace lockstep::datatest {
namespace {

double squared_distance(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t j = 0; j < n; ++j) s += (double(a[j]) - b[j]) * (double(a[j]) - b[j]);
  return s;
}

// Accuracy on `val` of a k-nearest-neighbour vote over `train`.
double knn_accuracy(const Dataset& train, const Dataset& val, int k) {
  int correct = 0;
  std::vector<std::pair<double, int>> dist(train.num_samples);
  for (int64_t i = 0; i < val.num_samples; ++i) {
    for (int64_t t = 0; t < train.num_samples; ++t)
      dist[t] = {squared_distance(val.sample(i), train.sample(t), val.sample_size()), int(*train.label(t))};
    std::partial_sort(dist.begin(), dist.begin() + k, dist.end());
    std::vector<int> votes(train.num_classes);
    for (int j = 0; j < k; ++j) ++votes[dist[j].second];
    correct += std::max_element(votes.begin(), votes.end()) - votes.begin() == int(*val.label(i));
  }
  return double(correct) / val.num_samples;
}

// Accuracy on `val` of assigning each sample to the nearest class mean of `train`.
double nearest_centroid_accuracy(const Dataset& train, const Dataset& val) {
  const int64_t f = train.sample_size();
  std::vector<float> mean(train.num_classes * f);
  std::vector<int> count(train.num_classes);
  for (int64_t i = 0; i < train.num_samples; ++i) {
    const int c = int(*train.label(i));
    ++count[c];
    for (int64_t j = 0; j < f; ++j) mean[c * f + j] += train.sample(i)[j];
  }
  for (int c = 0; c < train.num_classes; ++c)
    for (int64_t j = 0; j < f; ++j) mean[c * f + j] /= count[c];
  int correct = 0;
  for (int64_t i = 0; i < val.num_samples; ++i) {
    int best = 0;
    for (int c = 1; c < train.num_classes; ++c)
      if (squared_distance(val.sample(i), &mean[c * f], f) < squared_distance(val.sample(i), &mean[best * f], f))
        best = c;
    correct += best == int(*val.label(i));
  }
  return double(correct) / val.num_samples;
}

TEST(DataSynthetic, DefaultsGiveBalancedClasses) {
  const Dataset d = load("synthetic {}");
  EXPECT_EQ(d.num_samples, 1000);
  EXPECT_EQ(d.sample_shape, Shape{14});
  EXPECT_EQ(d.features.size(), 14000u);
  EXPECT_EQ(d.num_classes, 2);
  EXPECT_EQ(d.label_kind, LabelKind::kClassIndex);
  EXPECT_EQ(std::count(d.labels.begin(), d.labels.end(), 1.0f), 500);
  EXPECT_EQ(d.source, "synthetic");
  // Roughly standard: centres ~N(0, 1) plus noise 0.8 gives variance ~1.64.
  double sum = 0, squares = 0;
  for (float x : d.features) sum += x, squares += double(x) * x;
  const double mean = sum / d.features.size(), var = squares / d.features.size() - mean * mean;
  EXPECT_LT(std::fabs(mean), 0.5);
  EXPECT_GT(var, 0.8);
  EXPECT_LT(var, 3.0);
}

TEST(DataSynthetic, SameSeedSameDataOtherSeedOtherData) {
  const Dataset a = load("synthetic { seed: 3 }"), b = load("synthetic { seed: 3 }"), c = load("synthetic { seed: 4 }");
  EXPECT_EQ(a.features, b.features);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_NE(a.features, c.features);
}

TEST(DataSynthetic, LimitIsAPrefixAndShardsCoverTheWhole) {
  const Dataset whole = load("synthetic { samples: 50 features: 3 classes: 4 }");
  const Dataset first = load("synthetic { samples: 50 features: 3 classes: 4 } limit: 20");
  ASSERT_EQ(first.num_samples, 20);
  EXPECT_TRUE(std::equal(first.features.begin(), first.features.end(), whole.features.begin()));
  EXPECT_EQ(first.num_classes, 4);
  for (int parts = 1; parts <= 4; ++parts) {
    expect_shards_cover("synthetic { samples: 50 features: 3 classes: 4 }", parts);
    expect_shards_cover("synthetic { samples: 11 features: 3 } limit: 10", parts);
  }
}

TEST(DataSynthetic, DefaultSetIsLearnable) {
  Dataset train = load("synthetic {}");
  const Dataset val = split_off_tail(train, 0.2);
  // Two centres per class: a neighbour vote is the fair simple model.
  const double knn = knn_accuracy(train, val, 5);
  EXPECT_GT(knn, 0.85);
  // With one centre per class the class means are the centres.
  Dataset one = load("synthetic { centers_per_class: 1 }");
  const Dataset one_val = split_off_tail(one, 0.2);
  const double centroid = nearest_centroid_accuracy(one, one_val);
  EXPECT_GT(centroid, 0.85);
  std::cout << "[ measure  ] synthetic defaults: 5-NN accuracy " << knn << ", nearest centroid (1 centre per class) "
            << centroid << "\n";
}

TEST(DataSynthetic, BadSizesNameTheField) {
  expect_input_error([] { load("synthetic { classes: 1 }"); }, "data.synthetic.classes", "must be >= 2, got 1");
  expect_input_error([] { load("synthetic { samples: 0 }"); }, "data.synthetic.samples", "must be >= 1, got 0");
  expect_input_error([] { load("synthetic { features: -3 }"); }, "data.synthetic.features", "must be >= 1, got -3");
  expect_input_error([] { load("synthetic { centers_per_class: 0 }"); }, "data.synthetic.centers_per_class", ">= 1");
  expect_input_error([] { load("synthetic { noise: -1 }"); }, "data.synthetic.noise", ">= 0");
  expect_input_error([] { load("synthetic { samples: 9000000000000 features: 1000000 }"); }, "data.synthetic.samples",
                     "too large");
}

}  // namespace
}  // namespace lockstep::datatest
