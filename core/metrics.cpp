#include "core/metrics.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "core/error.h"

namespace lockstep {
namespace {

int64_t true_class(const Dataset& data, int64_t i) {
  const float* label = data.label(i);
  if (data.label_kind == LabelKind::kClassIndex) return static_cast<int64_t>(label[0]);
  return std::max_element(label, label + data.label_width) - label;
}

double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

void per_class(ClassificationReport& r) {
  const int64_t k = r.classes;
  r.precision.assign(k, 0);
  r.recall.assign(k, 0);
  r.f1.assign(k, 0);
  r.support.assign(k, 0);
  int64_t correct = 0;
  for (int64_t c = 0; c < k; ++c) {
    int64_t predicted = 0;
    for (int64_t t = 0; t < k; ++t) {
      r.support[c] += r.confusion[c * k + t];
      predicted += r.confusion[t * k + c];
    }
    const double hits = static_cast<double>(r.confusion[c * k + c]);
    correct += r.confusion[c * k + c];
    r.precision[c] = ratio(hits, predicted);
    r.recall[c] = ratio(hits, r.support[c]);
    r.f1[c] = ratio(2 * r.precision[c] * r.recall[c], r.precision[c] + r.recall[c]);
    r.macro_f1 += r.f1[c] / k;
    r.weighted_f1 += r.f1[c] * ratio(r.support[c], r.samples);
  }
  r.accuracy = ratio(correct, r.samples);
}

}  // namespace

double roc_auc(const std::vector<float>& scores, const std::vector<int>& positive) {
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum = 0;
  int64_t positives = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double average_rank = (static_cast<double>(i) + static_cast<double>(j) + 1) / 2;  // 1-based ranks i+1..j
    for (size_t m = i; m < j; ++m)
      if (positive[order[m]]) rank_sum += average_rank, ++positives;
    i = j;
  }
  const double negatives = static_cast<double>(n) - positives;
  if (positives == 0 || negatives == 0) return 0.5;  // undefined; as if random
  return (rank_sum - positives * (positives + 1.0) / 2) / (positives * negatives);
}

ClassificationReport classification_report(const float* out, int64_t rows, int64_t width, const Dataset& data) {
  if (data.label_kind == LabelKind::kValue)
    throw_input_error(data.source, "a classification report needs class labels, the data has regression targets");
  ClassificationReport r;
  r.classes = std::max<int64_t>({static_cast<int64_t>(data.num_classes), width, 2});
  r.samples = rows;
  r.confusion.assign(static_cast<size_t>(r.classes * r.classes), 0);
  r.top_k = r.classes > 5 && width > 5 ? 5 : 0;
  int64_t in_top_k = 0;
  std::vector<float> scores;
  std::vector<int> positive;
  for (int64_t i = 0; i < rows; ++i) {
    const float* p = out + i * width;
    const int64_t truth = true_class(data, i);
    const int64_t predicted = width == 1 ? (p[0] > 0.5f ? 1 : 0) : std::max_element(p, p + width) - p;
    r.confusion[truth * r.classes + predicted] += 1;
    if (r.top_k) {
      // In the top k: fewer than k classes score higher (Keras' in_top_k).
      int64_t higher = 0;
      for (int64_t c = 0; c < width; ++c) higher += p[c] > p[truth];
      in_top_k += higher < r.top_k;
    }
    if (r.classes == 2) {
      scores.push_back(width == 1 ? p[0] : p[1]);
      positive.push_back(truth == 1);
    }
  }
  per_class(r);
  if (r.top_k) r.top_k_accuracy = ratio(in_top_k, rows);
  if (r.classes == 2) r.has_auc = true, r.auc = roc_auc(scores, positive);
  return r;
}

namespace {

// Class c as the tables name it: "2", or "2 virginica" when labels had names.
std::string class_label(const ClassificationReport& r, int64_t c) {
  if (c >= static_cast<int64_t>(r.class_names.size())) return std::to_string(c);
  return std::to_string(c) + " " + r.class_names[c];
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\', out += ch;
    else if (static_cast<unsigned char>(ch) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned char>(ch));
      out += esc;
    } else out += ch;
  }
  return out + "\"";
}

}  // namespace

std::string report_text(const ClassificationReport& r) {
  std::string s;
  size_t width = 8;  // the class column fits the longest name
  for (int64_t c = 0; c < r.classes; ++c) width = std::max(width, class_label(r, c).size());
  const int w = static_cast<int>(std::min<size_t>(width, 60));
  char line[256];
  std::snprintf(line, sizeof line, "%*s %10s %10s %10s %10s\n", w, "class", "precision", "recall", "f1-score", "support");
  s += line;
  for (int64_t c = 0; c < r.classes; ++c) {
    std::snprintf(line, sizeof line, "%*.*s %10.4f %10.4f %10.4f %10lld\n", w, w, class_label(r, c).c_str(),
                  r.precision[c], r.recall[c], r.f1[c], static_cast<long long>(r.support[c]));
    s += line;
  }
  std::snprintf(line, sizeof line, "accuracy %.4f - macro F1 %.4f - weighted F1 %.4f", r.accuracy, r.macro_f1,
                r.weighted_f1);
  s += line;
  if (r.top_k) std::snprintf(line, sizeof line, " - top-%d accuracy %.4f", r.top_k, r.top_k_accuracy), s += line;
  if (r.has_auc) std::snprintf(line, sizeof line, " - AUC %.4f", r.auc), s += line;
  s += "\nconfusion matrix (rows: true class, columns: predicted class";
  if (!r.class_names.empty()) {
    s += "; classes";
    for (int64_t c = 0; c < r.classes; ++c) s += " " + class_label(r, c);
  }
  s += "):\n";
  for (int64_t t = 0; t < r.classes; ++t) {
    for (int64_t c = 0; c < r.classes; ++c) {
      std::snprintf(line, sizeof line, "%s%7lld", c ? " " : "", static_cast<long long>(r.confusion[t * r.classes + c]));
      s += line;
    }
    s += "\n";
  }
  return s;
}

std::string report_json(const ClassificationReport& r) {
  auto list = [](const auto& v, const char* format) {
    std::string s = "[";
    char item[40];
    for (size_t i = 0; i < v.size(); ++i) {
      std::snprintf(item, sizeof item, format, v[i]);
      s += (i ? ", " : "") + std::string(item);
    }
    return s + "]";
  };
  std::string matrix = "[";
  for (int64_t t = 0; t < r.classes; ++t) {
    const std::vector<long long> row(r.confusion.begin() + t * r.classes, r.confusion.begin() + (t + 1) * r.classes);
    matrix += (t ? ", " : "") + list(row, "%lld");
  }
  matrix += "]";
  const std::vector<long long> support(r.support.begin(), r.support.end());
  std::string s = "{\"classes\": " + std::to_string(r.classes) + ", \"precision\": " + list(r.precision, "%.9g") +
                  ", \"recall\": " + list(r.recall, "%.9g") + ", \"f1\": " + list(r.f1, "%.9g") +
                  ", \"support\": " + list(support, "%lld") + ", \"confusion_matrix\": " + matrix;
  char tail[200];
  std::snprintf(tail, sizeof tail, ", \"macro_f1\": %.9g, \"weighted_f1\": %.9g", r.macro_f1, r.weighted_f1);
  s += tail;
  if (r.top_k) std::snprintf(tail, sizeof tail, ", \"top_%d_accuracy\": %.9g", r.top_k, r.top_k_accuracy), s += tail;
  if (r.has_auc) std::snprintf(tail, sizeof tail, ", \"auc\": %.9g", r.auc), s += tail;
  if (!r.class_names.empty()) {
    s += ", \"class_names\": [";
    for (size_t i = 0; i < r.class_names.size(); ++i) s += (i ? ", " : "") + json_string(r.class_names[i]);
    s += "]";
  }
  return s + "}";
}

}  // namespace lockstep
