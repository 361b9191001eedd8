// What `trainer evaluate` reports beyond loss and accuracy, as scikit-learn's
// classification_report and confusion_matrix and Keras' top-k and AUC
// metrics compute them: per-class precision, recall, F1 and support, the
// confusion matrix, top-5 accuracy (more than 5 classes), ROC AUC (two
// classes). Computed from the model's outputs over a whole data set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace lockstep {

struct ClassificationReport {
  int64_t classes = 0;
  int64_t samples = 0;
  std::vector<int64_t> confusion;  // classes x classes, [true class][predicted class]
  std::vector<double> precision, recall, f1;
  std::vector<int64_t> support;    // samples per true class
  double accuracy = 0;
  double macro_f1 = 0, weighted_f1 = 0;
  int top_k = 0;                   // 5 when there are more than 5 classes, else 0
  double top_k_accuracy = 0;
  bool has_auc = false;            // two classes
  double auc = 0;
  std::vector<std::string> class_names;  // label names of classes 0..; empty: shown as indices
};

// outputs: rows x width probabilities (width 1: a sigmoid's P(class 1)).
// Labels as in Dataset (class indices or one-hot). `classes`: the data's.
ClassificationReport classification_report(const float* outputs, int64_t rows, int64_t width, const Dataset& data);

// Text tables (aligned, one class per row, then the matrix) and JSON.
std::string report_text(const ClassificationReport& report);
std::string report_json(const ClassificationReport& report);

// ROC AUC of scores for the positive class (labels 0/1): the Mann-Whitney
// statistic with tied scores sharing their average rank.
double roc_auc(const std::vector<float>& scores, const std::vector<int>& positive);

}  // namespace lockstep
