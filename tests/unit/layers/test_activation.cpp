// Activation layers: gradients against finite differences for every
// activation, and with an explicit alpha.
#include <gtest/gtest.h>

#include <string>

#include "core/keras.h"
#include "tests/unit/gradcheck_util.h"

namespace lockstep {
namespace {

using gradtest::LayerHarness;

class ActivationGradient : public ::testing::TestWithParam<std::string> {};

TEST_P(ActivationGradient, MatchesFiniteDifferences) {
  // Inputs have |x| >= 0.2, so relu, leaky_relu and elu are differentiable.
  LayerHarness h(keras::Activation(GetParam()), {6}, 4);
  h.check("Activation(" + GetParam() + ")");
}

INSTANTIATE_TEST_SUITE_P(Every, ActivationGradient,
                         ::testing::Values("relu", "tanh", "sigmoid", "softmax", "linear", "elu", "leaky_relu",
                                           "gelu"));

TEST(Activation, GradientWithExplicitAlpha) {
  LayerHarness leaky(keras::Activation("leaky_relu").alpha(0.3f), {5}, 3);
  leaky.check("leaky_relu(alpha=0.3)");
  LayerHarness elu(keras::Activation("elu").alpha(0.5f), {5}, 3);
  elu.check("elu(alpha=0.5)");
}

}  // namespace
}  // namespace lockstep
