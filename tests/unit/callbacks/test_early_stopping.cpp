// EarlyStopping as Keras': patience counts epochs without an improvement of
// more than min_delta; mode; start_from_epoch; best weights brought back on
// stopping; and state saved mid-run gives the uninterrupted decision.
#include <gtest/gtest.h>

#include <vector>

#include "core/callbacks/early_stopping.h"
#include "core/error.h"
#include "tests/unit/callbacks/callback_test_util.h"

namespace lockstep {
namespace {

using callbacktest::epoch;
using callbacktest::SmallRun;

EarlyStoppingSpec spec(int patience, float min_delta = 0, const char* monitor = "val_loss") {
  EarlyStoppingSpec s;
  s.set_patience(patience);
  s.set_min_delta(min_delta);
  s.set_monitor(monitor);
  return s;
}

// Feeds val_loss values (epochs 1, 2, ...); returns the epoch it stopped at (0: never).
int64_t stop_epoch(const EarlyStoppingSpec& s, const std::vector<double>& values, bool accuracy = false) {
  SmallRun run;
  EarlyStopping cb(s, Monitor(s.monitor(), s.mode(), true, "es"), *run.model, nullptr);
  cb.on_train_begin(*run.training);
  for (size_t i = 0; i < values.size() && !run.training->stop_requested(); ++i)
    cb.on_epoch_end(accuracy ? epoch(i + 1, 1.0, values[i]) : epoch(i + 1, values[i]));
  return cb.stopped_epoch();
}

TEST(EarlyStopping, PatienceCountsEpochsWithoutImprovement) {
  EXPECT_EQ(stop_epoch(spec(2), {1.0, 0.9, 0.95, 0.96, 0.97}), 4);
  EXPECT_EQ(stop_epoch(spec(2), {1.0, 0.9, 0.95, 0.8, 0.85, 0.86}), 6);
  EXPECT_EQ(stop_epoch(spec(0), {1.0, 1.1}), 2);  // Keras: patience 0 stops at the first non-improvement (not epoch 1)
  EXPECT_EQ(stop_epoch(spec(3), {1.0, 0.9, 0.8, 0.7}), 0);
}

TEST(EarlyStopping, MinDeltaAndMode) {
  // Improvements of 0.01 do not count with min_delta 0.02.
  EXPECT_EQ(stop_epoch(spec(1, 0.02f), {1.0, 0.99, 0.98, 0.97}), 2);
  EXPECT_EQ(stop_epoch(spec(1, 0.005f), {1.0, 0.99, 0.98, 0.97}), 0);
  // accuracy is maximised under mode auto.
  EXPECT_EQ(stop_epoch(spec(1, 0, "val_accuracy"), {0.5, 0.6, 0.55}, true), 3);
  EarlyStoppingSpec min_acc = spec(1, 0, "val_accuracy");
  min_acc.set_mode("min");
  EXPECT_EQ(stop_epoch(min_acc, {0.5, 0.6, 0.55}, true), 2);
}

TEST(EarlyStopping, StartFromEpochIgnoresTheFirstEpochs) {
  EarlyStoppingSpec s = spec(1);
  s.set_start_from_epoch(3);
  // Epochs 1-3 ignored (they would have stopped at 2); from epoch 4 on as usual.
  EXPECT_EQ(stop_epoch(s, {1.0, 2.0, 3.0, 4.0, 5.0}), 5);
}

TEST(EarlyStopping, RestoresTheBestEpochsWeightsWhenItStops) {
  SmallRun run;
  EarlyStoppingSpec s = spec(2);
  s.set_restore_best_weights(true);
  EarlyStopping cb(s, Monitor("val_loss", "auto", true, "es"), *run.model, nullptr);
  cb.on_train_begin(*run.training);
  ParameterStore& p = run.model->parameters();
  const std::vector<double> losses = {1.0, 0.5, 0.7, 0.8};
  for (size_t e = 0; e < losses.size(); ++e) {
    std::fill(p.trainable_values(), p.trainable_values() + p.trainable_count(), static_cast<float>(e + 1));
    std::fill(p.state_values(), p.state_values() + p.state_count(), static_cast<float>(10 * (e + 1)));
    cb.on_epoch_end(epoch(static_cast<int64_t>(e + 1), losses[e]));
  }
  ASSERT_EQ(cb.stopped_epoch(), 4);
  EXPECT_EQ(cb.best_epoch(), 2);
  for (size_t i = 0; i < p.trainable_count(); ++i) ASSERT_EQ(p.trainable_values()[i], 2.0f) << i;
  for (size_t i = 0; i < p.state_count(); ++i) ASSERT_EQ(p.state_values()[i], 20.0f) << i;
}

// Stopped after epoch 3 and resumed from its checkpoint state: the same
// epoch as without the interruption, and the same best weights.
TEST(EarlyStopping, StateSavedMidRunGivesTheUninterruptedDecision) {
  const std::vector<double> losses = {1.0, 0.6, 0.7, 0.65, 0.9, 0.95};
  EarlyStoppingSpec s = spec(3);
  s.set_restore_best_weights(true);
  SmallRun first;
  EarlyStopping before(s, Monitor("val_loss", "auto", true, "es"), *first.model, nullptr);
  before.on_train_begin(*first.training);
  for (int e = 1; e <= 3; ++e) before.on_epoch_end(epoch(e, losses[e - 1]));
  CheckpointContents saved;
  before.save_state(*saved.header.add_callbacks());
  std::vector<TensorRef> refs;
  before.collect_tensors(refs);
  for (const TensorRef& r : refs) {
    TensorData t;
    t.name = r.name, t.kind = r.kind, t.shape = r.shape;
    t.values.assign(r.data, r.data + numel(r.shape));
    saved.tensors.push_back(t);
  }
  SmallRun second;
  EarlyStopping after(s, Monitor("val_loss", "auto", true, "es"), *second.model, nullptr);
  after.restore_state(saved.header.callbacks(0));
  after.restore_tensors(saved);
  after.on_train_begin(*second.training);
  for (int e = 4; e <= 6 && !second.training->stop_requested(); ++e) after.on_epoch_end(epoch(e, losses[e - 1]));
  EXPECT_EQ(stop_epoch(s, losses), 5);
  EXPECT_EQ(after.stopped_epoch(), 5);
  EXPECT_EQ(after.best_epoch(), 2);
}

TEST(EarlyStopping, ConfigErrorsNameTheField) {
  TrainConfig c;
  c.mutable_callbacks()->mutable_early_stopping();  // monitor val_loss, but no validation data
  try {
    Monitor(c.callbacks().early_stopping().monitor(), "auto", false, "callbacks.early_stopping");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "callbacks.early_stopping.monitor");
    EXPECT_NE(e.message().find("needs validation data"), std::string::npos) << e.message();
    EXPECT_EQ(e.exit_code(), kExitInput);
  }
  EXPECT_THROW(Monitor("val_acc", "auto", true, "x"), Error);
  EXPECT_THROW(Monitor("loss", "maximum", true, "x"), Error);
}

}  // namespace
}  // namespace lockstep
