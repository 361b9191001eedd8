#include "core/layers/activation_functions.h"

#include "core/error.h"
#include "core/kernels/kernels.h"
#include "core/parallel.h"

namespace lockstep {

const std::vector<std::string>& known_activations() {
  static const std::vector<std::string> names = {"relu",    "tanh", "sigmoid",    "softmax",
                                                 "linear",  "elu",  "leaky_relu", "gelu"};
  return names;
}

ActivationFn parse_activation(const std::string& name, bool has_alpha, float alpha, const std::string& where) {
  ActivationFn f;
  if (name == "linear" || name.empty()) f.kind = ActivationKind::kLinear;
  else if (name == "relu") f.kind = ActivationKind::kRelu;
  else if (name == "tanh") f.kind = ActivationKind::kTanh;
  else if (name == "sigmoid") f.kind = ActivationKind::kSigmoid;
  else if (name == "softmax") f.kind = ActivationKind::kSoftmax;
  else if (name == "elu") f.kind = ActivationKind::kElu, f.alpha = 1.0f;
  else if (name == "leaky_relu") f.kind = ActivationKind::kLeakyRelu, f.alpha = 0.2f;
  else if (name == "gelu") f.kind = ActivationKind::kGelu;
  else {
    std::string known;
    for (const auto& k : known_activations()) known += (known.empty() ? "" : ", ") + k;
    throw_input_error(where, "unknown activation '" + name + "' (known: " + known + ")");
  }
  if (has_alpha) f.alpha = alpha;
  return f;
}

// Rows split over the compute threads: every element takes the same path
// (the kernels' blockwise) wherever a range starts, so the split changes no
// bit. The loops are in core/kernels/variant.inc, one copy per ISA path.
void activation_forward(const ActivationFn& f, const float* z, float* y, int64_t rows, int64_t cols) {
  const kernels::Table& k = kernels::table();
  parallel_ranges(rows, 1, [&](int64_t begin, int64_t end) {
    k.activation_forward(f, z + begin * cols, y + begin * cols, end - begin, cols);
  }, cols);
}

void activation_backward(const ActivationFn& f, const float* z, const float* y, const float* dy, float* dz,
                         int64_t rows, int64_t cols) {
  const kernels::Table& k = kernels::table();
  parallel_ranges(rows, 1, [&](int64_t begin, int64_t end) {
    const int64_t o = begin * cols;
    k.activation_backward(f, z ? z + o : nullptr, y ? y + o : nullptr, dy + o, dz + o, end - begin, cols);
  }, cols);
}

}  // namespace lockstep
