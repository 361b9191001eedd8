// The Sequential model: the article's model summary, Keras names, the one
// contiguous parameter arena, Keras initializers and seeds, spec validation
// errors (exit status 2, WHERE = the field path), and how backward reports
// finished gradient ranges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/gradient_sync.h"
#include "core/keras.h"
#include "core/model.h"
#include "core/random.h"
#include "core/summary.h"

namespace lockstep {
namespace {

// Dense(64, input_dim=14, kernel_initializer='uniform') -> BN -> tanh ->
// Dropout(0.5) -> the same again -> Dense(2) -> BN -> softmax.
ModelSpec article_model() {
  keras::Sequential s({14});
  for (int block = 0; block < 2; ++block)
    s.add(keras::Dense(64).kernel_initializer("uniform"))
        .add(keras::BatchNormalization())
        .add(keras::Activation("tanh"))
        .add(keras::Dropout(0.5));
  s.add(keras::Dense(2).kernel_initializer("uniform"))
      .add(keras::BatchNormalization())
      .add(keras::Activation("softmax"));
  return s.spec();
}

std::vector<float> trainable(Model& m) {
  return {m.parameters().trainable_values(), m.parameters().trainable_values() + m.parameters().trainable_count()};
}

TEST(ModelBuild, ArticleModelSummaryCountsParameters) {
  Model model(article_model());
  const std::string summary = model_summary(model);
  EXPECT_NE(summary.find("Total params: 5,770"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Trainable params: 5,510"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Non-trainable params: 260"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Model: \"sequential\""), std::string::npos) << summary;
  // One row per layer with its output shape and parameter count.
  for (const char* row : {"dense_1 (Dense)", "batch_normalization_1 (BatchNormalization)", "activation_1 (Activation)",
                          "dropout_1 (Dropout)", "dense_3 (Dense)", "(None, 64)", "(None, 2)"})
    EXPECT_NE(summary.find(row), std::string::npos) << row << "\n" << summary;
  EXPECT_EQ(with_thousands(5770), "5,770");
  EXPECT_EQ(with_thousands(260), "260");
  EXPECT_EQ(with_thousands(1234567), "1,234,567");
  EXPECT_EQ(with_thousands(0), "0");
}

// Keras' model.summary() of the same network: input 28x28x1 -> Conv2D(8, 3,
// same) -> BN -> ReLU -> MaxPooling2D(2) -> Conv2D(16, 3) -> BN ->
// GlobalAveragePooling2D -> Dense(10).
TEST(ModelBuild, ConvolutionalSummaryMatchesKeras) {
  keras::Sequential s({28, 28, 1});
  s.add(keras::Conv2D(8, 3).padding("same"))
      .add(keras::BatchNormalization())
      .add(keras::Activation("relu"))
      .add(keras::MaxPooling2D(2))
      .add(keras::Conv2D(16, 3))
      .add(keras::BatchNormalization())
      .add(keras::GlobalAveragePooling2D())
      .add(keras::Dense(10).activation("softmax"));
  Model model(s.spec());
  const std::string summary = model_summary(model);
  EXPECT_NE(summary.find("Total params: 1,514"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Trainable params: 1,466"), std::string::npos) << summary;
  EXPECT_NE(summary.find("Non-trainable params: 48"), std::string::npos) << summary;
  for (const char* row : {"conv2d_1 (Conv2D)", "(None, 28, 28, 8)", "max_pooling2d_1 (MaxPooling2D)",
                          "(None, 14, 14, 8)", "conv2d_2 (Conv2D)", "(None, 12, 12, 16)",
                          "global_average_pooling2d_1 (GlobalAveragePooling2D)", "(None, 16)", "(None, 10)"})
    EXPECT_NE(summary.find(row), std::string::npos) << row << "\n" << summary;
  // Every row fits its columns: the parameter count stays in its column.
  EXPECT_NE(summary.find("(GlobalAveragePooling2D) (None, 16)"), std::string::npos) << summary;
  EXPECT_EQ(model.parameters().info(model.parameters().find("conv2d_2/kernel")).shape, (Shape{3, 3, 8, 16}));
}

// Which BatchNormalization layers normalize over which ranks: unset
// `synchronized` follows the run's default, a layer's own setting wins.
TEST(ModelBuild, BatchStatisticsSummaryNamesTheLayersAndRanks) {
  keras::Sequential s({4});
  s.add(keras::Dense(3))
      .add(keras::BatchNormalization())
      .add(keras::BatchNormalization().synchronized(false))
      .add(keras::BatchNormalization().synchronized(true, 2));
  Model model(s.spec());
  EXPECT_EQ(batch_statistics_summary(model, true, 4),
            "BatchNormalization synchronized over all 4 ranks: batch_normalization_1\n"
            "BatchNormalization with local statistics (each rank its own share; moving statistics merged over "
            "ranks before validation and saving): batch_normalization_2\n"
            "BatchNormalization synchronized within groups of 2 ranks: batch_normalization_3\n");
  const std::string opted_out = batch_statistics_summary(model, false, 0);
  EXPECT_NE(opted_out.find("local statistics (each rank its own share; moving statistics merged over ranks before "
                           "validation and saving): batch_normalization_1, batch_normalization_2"),
            std::string::npos)
      << opted_out;
  EXPECT_NE(batch_statistics_summary(model, true, 0).find("synchronized over all ranks of the job"), std::string::npos);
  keras::Sequential plain({4});
  plain.add(keras::Dense(3));
  EXPECT_EQ(batch_statistics_summary(Model(plain.spec()), true, 4), "");
}

// BatchNormalization runs the relu that follows it inside its own passes
// (Layer::absorb_activation): the same bits as the two layers apart, which
// a Dropout(0) between them keeps apart.
std::vector<float> step_values(const ModelSpec& spec) {
  Model model(spec, 3);
  const int64_t rows = 12;
  model.reserve(rows);
  CounterRng rng(8);
  std::vector<float> x(static_cast<size_t>(rows * model.input_width()));
  for (float& v : x) v = static_cast<float>(rng.next_normal());
  StepContext ctx;
  ctx.training = true;
  const float* y = model.forward(ctx, x.data(), rows);
  std::vector<float> out(y, y + rows * model.output_width());
  for (int64_t i = 0; i < rows * model.output_width(); ++i) model.output_grad()[i] = std::sin(0.7f * i);
  model.parameters().zero_grads();
  model.backward(ctx, model.output_grad(), rows, nullptr);
  const float* g = model.parameters().trainable_grads();
  out.insert(out.end(), g, g + model.parameters().trainable_count());
  ctx.training = false;  // inference: moving statistics, relu inside too
  y = model.forward(ctx, x.data(), rows);
  out.insert(out.end(), y, y + rows * model.output_width());
  return out;
}

TEST(ModelRun, BatchNormAbsorbsAFollowingReluBitForBit) {
  const auto cnn = [](bool apart) {
    keras::Sequential s({6, 6, 2});
    s.add(keras::Conv2D(4, 3).padding("same")).add(keras::BatchNormalization());
    if (apart) s.add(keras::Dropout(0.0f));
    s.add(keras::Activation("relu")).add(keras::MaxPooling2D(2)).add(keras::Flatten()).add(keras::Dense(5));
    s.add(keras::BatchNormalization());
    if (apart) s.add(keras::Dropout(0.0f));
    s.add(keras::Activation("relu")).add(keras::Dense(3).activation("softmax"));
    return s.spec();
  };
  Model fused(cnn(false)), apart(cnn(true));
  EXPECT_TRUE(fused.absorbed(2));   // activation_1 runs inside batch_normalization_1
  EXPECT_TRUE(fused.absorbed(7));
  EXPECT_FALSE(apart.absorbed(3));  // after a Dropout: a layer of its own
  EXPECT_TRUE(fused.absorbed(4));   // Flatten: a view of the pooling's output
  EXPECT_EQ(step_values(cnn(false)), step_values(cnn(true)));
  // Only relu, and never twice: tanh and a second activation stay layers.
  keras::Sequential other({4});
  other.add(keras::BatchNormalization()).add(keras::Activation("tanh"));
  other.add(keras::BatchNormalization()).add(keras::Activation("relu")).add(keras::Activation("relu"));
  Model m(other.spec());
  EXPECT_FALSE(m.absorbed(1));
  EXPECT_TRUE(m.absorbed(3));
  EXPECT_FALSE(m.absorbed(4));
}

TEST(ModelBuild, KerasStyleNames) {
  Model model(article_model());
  const std::vector<std::string> expected = {"dense_1",       "batch_normalization_1", "activation_1", "dropout_1",
                                             "dense_2",       "batch_normalization_2", "activation_2", "dropout_2",
                                             "dense_3",       "batch_normalization_3", "activation_3"};
  ASSERT_EQ(model.layer_count(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(model.layer(i).name(), expected[i]);
  const ParameterStore& p = model.parameters();
  EXPECT_EQ(p.info(p.find("dense_1/kernel")).shape, (Shape{14, 64}));
  EXPECT_EQ(p.info(p.find("dense_1/bias")).shape, (Shape{64}));
  EXPECT_EQ(p.info(p.find("dense_3/kernel")).shape, (Shape{64, 2}));
  EXPECT_GE(p.find("batch_normalization_3/moving_variance"), 0);
  EXPECT_EQ(model.output_shape(), (Shape{2}));
}

TEST(ModelBuild, ExplicitNamesAreKeptAndDuplicatesRejected) {
  keras::Sequential s({3});
  s.add(keras::Dense(2).name("encoder")).add(keras::Dense(2));
  Model model(s.spec());
  EXPECT_EQ(model.layer(0).name(), "encoder");
  EXPECT_EQ(model.layer(1).name(), "dense_1");
  EXPECT_GE(model.parameters().find("encoder/kernel"), 0);

  keras::Sequential dup({3});
  dup.add(keras::Dense(2)).add(keras::Dense(2).name("dense_1"));
  try {
    Model bad(dup.spec());
    ADD_FAILURE() << "duplicate name accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput);
    EXPECT_EQ(e.where(), "model.layers[1].name");
    EXPECT_NE(e.message().find("duplicate layer name 'dense_1'"), std::string::npos) << e.what();
  }
}

TEST(ModelBuild, ParametersLiveInOneContiguousArena) {
  Model model(article_model());
  ParameterStore& p = model.parameters();
  size_t trainable_sum = 0, state_sum = 0, trainable_tensors = 0, state_tensors = 0;
  size_t trainable_end = 0, state_end = 0;  // end of the previous tensor in each arena
  for (size_t id = 0; id < p.entries().size(); ++id) {
    const ParameterInfo& e = p.entries()[id];
    EXPECT_EQ(e.size, static_cast<size_t>(numel(e.shape))) << e.name;
    size_t& end = e.trainable ? trainable_end : state_end;
    EXPECT_GE(e.offset, end) << e.name << " overlaps its predecessor";
    EXPECT_LT(e.offset - end, 16u) << e.name << ": more than alignment padding before it";
    EXPECT_EQ(e.offset % 16, 0u) << e.name << " is not 64-byte aligned";
    end = e.offset + e.size;
    if (e.trainable) {
      EXPECT_EQ(p.value(static_cast<int>(id)), p.trainable_values() + e.offset) << e.name;
      EXPECT_EQ(p.grad(static_cast<int>(id)), p.trainable_grads() + e.offset) << e.name;
      trainable_sum += e.size, ++trainable_tensors;
    } else {
      EXPECT_EQ(p.value(static_cast<int>(id)), p.state_values() + e.offset) << e.name;
      EXPECT_THROW(p.grad(static_cast<int>(id)), Error) << e.name << " has no gradient";
      state_sum += e.size, ++state_tensors;
    }
  }
  EXPECT_EQ(trainable_sum, 5510u);
  EXPECT_EQ(state_sum, 260u);
  EXPECT_GE(p.trainable_count(), trainable_sum);
  EXPECT_LT(p.trainable_count(), trainable_sum + 16 * trainable_tensors);
  EXPECT_LT(p.trainable_count() - trainable_end, 16u);
  EXPECT_GE(p.state_count(), state_sum);
  EXPECT_LT(p.state_count(), state_sum + 16 * state_tensors);
  // Zeroing gradients is one sweep over the whole arena.
  std::fill(p.trainable_grads(), p.trainable_grads() + p.trainable_count(), 1.0f);
  p.zero_grads();
  EXPECT_TRUE(std::all_of(p.trainable_grads(), p.trainable_grads() + p.trainable_count(),
                          [](float g) { return g == 0.0f; }));
}

TEST(ModelBuild, KerasUniformInitializer) {
  Model model(article_model());
  ParameterStore& p = model.parameters();
  for (const char* name : {"dense_1/kernel", "dense_2/kernel", "dense_3/kernel"}) {
    const int id = p.find(name);
    const float* v = p.value(id);
    const auto [lo, hi] = std::minmax_element(v, v + p.info(id).size);
    EXPECT_GE(*lo, -0.05f) << name;
    EXPECT_LE(*hi, 0.05f) << name;
    EXPECT_LT(*lo, *hi) << name << ": all equal";
    EXPECT_GT(*hi - *lo, 0.05f) << name << ": not spread over [-0.05, 0.05]";
  }
  const int bias = p.find("dense_1/bias");
  EXPECT_TRUE(std::all_of(p.value(bias), p.value(bias) + 64, [](float b) { return b == 0.0f; }))
      << "bias_initializer defaults to zeros";
}

TEST(ModelBuild, GlorotUniformIsTheDefaultKernelInitializer) {
  keras::Sequential s({30});
  s.add(keras::Dense(20));
  Model model(s.spec());
  ParameterStore& p = model.parameters();
  const int id = p.find("dense_1/kernel");
  EXPECT_EQ(p.info(id).initializer.name, "glorot_uniform");
  const double limit = std::sqrt(6.0 / (30 + 20));
  const float* v = p.value(id);
  double max_abs = 0, mean = 0;
  for (size_t i = 0; i < 600; ++i) {
    EXPECT_LE(std::fabs(v[i]), limit) << i;
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(v[i])));
    mean += v[i] / 600.0;
  }
  EXPECT_GT(max_abs, 0.9 * limit) << "not using the whole range";
  EXPECT_NEAR(mean, 0.0, 0.03);
}

TEST(ModelBuild, SameSeedSameParametersDifferentSeedDifferent) {
  const ModelSpec spec = article_model();
  Model a(spec, 7), b(spec, 7), c(spec, 8);
  EXPECT_EQ(trainable(a), trainable(b));
  EXPECT_NE(trainable(a), trainable(c));
  // Each kernel differs, not just one of them.
  for (const char* name : {"dense_1/kernel", "dense_2/kernel", "dense_3/kernel"}) {
    const int id = a.parameters().find(name);
    EXPECT_NE(a.parameters().value(id)[0], c.parameters().value(id)[0]) << name;
  }
}

// ---------------------------------------------------------------------------
// Invalid specs.

void expect_spec_error(const ModelSpec& spec, const std::string& where, const std::vector<std::string>& what) {
  try {
    Model m(spec);
    ADD_FAILURE() << "accepted; expected an error at " << where;
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput) << e.what();
    EXPECT_EQ(e.where(), where) << e.what();
    for (const auto& part : what)
      EXPECT_NE(e.message().find(part), std::string::npos) << "message: " << e.message() << "\nwanted: " << part;
  }
}

ModelSpec with_layers(std::initializer_list<LayerSpec> layers) {
  keras::Sequential s({14});
  for (const auto& l : layers) s.add(l);
  return s.spec();
}

TEST(ModelSpecErrors, DenseUnits) {
  LayerSpec missing;
  missing.mutable_dense();  // `dense {}`
  expect_spec_error(with_layers({keras::Dense(4), missing}), "model.layers[1].dense.units", {"missing"});
  expect_spec_error(with_layers({keras::Dense(-1)}), "model.layers[0].dense.units", {"must be > 0", "-1"});
  expect_spec_error(with_layers({keras::Dense(0)}), "model.layers[0].dense.units", {"must be > 0"});
}

TEST(ModelSpecErrors, DropoutRate) {
  expect_spec_error(with_layers({keras::Dense(4), keras::Dropout(1.0f)}), "model.layers[1].dropout.rate",
                    {"[0, 1)", "1.0"});
  expect_spec_error(with_layers({keras::Dropout(-0.1f)}), "model.layers[0].dropout.rate", {"[0, 1)", "-0.1"});
  EXPECT_NO_THROW({ Model m(with_layers({keras::Dropout(0.0f)})); });
}

TEST(ModelSpecErrors, UnknownActivationListsTheKnownOnes) {
  const std::vector<std::string> what = {"unknown activation 'swish'", "relu", "tanh", "sigmoid", "softmax",
                                         "linear", "elu", "leaky_relu", "gelu"};
  expect_spec_error(with_layers({keras::Activation("swish")}), "model.layers[0].activation.activation", what);
  expect_spec_error(with_layers({keras::Dense(3), keras::Dense(2).activation("swish")}),
                    "model.layers[1].dense.activation", what);
  LayerSpec no_name;
  no_name.mutable_activation();  // `activation {}`
  expect_spec_error(with_layers({no_name}), "model.layers[0].activation.activation", {"missing"});
}

TEST(ModelSpecErrors, UnknownInitializer) {
  const std::vector<std::string> what = {"unknown initializer 'xavier'", "glorot_uniform", "uniform", "he_normal"};
  expect_spec_error(with_layers({keras::Dense(3).kernel_initializer("xavier")}),
                    "model.layers[0].dense.kernel_initializer", what);
  expect_spec_error(with_layers({keras::Dense(3).bias_initializer("xavier")}), "model.layers[0].dense.bias_initializer",
                    what);
  expect_spec_error(with_layers({keras::BatchNormalization().gamma_initializer("xavier")}),
                    "model.layers[0].batch_normalization.gamma_initializer", what);
  expect_spec_error(with_layers({keras::BatchNormalization().moving_variance_initializer("xavier")}),
                    "model.layers[0].batch_normalization.moving_variance_initializer", what);
}

TEST(ModelSpecErrors, LayerWithoutAType) {
  expect_spec_error(with_layers({keras::Dense(3), LayerSpec()}), "model.layers[1]",
                    {"no layer type", "dense", "batch_normalization", "activation", "dropout"});
}

TEST(ModelSpecErrors, NoLayersAndNoInputShape) {
  keras::Sequential empty({14});
  expect_spec_error(empty.spec(), "model.layers", {"no layers"});
  ModelSpec no_input;
  *no_input.add_layers() = keras::Dense(2);
  expect_spec_error(no_input, "model.input_shape", {"missing"});
  ModelSpec zero_input = no_input;
  zero_input.add_input_shape(0);
  expect_spec_error(zero_input, "model.input_shape", {"> 0"});
}

TEST(ModelSpecErrors, BatchNormalizationEpsilonAndAxis) {
  expect_spec_error(with_layers({keras::BatchNormalization().epsilon(0.0f)}),
                    "model.layers[0].batch_normalization.epsilon", {"must be > 0"});
  expect_spec_error(with_layers({keras::BatchNormalization().momentum(1.5f)}),
                    "model.layers[0].batch_normalization.momentum", {"[0, 1]"});
  LayerSpec axis0 = keras::BatchNormalization();
  axis0.mutable_batch_normalization()->set_axis(0);
  expect_spec_error(with_layers({keras::Dense(3), axis0}), "model.layers[1].batch_normalization.axis", {"axis 0"});
  LayerSpec axis_m2 = keras::BatchNormalization();
  axis_m2.mutable_batch_normalization()->set_axis(-2);
  expect_spec_error(with_layers({axis_m2}), "model.layers[0].batch_normalization.axis", {"axis -2"});
  // An axis that is not the last one of this input: found when building.
  LayerSpec axis2 = keras::BatchNormalization();
  axis2.mutable_batch_normalization()->set_axis(2);
  expect_spec_error(with_layers({axis2}), "model.layers[0]", {"axis 2 is not supported"});
  // The channel axis by its number (input rank 1 + the batch axis) is fine.
  LayerSpec axis1 = keras::BatchNormalization();
  axis1.mutable_batch_normalization()->set_axis(1);
  EXPECT_NO_THROW({ Model m(with_layers({axis1})); });
}

TEST(ModelSpecErrors, FieldPathPrefixIsTheCallersOne) {
  ModelSpec spec = with_layers({keras::Dropout(2.0f)});
  try {
    Model m(spec, 1, "config.model");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "config.model.layers[0].dropout.rate");
  }
}

// ---------------------------------------------------------------------------
// Forward/backward plumbing.

TEST(ModelRun, FinalActivationAndFusion) {
  EXPECT_EQ(Model(article_model()).final_activation(), ActivationKind::kSoftmax);
  EXPECT_EQ(Model(with_layers({keras::Dense(1).activation("sigmoid")})).final_activation(), ActivationKind::kSigmoid);
  EXPECT_EQ(Model(with_layers({keras::Dense(2), keras::BatchNormalization()})).final_activation(),
            ActivationKind::kLinear);
}

TEST(ModelRun, ForwardBeyondTheReservedRowsIsARuntimeError) {
  Model model(with_layers({keras::Dense(2)}));
  model.reserve(4);
  std::vector<float> x(5 * 14, 0.0f);
  StepContext ctx;
  try {
    model.forward(ctx, x.data(), 5);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitRuntime);
  }
  EXPECT_NO_THROW(model.forward(ctx, x.data(), 4));
}

class RecordingSync : public GradientSync {
 public:
  void attach(float*, size_t) override {}
  void ready(size_t begin, size_t end) override { ranges.emplace_back(begin, end); }
  void finish() override {}
  std::vector<std::pair<size_t, size_t>> ranges;
};

TEST(ModelRun, BackwardReportsGradientRangesFromTheEndToTheStart) {
  Model model(article_model());
  const int64_t rows = 6;
  model.reserve(rows);
  model.fuse_final_activation();
  std::vector<float> x(rows * 14, 0.5f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.7 * i));
  StepContext ctx;
  ctx.training = true;
  ctx.global_rows = rows;
  model.forward(ctx, x.data(), rows);
  std::fill(model.output_grad(), model.output_grad() + rows * 2, 0.1f);
  RecordingSync sync;
  model.backward(ctx, model.output_grad(), rows, &sync);
  // Six layers own trainable parameters (3 Dense, 3 BatchNormalization).
  ASSERT_EQ(sync.ranges.size(), 6u);
  size_t expected_end = model.parameters().trainable_count();
  for (const auto& [begin, end] : sync.ranges) {
    EXPECT_EQ(end, expected_end) << "ranges must tile the arena from its end";
    EXPECT_LT(begin, end);
    expected_end = begin;
  }
  EXPECT_EQ(expected_end, 0u);
}

TEST(ModelRun, PlacedArenasKeepValuesAndLayersFollowThem) {
  // Model::place_trainable (the node-shared arena of data-parallel runs):
  // values carry over, and every layer reads and writes the new memory, so
  // a step gives the same bits as in the model's own arena.
  const int64_t rows = 6;
  std::vector<float> x(rows * 14);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(std::sin(0.7 * i));
  auto step = [&](Model& model) {
    StepContext ctx;
    ctx.training = true;
    ctx.global_rows = rows;
    model.parameters().zero_grads();
    const float* out = model.forward(ctx, x.data(), rows);
    std::vector<float> y(out, out + rows * 2);
    std::fill(model.output_grad(), model.output_grad() + rows * 2, 0.1f);
    model.backward(ctx, model.output_grad(), rows, nullptr);
    return y;
  };
  Model own(article_model());
  Model placed(article_model());
  own.reserve(rows);
  placed.reserve(rows);
  ParameterStore& p = placed.parameters();
  const size_t count = p.trainable_count();
  const std::vector<float> before = trainable(placed);
  std::vector<float> memory(2 * count, -1.0f);
  placed.place_trainable(memory.data(), memory.data() + count);
  EXPECT_EQ(p.trainable_values(), memory.data());
  EXPECT_EQ(p.trainable_grads(), memory.data() + count);
  EXPECT_EQ(trainable(placed), before);
  EXPECT_EQ(p.value(p.find("dense_2/kernel")), memory.data() + p.info(p.find("dense_2/kernel")).offset);

  EXPECT_EQ(step(own), step(placed));
  ParameterStore& q = own.parameters();
  EXPECT_EQ(std::vector<float>(q.trainable_grads(), q.trainable_grads() + count),
            std::vector<float>(memory.begin() + static_cast<std::ptrdiff_t>(count), memory.end()));
  // A change made through the placed memory is what the layers use next.
  for (size_t i = 0; i < count; ++i) memory[i] *= 0.5f, q.trainable_values()[i] *= 0.5f;
  EXPECT_EQ(step(own), step(placed));
}

}  // namespace
}  // namespace lockstep
