// Keras Adam, and AdamW (Adam after a decoupled weight decay p -= p*wd*lr).
#include <cmath>

#include "core/error.h"
#include "core/kernels/kernels.h"
#include "core/optim/optimizer_common.h"
#include "train.pb.h"

namespace lockstep {
namespace detail {
namespace {

struct AdamParams {
  float learning_rate;
  float beta_1;
  float beta_2;
  float epsilon;
  float weight_decay;  // 0 for Adam
};

class AdamOptimizer final : public SlottedOptimizer {
 public:
  AdamOptimizer(const char* kind, const AdamParams& hp)
      : SlottedOptimizer({"m", "v"}), kind_(kind), hp_(hp) {}

  const char* kind() const override { return kind_; }
  float base_learning_rate() const override { return hp_.learning_rate; }

  void begin_step(size_t count, float lr) override {
    check_step(count);
    // Bias correction folded into the step size, as Keras does; the powers
    // in double, since beta_2^t loses digits in float for large t.
    const double t = static_cast<double>(iterations_ + 1);
    const double beta_1 = hp_.beta_1, beta_2 = hp_.beta_2;
    const float alpha =
        static_cast<float>(lr * std::sqrt(1.0 - std::pow(beta_2, t)) / (1.0 - std::pow(beta_1, t)));
    c_ = Coefficients{alpha, static_cast<float>(1.0 - beta_1), static_cast<float>(1.0 - beta_2), hp_.epsilon,
                      hp_.weight_decay * lr};
  }

  // The loop: core/kernels/variant.inc (plain Adam skips the decay term
  // outright: p - p*0 is not p for inf).
  void update(size_t begin, size_t count, float* params, const float* grads) override {
    kernels::table().adam(params, grads, slot_data(0) + begin, slot_data(1) + begin, count, c_,
                          hp_.weight_decay != 0.0f);
  }

 private:
  using Coefficients = kernels::AdamCoefficients;

  const char* kind_;
  AdamParams hp_;
  Coefficients c_{};  // of the step begun last
};

void check_adam(const AdamParams& hp, const std::string& field) {
  check_learning_rate(hp.learning_rate, field + ".learning_rate");
  check_fraction(hp.beta_1, field + ".beta_1");
  check_fraction(hp.beta_2, field + ".beta_2");
  check_positive(hp.epsilon, field + ".epsilon");
}

}  // namespace

std::unique_ptr<Optimizer> make_adam(const Adam& spec, const std::string& field) {
  const AdamParams hp{spec.learning_rate(), spec.beta_1(), spec.beta_2(), spec.epsilon(), 0.0f};
  check_adam(hp, field);
  return std::make_unique<AdamOptimizer>("adam", hp);
}

std::unique_ptr<Optimizer> make_adamw(const AdamW& spec, const std::string& field) {
  const AdamParams hp{spec.learning_rate(), spec.beta_1(), spec.beta_2(), spec.epsilon(),
                      spec.weight_decay()};
  check_adam(hp, field);
  check_non_negative(hp.weight_decay, field + ".weight_decay");
  return std::make_unique<AdamOptimizer>("adamw", hp);
}

}  // namespace detail
}  // namespace lockstep
