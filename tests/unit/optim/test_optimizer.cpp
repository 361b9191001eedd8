// Optimizers against Keras' update rules computed by hand in double, their
// Keras defaults, hyper-parameter checks, slots and exact resumption.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/optim/optimizer.h"
#include "core/threads.h"
#include "train.pb.h"

namespace lockstep {
namespace {

OptimizerSpec parse(const std::string& text) {
  OptimizerSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec)) << text;
  return spec;
}

// Three parameters, two steps with different gradients; the second step runs
// at another learning rate, as a schedule would, to show step() uses its lr.
const std::vector<float> kInitial = {1.0f, -2.0f, 0.5f};
const std::vector<float> kGrads[2] = {{0.5f, -1.0f, 0.25f}, {-0.3f, 0.7f, 0.1f}};

struct TwoSteps {
  std::unique_ptr<Optimizer> optimizer;
  std::vector<float> params;
};

TwoSteps run_two_steps(const std::string& spec_text, float lr0, float lr1) {
  TwoSteps run{make_optimizer(parse(spec_text), "optimizer"), kInitial};
  run.optimizer->reserve(run.params.size());
  run.optimizer->step(run.params.data(), kGrads[0].data(), run.params.size(), lr0);
  run.optimizer->step(run.params.data(), kGrads[1].data(), run.params.size(), lr1);
  EXPECT_EQ(run.optimizer->iterations(), 2);
  return run;
}

// Hand arithmetic starts from the float values the spec and arena hold, so
// only float rounding separates it from the optimizer.
double g(int step, int i) { return kGrads[step][i]; }
double p0(int i) { return kInitial[i]; }

void expect_close(const std::vector<float>& actual, const double (&expected)[3], const char* what) {
  ASSERT_EQ(actual.size(), 3u) << what;
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(actual[i], expected[i], 1e-6 * std::abs(expected[i]) + 1e-12)
        << what << "[" << i << "]";
  }
}

TEST(Optimizer, SgdPlainTwoSteps) {
  // Keras' default learning rate 0.01 on the first step.
  TwoSteps run = run_two_steps("sgd {}", 0.01f, 0.005f);
  const double lr[2] = {0.01f, 0.005f};
  double p[3] = {p0(0), p0(1), p0(2)};
  for (int s = 0; s < 2; ++s) {
    for (int i = 0; i < 3; ++i) p[i] -= lr[s] * g(s, i);
  }
  expect_close(run.params, p, "params");
  EXPECT_NEAR(run.params[0], 1.0 - 0.01 * 0.5 - 0.005 * -0.3, 1e-6);  // 0.9965
  EXPECT_TRUE(run.optimizer->slot_names().empty());
}

TEST(Optimizer, SgdMomentumTwoSteps) {
  TwoSteps run = run_two_steps("sgd { learning_rate: 0.1 momentum: 0.9 }", 0.1f, 0.05f);
  const double lr[2] = {0.1f, 0.05f}, mu = 0.9f;
  double p[3] = {p0(0), p0(1), p0(2)}, m[3] = {0, 0, 0};
  for (int s = 0; s < 2; ++s) {
    for (int i = 0; i < 3; ++i) {
      m[i] = mu * m[i] - lr[s] * g(s, i);
      p[i] += m[i];
    }
  }
  expect_close(run.params, p, "params");
  expect_close(run.optimizer->slot("momentum"), m, "momentum");
}

TEST(Optimizer, SgdNesterovTwoSteps) {
  TwoSteps run =
      run_two_steps("sgd { learning_rate: 0.1 momentum: 0.9 nesterov: true }", 0.1f, 0.05f);
  const double lr[2] = {0.1f, 0.05f}, mu = 0.9f;
  double p[3] = {p0(0), p0(1), p0(2)}, m[3] = {0, 0, 0};
  for (int s = 0; s < 2; ++s) {
    for (int i = 0; i < 3; ++i) {
      m[i] = mu * m[i] - lr[s] * g(s, i);
      p[i] += mu * m[i] - lr[s] * g(s, i);
    }
  }
  expect_close(run.params, p, "params");
  expect_close(run.optimizer->slot("momentum"), m, "momentum");
}

TEST(Optimizer, AdamTwoSteps) {
  // A large epsilon so that its place in the formula matters.
  TwoSteps run = run_two_steps("adam { learning_rate: 0.1 beta_1: 0.8 beta_2: 0.9 epsilon: 0.01 }",
                               0.1f, 0.05f);
  const double lr[2] = {0.1f, 0.05f}, b1 = 0.8f, b2 = 0.9f, eps = 0.01f;
  double p[3] = {p0(0), p0(1), p0(2)}, m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
  for (int s = 0; s < 2; ++s) {
    const int t = s + 1;
    const double alpha = lr[s] * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
    for (int i = 0; i < 3; ++i) {
      m[i] += (g(s, i) - m[i]) * (1 - b1);
      v[i] += (g(s, i) * g(s, i) - v[i]) * (1 - b2);
      p[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
    }
  }
  expect_close(run.params, p, "params");
  expect_close(run.optimizer->slot("m"), m, "m");
  expect_close(run.optimizer->slot("v"), v, "v");
}

TEST(Optimizer, AdamWTwoSteps) {
  TwoSteps run = run_two_steps(
      "adamw { learning_rate: 0.1 weight_decay: 0.2 beta_1: 0.8 beta_2: 0.9 epsilon: 0.01 }", 0.1f,
      0.05f);
  const double lr[2] = {0.1f, 0.05f}, wd = 0.2f, b1 = 0.8f, b2 = 0.9f, eps = 0.01f;
  double p[3] = {p0(0), p0(1), p0(2)}, m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
  for (int s = 0; s < 2; ++s) {
    const int t = s + 1;
    const double alpha = lr[s] * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
    for (int i = 0; i < 3; ++i) {
      p[i] -= p[i] * wd * lr[s];  // decoupled decay first, at this step's rate
      m[i] += (g(s, i) - m[i]) * (1 - b1);
      v[i] += (g(s, i) * g(s, i) - v[i]) * (1 - b2);
      p[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
    }
  }
  expect_close(run.params, p, "params");
  expect_close(run.optimizer->slot("m"), m, "m");
  expect_close(run.optimizer->slot("v"), v, "v");
}

// Keras RMSprop for every combination the tests below use.
struct RmsPropByHand {
  double p[3] = {p0(0), p0(1), p0(2)};
  double v[3] = {0, 0, 0}, mg[3] = {0, 0, 0}, mom[3] = {0, 0, 0};

  RmsPropByHand(const double (&lr)[2], double rho, double mu, double eps, bool centered) {
    for (int s = 0; s < 2; ++s) {
      for (int i = 0; i < 3; ++i) {
        v[i] = rho * v[i] + (1 - rho) * g(s, i) * g(s, i);
        double denom = v[i] + eps;
        if (centered) {
          mg[i] = rho * mg[i] + (1 - rho) * g(s, i);
          denom = v[i] - mg[i] * mg[i] + eps;
        }
        const double inc = lr[s] * g(s, i) / std::sqrt(denom);
        if (mu > 0) {
          mom[i] = mu * mom[i] + inc;
          p[i] -= mom[i];
        } else {
          p[i] -= inc;
        }
      }
    }
  }
};

TEST(Optimizer, RmsPropPlainTwoSteps) {
  TwoSteps run =
      run_two_steps("rmsprop { learning_rate: 0.01 rho: 0.8 epsilon: 0.001 }", 0.01f, 0.005f);
  const double lr[2] = {0.01f, 0.005f};
  const RmsPropByHand want(lr, 0.8f, 0.0, 0.001f, false);
  expect_close(run.params, want.p, "params");
  expect_close(run.optimizer->slot("velocity"), want.v, "velocity");
  EXPECT_EQ(run.optimizer->slot_names(), std::vector<std::string>{"velocity"});
}

TEST(Optimizer, RmsPropCenteredTwoSteps) {
  TwoSteps run = run_two_steps(
      "rmsprop { learning_rate: 0.01 rho: 0.8 epsilon: 0.001 centered: true }", 0.01f, 0.005f);
  const double lr[2] = {0.01f, 0.005f};
  const RmsPropByHand want(lr, 0.8f, 0.0, 0.001f, true);
  expect_close(run.params, want.p, "params");
  expect_close(run.optimizer->slot("velocity"), want.v, "velocity");
  expect_close(run.optimizer->slot("average_gradient"), want.mg, "average_gradient");
  EXPECT_EQ(run.optimizer->slot_names(),
            (std::vector<std::string>{"velocity", "average_gradient"}));
}

TEST(Optimizer, RmsPropMomentumTwoSteps) {
  TwoSteps run = run_two_steps(
      "rmsprop { learning_rate: 0.01 rho: 0.8 momentum: 0.5 epsilon: 0.001 }", 0.01f, 0.005f);
  const double lr[2] = {0.01f, 0.005f};
  const RmsPropByHand want(lr, 0.8f, 0.5f, 0.001f, false);
  expect_close(run.params, want.p, "params");
  expect_close(run.optimizer->slot("velocity"), want.v, "velocity");
  expect_close(run.optimizer->slot("momentum"), want.mom, "momentum");
  EXPECT_EQ(run.optimizer->slot_names(), (std::vector<std::string>{"velocity", "momentum"}));
}

TEST(Optimizer, RmsPropCenteredMomentumTwoSteps) {
  TwoSteps run = run_two_steps(
      "rmsprop { learning_rate: 0.01 rho: 0.8 momentum: 0.5 epsilon: 0.001 centered: true }", 0.01f,
      0.005f);
  const double lr[2] = {0.01f, 0.005f};
  const RmsPropByHand want(lr, 0.8f, 0.5f, 0.001f, true);
  expect_close(run.params, want.p, "params");
  expect_close(run.optimizer->slot("momentum"), want.mom, "momentum");
  EXPECT_EQ(run.optimizer->slot_names(),
            (std::vector<std::string>{"velocity", "average_gradient", "momentum"}));
}

// Runs a few steps with gradients from 1e-6 (where epsilon matters) to 1.
std::vector<float> run_steps(const OptimizerSpec& spec, int steps) {
  std::unique_ptr<Optimizer> optimizer = make_optimizer(spec, "optimizer");
  std::vector<float> params = {1.0f, -2.0f, 0.5f, 0.0f};
  const std::vector<float> grads = {1e-6f, -0.5f, 1.0f, -3e-5f};
  optimizer->reserve(params.size());
  for (int s = 0; s < steps; ++s) {
    optimizer->step(params.data(), grads.data(), params.size(), optimizer->base_learning_rate());
  }
  return params;
}

TEST(Optimizer, KerasDefaultsWhenFieldsAreUnset) {
  struct Case {
    const char* empty;
    const char* keras;  // the same spec with Keras' defaults written out
    const char* kind;
    float learning_rate;
  };
  const Case cases[] = {
      {"sgd {}", "sgd { learning_rate: 0.01 momentum: 0 nesterov: false }", "sgd", 0.01f},
      {"adam {}", "adam { learning_rate: 0.001 beta_1: 0.9 beta_2: 0.999 epsilon: 1e-7 }", "adam",
       0.001f},
      {"adamw {}",
       "adamw { learning_rate: 0.001 weight_decay: 0.004 beta_1: 0.9 beta_2: 0.999 epsilon: 1e-7 }",
       "adamw", 0.001f},
      {"rmsprop {}",
       "rmsprop { learning_rate: 0.001 rho: 0.9 momentum: 0 epsilon: 1e-7 centered: false }",
       "rmsprop", 0.001f},
      // No kind at all: Keras' compile() default, RMSprop.
      {"", "rmsprop { learning_rate: 0.001 rho: 0.9 momentum: 0 epsilon: 1e-7 centered: false }",
       "rmsprop", 0.001f},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string("spec: '") + c.empty + "'");
    std::unique_ptr<Optimizer> optimizer = make_optimizer(parse(c.empty), "optimizer");
    EXPECT_STREQ(optimizer->kind(), c.kind);
    EXPECT_EQ(optimizer->base_learning_rate(), c.learning_rate);
    EXPECT_EQ(optimizer->iterations(), 0);
    EXPECT_EQ(run_steps(parse(c.empty), 3), run_steps(parse(c.keras), 3));
  }
}

TEST(Optimizer, SlotNamesMatchTheSlotsThatExist) {
  struct Case {
    const char* spec;
    std::vector<std::string> names;
  };
  const Case cases[] = {
      {"sgd { momentum: 0 }", {}},
      {"sgd { momentum: 0 nesterov: true }", {}},
      {"sgd { momentum: 0.5 }", {"momentum"}},
      {"adam {}", {"m", "v"}},
      {"adamw {}", {"m", "v"}},
      {"rmsprop {}", {"velocity"}},
      {"rmsprop { centered: true momentum: 0.9 }", {"velocity", "average_gradient", "momentum"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec);
    std::unique_ptr<Optimizer> optimizer = make_optimizer(parse(c.spec), "optimizer");
    EXPECT_EQ(optimizer->slot_names(), c.names);
    optimizer->reserve(5);
    for (const std::string& name : c.names) {
      EXPECT_EQ(optimizer->slot(name), std::vector<float>(5, 0.0f)) << name;
    }
    try {
      optimizer->slot("nope");
      ADD_FAILURE() << "no error for an unknown slot";
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), kExitInput);
      EXPECT_NE(e.message().find("has no slot 'nope'"), std::string::npos) << e.what();
    }
  }
}

TEST(Optimizer, RejectsBadHyperParameters) {
  struct Case {
    const char* spec;
    const char* where;
    const char* what;
  };
  const Case cases[] = {
      {"sgd { learning_rate: 0 }", "optimizer.sgd.learning_rate", "must be > 0 and finite, got 0"},
      {"sgd { learning_rate: -0.1 }", "optimizer.sgd.learning_rate",
       "must be > 0 and finite, got -0.1"},
      {"sgd { learning_rate: nan }", "optimizer.sgd.learning_rate",
       "must be > 0 and finite, got nan"},
      {"sgd { learning_rate: inf }", "optimizer.sgd.learning_rate",
       "must be > 0 and finite, got inf"},
      {"sgd { momentum: 1.5 }", "optimizer.sgd.momentum", "must be in [0, 1), got 1.5"},
      {"sgd { momentum: 1 }", "optimizer.sgd.momentum", "must be in [0, 1), got 1"},
      {"sgd { momentum: -0.5 }", "optimizer.sgd.momentum", "must be in [0, 1), got -0.5"},
      {"adam { learning_rate: 0 }", "optimizer.adam.learning_rate",
       "must be > 0 and finite, got 0"},
      {"adam { beta_1: 1 }", "optimizer.adam.beta_1", "must be in [0, 1), got 1"},
      {"adam { beta_1: -0.1 }", "optimizer.adam.beta_1", "must be in [0, 1), got -0.1"},
      {"adam { beta_2: 1.5 }", "optimizer.adam.beta_2", "must be in [0, 1), got 1.5"},
      {"adam { epsilon: 0 }", "optimizer.adam.epsilon", "must be > 0 and finite, got 0"},
      {"adam { epsilon: -1e-07 }", "optimizer.adam.epsilon", "must be > 0 and finite, got -1e-07"},
      {"adamw { learning_rate: -1 }", "optimizer.adamw.learning_rate",
       "must be > 0 and finite, got -1"},
      {"adamw { weight_decay: -0.1 }", "optimizer.adamw.weight_decay",
       "must be >= 0 and finite, got -0.1"},
      {"adamw { weight_decay: inf }", "optimizer.adamw.weight_decay",
       "must be >= 0 and finite, got inf"},
      {"adamw { beta_1: 1 }", "optimizer.adamw.beta_1", "must be in [0, 1), got 1"},
      {"adamw { beta_2: 1 }", "optimizer.adamw.beta_2", "must be in [0, 1), got 1"},
      {"adamw { epsilon: 0 }", "optimizer.adamw.epsilon", "must be > 0 and finite, got 0"},
      {"rmsprop { learning_rate: 0 }", "optimizer.rmsprop.learning_rate",
       "must be > 0 and finite, got 0"},
      {"rmsprop { rho: 1 }", "optimizer.rmsprop.rho", "must be in [0, 1), got 1"},
      {"rmsprop { rho: nan }", "optimizer.rmsprop.rho", "must be in [0, 1), got nan"},
      {"rmsprop { momentum: 1 }", "optimizer.rmsprop.momentum", "must be in [0, 1), got 1"},
      {"rmsprop { epsilon: 0 }", "optimizer.rmsprop.epsilon", "must be > 0 and finite, got 0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec);
    try {
      make_optimizer(parse(c.spec), "optimizer");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), c.where);
      EXPECT_EQ(e.message(), c.what);
      EXPECT_EQ(e.exit_code(), kExitInput);
    }
  }
}

TEST(Optimizer, AcceptsBoundaryValues) {
  for (const char* spec :
       {"sgd { momentum: 0 }", "sgd { momentum: 0.999 }", "adam { beta_1: 0 beta_2: 0 }",
        "adamw { weight_decay: 0 }", "rmsprop { rho: 0 momentum: 0 }"}) {
    EXPECT_NO_THROW(make_optimizer(parse(spec), "optimizer")) << spec;
  }
}

TEST(Optimizer, StepChecksTheReservedCount) {
  for (const char* spec : {"sgd {}", "adam {}"}) {
    SCOPED_TRACE(spec);
    std::unique_ptr<Optimizer> optimizer = make_optimizer(parse(spec), "optimizer");
    std::vector<float> params(4, 1.0f), grads(4, 0.5f);
    EXPECT_THROW(optimizer->step(params.data(), grads.data(), 4, 0.1f), Error);  // no reserve()
    optimizer->reserve(3);
    try {
      optimizer->step(params.data(), grads.data(), 4, 0.1f);
      ADD_FAILURE() << "wrong count accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), kExitRuntime);
    }
    EXPECT_EQ(optimizer->iterations(), 0);
  }
  // A slot replaced with the wrong size (a bad checkpoint) is caught too.
  std::unique_ptr<Optimizer> adam = make_optimizer(parse("adam {}"), "optimizer");
  adam->reserve(4);
  adam->slot("v").resize(2);
  std::vector<float> params(4, 1.0f), grads(4, 0.5f);
  EXPECT_THROW(adam->step(params.data(), grads.data(), 4, 0.1f), Error);
}

TEST(Optimizer, NegativeIterationsAreRejected) {
  std::unique_ptr<Optimizer> optimizer = make_optimizer(parse("adam {}"), "optimizer");
  EXPECT_THROW(optimizer->set_iterations(-1), Error);
  optimizer->set_iterations(7);
  EXPECT_EQ(optimizer->iterations(), 7);
}

const char* const kEveryKind[] = {
    "sgd { learning_rate: 0.1 }",
    "sgd { learning_rate: 0.1 momentum: 0.9 }",
    "sgd { learning_rate: 0.1 momentum: 0.9 nesterov: true }",
    "adam { learning_rate: 0.01 }",
    "adamw { learning_rate: 0.01 weight_decay: 0.1 }",
    "rmsprop { learning_rate: 0.01 }",
    "rmsprop { learning_rate: 0.01 centered: true }",
    "rmsprop { learning_rate: 0.01 momentum: 0.5 }",
    "rmsprop { learning_rate: 0.01 centered: true momentum: 0.5 }",
};

std::vector<float> gradients(size_t count, int step) {
  std::vector<float> grads(count);
  for (size_t i = 0; i < count; ++i) grads[i] = static_cast<float>(std::sin(0.37 * i + step));
  return grads;
}

TEST(Optimizer, ResumedOptimizerContinuesBitForBit) {
  const size_t count = 1500;
  for (const char* spec : kEveryKind) {
    SCOPED_TRACE(spec);
    std::unique_ptr<Optimizer> original = make_optimizer(parse(spec), "optimizer");
    std::vector<float> params(count, 0.25f);
    original->reserve(count);
    std::vector<const float*> slot_addresses;
    for (const std::string& name : original->slot_names()) {
      slot_addresses.push_back(original->slot(name).data());
    }
    for (int s = 0; s < 3; ++s) {
      original->step(params.data(), gradients(count, s).data(), count, 0.01f * (s + 1));
    }

    // What a checkpoint holds: parameters, slots by name, iterations. The
    // fresh optimizer gets its state before reserve(), which must keep it.
    std::unique_ptr<Optimizer> resumed = make_optimizer(parse(spec), "optimizer");
    for (const std::string& name : original->slot_names()) {
      resumed->slot(name) = original->slot(name);
    }
    resumed->set_iterations(original->iterations());
    resumed->reserve(count);
    std::vector<float> resumed_params = params;

    const std::vector<float> grads = gradients(count, 3);
    original->step(params.data(), grads.data(), count, 0.02f);
    resumed->step(resumed_params.data(), grads.data(), count, 0.02f);
    EXPECT_EQ(resumed->iterations(), 4);
    EXPECT_EQ(std::memcmp(params.data(), resumed_params.data(), count * sizeof(float)), 0);
    for (const std::string& name : original->slot_names()) {
      EXPECT_EQ(original->slot(name), resumed->slot(name)) << name;
    }
    // Steps reuse the slots reserve() made.
    for (size_t k = 0; k < slot_addresses.size(); ++k) {
      EXPECT_EQ(original->slot(original->slot_names()[k]).data(), slot_addresses[k]);
    }
  }
}

TEST(Optimizer, AdamBiasCorrectionUsesRestoredIterations) {
  // Without set_iterations a resumed Adam would redo the first step's large
  // bias correction: the round trip above depends on it.
  const size_t count = 3;
  std::unique_ptr<Optimizer> a = make_optimizer(parse("adam {}"), "optimizer");
  std::unique_ptr<Optimizer> b = make_optimizer(parse("adam {}"), "optimizer");
  a->reserve(count);
  b->reserve(count);
  b->set_iterations(100);
  std::vector<float> pa(count, 1.0f), pb(count, 1.0f);
  const std::vector<float> grads = gradients(count, 0);
  a->step(pa.data(), grads.data(), count, 0.001f);
  b->step(pb.data(), grads.data(), count, 0.001f);
  EXPECT_NE(pa, pb);
  EXPECT_EQ(b->iterations(), 101);
}

TEST(Optimizer, LargeArenaMatchesElementByElement) {
  // A vectorised loop runs a SIMD body and a scalar remainder; every element,
  // wherever it sits, must get the update it gets on its own.
  const size_t count = 2 * 1024 + 37;
  for (const char* spec : kEveryKind) {
    SCOPED_TRACE(spec);
    std::unique_ptr<Optimizer> whole = make_optimizer(parse(spec), "optimizer");
    whole->reserve(count);
    std::vector<float> params(count);
    for (size_t i = 0; i < count; ++i) params[i] = static_cast<float>(std::cos(0.11 * i));
    const std::vector<float> initial = params;
    const std::vector<float> grads[2] = {gradients(count, 0), gradients(count, 1)};
    for (int s = 0; s < 2; ++s) whole->step(params.data(), grads[s].data(), count, 0.01f);
    for (size_t i = 0; i < count; ++i) {
      std::unique_ptr<Optimizer> single = make_optimizer(parse(spec), "optimizer");
      single->reserve(1);
      float p = initial[i];
      for (int s = 0; s < 2; ++s) single->step(&p, &grads[s][i], 1, 0.01f);
      // Relative to the terms, not the result, which may be near 0.
      ASSERT_NEAR(params[i], p, 1e-6 * (std::abs(p) + std::abs(initial[i]))) << "element " << i;
    }
  }
}

TEST(Optimizer, UpdateInRangesEqualsStepBitForBit) {
  // The sharded step of data-parallel training: each rank updates the ranges
  // whose gradient sums it computes, in whatever order they complete, and the
  // gradient sum need not live in the arena. Ranges of odd sizes at odd
  // offsets put every element once in a SIMD body and once in a remainder;
  // the result must be the same bits as one step() over the arena.
  const size_t count = 3 * 1024 + 45;
  const size_t kCuts[] = {0, 1, 2, 19, 64, 65, 700, 1029, 1030, 2048, 2049, 3000, count};
  for (const char* spec : kEveryKind) {
    SCOPED_TRACE(spec);
    std::unique_ptr<Optimizer> whole = make_optimizer(parse(spec), "optimizer");
    std::unique_ptr<Optimizer> ranged = make_optimizer(parse(spec), "optimizer");
    whole->reserve(count);
    ranged->reserve(count);
    std::vector<float> params(count);
    for (size_t i = 0; i < count; ++i) params[i] = static_cast<float>(std::cos(0.11 * i));
    std::vector<float> ranged_params = params;
    for (int s = 0; s < 3; ++s) {
      const float lr = 0.01f * static_cast<float>(s + 1);
      const std::vector<float> grads = gradients(count, s);
      whole->step(params.data(), grads.data(), count, lr);

      ranged->begin_step(count, lr);
      // Back to front, as buckets complete during backward; each range's
      // gradients copied out of the arena, as the reduction's sum is.
      for (size_t k = std::size(kCuts) - 1; k > 0; --k) {
        const size_t begin = kCuts[k - 1], end = kCuts[k];
        const std::vector<float> summed(grads.begin() + begin, grads.begin() + end);
        ranged->update(begin, end - begin, ranged_params.data() + begin, summed.data());
      }
      ranged->end_step();
      ASSERT_EQ(ranged->iterations(), whole->iterations());
      ASSERT_EQ(std::memcmp(params.data(), ranged_params.data(), count * sizeof(float)), 0) << "step " << s;
      for (const std::string& name : whole->slot_names()) {
        ASSERT_EQ(std::memcmp(whole->slot(name).data(), ranged->slot(name).data(), count * sizeof(float)), 0)
            << name << " step " << s;
      }
    }
  }
}

TEST(Optimizer, StepOnTwoThreadsEqualsOneThreadBitForBit) {
  // step() splits the arena over the compute threads (core/parallel.h); the
  // split must not show in the parameters or the slots. 300 K + 45 values:
  // several ranges, each with a SIMD body and a remainder.
  const size_t count = 300 * 1024 + 45;
  for (const char* spec : kEveryKind) {
    SCOPED_TRACE(spec);
    std::vector<float> params[2];
    std::unique_ptr<Optimizer> optimizers[2];
    for (int t = 0; t < 2; ++t) {
      set_compute_threads(t + 1);
      optimizers[t] = make_optimizer(parse(spec), "optimizer");
      optimizers[t]->reserve(count);
      params[t].resize(count);
      for (size_t i = 0; i < count; ++i) params[t][i] = static_cast<float>(std::cos(0.11 * i));
      for (int s = 0; s < 3; ++s) {
        const std::vector<float> grads = gradients(count, s);
        optimizers[t]->step(params[t].data(), grads.data(), count, 0.01f * static_cast<float>(s + 1));
      }
    }
    set_compute_threads(1);
    ASSERT_EQ(std::memcmp(params[0].data(), params[1].data(), count * sizeof(float)), 0);
    for (const std::string& name : optimizers[0]->slot_names())
      ASSERT_EQ(std::memcmp(optimizers[0]->slot(name).data(), optimizers[1]->slot(name).data(), count * sizeof(float)),
                0)
          << name;
  }
}

TEST(Optimizer, BeginStepChecksTheReservedCount) {
  std::unique_ptr<Optimizer> o = make_optimizer(parse("adam {}"), "optimizer");
  o->reserve(10);
  EXPECT_THROW(o->begin_step(11, 0.1f), Error);
}

}  // namespace
}  // namespace lockstep
