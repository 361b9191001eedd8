// A small Training for driving callbacks by hand: they get on_train_begin
// with it and epoch metrics the test makes up.
#pragma once

#include <memory>

#include "core/data/dataset.h"
#include "core/gradient_sync.h"
#include "core/keras.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "core/training.h"
#include "distributed/local_communicator.h"
#include "train.pb.h"

namespace lockstep::callbacktest {

struct SmallRun {
  SmallRun() {
    keras::Sequential m({4});
    m.add(keras::Dense(3)).add(keras::BatchNormalization()).add(keras::Dense(2).activation("softmax"));
    *config.mutable_model() = m.spec();
    config.mutable_data()->mutable_synthetic()->set_samples(64);
    config.mutable_data()->mutable_synthetic()->set_features(4);
    config.mutable_optimizer()->mutable_sgd()->set_learning_rate(0.1f);
    config.set_batch_size(16);
    data = load_dataset(config.data(), "data");
    model = std::make_unique<Model>(config.model(), 1);
    model->connect(world);
    optimizer = make_optimizer(config.optimizer(), "optimizer");
    training = std::make_unique<Training>(config, *model, *optimizer, loss, data, nullptr, world, sync);
  }
  TrainConfig config;
  Dataset data;
  LocalCommunicator world;
  NoGradientSync sync;
  Loss loss{"sparse_categorical_crossentropy", "loss"};
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<Training> training;
};

inline EpochMetrics epoch(int64_t n, double val_loss, double val_accuracy = 0.5) {
  EpochMetrics m;
  m.set_epoch(n);
  m.set_loss(val_loss);
  m.set_accuracy(val_accuracy);
  m.set_val_loss(val_loss);
  m.set_val_accuracy(val_accuracy);
  return m;
}

}  // namespace lockstep::callbacktest
