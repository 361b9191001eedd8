// A checkpoint resumes only the model and optimizer that wrote it: layer
// types and order, every option that changes the computation, the optimizer's
// kind and hyper-parameters; each difference is listed.
#include <gtest/gtest.h>

#include <functional>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/error.h"
#include "core/keras.h"
#include "core/optim/optimizer.h"

namespace lockstep {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return std::to_string(e.exit_code()) + " " + e.what();
  }
  return "no error";
}

TrainConfig config_file(const std::string& name) {
  return ConfigFile::load(std::string(LOCKSTEP_SOURCE_DIR) + "/launch/configs/" + name).config();
}

CheckpointHeader header_of(const TrainConfig& config) {
  CheckpointHeader h;
  *h.mutable_model() = config.model();
  *h.mutable_config() = config;
  h.set_optimizer_kind(make_optimizer(config.optimizer(), "optimizer")->kind());
  return h;
}

std::string joined(const std::vector<std::string>& items) {
  std::string s;
  for (const std::string& i : items) s += i + "\n";
  return s;
}

TEST(CheckpointResume, SameTensorNamesInAnotherLayerOrderAreRefused) {
  const TrainConfig before = config_file("seed_mlp.pbtxt"), after = config_file("seed_mlp_bn_after.pbtxt");
  const std::string d = joined(resume_differences(header_of(before), after, "sgd"));
  EXPECT_NE(d.find("model.layers[1]: batch_normalization in the checkpoint, activation in the config"),
            std::string::npos)
      << d;
  EXPECT_NE(d.find("model.layers[2]: activation in the checkpoint, batch_normalization in the config"),
            std::string::npos)
      << d;
  const std::string e = error_of([&] { check_resumable(header_of(before), after, "sgd", "ckpt.pb"); });
  EXPECT_EQ(e.rfind("2 ckpt.pb: cannot resume: the checkpoint was written by another model or optimizer: "
                    "model.layers[1]: batch_normalization in the checkpoint, activation in the config; ",
                    0),
            0u)
      << e;
  EXPECT_TRUE(resume_differences(header_of(before), before, "sgd").empty());
}

TEST(CheckpointResume, OptionsThatChangeTheComputationAreListedOthersNot) {
  const TrainConfig saved = config_file("seed_mlp.pbtxt");
  TrainConfig now = saved;
  // Not the computation: names, initializers, the run's length and place.
  now.mutable_model()->mutable_layers(0)->mutable_dense()->set_kernel_initializer("he_normal");
  now.mutable_model()->mutable_layers(1)->set_name("bn");
  now.mutable_model()->set_name("other");
  now.set_epochs(50);
  now.set_run_dir("elsewhere");
  EXPECT_EQ(joined(resume_differences(header_of(saved), now, "sgd")), "");
  // The computation: units, momentum, activation, rate, optimizer settings.
  now.mutable_model()->mutable_layers(4)->mutable_dense()->set_units(32);
  now.mutable_model()->mutable_layers(5)->mutable_batch_normalization()->set_momentum(0.9f);
  now.mutable_model()->mutable_layers(6)->mutable_activation()->set_activation("relu");
  now.mutable_model()->mutable_layers(3)->mutable_dropout()->set_rate(0.25f);
  now.mutable_optimizer()->mutable_sgd()->set_momentum(0.5f);
  now.mutable_optimizer()->set_gradient_accumulation_steps(4);
  EXPECT_EQ(joined(resume_differences(header_of(saved), now, "sgd")),
            "model.layers[3].dropout.rate 0.5 in the checkpoint, 0.25 in the config\n"
            "model.layers[4].dense.units 64 in the checkpoint, 32 in the config\n"
            "model.layers[5].batch_normalization.momentum 0.99 in the checkpoint, 0.9 in the config\n"
            "model.layers[6].activation.activation \"tanh\" in the checkpoint, \"relu\" in the config\n"
            "optimizer.sgd.momentum 0.9 in the checkpoint, 0.5 in the config\n"
            "optimizer.gradient_accumulation_steps 1 in the checkpoint, 4 in the config\n");
  now = saved;
  now.mutable_model()->mutable_layers()->RemoveLast();
  now.mutable_model()->set_input_shape(0, 16);
  now.mutable_optimizer()->mutable_adam();
  EXPECT_EQ(joined(resume_differences(header_of(saved), now, "adam")),
            "model.input_shape [14] in the checkpoint, [16] in the config\n"
            "model: 11 layers in the checkpoint, 10 in the config\n"
            "optimizer sgd in the checkpoint, adam in the config\n");
}

TEST(CheckpointResume, AWindowOfOneNumberEqualsTheSameNumberTwice) {
  keras::Sequential a({8, 8, 1}), b({8, 8, 1});
  a.add(keras::Conv2D(4, 3));
  b.add(keras::Conv2D(4, 3));
  TrainConfig saved, now;
  *saved.mutable_model() = a.spec();
  *now.mutable_model() = b.spec();
  now.mutable_model()->mutable_layers(0)->mutable_conv2d()->clear_kernel_size();
  now.mutable_model()->mutable_layers(0)->mutable_conv2d()->add_kernel_size(3);
  now.mutable_model()->mutable_layers(0)->mutable_conv2d()->add_kernel_size(3);
  EXPECT_EQ(joined(resume_differences(header_of(saved), now, "rmsprop")), "");
  now.mutable_model()->mutable_layers(0)->mutable_conv2d()->set_kernel_size(1, 5);
  EXPECT_EQ(joined(resume_differences(header_of(saved), now, "rmsprop")),
            "model.layers[0].conv2d.kernel_size [3, 3] in the checkpoint, [3, 5] in the config\n");
}

}  // namespace
}  // namespace lockstep
