// Every byte of a checkpoint is checked on every read: each single-bit flip
// of a whole checkpoint (a fresh one and one written by an earlier lockstep)
// is an error; records that are duplicated or missing and progress out of
// range are errors that name them.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/keras.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "temp_files.h"

namespace lockstep {
namespace {

using test_files::temp_dir;
using test_files::read_bytes;

// A checkpoint as `trainer train` writes one mid-run: full config, two
// finished epochs, callback state, Adam's slots and a callback's tensor.
struct TrainedRun {
  TrainedRun() {
    keras::Sequential net({14});
    net.add(keras::Dense(40).kernel_initializer("uniform"));
    net.add(keras::BatchNormalization());
    net.add(keras::Activation("tanh"));
    net.add(keras::Dense(32));
    net.add(keras::BatchNormalization());
    net.add(keras::Activation("relu"));
    net.add(keras::Dense(2).activation("softmax"));
    *config.mutable_model() = net.spec();
    config.mutable_data()->mutable_synthetic();
    config.mutable_optimizer()->mutable_adam()->set_learning_rate(0.01f);
    config.set_epochs(5);
    model = std::make_unique<Model>(config.model(), 3);
    optimizer = make_optimizer(config.optimizer(), "optimizer");
    ParameterStore& p = model->parameters();
    optimizer->reserve(p.trainable_count());
    for (size_t i = 0; i < p.trainable_count(); ++i) p.trainable_grads()[i] = 0.01f * static_cast<float>(i % 13);
    optimizer->step(p.trainable_values(), p.trainable_grads(), p.trainable_count(), 0.01f);
  }
  CheckpointHeader header() const {
    CheckpointHeader h;
    *h.mutable_model() = config.model();
    *h.mutable_config() = config;
    Progress* progress = h.mutable_progress();
    progress->set_epoch(2);
    progress->set_step_in_epoch(7);
    progress->set_global_step(107);
    progress->set_position_in_epoch(448);
    progress->set_samples_in_epoch(448);
    progress->set_correct_in_epoch(301);
    progress->set_loss_sum_in_epoch(250.5);
    for (int e = 1; e <= 2; ++e) {
      EpochMetrics* m = h.add_history();
      m->set_epoch(e);
      m->set_loss(0.7 / e);
      m->set_steps(50);
    }
    h.set_seed(3);
    h.set_world_size(2);
    h.set_optimizer_kind("adam");
    CallbackState* cb = h.add_callbacks();
    cb->set_name("early_stopping");
    (*cb->mutable_values())["best"] = 0.41;
    return h;
  }
  std::vector<TensorRef> tensors() {
    std::vector<TensorRef> refs = collect_tensors(*model, optimizer.get());
    refs.push_back({"early_stopping/best/dense_1/kernel", TensorRecord::CALLBACK, refs[0].shape, refs[0].data});
    return refs;
  }
  std::string write(const std::string& path) {
    write_checkpoint(path, header(), tensors());
    return path;
  }
  TrainConfig config;
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
};

// Flips each bit of `bytes` in turn; returns the offsets (with bit) that parse.
std::vector<std::string> undetected_flips(std::string bytes, size_t* cases) {
  std::vector<std::string> missed;
  *cases = 0;
  for (size_t at = 0; at < bytes.size(); ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      bytes[at] = static_cast<char>(bytes[at] ^ (1 << bit));
      ++*cases;
      try {
        parse_checkpoint(bytes, "flipped");
        missed.push_back(std::to_string(at) + "." + std::to_string(bit));
      } catch (const Error& e) {
        if (e.exit_code() != kExitInput) missed.push_back(std::to_string(at) + " (exit " + std::to_string(e.exit_code()) + ")");
      }
      bytes[at] = static_cast<char>(bytes[at] ^ (1 << bit));
    }
  }
  return missed;
}

void expect_every_flip_detected(const std::string& bytes, const char* what) {
  ASSERT_NO_THROW(parse_checkpoint(bytes, what));
  size_t cases = 0;
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  const std::vector<std::string> missed = undetected_flips(bytes, &cases);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::printf("%s: %zu bytes, %zu single-bit flips, %zu undetected, %.2f s (%.2f s CPU)\n", what, bytes.size(),
              cases, missed.size(), seconds, cpu);
  std::string list;
  for (size_t i = 0; i < missed.size() && i < 20; ++i) list += " " + missed[i];
  EXPECT_TRUE(missed.empty()) << missed.size() << " flips (byte.bit) of " << bytes.size()
                              << " bytes not detected:" << list;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return std::to_string(e.exit_code()) + " " + e.what();
  }
  return "no error";
}

TEST(CheckpointIntegrity, EverySingleBitFlipOfACheckpointIsDetected) {
  const std::string dir = temp_dir("integrity");
  TrainedRun run;
  const std::string bytes = read_bytes(run.write(dir + "/ckpt.pb"));
  EXPECT_GT(bytes.size(), 20000u);  // a few hundred thousand cases
  expect_every_flip_detected(bytes, "fresh checkpoint");
}

// Written by lockstep 0.3.0 before these checks (d1d76a1, format version 1):
// trainer train tests/unit/fixtures/checkpoint_v1.pbtxt, final/model.pb.
const char* kVersion1 = LOCKSTEP_SOURCE_DIR "/tests/unit/fixtures/checkpoint_v1.pb";

TEST(CheckpointIntegrity, ACheckpointOfTheEarlierLockstepStillLoads) {
  const CheckpointContents c = read_checkpoint(kVersion1);
  EXPECT_EQ(c.header.format_version(), 1u);
  EXPECT_EQ(c.header.history_size(), 2);
  EXPECT_NE(c.find("sgd/momentum/dense_1/kernel"), nullptr);
  check_tensors_match_header(c, kVersion1);
  Model model(c.header.model(), c.header.seed());
  restore_tensors(c, model, nullptr, kVersion1);
}

TEST(CheckpointIntegrity, EverySingleBitFlipOfTheEarlierLockstepsCheckpointIsDetected) {
  expect_every_flip_detected(read_bytes(kVersion1), "version 1 checkpoint");
}

TEST(CheckpointIntegrity, ADuplicatedTensorRecordIsNamed) {
  const std::string dir = temp_dir("integrity");
  TrainedRun run;
  std::vector<TensorRef> tensors = run.tensors();
  tensors.push_back(tensors[1]);  // dense_1/bias again, checksums and all valid
  write_checkpoint(dir + "/dup.pb", run.header(), tensors);
  const std::string e = error_of([&] { read_checkpoint(dir + "/dup.pb"); });
  EXPECT_NE(e.find("2 " + dir + "/dup.pb: tensor record " + std::to_string(tensors.size() - 1) +
                   " ('dense_1/bias') is a duplicate: tensor 'dense_1/bias' starts in record 1 already: damaged"),
            std::string::npos)
      << e;
}

TEST(CheckpointIntegrity, AMissingTensorRecordIsNamed) {
  const std::string dir = temp_dir("integrity");
  TrainedRun run;
  std::vector<TensorRef> tensors = run.tensors();
  tensors.erase(tensors.begin() + 2);  // batch_normalization_1/gamma
  write_checkpoint(dir + "/missing.pb", run.header(), tensors);
  const CheckpointContents c = read_checkpoint(dir + "/missing.pb");
  const std::string e = error_of([&] { check_tensors_match_header(c, "missing.pb"); });
  EXPECT_NE(e.find("2 missing.pb: checkpoint does not match the model: missing 'batch_normalization_1/gamma'"),
            std::string::npos)
      << e;
  // Without its optimizer slots (an export keeps none, but says so).
  CheckpointHeader header = run.header();
  write_checkpoint(dir + "/noslots.pb", header, collect_tensors(*run.model, nullptr));
  const std::string slots = error_of([&] { check_tensors_match_header(read_checkpoint(dir + "/noslots.pb"), "x"); });
  EXPECT_NE(slots.find("missing 'adam/m/dense_1/kernel'"), std::string::npos) << slots;
}

TEST(CheckpointIntegrity, ProgressOutOfRangeIsNamed) {
  const std::string dir = temp_dir("integrity");
  TrainedRun run;
  struct Case {
    std::function<void(CheckpointHeader&)> damage;
    const char* message;
  };
  const std::vector<Case> cases = {
      {[](CheckpointHeader& h) { h.mutable_progress()->set_step_in_epoch(-1); },
       "progress.step_in_epoch is -1, must be >= 0"},
      {[](CheckpointHeader& h) { h.mutable_progress()->set_global_step(3); },
       "progress.step_in_epoch 7 is more than progress.global_step 3"},
      {[](CheckpointHeader& h) { h.mutable_progress()->set_epoch(-2); }, "progress.epoch is -2"},
      {[](CheckpointHeader& h) { h.mutable_progress()->set_samples_in_epoch(-1); }, "progress.samples_in_epoch is"},
      {[](CheckpointHeader& h) { h.mutable_progress()->set_correct_in_epoch(1e9); },
       "progress.correct_in_epoch 1000000000.000000 is more than progress.samples_in_epoch"},
      {[](CheckpointHeader& h) { h.mutable_progress()->set_epoch(1); }, "the history holds 2 epochs, progress.epoch is 1"},
      {[](CheckpointHeader& h) { h.mutable_history(1)->set_epoch(5); }, "history[1] is epoch 5"},
      {[](CheckpointHeader& h) { h.set_world_size(0); }, "world_size is 0, must be >= 1"},
  };
  for (const Case& c : cases) {
    CheckpointHeader header = run.header();
    c.damage(header);
    write_checkpoint(dir + "/p.pb", header, run.tensors());
    const std::string e = error_of([&] { read_checkpoint(dir + "/p.pb"); });
    EXPECT_EQ(e.rfind("2 " + dir + "/p.pb: ", 0), 0u) << e;
    EXPECT_NE(e.find(c.message), std::string::npos) << e;
  }
}

TEST(CheckpointIntegrity, NotARegularFileIsRefusedBeforeReading) {
  const std::string dir = temp_dir("integrity");
  EXPECT_NE(error_of([&] { read_checkpoint(dir); }).find("is a directory"), std::string::npos);
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  EXPECT_NE(error_of([&] { read_checkpoint(fifo); }).find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace lockstep
