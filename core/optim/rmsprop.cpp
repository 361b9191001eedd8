// Keras RMSprop: plain or centered, with or without momentum. Unlike
// PyTorch, epsilon is added under the square root.
#include <cmath>

#include "core/error.h"
#include "core/kernels/kernels.h"
#include "core/optim/optimizer_common.h"
#include "train.pb.h"

namespace lockstep {
namespace detail {
namespace {

class RmsPropOptimizer final : public SlottedOptimizer {
 public:
  explicit RmsPropOptimizer(const RmsProp& spec)
      : SlottedOptimizer(slot_names_for(spec)),
        learning_rate_(spec.learning_rate()),
        rho_(spec.rho()),
        momentum_(spec.momentum()),
        epsilon_(spec.epsilon()),
        centered_(spec.centered()) {}

  const char* kind() const override { return "rmsprop"; }
  float base_learning_rate() const override { return learning_rate_; }

  void begin_step(size_t count, float lr) override {
    check_step(count);
    c_ = Coefficients{lr, rho_, static_cast<float>(1.0 - rho_), momentum_, epsilon_};
  }

  void update(size_t begin, size_t count, float* p, const float* grads) override {
    // Slots in the order slot_names_for() lists them.
    size_t next = 0;
    float* velocity = slot_data(next++) + begin;
    float* average = centered_ ? slot_data(next++) + begin : nullptr;
    float* momentum = momentum_ > 0.0f ? slot_data(next++) + begin : nullptr;
    // The loop: core/kernels/variant.inc, one instantiation per variant.
    kernels::table().rmsprop(p, grads, velocity, average, momentum, count, c_);
  }

 private:
  using Coefficients = kernels::RmsPropCoefficients;

  static std::vector<std::string> slot_names_for(const RmsProp& spec) {
    std::vector<std::string> names{"velocity"};
    if (spec.centered()) names.push_back("average_gradient");
    if (spec.momentum() > 0.0f) names.push_back("momentum");
    return names;
  }

  float learning_rate_;
  float rho_;
  float momentum_;
  float epsilon_;
  bool centered_;
  Coefficients c_{};  // of the step begun last
};

}  // namespace

std::unique_ptr<Optimizer> make_rmsprop(const RmsProp& spec, const std::string& field) {
  check_learning_rate(spec.learning_rate(), field + ".learning_rate");
  check_fraction(spec.rho(), field + ".rho");
  check_fraction(spec.momentum(), field + ".momentum");
  check_positive(spec.epsilon(), field + ".epsilon");
  return std::make_unique<RmsPropOptimizer>(spec);
}

}  // namespace detail
}  // namespace lockstep
