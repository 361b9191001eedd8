// Keras SGD: plain, with momentum, or Nesterov momentum.
#include "core/error.h"
#include "core/kernels/kernels.h"
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

  // The loops: core/kernels/variant.inc.
  void update(size_t begin, size_t count, float* params, const float* grads) override {
    const kernels::Table& k = kernels::table();
    if (momentum_ == 0.0f) k.sgd(params, grads, count, lr_);
    else k.sgd_momentum(params, grads, slot_data(0) + begin, count, lr_, momentum_, nesterov_);
  }

 private:
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
