// The checkpoint writer's bytes are pinned: a checkpoint of a fixed model,
// header and tensors must be byte for byte the file that the hand-written
// framing of lockstep 0.3.0 (dcfa176) wrote, so that changing how records
// are framed can never change the format. fixtures/checkpoint_golden.pb was
// written by that code from exactly what fixed_checkpoint() builds; a
// tensor large enough for two records is pinned by its size and CRC-32.
#include <gtest/gtest.h>
#include <google/protobuf/text_format.h>
#include <unistd.h>
#include <zlib.h>

#include <fstream>
#include <sstream>

#include "core/checkpoint.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "train.pb.h"
#include "temp_files.h"

namespace lockstep {
namespace {

using test_files::temp_dir;
using test_files::read_bytes;

const std::string kFixtures = LOCKSTEP_SOURCE_DIR "/tests/unit/fixtures/";

// Values from integer arithmetic only (exact in float), so every build and
// ISA path writes the same bits.
float fixed_value(size_t i, int salt) { return static_cast<float>(static_cast<int>((i * 37 + salt) % 201) - 100) / 64.0f; }

// The v1 fixture's config and model; parameters, moving statistics and SGD
// momentum slots set to fixed values; a header with every kind of field.
struct FixedCheckpoint {
  FixedCheckpoint() {
    std::ifstream in(kFixtures + "checkpoint_v1.pbtxt");
    std::stringstream text;
    text << in.rdbuf();
    if (!google::protobuf::TextFormat::ParseFromString(text.str(), &config)) ADD_FAILURE() << "pbtxt";
    model = std::make_unique<Model>(config.model(), 7);
    ParameterStore& p = model->parameters();
    optimizer = make_optimizer(config.optimizer(), "optimizer");
    optimizer->reserve(p.trainable_count());
    for (size_t i = 0; i < p.trainable_count(); ++i) p.trainable_grads()[i] = fixed_value(i, 5);
    optimizer->step(p.trainable_values(), p.trainable_grads(), p.trainable_count(), 0.5f);  // momentum = -0.5 g
    for (size_t i = 0; i < p.trainable_count(); ++i) p.trainable_values()[i] = fixed_value(i, 1);
    for (size_t i = 0; i < p.state_count(); ++i) p.state_values()[i] = fixed_value(i, 3);
    *header.mutable_model() = config.model();
    *header.mutable_config() = config;
    Progress& progress = *header.mutable_progress();
    progress.set_epoch(2);
    progress.set_step_in_epoch(3);
    progress.set_global_step(13);
    progress.set_position_in_epoch(96);
    progress.set_train_seconds_in_epoch(0.25);
    progress.set_loss_sum_in_epoch(1.5);
    progress.set_correct_in_epoch(40);
    progress.set_samples_in_epoch(96);
    header.set_seed(7);
    header.set_world_size(3);
    for (int e = 1; e <= 2; ++e) {
      EpochMetrics& m = *header.add_history();
      m.set_epoch(e);
      m.set_loss(1.0 / e);
      m.set_accuracy(0.5 + 0.125 * e);
      m.set_steps(5);
      m.set_learning_rate(0.05);
    }
    header.set_optimizer_kind(optimizer->kind());
    CallbackState& early = *header.add_callbacks();
    early.set_name("early_stopping");
    (*early.mutable_values())["best"] = 0.75;  // one entry: a map's order is protobuf's choice
  }
  TrainConfig config;
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
  CheckpointHeader header;
};

TEST(CheckpointGolden, AFixedModelsCheckpointIsByteIdenticalToTheCommittedOne) {
  FixedCheckpoint fixed;
  const std::string path = temp_dir("golden") + "/fixed.pb";
  write_checkpoint(path, fixed.header, collect_tensors(*fixed.model, fixed.optimizer.get()));
  const std::string golden = read_bytes(kFixtures + "checkpoint_golden.pb");
  ASSERT_FALSE(golden.empty()) << "missing fixtures/checkpoint_golden.pb";
  const std::string fresh = read_bytes(path);
  EXPECT_EQ(fresh.size(), golden.size());
  EXPECT_TRUE(fresh == golden) << "the writer no longer writes the committed bytes";
  const CheckpointContents back = read_checkpoint(path);
  EXPECT_EQ(back.header.record_count(), 14);  // 6 parameters, 2 moving statistics, 6 momentum slots
}

TEST(CheckpointGolden, ATensorOfTwoRecordsIsWrittenAsBefore) {
  std::vector<float> big((size_t{4} << 20) + 3);  // one full 16 MiB record and 3 floats
  for (size_t i = 0; i < big.size(); ++i) big[i] = fixed_value(i, 11);
  CheckpointHeader header;
  header.set_optimizer_kind("sgd");
  const std::string path = temp_dir("golden") + "/big.pb";
  write_checkpoint(path, header, {{"big", TensorRecord::PARAMETER, {static_cast<int64_t>(big.size())}, big.data()},
                                  {"after", TensorRecord::STATE, {2}, big.data() + 7}});
  const std::string bytes = read_bytes(path);
  // Size and CRC-32 of the file the 0.3.0 writer (dcfa176) wrote for this.
  EXPECT_EQ(bytes.size(), 16777339u);
  EXPECT_EQ(crc32_z(0L, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()), 1795857402u);
}

}  // namespace
}  // namespace lockstep
