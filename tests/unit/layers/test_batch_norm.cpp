// BatchNormalization with Keras semantics, single process: the training
// forward against the formula (biased variance) computed in double, the
// moving-average update, inference from the moving statistics (which changes
// nothing), Keras defaults and names, numerical robustness, empty local
// batches, gradients against finite differences (batch sizes 1 to 8, every
// center/scale combination, image inputs), and golden values from PyTorch
// (BatchNorm1d, and BatchNorm2d on [N, H, W, C] images).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "core/layers/batch_norm.h"
#include "core/keras.h"
#include "core/model.h"
#include "tests/unit/gradcheck_util.h"
#include "train.pb.h"
#include "tests/unit/layers/golden.h"

namespace lockstep {
namespace {

using gradtest::LayerHarness;
using gradtest::uniform_values;

float* param(LayerHarness& h, const std::string& suffix) {
  const int id = h.params().find(h.layer().name() + "/" + suffix);
  return id < 0 ? nullptr : h.params().value(id);
}

void set_values(float* dst, const std::vector<float>& v) { std::copy(v.begin(), v.end(), dst); }

struct Reference {
  std::vector<double> mean, var, y;  // var is biased (1/m)
};

// The Keras formula in double over the float inputs: statistics per channel
// (last axis) over every other axis.
Reference bn_reference(const std::vector<float>& x, int64_t C, const float* gamma, const float* beta, double eps) {
  const int64_t m = static_cast<int64_t>(x.size()) / C;
  Reference r{std::vector<double>(C, 0.0), std::vector<double>(C, 0.0), std::vector<double>(x.size())};
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < C; ++c) r.mean[c] += x[i * C + c];
  for (int64_t c = 0; c < C; ++c) r.mean[c] /= m;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < C; ++c) r.var[c] += (x[i * C + c] - r.mean[c]) * (x[i * C + c] - r.mean[c]);
  for (int64_t c = 0; c < C; ++c) r.var[c] /= m;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t c = 0; c < C; ++c)
      r.y[i * C + c] = (gamma ? gamma[c] : 1.0) * (x[i * C + c] - r.mean[c]) / std::sqrt(r.var[c] + eps) +
                       (beta ? beta[c] : 0.0);
  return r;
}

// Per-channel offsets and scales so channels differ.
std::vector<float> channel_data(int64_t rows, int64_t C, uint64_t seed) {
  std::vector<float> x = uniform_values(rows * C, seed, -1, 1);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < C; ++c) x[i * C + c] = x[i * C + c] * (0.5f + c) + 2.0f * c - 1.0f;
  return x;
}

TEST(BatchNormalization, TrainingForwardIsTheFormulaWithBiasedVariance) {
  for (const Shape& shape : {Shape{4}, Shape{2, 2, 4}}) {
    const int64_t rows = 6, C = 4;
    LayerHarness h(keras::BatchNormalization(), shape, rows);
    set_values(param(h, "gamma"), {1.5f, 0.5f, -0.7f, 2.0f});
    set_values(param(h, "beta"), {0.1f, -0.2f, 0.3f, 1.0f});
    h.x() = channel_data(rows * numel(shape) / C, C, 5);
    h.objective();
    const Reference ref = bn_reference(h.x(), C, param(h, "gamma"), param(h, "beta"), 0.001);
    for (size_t i = 0; i < ref.y.size(); ++i)
      EXPECT_NEAR(h.y()[i], ref.y[i], 2e-6 * std::max(1.0, std::fabs(ref.y[i]))) << shape_string(shape) << " " << i;
  }
}

TEST(BatchNormalization, BatchOfOneGivesBeta) {
  LayerHarness h(keras::BatchNormalization(), {3}, 1);
  set_values(param(h, "beta"), {0.25f, -1.0f, 4.0f});
  h.objective();
  EXPECT_EQ(h.y(), (std::vector<float>{0.25f, -1.0f, 4.0f}));
}

TEST(BatchNormalization, MovingStatisticsAfterOneAndTwoSteps) {
  for (float momentum : {0.99f, 0.9f, 0.0f}) {
    const int64_t rows = 5, C = 3;
    LayerHarness h(keras::BatchNormalization().momentum(momentum), {C}, rows);
    std::vector<double> moving_mean(C, 0.0), moving_var(C, 1.0);  // Keras' initial zeros / ones
    for (int step = 0; step < 2; ++step) {
      h.x() = channel_data(rows, C, 40 + step);
      h.objective();
      const Reference ref = bn_reference(h.x(), C, nullptr, nullptr, 0.001);
      for (int64_t c = 0; c < C; ++c) {
        moving_mean[c] = momentum * moving_mean[c] + (1.0 - momentum) * ref.mean[c];
        moving_var[c] = momentum * moving_var[c] + (1.0 - momentum) * ref.var[c];  // biased, no Bessel
        const std::string what = "momentum " + std::to_string(momentum) + " step " + std::to_string(step + 1) +
                                 " channel " + std::to_string(c);
        EXPECT_NEAR(param(h, "moving_mean")[c], moving_mean[c], 1e-6 * std::max(1.0, std::fabs(moving_mean[c])))
            << what;
        EXPECT_NEAR(param(h, "moving_variance")[c], moving_var[c], 1e-6 * std::max(1.0, moving_var[c])) << what;
      }
    }
  }
}

TEST(BatchNormalization, BackwardDoesNotMoveTheStatistics) {
  LayerHarness h(keras::BatchNormalization(), {3}, 4);
  std::vector<double> unused;
  h.analytic(&unused);  // one forward: one update
  const std::vector<float> mean(param(h, "moving_mean"), param(h, "moving_mean") + 3);
  const std::vector<float> var(param(h, "moving_variance"), param(h, "moving_variance") + 3);
  std::vector<float> dx(h.x().size());
  h.layer().backward(h.ctx(), h.x().data(), h.y().data(), h.w().data(), dx.data(), h.rows());
  EXPECT_EQ(std::vector<float>(param(h, "moving_mean"), param(h, "moving_mean") + 3), mean);
  EXPECT_EQ(std::vector<float>(param(h, "moving_variance"), param(h, "moving_variance") + 3), var);
}

TEST(BatchNormalization, InferenceUsesTheMovingStatistics) {
  const int64_t rows = 4, C = 3;
  LayerHarness h(keras::BatchNormalization(), {C}, rows);
  set_values(param(h, "gamma"), {2.0f, 0.5f, -1.0f});
  set_values(param(h, "beta"), {0.5f, 0.0f, -0.25f});
  set_values(param(h, "moving_mean"), {1.0f, -2.0f, 0.5f});
  set_values(param(h, "moving_variance"), {4.0f, 0.25f, 9.0f});
  h.ctx().training = false;
  h.x() = channel_data(rows, C, 9);
  h.objective();
  const float mm[] = {1.0f, -2.0f, 0.5f}, mv[] = {4.0f, 0.25f, 9.0f};
  const float gamma[] = {2.0f, 0.5f, -1.0f}, beta[] = {0.5f, 0.0f, -0.25f};
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < C; ++c) {
      const double expected = gamma[c] * (h.x()[i * C + c] - mm[c]) / std::sqrt(mv[c] + 0.001) + beta[c];
      EXPECT_NEAR(h.y()[i * C + c], expected, 1e-5 * std::max(1.0, std::fabs(expected))) << i << "," << c;
    }
  // Per sample: one row alone gives the same output as inside the batch.
  std::vector<float> y_batch = h.y(), one(C);
  h.layer().forward(h.ctx(), h.x().data() + 2 * C, one.data(), 1);
  for (int64_t c = 0; c < C; ++c) EXPECT_EQ(one[c], y_batch[2 * C + c]);
}

std::vector<float> arena(const float* data, size_t n) { return std::vector<float>(data, data + n); }

TEST(BatchNormalization, InferenceChangesNothing) {
  keras::Sequential s({6});
  s.add(keras::Dense(8))
      .add(keras::BatchNormalization())
      .add(keras::Activation("tanh"))
      .add(keras::Dropout(0.5))
      .add(keras::Dense(3))
      .add(keras::BatchNormalization())
      .add(keras::Activation("softmax"));
  Model model(s.spec(), 5);
  const int64_t rows = 7;
  model.reserve(rows);
  ParameterStore& p = model.parameters();
  // Moving statistics away from their initial values: a few training steps.
  StepContext train;
  train.training = true;
  const std::vector<float> x = uniform_values(rows * 6, 3, -2, 2);
  for (int step = 0; step < 3; ++step) model.forward(train, x.data(), rows);
  const auto values = arena(p.trainable_values(), p.trainable_count());
  const auto grads = arena(p.trainable_grads(), p.trainable_count());
  const auto state = arena(p.state_values(), p.state_count());
  ASSERT_NE(state, arena(Model(s.spec(), 5).parameters().state_values(), p.state_count()));

  StepContext infer;  // training = false
  const auto first = arena(model.forward(infer, x.data(), rows), rows * 3);
  const auto second = arena(model.forward(infer, x.data(), rows), rows * 3);
  EXPECT_EQ(std::memcmp(first.data(), second.data(), first.size() * sizeof(float)), 0) << "output not repeatable";
  EXPECT_EQ(std::memcmp(values.data(), p.trainable_values(), values.size() * sizeof(float)), 0) << "parameters";
  EXPECT_EQ(std::memcmp(grads.data(), p.trainable_grads(), grads.size() * sizeof(float)), 0) << "gradients";
  EXPECT_EQ(std::memcmp(state.data(), p.state_values(), state.size() * sizeof(float)), 0) << "moving statistics";
  // Dropout is the identity at inference: a mask-free reference gives the
  // same output (a model without Dropout, same parameters by name).
  keras::Sequential no_dropout({6});
  no_dropout.add(keras::Dense(8))
      .add(keras::BatchNormalization())
      .add(keras::Activation("tanh"))
      .add(keras::Dense(3))
      .add(keras::BatchNormalization())
      .add(keras::Activation("softmax"));
  Model reference(no_dropout.spec(), 5);
  reference.reserve(rows);
  std::copy(p.trainable_values(), p.trainable_values() + p.trainable_count(), reference.parameters().trainable_values());
  std::copy(p.state_values(), p.state_values() + p.state_count(), reference.parameters().state_values());
  EXPECT_EQ(arena(reference.forward(infer, x.data(), rows), rows * 3), first);
}

TEST(BatchNormalization, KerasDefaultsFromAnEmptyProto) {
  const lockstep::BatchNormalization proto;  // the schema carries Keras' defaults
  EXPECT_EQ(proto.axis(), -1);
  EXPECT_FLOAT_EQ(proto.momentum(), 0.99f);
  EXPECT_FLOAT_EQ(proto.epsilon(), 0.001f);
  EXPECT_TRUE(proto.center());
  EXPECT_TRUE(proto.scale());
  EXPECT_EQ(proto.beta_initializer(), "zeros");
  EXPECT_EQ(proto.gamma_initializer(), "ones");
  EXPECT_EQ(proto.moving_mean_initializer(), "zeros");
  EXPECT_EQ(proto.moving_variance_initializer(), "ones");
  // Unset: the layer follows the run's distributed.sync_batch_norm (true).
  EXPECT_FALSE(proto.has_synchronized());
  EXPECT_TRUE(lockstep::DistributedSpec().sync_batch_norm());

  LayerSpec spec;
  spec.mutable_batch_normalization();  // `batch_normalization {}`
  LayerHarness h(spec, {5}, 2);
  const auto& o = dynamic_cast<BatchNormLayer&>(h.layer()).options();
  EXPECT_EQ(o.axis, -1);
  EXPECT_FLOAT_EQ(o.momentum, 0.99f);
  EXPECT_FLOAT_EQ(o.epsilon, 0.001f);
  EXPECT_TRUE(o.center);
  EXPECT_TRUE(o.scale);
  EXPECT_FALSE(o.synchronized.has_value());
  EXPECT_EQ(h.layer().communication_group_size(true), 0);   // all ranks
  EXPECT_EQ(h.layer().communication_group_size(false), 1);  // this rank alone
  for (int c = 0; c < 5; ++c) {
    EXPECT_EQ(param(h, "gamma")[c], 1.0f);
    EXPECT_EQ(param(h, "beta")[c], 0.0f);
    EXPECT_EQ(param(h, "moving_mean")[c], 0.0f);
    EXPECT_EQ(param(h, "moving_variance")[c], 1.0f);
  }
}

TEST(BatchNormalization, ParameterNamesAndTrainability) {
  keras::Sequential s({4});
  s.add(keras::Dense(3)).add(keras::BatchNormalization()).add(keras::BatchNormalization().center(false));
  s.add(keras::BatchNormalization().scale(false));
  Model model(s.spec());
  const ParameterStore& p = model.parameters();
  struct Expected {
    const char* name;
    bool trainable;
  };
  for (const Expected& e : {Expected{"batch_normalization_1/gamma", true}, {"batch_normalization_1/beta", true},
                            {"batch_normalization_1/moving_mean", false},
                            {"batch_normalization_1/moving_variance", false}, {"batch_normalization_2/gamma", true},
                            {"batch_normalization_2/moving_mean", false}, {"batch_normalization_3/beta", true},
                            {"batch_normalization_3/moving_variance", false}}) {
    const int id = p.find(e.name);
    ASSERT_GE(id, 0) << e.name;
    EXPECT_EQ(p.info(id).trainable, e.trainable) << e.name;
    EXPECT_EQ(p.info(id).shape, Shape{3}) << e.name;
  }
  EXPECT_LT(p.find("batch_normalization_2/beta"), 0) << "center=false has no beta";
  EXPECT_LT(p.find("batch_normalization_3/gamma"), 0) << "scale=false has no gamma";
}

TEST(BatchNormalization, LargeMeanTinyStdGivesTheRightVariance) {
  // Features with mean 1e4 and std 1e-2; momentum 0 makes the moving
  // statistics the batch statistics.
  const int64_t rows = 64, C = 2;
  LayerHarness h(keras::BatchNormalization().momentum(0.0f), {C}, rows);
  std::vector<float> x(rows * C);
  CounterRng rng(17);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < C; ++c) x[i * C + c] = static_cast<float>((c ? -1e4 : 1e4) + 1e-2 * rng.next_normal());
  h.x() = x;
  h.objective();
  const Reference ref = bn_reference(x, C, nullptr, nullptr, 0.001);
  for (int64_t c = 0; c < C; ++c) {
    ASSERT_GT(ref.var[c], 2e-5);  // really ~1e-4 after float rounding of the inputs
    EXPECT_NEAR(param(h, "moving_variance")[c], ref.var[c], 1e-3 * ref.var[c]) << c;
    EXPECT_NEAR(param(h, "moving_mean")[c], ref.mean[c], 1e-6 * std::fabs(ref.mean[c])) << c;
  }
  // The normalised output is centred and has the variance var / (var + eps).
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0, sq = 0;
    for (int64_t i = 0; i < rows; ++i) mean += h.y()[i * C + c] / double(rows);
    for (int64_t i = 0; i < rows; ++i) sq += (h.y()[i * C + c] - mean) * (h.y()[i * C + c] - mean) / rows;
    EXPECT_NEAR(mean, 0.0, 1e-3) << c;
    EXPECT_NEAR(sq, ref.var[c] / (ref.var[c] + 0.001), 1e-3) << c;
    for (int64_t i = 0; i < rows; ++i) EXPECT_NEAR(h.y()[i * C + c], ref.y[i * C + c], 1e-3) << i << "," << c;
  }
}

TEST(BatchNormalization, EmptyLocalBatchNeitherCrashesNorMovesStatistics) {
  LayerHarness h(keras::BatchNormalization(), {3}, 0);
  set_values(param(h, "moving_mean"), {0.5f, 1.0f, -1.0f});
  set_values(param(h, "moving_variance"), {2.0f, 3.0f, 4.0f});
  ASSERT_TRUE(h.ctx().training);
  h.params().zero_grads();
  float y[3] = {7, 7, 7}, dx[3] = {7, 7, 7};
  const float x[3] = {1, 2, 3}, dy[3] = {1, 1, 1};
  h.layer().forward(h.ctx(), x, y, 0);
  h.layer().backward(h.ctx(), x, y, dy, dx, 0);
  h.layer().backward(h.ctx(), x, y, dy, nullptr, 0);
  EXPECT_EQ(arena(param(h, "moving_mean"), 3), (std::vector<float>{0.5f, 1.0f, -1.0f}));
  EXPECT_EQ(arena(param(h, "moving_variance"), 3), (std::vector<float>{2.0f, 3.0f, 4.0f}));
  for (size_t i = 0; i < h.params().trainable_count(); ++i) EXPECT_EQ(h.params().trainable_grads()[i], 0.0f);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(y[i], 7.0f) << "rows=0 must not write";
  for (float v : y) EXPECT_FALSE(std::isnan(v));

  // Same through a whole model.
  keras::Sequential s({3});
  s.add(keras::Dense(4)).add(keras::BatchNormalization()).add(keras::Activation("softmax"));
  Model model(s.spec());
  model.reserve(2);
  model.fuse_final_activation();
  const auto state = arena(model.parameters().state_values(), model.parameters().state_count());
  model.parameters().zero_grads();
  model.forward(h.ctx(), x, 0);
  model.backward(h.ctx(), model.output_grad(), 0, nullptr);
  EXPECT_EQ(arena(model.parameters().state_values(), model.parameters().state_count()), state);
  for (size_t i = 0; i < model.parameters().trainable_count(); ++i)
    EXPECT_EQ(model.parameters().trainable_grads()[i], 0.0f);
}

// ---------------------------------------------------------------------------
// Gradients in training mode: batch sizes 1..8, every center/scale
// combination, gamma and beta away from their initial ones/zeros.

void randomize_bn_parameters(LayerHarness& h, uint64_t seed) {
  for (const char* p : {"/gamma", "/beta"}) {
    const int id = h.params().find(h.layer().name() + p);
    if (id < 0) continue;
    const auto v = uniform_values(h.params().info(id).size, seed++, 0.5, 1.5);
    std::copy(v.begin(), v.end(), h.params().value(id));
  }
}

class BatchNormGradient : public ::testing::TestWithParam<std::tuple<int, bool, bool>> {};

TEST_P(BatchNormGradient, MatchesFiniteDifferences) {
  const auto& [rows, center, scale] = GetParam();
  LayerHarness h(keras::BatchNormalization().center(center).scale(scale), {3}, rows, /*seed=*/rows + 3);
  randomize_bn_parameters(h, rows);
  const std::string what = "BatchNormalization(rows=" + std::to_string(rows) + ", center=" +
                           std::to_string(center) + ", scale=" + std::to_string(scale) + ")";
  h.check(what);
  if (rows == 1) {
    // Zero variance: the output is beta, and nothing flows back to x.
    std::vector<double> unused;
    for (double g : h.analytic(&unused)) EXPECT_NEAR(g, 0.0, 1e-6) << what;
    const float* beta = center ? h.params().value(h.params().find(h.layer().name() + "/beta")) : nullptr;
    for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(h.y()[c], beta ? beta[c] : 0.0f) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(BatchSizes1To8, BatchNormGradient,
                         ::testing::Combine(::testing::Range(1, 9), ::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return "rows" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "_center" : "_nocenter") +
                                  (std::get<2>(info.param) ? "_scale" : "_noscale");
                         });

TEST(BatchNormalization, GradientOverSpatialPositions) {
  // [2, 2, 3] samples: statistics per channel over rows and the 2x2 positions.
  LayerHarness h(keras::BatchNormalization(), {2, 2, 3}, 3);
  randomize_bn_parameters(h, 5);
  h.check("BatchNormalization([2,2,3])");
}

// ---------------------------------------------------------------------------
// Golden values from PyTorch 1.13 (Debian python3-torch), float64:
//   x = [[0.5,-1.2,3.0],[1.5,0.3,-2.0],[-0.7,2.2,0.1],[2.0,-0.4,1.1],[0.1,0.9,-0.6]]
//   w = [[0.3,-0.8,0.5],[1.1,0.2,-0.4],[-0.6,0.7,0.9],[0.25,-0.35,0.15],[0.8,0.45,-1.0]]
//   bn = torch.nn.BatchNorm1d(3, eps=1e-3, momentum=0.01).double()   # Keras momentum 0.99
//   bn.weight = [1.5,-0.5,2.0]; bn.bias = [0.1,0.2,-0.3]; bn.train()
//   y = bn(x); (y * w).sum().backward()
//   print y, x.grad, bn.weight.grad, bn.bias.grad, bn.running_mean, bn.running_var  ("%.9g")
// torch's running_var blends the UNBIASED variance: ours is the biased one, so
// (ours - 0.99) == (torch - 0.99) * (m - 1) / m with m = 5.

TEST(BatchNormalization, MatchesPyTorchBatchNorm1d) {
  const std::vector<float> x = {0.5f, -1.2f, 3.0f, 1.5f, 0.3f, -2.0f, -0.7f, 2.2f,
                                0.1f, 2.0f,  -0.4f, 1.1f, 0.1f, 0.9f, -0.6f};
  const std::vector<float> w = {0.3f, -0.8f, 0.5f, 1.1f,  0.2f,  -0.4f, -0.6f, 0.7f,
                                0.9f, 0.25f, -0.35f, 0.15f, 0.8f, 0.45f, -1.0f};
  const double torch_y[] = {-0.178691348, 0.87396828,   2.89489395,   1.36959393,  0.22592186,
                            -3.06572911,  -2.03663368,  -0.594936939, -0.562267426, 2.14373657,
                            0.528343523,  0.629857185,  -0.798005459, -0.0332967084, -1.39675465};
  const double torch_dx[] = {-0.0168091061, 0.0576729381, -0.145061735, 0.713092097,  -0.0808646845,
                             0.0979968277,  -0.799793434, 0.0748780529, 1.09505112,   -0.857313898,
                             0.019788785,   -0.0622364778, 0.96082434,  -0.0714750915, -0.985749738};
  const double torch_dgamma[] = {1.59163727, 2.62069972, 1.85196558};
  const double torch_dbeta[] = {1.85, 0.2, 0.15};
  const double torch_running_mean[] = {0.0068, 0.0036, 0.0032};
  const double torch_running_var[] = {1.00172, 1.00673, 1.02517};

  LayerHarness h(keras::BatchNormalization(), {3}, 5);
  set_values(param(h, "gamma"), {1.5f, -0.5f, 2.0f});
  set_values(param(h, "beta"), {0.1f, 0.2f, -0.3f});
  h.x() = x;
  h.w() = w;
  std::vector<double> param_grads;  // gamma then beta (declaration order)
  const std::vector<double> dx = h.analytic(&param_grads);
  for (int i = 0; i < 15; ++i) EXPECT_NEAR(h.y()[i], torch_y[i], 2e-6) << "y[" << i << "]";
  for (int i = 0; i < 15; ++i) EXPECT_NEAR(dx[i], torch_dx[i], 2e-6) << "dx[" << i << "]";
  ASSERT_EQ(param_grads.size(), 6u);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(param_grads[c], torch_dgamma[c], 2e-6) << "dgamma[" << c << "]";
    EXPECT_NEAR(param_grads[3 + c], torch_dbeta[c], 2e-6) << "dbeta[" << c << "]";
    EXPECT_NEAR(param(h, "moving_mean")[c], torch_running_mean[c], 1e-7) << "moving_mean[" << c << "]";
    const double m = 5;
    EXPECT_NEAR(param(h, "moving_variance")[c] - 0.99, (torch_running_var[c] - 0.99) * (m - 1) / m, 1e-6)
        << "moving_variance[" << c << "]";
  }
}

// On images the statistics are per channel over N, H and W, as torch's
// BatchNorm2d computes them in training mode (golden/make_golden.py, case
// batch_norm_nhwc; its moving variance is already converted to Keras' biased
// blend).
TEST(BatchNormalization, MatchesPyTorchBatchNorm2dOnImages) {
  const golden::Case& c = golden::find_case("batch_norm_nhwc");
  const golden::Tensor& x = c.tensor("x");
  const LayerSpec spec = keras::BatchNormalization()
                             .epsilon(std::stof(c.attr("epsilon")[0]))
                             .momentum(std::stof(c.attr("momentum")[0]));
  LayerHarness h(spec, x.per_sample(), x.shape[0]);
  ASSERT_EQ(x.per_sample().size(), 3u) << "an image input";
  golden::set_parameter(h, "gamma", c.tensor("gamma"));
  golden::set_parameter(h, "beta", c.tensor("beta"));
  golden::run_and_compare_activations(h, c);  // one training forward: one moving-average update
  golden::expect_close("dgamma", golden::parameter_grad(h, "gamma"), c.tensor("dgamma"));
  golden::expect_close("dbeta", golden::parameter_grad(h, "beta"), c.tensor("dbeta"));
  golden::expect_close("moving_mean", param(h, "moving_mean"), c.tensor("moving_mean"));
  golden::expect_close("moving_variance", param(h, "moving_variance"), c.tensor("moving_variance"));
}

}  // namespace
}  // namespace lockstep
