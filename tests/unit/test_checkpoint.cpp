// Checkpoint files: every tensor and optimizer slot round-trips bit for bit,
// large tensors are chunked, and damaged files (truncated, flipped byte, wrong
// magic or version, absurd declared sizes) give a clear input error — never a
// crash or a huge allocation.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/keras.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "train.pb.h"
#include "temp_files.h"

namespace lockstep {
namespace {

using test_files::temp_dir;
using test_files::read_bytes;
using test_files::write_bytes;

ModelSpec small_model(int hidden = 8) {
  keras::Sequential m({4});
  m.add(keras::Dense(hidden).kernel_initializer("uniform"));
  m.add(keras::BatchNormalization());
  m.add(keras::Activation("relu"));
  m.add(keras::Dense(3).activation("softmax"));
  return m.spec();
}

// A model and an Adam optimizer that have taken a few (fake) steps, so every
// tensor and slot holds something non-trivial.
struct Trained {
  explicit Trained(uint64_t seed) : model(small_model(), seed) {
    OptimizerSpec spec;
    spec.mutable_adam();
    optimizer = make_optimizer(spec, "optimizer");
    ParameterStore& p = model.parameters();
    optimizer->reserve(p.trainable_count());
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < p.trainable_count(); ++i) p.trainable_grads()[i] = 0.01f * (i % 7) - 0.02f * step;
      optimizer->step(p.trainable_values(), p.trainable_grads(), p.trainable_count(), 0.01f);
    }
    for (size_t i = 0; i < p.state_count(); ++i) p.state_values()[i] = 0.5f + 0.001f * i;
  }
  Model model;
  std::unique_ptr<Optimizer> optimizer;
};

std::string write_trained(const std::string& dir, Trained& t) {
  CheckpointHeader header;
  *header.mutable_model() = t.model.spec();
  header.mutable_progress()->set_global_step(3);
  header.set_optimizer_kind(t.optimizer->kind());
  header.set_world_size(2);
  const std::string path = dir + "/ckpt.pb";
  write_checkpoint(path, header, collect_tensors(t.model, t.optimizer.get()));
  return path;
}

void expect_input_error(const std::string& path, const std::string& fragment) {
  try {
    read_checkpoint(path);
    FAIL() << "no error for " << path << " (wanted '" << fragment << "')";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput);
    EXPECT_EQ(e.where(), path);
    EXPECT_NE(e.message().find(fragment), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, EveryTensorAndOptimizerSlotRoundTripsBitForBit) {
  const std::string dir = temp_dir("ckpt");
  Trained original(1);
  const std::string path = write_trained(dir, original);
  const CheckpointContents ckpt = read_checkpoint(path);
  EXPECT_EQ(ckpt.header.format_version(), kCheckpointFormatVersion);
  EXPECT_EQ(ckpt.header.world_size(), 2);
  EXPECT_EQ(ckpt.header.progress().global_step(), 3);

  Trained restored(99);  // different initial values everywhere
  restore_tensors(ckpt, restored.model, restored.optimizer.get(), path);
  for (const TensorRef& want : collect_tensors(original.model, original.optimizer.get())) {
    bool found = false;
    for (const TensorRef& got : collect_tensors(restored.model, restored.optimizer.get())) {
      if (got.name != want.name) continue;
      found = true;
      EXPECT_EQ(got.kind, want.kind) << want.name;
      EXPECT_EQ(0, std::memcmp(got.data, want.data, sizeof(float) * numel(want.shape))) << want.name;
    }
    EXPECT_TRUE(found) << want.name;
  }
  // Names a user can read: parameters, moving statistics, slots.
  EXPECT_NE(ckpt.find("dense_1/kernel"), nullptr);
  EXPECT_NE(ckpt.find("batch_normalization_1/moving_variance"), nullptr);
  EXPECT_NE(ckpt.find("adam/m/dense_1/kernel"), nullptr);
  EXPECT_NE(ckpt.find("adam/v/dense_2/bias"), nullptr);
}

TEST(Checkpoint, LargeTensorsAreSplitIntoRecordsAndReassembled) {
  const std::string dir = temp_dir("ckpt");
  std::vector<float> big(static_cast<size_t>(5) << 20);  // 20 MiB: two records
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i % 1000003) * 0.5f;
  CheckpointHeader header;
  write_checkpoint(dir + "/big.pb", header, {{"big", TensorRecord::PARAMETER, {5, 1 << 20}, big.data()}});
  const CheckpointContents c = read_checkpoint(dir + "/big.pb");
  EXPECT_EQ(c.header.record_count(), 2);
  ASSERT_EQ(c.tensors.size(), 1u);
  EXPECT_EQ(c.tensors[0].values, big);
}

TEST(Checkpoint, NoTemporaryFileIsLeftBehind) {
  const std::string dir = temp_dir("ckpt");
  Trained t(1);
  write_trained(dir, t);
  write_trained(dir, t);  // replacing an existing checkpoint
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"ckpt.pb"});
}

TEST(Checkpoint, EveryTruncationIsAnError) {
  const std::string dir = temp_dir("ckpt");
  Trained t(1);
  const std::string bytes = read_bytes(write_trained(dir, t));
  const std::string cut = dir + "/cut.pb";
  for (size_t n = 0; n < bytes.size(); n += std::max<size_t>(1, bytes.size() / 97)) {
    write_bytes(cut, bytes.substr(0, n));
    EXPECT_THROW(read_checkpoint(cut), Error) << "cut at " << n;
  }
}

TEST(Checkpoint, EveryFlippedByteIsAnError) {
  const std::string dir = temp_dir("ckpt");
  Trained t(1);
  const std::string bytes = read_bytes(write_trained(dir, t));
  const std::string flipped = dir + "/flipped.pb";
  for (size_t at = 0; at < bytes.size(); at += 7) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x10);
    write_bytes(flipped, damaged);
    EXPECT_THROW(read_checkpoint(flipped), Error) << "byte " << at;
  }
}

TEST(Checkpoint, WrongMagicAndWrongVersionAreNamed) {
  const std::string dir = temp_dir("ckpt");
  Trained t(1);
  const std::string bytes = read_bytes(write_trained(dir, t));
  write_bytes(dir + "/magic.pb", "NOTCKPT!" + bytes.substr(8));
  expect_input_error(dir + "/magic.pb", "bad magic");

  // Same file with format_version 99 (and a footer CRC that matches it).
  CheckpointHeader header;
  header.set_format_version(99);
  std::string file = "LKSTCKPT";
  const std::string body = header.SerializeAsString();
  file += static_cast<char>(body.size());
  file += body;
  write_bytes(dir + "/version.pb", file);
  expect_input_error(dir + "/version.pb", "format version 99 is not supported");
}

TEST(Checkpoint, AnEnormousDeclaredTensorIsRejectedBeforeAllocating) {
  const std::string dir = temp_dir("ckpt");
  CheckpointHeader header;
  header.set_format_version(kCheckpointFormatVersion);
  header.set_record_count(1);
  TensorRecord record;
  record.set_name("huge");
  record.add_shape(1000000);
  record.add_shape(1000000);  // 4 TB of floats
  record.set_data(std::string(16, '\0'));
  record.set_crc32(static_cast<uint32_t>(crc32_z(0L, reinterpret_cast<const Bytef*>(record.data().data()), 16)));
  std::string file = "LKSTCKPT";
  for (const google::protobuf::Message* m : {static_cast<const google::protobuf::Message*>(&header),
                                             static_cast<const google::protobuf::Message*>(&record)}) {
    const std::string body = m->SerializeAsString();
    file += static_cast<char>(body.size());
    file += body;
  }
  write_bytes(dir + "/huge.pb", file);
  expect_input_error(dir + "/huge.pb", "larger than the file");

  header.set_record_count(int64_t{1} << 40);
  write_bytes(dir + "/records.pb", "LKSTCKPT" + std::string(1, static_cast<char>(header.ByteSizeLong())) +
                                       header.SerializeAsString());
  expect_input_error(dir + "/records.pb", "records: damaged");
}

TEST(Checkpoint, AModelThatDoesNotMatchListsEveryDifference) {
  const std::string dir = temp_dir("ckpt");
  Trained t(1);
  const CheckpointContents ckpt = read_checkpoint(write_trained(dir, t));
  Model other(small_model(/*hidden=*/16), 1);
  try {
    restore_tensors(ckpt, other, nullptr, "ckpt.pb");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitInput);
    EXPECT_NE(e.message().find("'dense_1/kernel' has shape [4, 8], the model needs [4, 16]"), std::string::npos)
        << e.message();
    EXPECT_NE(e.message().find("'batch_normalization_1/gamma' has shape [8]"), std::string::npos) << e.message();
  }
}

}  // namespace
}  // namespace lockstep
