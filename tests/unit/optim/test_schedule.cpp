// Learning-rate schedules at chosen steps, warm-up boundaries, and their
// validation.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "core/optim/optimizer.h"
#include "train.pb.h"

namespace lockstep {
namespace {

constexpr double kPi = 3.14159265358979323846;

ScheduleSpec parse(const std::string& text) {
  ScheduleSpec spec;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &spec)) << text;
  return spec;
}

float lr_at(const std::string& text, float base_lr, int64_t step) {
  return scheduled_learning_rate(parse(text), base_lr, step);
}

TEST(Schedule, NoKindAndConstantGiveTheBaseRate) {
  for (const char* spec : {"", "constant {}"}) {
    SCOPED_TRACE(spec);
    EXPECT_EQ(lr_at(spec, 0.1f, 0), 0.1f);
    EXPECT_EQ(lr_at(spec, 0.1f, 1), 0.1f);
    EXPECT_EQ(lr_at(spec, 0.1f, 1000000000000), 0.1f);
  }
}

TEST(Schedule, StepDecay) {
  const char* spec = "step { step_size: 10 gamma: 0.5 }";
  EXPECT_FLOAT_EQ(lr_at(spec, 0.2f, 0), 0.2f);
  EXPECT_FLOAT_EQ(lr_at(spec, 0.2f, 9), 0.2f);
  EXPECT_FLOAT_EQ(lr_at(spec, 0.2f, 10), 0.1f);
  EXPECT_FLOAT_EQ(lr_at(spec, 0.2f, 19), 0.1f);
  EXPECT_FLOAT_EQ(lr_at(spec, 0.2f, 20), 0.05f);
  EXPECT_FLOAT_EQ(lr_at(spec, 0.2f, 35), 0.025f);
  // Very late steps underflow to 0, never to NaN.
  EXPECT_EQ(lr_at("step { step_size: 1 gamma: 0.5 }", 0.2f, 1000000000000), 0.0f);
}

TEST(Schedule, StepDecayDefaults) {
  // step_size 1000, gamma 0.1
  EXPECT_FLOAT_EQ(lr_at("step {}", 0.2f, 999), 0.2f);
  EXPECT_FLOAT_EQ(lr_at("step {}", 0.2f, 1000), 0.02f);
  EXPECT_FLOAT_EQ(lr_at("step {}", 0.2f, 2500), 0.002f);
}

TEST(Schedule, CosineDecayAsKeras) {
  const char* spec = "cosine { decay_steps: 100 alpha: 0.1 }";
  // base * ((1 - alpha) * 0.5 * (1 + cos(pi * t)) + alpha), t = s / 100
  EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 0), 1.0f);
  EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 25), 0.9 * 0.5 * (1 + std::cos(kPi / 4)) + 0.1);  // 0.8682
  EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 50), 0.55f);
  EXPECT_FLOAT_EQ(lr_at(spec, 2.0f, 75), 2 * (0.9 * 0.5 * (1 + std::cos(kPi * 0.75)) + 0.1));
  // Held at alpha * base once decay_steps have passed.
  EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 100), 0.1f);
  EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 5000), 0.1f);
}

TEST(Schedule, CosineDecayDefaults) {
  // decay_steps 1000, alpha 0
  EXPECT_FLOAT_EQ(lr_at("cosine {}", 0.4f, 500), 0.2f);
  EXPECT_NEAR(lr_at("cosine {}", 0.4f, 1000), 0.0f, 1e-12);
}

TEST(Schedule, WarmupRampsToTheStartingRate) {
  for (const char* spec : {"warmup_steps: 4", "constant {} warmup_steps: 4"}) {
    SCOPED_TRACE(spec);
    EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 0), 0.25f);
    EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 1), 0.5f);
    EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 2), 0.75f);
    EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 3), 1.0f);  // last warm-up step
    EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 4), 1.0f);
    EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 100), 1.0f);
  }
  EXPECT_FLOAT_EQ(lr_at("warmup_steps: 1", 0.3f, 0), 0.3f);
}

TEST(Schedule, StepDecayCountsStepsAfterWarmup) {
  const char* spec = "step { step_size: 2 gamma: 0.5 } warmup_steps: 4";
  EXPECT_FLOAT_EQ(lr_at(spec, 0.8f, 0), 0.2f);
  EXPECT_FLOAT_EQ(lr_at(spec, 0.8f, 3), 0.8f);
  EXPECT_FLOAT_EQ(lr_at(spec, 0.8f, 4), 0.8f);  // s = 0
  EXPECT_FLOAT_EQ(lr_at(spec, 0.8f, 5), 0.8f);  // s = 1
  EXPECT_FLOAT_EQ(lr_at(spec, 0.8f, 6), 0.4f);  // s = 2: first drop
  EXPECT_FLOAT_EQ(lr_at(spec, 0.8f, 8), 0.2f);
}

TEST(Schedule, CosineDecayCountsStepsAfterWarmup) {
  const char* spec = "cosine { decay_steps: 10 } warmup_steps: 5";
  EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 0), 0.2f);
  EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 4), 1.0f);
  EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 5), 1.0f);   // s = 0
  EXPECT_FLOAT_EQ(lr_at(spec, 1.0f, 10), 0.5f);  // s = 5: half way
  EXPECT_NEAR(lr_at(spec, 1.0f, 15), 0.0f, 1e-12);
  EXPECT_NEAR(lr_at(spec, 1.0f, 20), 0.0f, 1e-12);
}

TEST(Schedule, RejectsBadSpecs) {
  struct Case {
    const char* spec;
    const char* where;
    const char* what;
  };
  const Case cases[] = {
      {"warmup_steps: -1", "lr_schedule.warmup_steps", "must be >= 0, got -1"},
      {"step { step_size: 0 }", "lr_schedule.step.step_size", "must be > 0, got 0"},
      {"step { step_size: -5 }", "lr_schedule.step.step_size", "must be > 0, got -5"},
      {"step { gamma: 0 }", "lr_schedule.step.gamma", "must be > 0 and finite, got 0"},
      {"step { gamma: -0.5 }", "lr_schedule.step.gamma", "must be > 0 and finite, got -0.5"},
      {"step { gamma: inf }", "lr_schedule.step.gamma", "must be > 0 and finite, got inf"},
      {"step { gamma: nan }", "lr_schedule.step.gamma", "must be > 0 and finite, got nan"},
      {"cosine { decay_steps: 0 }", "lr_schedule.cosine.decay_steps", "must be > 0, got 0"},
      {"cosine { alpha: -0.1 }", "lr_schedule.cosine.alpha", "must be in [0, 1], got -0.1"},
      {"cosine { alpha: 1.5 }", "lr_schedule.cosine.alpha", "must be in [0, 1], got 1.5"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.spec);
    try {
      validate_schedule(parse(c.spec), "lr_schedule");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), c.where);
      EXPECT_EQ(e.message(), c.what);
      EXPECT_EQ(e.exit_code(), kExitInput);
    }
    // Never a division by zero at run time either.
    EXPECT_THROW(lr_at(c.spec, 0.1f, 3), Error);
  }
}

TEST(Schedule, AcceptsValidSpecs) {
  for (const char* spec :
       {"", "constant {}", "step {}", "cosine {}", "warmup_steps: 0",
        "cosine { decay_steps: 1 alpha: 1 } warmup_steps: 3", "step { step_size: 1 gamma: 2 }"}) {
    EXPECT_NO_THROW(validate_schedule(parse(spec), "lr_schedule")) << spec;
  }
}

TEST(Schedule, NegativeStepIsAnError) {
  try {
    lr_at("", 0.1f, -1);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitRuntime);
  }
}

}  // namespace
}  // namespace lockstep
