// Synchronized BatchNormalization over N ranks equals BatchNormalization of
// one process on the concatenated batch: forward output, input gradient and
// (after summing over ranks, as the gradient all-reduce does) gamma/beta
// gradients. Local batches are uneven and rank 0's is empty. Samples are
// vectors [C] and images [H, W, C] (statistics over N, H and W).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "core/layers/batch_norm.h"
#include "core/communicator.h"
#include "core/keras.h"
#include "core/model.h"
#include "core/random.h"
#include "distributed/local_communicator.h"

namespace lockstep {
Communicator& test_world();

namespace {

constexpr int64_t kChannels = 5;

// Rows of rank r: rank 0 none, then 1, 4, 7, ... (uneven on purpose).
int64_t rows_of(int rank) { return rank == 0 ? 0 : 3 * rank - 2; }
int64_t first_row_of(int rank) {
  int64_t first = 0;
  for (int r = 0; r < rank; ++r) first += rows_of(r);
  return first;
}

struct Batch {
  std::vector<float> x, dy;
  int64_t rows = 0;
};

// The whole global batch of samples with `width` values each (a multiple
// of kChannels, channels last); every rank can regenerate it.
Batch global_batch(int ranks, double mean, double scale, int64_t width = kChannels) {
  Batch b;
  b.rows = first_row_of(ranks);
  CounterRng rng(42);
  for (int64_t i = 0; i < b.rows * width; ++i) {
    const int64_t c = i % kChannels;
    b.x.push_back(static_cast<float>(mean + c + scale * (1 + 0.5 * c) * rng.next_normal()));
    b.dy.push_back(static_cast<float>(rng.next_normal()));
  }
  return b;
}

struct BatchNormUnderTest {
  explicit BatchNormUnderTest(int64_t max_rows, float momentum = 0.99f, const Shape& sample = {kChannels}) {
    BatchNormOptions options;
    options.momentum = momentum;
    options.synchronized = true;
    layer = std::make_unique<BatchNormLayer>("batch_normalization_1", options);
    layer->build(sample, store);
    store.finalize();
    store.initialize(3);
    layer->bind(store);
    layer->reserve(std::max<int64_t>(1, max_rows));
    float* gamma = store.value(store.find("batch_normalization_1/gamma"));
    float* beta = store.value(store.find("batch_normalization_1/beta"));
    for (int64_t c = 0; c < kChannels; ++c) gamma[c] = 0.5f + 0.25f * c, beta[c] = 0.1f * c - 0.2f;
  }
  std::vector<float> grad(const std::string& name) {
    float* g = store.grad(store.find(name));
    return std::vector<float>(g, g + kChannels);
  }
  ParameterStore store;
  std::unique_ptr<BatchNormLayer> layer;
};

struct Result {
  std::vector<float> y, dx, dgamma, dbeta;
};

Result run(BatchNormUnderTest& bn, const float* x, const float* dy, int64_t rows) {
  Result r;
  r.y.assign(static_cast<size_t>(std::max<int64_t>(1, rows) * bn.layer->input_width()), 0.0f);
  r.dx = r.y;
  StepContext ctx;
  ctx.training = true;
  bn.store.zero_grads();
  bn.layer->forward(ctx, x, r.y.data(), rows);
  bn.layer->backward(ctx, x, r.y.data(), dy, r.dx.data(), rows);
  r.dgamma = bn.grad("batch_normalization_1/gamma");
  r.dbeta = bn.grad("batch_normalization_1/beta");
  return r;
}

double max_abs_diff(const float* a, const float* b, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
  return worst;
}

class SyncBatchNormShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(SyncBatchNormShapes, EqualsOneProcessOnTheConcatenatedBatch) {
  Communicator& world = test_world();
  const Shape sample = GetParam();
  const int64_t width = numel(sample);
  const Batch all = global_batch(world.size(), 0.0, 1.0, width);
  const int64_t rows = rows_of(world.rank()), first = first_row_of(world.rank());

  BatchNormUnderTest reference(all.rows, 0.99f, sample);  // no communicator: local statistics
  const Result want = run(reference, all.x.data(), all.dy.data(), all.rows);

  BatchNormUnderTest synced(rows, 0.99f, sample);
  synced.layer->set_communicator(&world);
  const float* x = all.x.data() + first * width;
  const float* dy = all.dy.data() + first * width;
  Result got = run(synced, x, dy, rows);

  const float* want_y = want.y.data() + first * width;
  const float* want_dx = want.dx.data() + first * width;
  EXPECT_LE(max_abs_diff(got.y.data(), want_y, rows * width), 1e-5);
  EXPECT_LE(max_abs_diff(got.dx.data(), want_dx, rows * width), 1e-5);
  // Parameter gradients are local sums; the gradient all-reduce adds them.
  world.allreduce_sum(got.dgamma.data(), kChannels);
  world.allreduce_sum(got.dbeta.data(), kChannels);
  EXPECT_LE(max_abs_diff(got.dgamma.data(), want.dgamma.data(), kChannels), 1e-5);
  EXPECT_LE(max_abs_diff(got.dbeta.data(), want.dbeta.data(), kChannels), 1e-5);
  // Every rank moved its moving statistics identically, like the reference.
  for (const char* name : {"batch_normalization_1/moving_mean", "batch_normalization_1/moving_variance"}) {
    const float* a = synced.store.value(synced.store.find(name));
    const float* b = reference.store.value(reference.store.find(name));
    EXPECT_LE(max_abs_diff(a, b, kChannels), 1e-6) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(VectorsAndImages, SyncBatchNormShapes,
                         ::testing::Values(Shape{kChannels}, Shape{2, 3, kChannels}),
                         [](const auto& info) { return info.param.size() == 1 ? "Vectors" : "Images2x3"; });

TEST(SyncBatchNorm, HugeMeanTinySpreadGivesTheRightVariance) {
  Communicator& world = test_world();
  const Batch all = global_batch(world.size(), 1e4, 1e-2);
  const int64_t rows = rows_of(world.rank()), first = first_row_of(world.rank());
  BatchNormUnderTest synced(rows, /*momentum=*/0.0f);  // moving statistics = this batch's
  synced.layer->set_communicator(&world);
  run(synced, all.x.data() + first * kChannels, all.dy.data() + first * kChannels, rows);
  const float* variance = synced.store.value(synced.store.find("batch_normalization_1/moving_variance"));
  for (int64_t c = 0; c < kChannels; ++c) {
    long double sum = 0, sq = 0;
    for (int64_t i = 0; i < all.rows; ++i) sum += all.x[i * kChannels + c];
    const long double mean = sum / all.rows;
    for (int64_t i = 0; i < all.rows; ++i) sq += (all.x[i * kChannels + c] - mean) * (all.x[i * kChannels + c] - mean);
    const double exact = static_cast<double>(sq / all.rows);  // biased, as Keras
    EXPECT_NEAR(variance[c], exact, 1e-3 * exact) << "channel " << c;
  }
}

TEST(SyncBatchNorm, GroupsOfTwoNormalizeWithinTheirGroup) {
  Communicator& world = test_world();
  keras::Sequential spec({static_cast<int>(kChannels)});
  spec.add(keras::BatchNormalization().synchronized(true, 2).momentum(0.0f));
  Model model(spec.spec(), 1);
  model.connect(world);
  const int64_t rows = 3;
  model.reserve(rows);
  // Rank r holds rows filled with the value r: its group {2k, 2k+1} has mean
  // 2k + 0.5 (or 2k alone if the last group has one rank).
  std::vector<float> x(rows * kChannels, static_cast<float>(world.rank()));
  StepContext ctx;
  ctx.training = true;
  model.forward(ctx, x.data(), rows);
  const int group_first = world.rank() / 2 * 2;
  const bool pair = group_first + 1 < world.size();
  const float expected_mean = pair ? group_first + 0.5f : static_cast<float>(group_first);
  const float* moving_mean = model.parameters().value(model.parameters().find("batch_normalization_1/moving_mean"));
  for (int64_t c = 0; c < kChannels; ++c) EXPECT_FLOAT_EQ(moving_mean[c], expected_mean);
}

// Local statistics: each rank's moving statistics become those of the union
// of the ranks' data (equal weights): the mean of the means, and the mean of
// the variances plus the spread of the means. Synchronized layers are
// already the same everywhere and keep their bits.
TEST(SyncBatchNorm, UnifyStateMergesLocalMovingStatistics) {
  Communicator& world = test_world();
  keras::Sequential spec({static_cast<int>(kChannels)});
  spec.add(keras::BatchNormalization().synchronized(false).name("local"));
  spec.add(keras::BatchNormalization().synchronized(true).name("synced"));
  Model model(spec.spec(), 1);
  model.connect(world);
  ParameterStore& p = model.parameters();
  float* mean = p.value(p.find("local/moving_mean"));
  float* var = p.value(p.find("local/moving_variance"));
  float* synced_var = p.value(p.find("synced/moving_variance"));
  const int r = world.rank(), n = world.size();
  for (int64_t c = 0; c < kChannels; ++c) mean[c] = 1e4f + r + c, var[c] = 0.5f * (r + 1), synced_var[c] = 0.25f;
  model.unify_state(world);
  double mean_of_ranks = 0, spread = 0, var_of_ranks = 0;
  for (int k = 0; k < n; ++k) mean_of_ranks += k, var_of_ranks += 0.5 * (k + 1);
  mean_of_ranks /= n;
  for (int k = 0; k < n; ++k) spread += (k - mean_of_ranks) * (k - mean_of_ranks);
  for (int64_t c = 0; c < kChannels; ++c) {
    EXPECT_FLOAT_EQ(mean[c], static_cast<float>(1e4 + c + mean_of_ranks)) << c;
    EXPECT_FLOAT_EQ(var[c], static_cast<float>((var_of_ranks + spread) / n)) << c;
    EXPECT_EQ(synced_var[c], 0.25f);
  }
  // Once merged, merging again changes no bit.
  const std::vector<float> once(mean, mean + kChannels), once_var(var, var + kChannels);
  model.unify_state(world);
  EXPECT_EQ(std::vector<float>(mean, mean + kChannels), once);
  EXPECT_EQ(std::vector<float>(var, var + kChannels), once_var);
}

TEST(SyncBatchNorm, InferenceNeitherCommunicatesNorUpdates) {
  Communicator& world = test_world();
  BatchNormUnderTest synced(4);
  synced.layer->set_communicator(&world);
  // Only rank 0 runs inference: if it communicated, it would time out/hang.
  if (world.rank() == 0) {
    std::vector<float> x(4 * kChannels, 1.5f), y(x.size());
    const std::vector<float> before(synced.store.state_values(),
                                    synced.store.state_values() + synced.store.state_count());
    StepContext ctx;  // training = false
    synced.layer->forward(ctx, x.data(), y.data(), 4);
    const std::vector<float> after(synced.store.state_values(),
                                   synced.store.state_values() + synced.store.state_count());
    EXPECT_EQ(before, after);
  }
  world.barrier();
}

}  // namespace
}  // namespace lockstep
