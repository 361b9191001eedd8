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

// Reads and verifies. Errors name the file: exit status 2 (bad input), or 1
// when the OS cannot read it. Every byte of the file is checked: magic,
// header and records by the file's CRC-32 (records by their own CRC-32 too),
// the footer by being exactly what write_checkpoint writes for that CRC and
// the header's record count. Tensor records must assemble whole tensors,
// each once; progress and history fields must be in range.
CheckpointContents read_checkpoint(const std::string& path);
// The same for a file's bytes already in memory; errors name `where`.
CheckpointContents parse_checkpoint(const std::string& bytes, const std::string& where);

// Why a checkpoint cannot continue a run of `config` with an optimizer of
// `optimizer_kind`, one item per difference: the model's input shape, layer
// types and order, every layer option that changes what it computes (all but
// names and initializers), the optimizer's kind and hyper-parameters (when
// the checkpoint holds its config). Empty: it can.
std::vector<std::string> resume_differences(const CheckpointHeader& saved, const TrainConfig& config,
                                            const std::string& optimizer_kind);
// An input error at `where` (exit 2) listing resume_differences, if any.
void check_resumable(const CheckpointHeader& saved, const TrainConfig& config, const std::string& optimizer_kind,
                     const std::string& where);

// Every parameter, state tensor and (if optimizer is not null) optimizer slot.
std::vector<TensorRef> collect_tensors(Model& model, Optimizer* optimizer);

// Copies tensors into the model (and optimizer). Any tensor missing, extra or
// of another shape is an error listing all the differences. Without an
// optimizer, optimizer slots in the checkpoint are ignored.
void restore_tensors(const CheckpointContents& ckpt, Model& model, Optimizer* optimizer, const std::string& where);

// Builds the model (and optimizer) the header describes and checks that the
// tensors are exactly theirs: any tensor missing, extra or of another shape
// is an input error naming it. For `inspect`; restore_tensors does the same
// for evaluate, export and resume.
void check_tensors_match_header(const CheckpointContents& ckpt, const std::string& where);

}  // namespace lockstep
