// What load_dataset does for every source: no source, limit, scale and
// shift, final validation, LOCAL shards; and split_off_tail.
#include <string>

#include "tests/unit/data/test_data_util.h"

namespace lockstep::datatest {
namespace {

class DataCommon : public ::testing::Test {
 protected:
  // 10 rows: features (i, 10 * i), label i % 3.
  void SetUp() override {
    std::string text = "a,b,label\n";
    for (int i = 0; i < 10; ++i)
      text += std::to_string(i) + "," + std::to_string(10 * i) + "," + std::to_string(i % 3) + "\n";
    spec_ = "csv { path: '" + dir_.write("ten.csv", text) + "' }";
  }
  TempDir dir_;
  std::string spec_;
};

TEST_F(DataCommon, NoSourceNamesTheFieldAndTheChoices) {
  expect_input_error([] { load_dataset(DataSpec(), "validation_data", {}); }, "validation_data",
                     "set one of synthetic, csv, idx, npy");
}

TEST_F(DataCommon, LimitKeepsTheFirstSamples) {
  const Dataset d = load(spec_ + " limit: 4");
  EXPECT_EQ(d.num_samples, 4);
  EXPECT_EQ(d.labels, (std::vector<float>{0, 1, 2, 0}));
  EXPECT_EQ(load(spec_ + " limit: 100").num_samples, 10);
  expect_input_error([&] { load(spec_ + " limit: -1"); }, "data.limit", "must be >= 0");
}

TEST_F(DataCommon, ScaleAndShiftApplyToFeaturesOnly) {
  const Dataset d = load(spec_ + " limit: 2 scale: 0.5 shift: -1");
  EXPECT_EQ(d.features, (std::vector<float>{-1, -1, -0.5f, 4}));
  EXPECT_EQ(d.labels, (std::vector<float>{0, 1}));
}

TEST_F(DataCommon, ScaleThatOverflowsIsAnError) {
  expect_input_error([&] { load(spec_ + " scale: 1e38"); }, "ten.csv", "Inf in feature");
}

TEST_F(DataCommon, ShardsAreContiguousEvenAndCoverTheWhole) {
  for (int parts = 1; parts <= 4; ++parts) {
    expect_shards_cover(spec_, parts);
    expect_shards_cover(spec_ + " limit: 7", parts);
  }
}

TEST_F(DataCommon, ShardsAgreeOnTheInferredNumberOfClasses) {
  // Class 2 only appears in the last row: the first part must still know of it.
  const std::string spec = "csv { path: '" + dir_.write("late.csv", "1,0\n2,1\n3,0\n4,2\n") + "' } shard_mode: LOCAL";
  EXPECT_EQ(load(spec, {0, 2}).num_classes, 3);
  EXPECT_EQ(load(spec, {1, 2}).num_classes, 3);
}

TEST_F(DataCommon, GlobalModeIgnoresShardOptions) { EXPECT_EQ(load(spec_, {1, 3}).num_samples, 10); }

TEST_F(DataCommon, BadShardOptions) {
  expect_input_error([&] { load(spec_ + " shard_mode: LOCAL", {3, 3}); }, "data", "does not exist");
  const std::string two = spec_ + " shard_mode: LOCAL limit: 2";
  expect_input_error([&] { load(two, {2, 3}); }, "ten.csv", "no samples in part 2 of 3");
}

TEST_F(DataCommon, SplitOffTailTakesTheEndAsKerasDoes) {
  Dataset d = load(spec_);
  const Dataset tail = split_off_tail(d, 0.25);  // int(10 * 0.75) = 7
  EXPECT_EQ(d.num_samples, 7);
  EXPECT_EQ(tail.num_samples, 3);
  EXPECT_EQ(d.features.size(), 14u);
  EXPECT_EQ(d.labels.size(), 7u);
  EXPECT_EQ(tail.features, (std::vector<float>{7, 70, 8, 80, 9, 90}));
  EXPECT_EQ(tail.labels, (std::vector<float>{1, 2, 0}));
  EXPECT_EQ(tail.num_classes, 3);
  EXPECT_EQ(tail.sample_shape, d.sample_shape);
  EXPECT_EQ(tail.source, d.source);
}

TEST_F(DataCommon, SplitOffTailTakesAFloatFractionAsWritten) {
  // validation_split is a float: 0.2f must still leave 800 of 1000, as in Keras.
  Dataset d = load("synthetic {}");
  const Dataset tail = split_off_tail(d, static_cast<double>(0.2f));
  EXPECT_EQ(d.num_samples, 800);
  EXPECT_EQ(tail.num_samples, 200);
}

TEST_F(DataCommon, SplitOffTailErrors) {
  Dataset d = load(spec_);
  expect_input_error([&] { split_off_tail(d, 0.0); }, "validation_split", "must be in (0, 1)");
  expect_input_error([&] { split_off_tail(d, 1.0); }, "validation_split", "must be in (0, 1)");
  expect_input_error([&] { split_off_tail(d, 1e-20); }, "validation_split", "leaves no validation samples");
  expect_input_error([&] { split_off_tail(d, 0.95); }, "validation_split", "leaves no training samples");
  EXPECT_EQ(d.num_samples, 10);  // unchanged after errors
}

}  // namespace
}  // namespace lockstep::datatest
