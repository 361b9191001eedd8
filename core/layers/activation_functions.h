// Element-wise (and row-wise softmax) activation functions shared by the
// Activation layer and Dense(activation=...).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lockstep {

enum class ActivationKind { kLinear, kRelu, kTanh, kSigmoid, kSoftmax, kElu, kLeakyRelu, kGelu };

struct ActivationFn {
  ActivationKind kind = ActivationKind::kLinear;
  float alpha = 0;  // leaky_relu slope, elu scale

  bool is_linear() const { return kind == ActivationKind::kLinear; }
};

// Parses a Keras activation name; `has_alpha`/`alpha` override the default
// (leaky_relu 0.2 as keras.activations.leaky_relu, elu 1.0). Unknown names
// throw an input error at `where` listing the known ones.
ActivationFn parse_activation(const std::string& name, bool has_alpha, float alpha, const std::string& where);
const std::vector<std::string>& known_activations();

// y = f(z) over rows x cols (softmax is per row). z and y may alias.
void activation_forward(const ActivationFn& f, const float* z, float* y, int64_t rows, int64_t cols);
// dz = f'(z) * dy (softmax: the Jacobian-vector product per row). z is the
// input, y the output of the forward call; dz may alias dy.
void activation_backward(const ActivationFn& f, const float* z, const float* y, const float* dy, float* dz,
                         int64_t rows, int64_t cols);

}  // namespace lockstep
