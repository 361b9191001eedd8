// Uses an installed lockstep as a library: builds a Keras-style model in C++
// (core/keras.h), trains it for a few epochs on synthetic data, and writes a
// checkpoint that the installed `trainer inspect` and `trainer evaluate` read.
//
//   consumer OUT_DIR     writes OUT_DIR/model.pb and OUT_DIR/config.pbtxt
//
// Prints the loss before and after training and, last, the final evaluation
// as `trainer evaluate` prints it ({"samples": N, "loss": L, "accuracy": A}).
#include <lockstep/proto/train.pb.h>  // the generated messages, by their installed path
#include <lockstep/version.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/data/dataset.h"
#include "core/error.h"
#include "core/gradient_sync.h"
#include "core/keras.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "core/threads.h"
#include "core/training.h"
#include "distributed/runtime.h"
#include "model.pb.h"  // the include style inside lockstep works too

using namespace lockstep;

namespace {

int fail(const std::string& what) {
  std::fprintf(stderr, "consumer: FAIL: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer OUT_DIR\n");
    return 2;
  }
  const std::string out_dir = argv[1];
  std::error_code ignored;  // a folder that cannot be made fails the checkpoint's write, by name
  std::filesystem::create_directories(out_dir, ignored);
  try {
    Runtime runtime;  // started without mpirun: one process, no MPI start-up
    Communicator& world = runtime.world();
    set_compute_threads(1);
    std::printf("consumer: lockstep %s (%s), MPI: %s\n", LOCKSTEP_VERSION, LOCKSTEP_GIT_REVISION,
                mpi_library_version().c_str());

    keras::Sequential net({8});
    net.add(keras::Dense(32).kernel_initializer("glorot_uniform"));
    net.add(keras::BatchNormalization());
    net.add(keras::Activation("relu"));
    net.add(keras::Dropout(0.1));
    net.add(keras::Dense(3).activation("softmax"));

    TrainConfig config;
    *config.mutable_model() = net.spec();
    SyntheticData* synthetic = config.mutable_data()->mutable_synthetic();
    synthetic->set_samples(600);
    synthetic->set_features(8);
    synthetic->set_classes(3);
    config.set_loss("sparse_categorical_crossentropy");
    config.mutable_optimizer()->mutable_adam()->set_learning_rate(0.01f);
    config.set_batch_size(32);
    config.set_epochs(3);
    config.set_seed(5);
    config.set_run_dir(out_dir);
    config.set_threads(1);
    validate_config(config);

    const Dataset train = load_dataset(config.data(), "data");
    Model model(config.model(), config.seed());
    Loss loss(config.loss(), "loss");
    loss.check_labels(train, model.output_width(), "loss");
    auto optimizer = make_optimizer(config.optimizer(), "optimizer");
    model.connect(world);
    NoGradientSync sync;  // one process: nothing to sum
    Training training(config, model, *optimizer, loss, train, nullptr, world, sync);

    size_t parameters = 0;
    for (const ParameterInfo& p : model.parameters().entries()) parameters += p.size;
    const EvalResult before = training.evaluate(train);
    std::printf("consumer: %zu layers, %zu parameters; before training: loss %.4f, accuracy %.4f\n",
                model.layer_count(), parameters, before.loss, before.accuracy);
    std::vector<EpochMetrics> history;
    EvalResult after = before;
    for (int epoch = 0; epoch < config.epochs(); ++epoch) {
      training.begin_epoch(epoch);
      for (int64_t step = 0; step < training.steps_per_epoch(); ++step) training.train_step(step);
      after = training.evaluate(train);
      EpochMetrics m;
      m.set_epoch(epoch + 1);
      m.set_loss(after.loss);
      m.set_accuracy(after.accuracy);
      m.set_steps(training.steps_per_epoch());
      history.push_back(m);
      std::printf("consumer: epoch %d: loss %.4f, accuracy %.4f\n", epoch + 1, after.loss, after.accuracy);
    }
    if (!(after.loss < before.loss)) return fail("training did not lower the loss");

    CheckpointHeader header;
    *header.mutable_model() = config.model();
    *header.mutable_config() = config;
    header.mutable_progress()->set_epoch(config.epochs());
    header.mutable_progress()->set_global_step(training.progress().global_step());
    header.set_seed(config.seed());
    header.set_world_size(world.size());
    header.set_optimizer_kind(optimizer->kind());
    for (const EpochMetrics& m : history) *header.add_history() = m;
    const std::string path = out_dir + "/model.pb";
    write_checkpoint(path, header, collect_tensors(model, optimizer.get()));
    std::FILE* f = std::fopen((out_dir + "/config.pbtxt").c_str(), "w");
    if (!f) return fail("cannot write " + out_dir + "/config.pbtxt");
    std::fputs(to_text(config).c_str(), f);
    std::fclose(f);

    // Read back through the library: every tensor as written.
    const CheckpointContents ckpt = read_checkpoint(path);
    const std::vector<TensorRef> written = collect_tensors(model, optimizer.get());
    if (ckpt.tensors.size() != written.size()) return fail("tensor count differs after reading back");
    for (const TensorRef& t : written) {
      const TensorData* r = ckpt.find(t.name);
      if (!r) return fail("tensor " + t.name + " missing after reading back");
      for (size_t i = 0; i < r->values.size(); ++i)
        if (r->values[i] != t.data[i]) return fail("tensor " + t.name + " differs after reading back");
    }
    std::printf("consumer: wrote %s (%zu tensors, step %lld)\n", path.c_str(), ckpt.tensors.size(),
                static_cast<long long>(ckpt.header.progress().global_step()));
    std::printf("{\"samples\": %lld, \"loss\": %.9g, \"accuracy\": %.9g}\n", static_cast<long long>(after.samples),
                after.loss, after.accuracy);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "consumer: error: %s\n", e.what());
    return e.exit_code();
  }
}
