// ReduceLROnPlateau as Keras': after `patience` epochs without improvement
// the rate is multiplied by `factor`, not below min_lr, then `cooldown`
// epochs pass before counting again; with a schedule it scales the
// schedule; its state (including the factor) survives a checkpoint.
#include <gtest/gtest.h>

#include <vector>

#include "core/callbacks/reduce_lr_on_plateau.h"
#include "tests/unit/callbacks/callback_test_util.h"

namespace lockstep {
namespace {

using callbacktest::epoch;
using callbacktest::SmallRun;

ReduceLROnPlateauSpec spec(int patience, float factor, int cooldown = 0, float min_lr = 0) {
  ReduceLROnPlateauSpec s;
  s.set_patience(patience);
  s.set_factor(factor);
  s.set_cooldown(cooldown);
  s.set_min_lr(min_lr);
  return s;
}

// The learning rate after each epoch's end, for val_loss values.
std::vector<float> rates(SmallRun& run, ReduceLROnPlateau& cb, const std::vector<double>& values, int first = 1) {
  std::vector<float> out;
  for (size_t i = 0; i < values.size(); ++i) {
    cb.on_epoch_end(epoch(static_cast<int64_t>(first + i), values[i]));
    out.push_back(run.training->current_learning_rate());
  }
  return out;
}

TEST(ReduceLROnPlateau, PatienceFactorCooldownAndMinLr) {
  SmallRun run;  // SGD at 0.1
  ReduceLROnPlateau cb(spec(2, 0.5f, 1, 0.03f), Monitor("val_loss", "auto", true, "r"), nullptr);
  cb.on_train_begin(*run.training);
  // e1 best; e2, e3 no better -> 0.05 (cooldown 1); e4 ends the cooldown
  // and counts (Keras checks the cooldown after decrementing it); e5 ->
  // 0.03 (min_lr, not 0.025); then no reduction below min_lr.
  const std::vector<float> got = rates(run, cb, {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0});
  const std::vector<float> want = {0.1f, 0.1f, 0.05f, 0.05f, 0.03f, 0.03f, 0.03f, 0.03f, 0.03f};
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(got[i], want[i]) << "after epoch " << i + 1;
}

TEST(ReduceLROnPlateau, AnImprovementBiggerThanMinDeltaResetsTheWait) {
  SmallRun run;
  ReduceLROnPlateauSpec s = spec(2, 0.1f);
  s.set_min_delta(0.01f);
  ReduceLROnPlateau cb(s, Monitor("val_loss", "auto", true, "r"), nullptr);
  cb.on_train_begin(*run.training);
  // 0.995 is not better than 1.0 by 0.01; 0.95 is.
  const std::vector<float> got = rates(run, cb, {1.0, 0.995, 0.95, 0.96, 0.97});
  EXPECT_FLOAT_EQ(got[2], 0.1f);
  EXPECT_FLOAT_EQ(got[3], 0.1f);
  EXPECT_FLOAT_EQ(got[4], 0.01f);
}

TEST(ReduceLROnPlateau, ScalesTheSchedule) {
  SmallRun run;
  run.config.mutable_lr_schedule()->mutable_step()->set_step_size(1000);
  ReduceLROnPlateau cb(spec(1, 0.5f), Monitor("val_loss", "auto", true, "r"), nullptr);
  cb.on_train_begin(*run.training);
  rates(run, cb, {1.0, 1.0});
  EXPECT_DOUBLE_EQ(run.training->learning_rate_factor(), 0.5);
}

TEST(ReduceLROnPlateau, StateSavedMidRunGivesTheUninterruptedRates) {
  const std::vector<double> values = {1.0, 0.9, 0.95, 0.96, 0.97, 0.99, 0.98, 0.97};
  const ReduceLROnPlateauSpec s = spec(2, 0.5f, 1);
  SmallRun straight;
  ReduceLROnPlateau a(s, Monitor("val_loss", "auto", true, "r"), nullptr);
  a.on_train_begin(*straight.training);
  const std::vector<float> want = rates(straight, a, values);

  SmallRun first;
  ReduceLROnPlateau b(s, Monitor("val_loss", "auto", true, "r"), nullptr);
  b.on_train_begin(*first.training);
  rates(first, b, {values.begin(), values.begin() + 4});
  CallbackState state;
  b.save_state(state);
  SmallRun second;
  ReduceLROnPlateau c(s, Monitor("val_loss", "auto", true, "r"), nullptr);
  c.restore_state(state);
  c.on_train_begin(*second.training);
  const std::vector<float> rest = rates(second, c, {values.begin() + 4, values.end()}, 5);
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_FLOAT_EQ(rest[i], want[4 + i]) << "after epoch " << 5 + i;
  EXPECT_LT(want.back(), 0.1f);  // the sequence did reduce
}

}  // namespace
}  // namespace lockstep
