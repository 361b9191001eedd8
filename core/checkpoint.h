// Checkpoint files (layout in proto/checkpoint.proto): written by one rank,
// atomically (temporary file, fsync, rename, fsync of the folder), verified
// on read (magic, version, per-record and whole-file CRC-32, sizes checked
// against the file before anything is allocated).
#pragma once

#include <string>
#include <vector>

#include "checkpoint.pb.h"
#include "core/shape.h"

namespace lockstep {

class Model;
class Optimizer;

inline constexpr uint32_t kCheckpointFormatVersion = 1;

struct TensorRef {
  std::string name;
  TensorRecord::Kind kind = TensorRecord::PARAMETER;
  Shape shape;
  const float* data = nullptr;
};

struct TensorData {
  std::string name;
  TensorRecord::Kind kind = TensorRecord::PARAMETER;
  Shape shape;
  std::vector<float> values;
};

struct CheckpointContents {
  CheckpointHeader header;
  std::vector<TensorData> tensors;
  const TensorData* find(const std::string& name) const;
};

// Writes atomically; never leaves a partial file at `path`. Errors: exit 1.
void write_checkpoint(const std::string& path, CheckpointHeader header, const std::vector<TensorRef>& tensors);

// Reads and verifies. Errors name the file: exit status 2 (bad input).
CheckpointContents read_checkpoint(const std::string& path);

// Every parameter, state tensor and (if optimizer is not null) optimizer slot.
std::vector<TensorRef> collect_tensors(Model& model, Optimizer* optimizer);

// Copies tensors into the model (and optimizer). Any tensor missing, extra or
// of another shape is an error listing all the differences. Without an
// optimizer, optimizer slots in the checkpoint are ignored.
void restore_tensors(const CheckpointContents& ckpt, Model& model, Optimizer* optimizer, const std::string& where);

}  // namespace lockstep
