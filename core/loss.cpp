#include "core/loss.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace lockstep {
namespace {

// Keras clips probabilities to [epsilon, 1 - epsilon] before taking logs.
constexpr float kProbEpsilon = 1e-7f;

int64_t argmax(const float* v, int64_t n) { return std::max_element(v, v + n) - v; }

// The target of output unit c for one sample, whatever the label encoding.
inline float target(const float* label, int64_t label_width, LabelKind kind, int64_t c) {
  if (kind == LabelKind::kClassIndex && label_width == 1) return static_cast<int64_t>(label[0]) == c ? 1.0f : 0.0f;
  return label[c];
}

inline int64_t label_class(const float* label, int64_t label_width, LabelKind kind) {
  if (kind == LabelKind::kClassIndex) return static_cast<int64_t>(label[0]);
  return argmax(label, label_width);
}

}  // namespace

const char* known_losses() {
  return "categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy, mean_squared_error";
}

Loss::Loss(const std::string& name, const std::string& field) : name_(name) {
  if (name == "categorical_crossentropy") kind_ = LossKind::kCategoricalCrossentropy;
  else if (name == "sparse_categorical_crossentropy") kind_ = LossKind::kSparseCategoricalCrossentropy;
  else if (name == "binary_crossentropy") kind_ = LossKind::kBinaryCrossentropy;
  else if (name == "mean_squared_error" || name == "mse") kind_ = LossKind::kMeanSquaredError, name_ = "mean_squared_error";
  else throw_input_error(field, "unknown loss '" + name + "' (known: " + known_losses() + ")");
}

bool Loss::fuses_with(ActivationKind a) const {
  switch (kind_) {
    case LossKind::kCategoricalCrossentropy:
    case LossKind::kSparseCategoricalCrossentropy: return a == ActivationKind::kSoftmax;
    case LossKind::kBinaryCrossentropy: return a == ActivationKind::kSigmoid;
    default: return false;
  }
}

void Loss::set_label_smoothing(float smoothing, const std::string& field) {
  if (!(smoothing >= 0.0f && smoothing <= 1.0f))
    throw_input_error(field, "must be in [0, 1], got " + std::to_string(smoothing));
  if (smoothing > 0 && kind_ == LossKind::kMeanSquaredError)
    throw_input_error(field, "applies to the cross-entropies, not to " + name_);
  smoothing_ = smoothing;
}

void Loss::check_labels(const Dataset& data, int64_t width, const std::string& where) const {
  const bool categorical =
      kind_ == LossKind::kCategoricalCrossentropy || kind_ == LossKind::kSparseCategoricalCrossentropy;
  if (data.label_kind == LabelKind::kClassIndex) {
    if (kind_ == LossKind::kBinaryCrossentropy && width == 1) {
      if (data.num_classes > 2)
        throw_input_error(where, "binary_crossentropy needs labels 0/1, the data has " +
                                     std::to_string(data.num_classes) + " classes");
      return;
    }
    if (data.num_classes > width)
      throw_input_error(where, "the data has " + std::to_string(data.num_classes) + " classes but the model outputs " +
                                   std::to_string(width) + " units (set the last Dense to " +
                                   std::to_string(data.num_classes) + " units)");
    return;
  }
  if (data.label_width != width)
    throw_input_error(where, "labels have " + std::to_string(data.label_width) + " columns but the model outputs " +
                                 std::to_string(width) + " units");
  if (categorical && data.label_kind == LabelKind::kValue)
    throw_input_error(where, name_ + " needs class labels, the data has regression targets");
}

void Loss::evaluate(const float* out, int64_t rows, int64_t width, const float* labels, int64_t label_width,
                    LabelKind label_kind, float grad_scale, float* grad, LossTotals& totals,
                    const float* weights) const {
  // Label smoothing: t * keep + spread (Keras: spread = s / K, or s / 2 for binary).
  const float keep = 1.0f - smoothing_;
  const float spread = kind_ == LossKind::kBinaryCrossentropy ? 0.5f * smoothing_
                                                              : smoothing_ / static_cast<float>(width);
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = out + r * width;
    const float* y = labels + r * label_width;
    float* g = grad ? grad + r * width : nullptr;
    const float weight = weights ? weights[r] : 1.0f;
    const float scale = grad_scale * weight;
    double loss = 0;
    switch (kind_) {
      case LossKind::kCategoricalCrossentropy:
      case LossKind::kSparseCategoricalCrossentropy: {
        for (int64_t c = 0; c < width; ++c) {
          const float t = target(y, label_width, label_kind, c) * keep + spread;
          const float pc = std::clamp(p[c], kProbEpsilon, 1.0f - kProbEpsilon);
          if (t != 0.0f) loss -= t * std::log(pc);
          if (g) g[c] = fused_ ? (p[c] - t) * scale : -t / pc * scale;
        }
        totals.correct += argmax(p, width) == label_class(y, label_width, label_kind) ? 1.0 : 0.0;
        break;
      }
      case LossKind::kBinaryCrossentropy: {
        double hits = 0;
        for (int64_t c = 0; c < width; ++c) {
          const float label = width == 1 ? y[0] : target(y, label_width, label_kind, c);
          const float t = label * keep + spread;
          const float pc = std::clamp(p[c], kProbEpsilon, 1.0f - kProbEpsilon);
          loss -= (t * std::log(pc) + (1.0f - t) * std::log(1.0f - pc)) / width;
          if (g) g[c] = (fused_ ? (p[c] - t) : (pc - t) / (pc * (1.0f - pc))) * scale / width;
          hits += (p[c] > 0.5f) == (label >= 0.5f);  // Keras binary_accuracy: y_pred > 0.5
        }
        totals.correct += hits / width;
        break;
      }
      case LossKind::kMeanSquaredError: {
        for (int64_t c = 0; c < width; ++c) {
          const float d = p[c] - target(y, label_width, label_kind, c);
          loss += static_cast<double>(d) * d / width;
          if (g) g[c] = 2.0f * d / width * scale;
        }
        if (label_kind != LabelKind::kValue && width > 1)
          totals.correct += argmax(p, width) == label_class(y, label_width, label_kind) ? 1.0 : 0.0;
        break;
      }
    }
    totals.loss_sum += weight * loss;
  }
}

}  // namespace lockstep
