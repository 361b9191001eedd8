// Keras' gradient processing around the update rules: clipnorm per
// variable, global_clipnorm, clipvalue, and gradient accumulation (the
// average of k batches' gradients in one update, the schedule and Adam's
// bias correction counting updates), by range and whole, with the
// accumulator as a slot that survives a checkpoint.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/optim/optimizer.h"
#include "train.pb.h"

namespace lockstep {
namespace {

std::unique_ptr<Optimizer> make(const std::string& text) {
  OptimizerSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec)) << text;
  return make_optimizer(spec, "optimizer");
}

// Two variables: [0, 2) and [2, 5).
std::vector<VariableRange> two_variables() { return {{0, 2}, {2, 3}}; }

TEST(GradientClipping, ClipnormRescalesEachVariableToTheNorm) {
  auto opt = make("sgd { learning_rate: 1 } clipnorm: 1");
  opt->reserve(5);
  opt->set_variables(two_variables());
  EXPECT_FALSE(opt->updates_by_range());
  std::vector<float> p(5, 0.0f);
  const std::vector<float> g = {3, 4, 0.1f, 0.2f, 0.2f};  // norms 5 and 0.3
  opt->step(p.data(), g.data(), 5, 1.0f);
  EXPECT_FLOAT_EQ(p[0], -0.6f);
  EXPECT_FLOAT_EQ(p[1], -0.8f);
  EXPECT_FLOAT_EQ(p[2], -0.1f);  // under the norm: unchanged
  EXPECT_FLOAT_EQ(p[4], -0.2f);
  EXPECT_FLOAT_EQ(g[0], 3.0f);  // the caller's gradient is left as it was
}

TEST(GradientClipping, GlobalClipnormRescalesAllTogether) {
  auto opt = make("sgd { learning_rate: 1 } global_clipnorm: 2.5");
  opt->reserve(5);
  opt->set_variables(two_variables());
  std::vector<float> p(5, 0.0f);
  const std::vector<float> g = {3, 4, 0, 0, 0};  // global norm 5
  opt->step(p.data(), g.data(), 5, 1.0f);
  EXPECT_FLOAT_EQ(p[0], -1.5f);
  EXPECT_FLOAT_EQ(p[1], -2.0f);
}

TEST(GradientClipping, ClipvalueClampsEachElementAndWorksByRange) {
  auto opt = make("sgd { learning_rate: 1 } clipvalue: 0.5");
  opt->reserve(4);
  EXPECT_TRUE(opt->updates_by_range());
  std::vector<float> p(4, 0.0f);
  const std::vector<float> g = {-2, 0.25f, 0.5f, 7};
  opt->begin_step(4, 1.0f);
  opt->update(2, 2, p.data() + 2, g.data() + 2);
  opt->update(0, 2, p.data(), g.data());
  opt->end_step();
  EXPECT_EQ(p, (std::vector<float>{0.5f, -0.25f, -0.5f, -0.5f}));
}

TEST(GradientClipping, BadValuesAreInputErrors) {
  OptimizerSpec spec;
  spec.set_clipnorm(-1);
  EXPECT_THROW(make_optimizer(spec, "optimizer"), Error);
  spec.set_clipnorm(1);
  spec.set_global_clipnorm(1);
  try {
    make_optimizer(spec, "optimizer");
    FAIL() << "clipnorm with global_clipnorm accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer.global_clipnorm"), std::string::npos) << e.what();
  }
  OptimizerSpec accumulate;
  accumulate.set_gradient_accumulation_steps(0);
  EXPECT_THROW(make_optimizer(accumulate, "optimizer"), Error);
}

// k batches accumulated give the update of their mean gradient, and Adam's
// bias correction counts that update once.
TEST(GradientAccumulation, UpdatesWithTheMeanEveryKBatches) {
  for (const std::string rule : {"sgd { learning_rate: 0.1 momentum: 0.9 }", "adam { learning_rate: 0.1 }"}) {
    auto accumulating = make(rule + " gradient_accumulation_steps: 3");
    auto plain = make(rule);
    std::vector<float> p(2, 1.0f), q(2, 1.0f);
    accumulating->reserve(2);
    plain->reserve(2);
    const std::vector<float> g[3] = {{1, -2}, {0.5f, 4}, {-0.3f, 1}};
    for (int b = 0; b < 3; ++b) {
      accumulating->step(p.data(), g[b].data(), 2, 0.1f);
      if (b < 2) {
        EXPECT_EQ(p, (std::vector<float>{1.0f, 1.0f})) << rule << ": updated before the k-th batch";
      }
    }
    const std::vector<float> mean = {(1 + 0.5f + -0.3f) / 3, (-2 + 4 + 1.0f) / 3};
    plain->step(q.data(), mean.data(), 2, 0.1f);
    EXPECT_NEAR(p[0], q[0], 1e-6) << rule;
    EXPECT_NEAR(p[1], q[1], 1e-6) << rule;
    EXPECT_EQ(accumulating->iterations(), 3);
  }
}

// The sharded path (ranges) gives the same bits as the whole step, and the
// accumulator is a slot: restored mid-accumulation, the run continues as if
// uninterrupted.
TEST(GradientAccumulation, RangesAndResumeGiveTheSameBits) {
  const std::string rule = "adam { learning_rate: 0.01 } gradient_accumulation_steps: 2 clipvalue: 0.8";
  const int n = 6;
  auto grads = [&](int b) {
    std::vector<float> g(n);
    for (int i = 0; i < n; ++i) g[i] = std::sin(1.0f + b * 7 + i);
    return g;
  };
  auto whole = make(rule), ranged = make(rule);
  whole->reserve(n);
  ranged->reserve(n);
  std::vector<float> p(n, 0.5f), q(n, 0.5f);
  for (int b = 0; b < 5; ++b) {
    const std::vector<float> g = grads(b);
    whole->step(p.data(), g.data(), n, 0.01f);
    ranged->begin_step(n, 0.01f);
    ranged->update(3, 3, q.data() + 3, g.data() + 3);
    ranged->update(0, 3, q.data(), g.data());
    ranged->end_step();
  }
  EXPECT_EQ(p, q);
  EXPECT_NE(whole->slot("accumulated_gradients"), std::vector<float>(n, 0.0f));  // 5 batches: one pending

  auto resumed = make(rule);
  for (const std::string& name : whole->slot_names()) resumed->slot(name) = whole->slot(name);
  resumed->set_iterations(whole->iterations());
  resumed->reserve(n);
  std::vector<float> r = p;
  for (int b = 5; b < 9; ++b) {
    const std::vector<float> g = grads(b);
    whole->step(p.data(), g.data(), n, 0.01f);
    resumed->step(r.data(), g.data(), n, 0.01f);
  }
  EXPECT_EQ(p, r);
}

}  // namespace
}  // namespace lockstep
