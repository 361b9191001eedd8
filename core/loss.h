// Losses over a batch of model outputs. The gradient is written already
// scaled by 1 / (rows in the GLOBAL batch), so summing gradients over ranks
// gives the gradient of the global mean loss.
// With a final softmax (categorical cross-entropies) or sigmoid (binary
// cross-entropy) the gradient is taken with respect to the activation's
// input, (p - y) / m, which is exact and stable; the model then skips that
// activation's backward.
#pragma once

#include <cstdint>
#include <string>

#include "core/layers/activation_functions.h"
#include "core/data/dataset.h"

namespace lockstep {

enum class LossKind { kCategoricalCrossentropy, kSparseCategoricalCrossentropy, kBinaryCrossentropy, kMeanSquaredError };

struct LossTotals {
  double loss_sum = 0;  // sum of per-sample losses
  double correct = 0;   // correctly classified samples (fractional for multi-label)
};

class Loss {
 public:
  // Throws an input error naming `field` for unknown names.
  Loss(const std::string& name, const std::string& field);
  LossKind kind() const { return kind_; }
  const std::string& name() const { return name_; }
  // True if this loss can fuse with a final activation of that kind.
  bool fuses_with(ActivationKind final_activation) const;
  void set_fused(bool fused) { fused_ = fused; }
  bool fused() const { return fused_; }
  // Keras' label_smoothing for the cross-entropies; `field` names it in errors.
  void set_label_smoothing(float smoothing, const std::string& field);
  float label_smoothing() const { return smoothing_; }
  // Checks that labels of `data` fit a model output of `output_width` units.
  void check_labels(const Dataset& data, int64_t output_width, const std::string& where) const;

  // Adds the batch's loss and accuracy to totals; if grad is not null writes
  // dL/d(output) (or d(pre-activation) when fused) times grad_scale.
  // labels: rows x label_width as in Dataset. weights (may be null: all 1)
  // multiply each row's loss and gradient (Keras' sample and class weights;
  // the loss stays a sum over rows, so the mean is over the batch's rows).
  void evaluate(const float* output, int64_t rows, int64_t width, const float* labels, int64_t label_width,
                LabelKind label_kind, float grad_scale, float* grad, LossTotals& totals,
                const float* weights = nullptr) const;

 private:
  LossKind kind_;
  std::string name_;
  bool fused_ = false;
  float smoothing_ = 0;
};

const char* known_losses();

}  // namespace lockstep
