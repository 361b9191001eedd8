// Keras SGD: plain, with momentum, or Nesterov momentum.
#include "core/error.h"
#include "core/optim/optimizer_common.h"
#include "train.pb.h"

namespace lockstep {
namespace detail {
namespace {

class SgdOptimizer final : public SlottedOptimizer {
 public:
  SgdOptimizer(float learning_rate, float momentum, bool nesterov)
      // The momentum slot exists only when it is used, as in Keras.
      : SlottedOptimizer(momentum > 0.0f ? std::vector<std::string>{"momentum"}
                                         : std::vector<std::string>{}),
        learning_rate_(learning_rate),
        momentum_(momentum),
        nesterov_(nesterov) {}

  const char* kind() const override { return "sgd"; }
  float base_learning_rate() const override { return learning_rate_; }

  void begin_step(size_t count, float lr) override {
    check_step(count);
    lr_ = lr;
  }

  void update(size_t begin, size_t count, float* params, const float* grads) override {
    if (momentum_ == 0.0f) {
      plain(params, grads, count, lr_);
    } else if (nesterov_) {
      with_momentum<true>(params, grads, slot_data(0) + begin, count, lr_, momentum_);
    } else {
      with_momentum<false>(params, grads, slot_data(0) + begin, count, lr_, momentum_);
    }
  }

 private:
  // One pass over the arena each; __restrict parameters let GCC vectorise
  // without a run-time overlap check.
  static void plain(float* __restrict p, const float* __restrict g, size_t count, float lr) {
    for (size_t i = 0; i < count; ++i) p[i] -= lr * g[i];
  }

  template <bool kNesterov>
  static void with_momentum(float* __restrict p, const float* __restrict g,
                            float* __restrict velocity, size_t count, float lr, float mu) {
    for (size_t i = 0; i < count; ++i) {
      const float m = mu * velocity[i] - lr * g[i];
      velocity[i] = m;
      if constexpr (kNesterov) {
        p[i] += mu * m - lr * g[i];
      } else {
        p[i] += m;
      }
    }
  }

  float learning_rate_;
  float momentum_;
  bool nesterov_;
  float lr_ = 0;  // of the step begun last
};

}  // namespace

std::unique_ptr<Optimizer> make_sgd(const Sgd& spec, const std::string& field) {
  check_learning_rate(spec.learning_rate(), field + ".learning_rate");
  check_fraction(spec.momentum(), field + ".momentum");
  return std::make_unique<SgdOptimizer>(spec.learning_rate(), spec.momentum(), spec.nesterov());
}

}  // namespace detail
}  // namespace lockstep
