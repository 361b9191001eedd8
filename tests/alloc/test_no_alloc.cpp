// The steady-state training step allocates nothing: every buffer is sized
// once (activations for the largest batch, optimizer slots, gradient buckets).
// This binary replaces global operator new to count allocations.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "core/data/dataset.h"
#include "core/keras.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "core/trace.h"
#include "core/training.h"
#include "distributed/bucketed_allreduce.h"
#include "distributed/local_communicator.h"
#include "train.pb.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
}  // namespace

// GCC 12 pairs the free() below with the malloc() above only through this
// file's own operator new, and warns (-Wmismatched-new-delete) although
// every block here comes from malloc.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace lockstep {
namespace {

TrainConfig config_for(const ModelSpec& model, const std::string& optimizer_text, int batch) {
  TrainConfig c;
  *c.mutable_model() = model;
  c.mutable_data()->mutable_synthetic()->set_samples(1000);
  int features = 1;
  for (int d : model.input_shape()) features *= d;
  c.mutable_data()->mutable_synthetic()->set_features(features);
  c.mutable_data()->mutable_synthetic()->set_classes(2);
  c.set_batch_size(batch);
  if (optimizer_text == "adam") c.mutable_optimizer()->mutable_adam();
  if (optimizer_text == "sgd") c.mutable_optimizer()->mutable_sgd()->set_momentum(0.9f);
  if (optimizer_text == "rmsprop") c.mutable_optimizer()->mutable_rmsprop()->set_centered(true);
  if (optimizer_text == "adamw") c.mutable_optimizer()->mutable_adamw();
  c.mutable_lr_schedule()->mutable_cosine()->set_decay_steps(100);
  c.mutable_lr_schedule()->set_warmup_steps(5);
  return c;
}

ModelSpec article_model() {
  keras::Sequential m({14});
  for (int i = 0; i < 2; ++i) {
    m.add(keras::Dense(64).kernel_initializer("uniform"));
    m.add(keras::BatchNormalization());
    m.add(keras::Activation("tanh"));
    m.add(keras::Dropout(0.5f));
  }
  m.add(keras::Dense(2).kernel_initializer("uniform"));
  m.add(keras::BatchNormalization());
  m.add(keras::Activation("softmax"));
  return m.spec();
}

long allocations_in_steps(const TrainConfig& config, GradientSync& sync, Communicator& world) {
  Dataset data = load_dataset(config.data(), "data");
  Model model(config.model(), 1);
  model.connect(world, true);
  auto optimizer = make_optimizer(config.optimizer(), "optimizer");
  Loss loss("sparse_categorical_crossentropy", "loss");
  Training training(config, model, *optimizer, loss, data, nullptr, world, sync);
  training.begin_epoch(0);
  training.train_step(0);  // the first step may size lazily-created things
  g_allocations = 0;
  g_counting = true;
  for (int64_t s = 1; s < training.steps_per_epoch(); ++s) training.train_step(s);  // includes the short last batch
  g_counting = false;
  return g_allocations.load();
}

class NoAllocation : public ::testing::TestWithParam<const char*> {};

TEST_P(NoAllocation, ArticleModelTrainingStepAllocatesNothing) {
  LocalCommunicator world;
  NoGradientSync sync;
  EXPECT_EQ(allocations_in_steps(config_for(article_model(), GetParam(), 48), sync, world), 0);
}

TEST_P(NoAllocation, BucketedGradientSyncAllocatesNothingPerStep) {
  LocalCommunicator world;
  BucketedAllreduce sync(world, 4096, true);
  keras::Sequential m({14});
  m.add(keras::Dense(128).activation("relu"));
  m.add(keras::BatchNormalization().synchronized(true));
  m.add(keras::Dense(2).activation("softmax"));
  EXPECT_EQ(allocations_in_steps(config_for(m.spec(), GetParam(), 64), sync, world), 0);
}

// Every image layer and synchronized BatchNormalization over [N, H, W, C];
// the first convolution's patches (110 KB per 32x32x3 sample) take several
// blocks per batch.
TEST_P(NoAllocation, ConvolutionalModelTrainingStepAllocatesNothing) {
  LocalCommunicator world;
  BucketedAllreduce sync(world, 4096, true);
  keras::Sequential m({32, 32, 3});
  m.add(keras::Conv2D(8, 3).padding("same").use_bias(false));
  m.add(keras::BatchNormalization());
  m.add(keras::Activation("relu"));
  m.add(keras::MaxPooling2D(2));
  m.add(keras::Conv2D(12, {2, 3}).strides(2).padding("same").activation("tanh"));
  m.add(keras::AveragePooling2D(2).strides(1).padding("same"));
  m.add(keras::Conv2D(6, 1));
  m.add(keras::Dropout(0.25f));
  m.add(keras::Flatten());
  m.add(keras::Dense(2).activation("softmax"));
  EXPECT_EQ(allocations_in_steps(config_for(m.spec(), GetParam(), 40), sync, world), 0);
  keras::Sequential g({8, 8, 2});
  g.add(keras::Conv2D(4, 3)).add(keras::GlobalAveragePooling2D()).add(keras::Dense(2).activation("softmax"));
  EXPECT_EQ(allocations_in_steps(config_for(g.spec(), GetParam(), 40), sync, world), 0);
}

// With the timeline on, each step records into the reserved events only.
TEST_P(NoAllocation, TracedTrainingStepAllocatesNothing) {
  LocalCommunicator world;
  NoGradientSync sync;
  TraceRecorder recorder(size_t{1} << 14);
  set_active_trace(&recorder);
  const long allocations = allocations_in_steps(config_for(article_model(), GetParam(), 48), sync, world);
  set_active_trace(nullptr);
  EXPECT_EQ(allocations, 0);
  EXPECT_GT(recorder.recorded(), 100u);
  EXPECT_EQ(recorder.dropped(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, NoAllocation, ::testing::Values("sgd", "adam", "adamw", "rmsprop"));

}  // namespace
}  // namespace lockstep
