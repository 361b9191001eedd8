#include "core/checkpoint_writer.h"

#include "core/checkpoint.h"
#include "core/run_dir.h"

namespace lockstep {

void CheckpointWriter::write(const std::string& path) {
  model_.unify_state(world_);                               // one model per run
  const Progress progress = training_.snapshot_progress();  // the epoch's sums over ranks
  training_.gather_optimizer_state();                       // the sharded step's slots, whole
  if (!root()) return;
  CheckpointHeader header;
  *header.mutable_model() = config_.model();
  *header.mutable_config() = config_;
  *header.mutable_progress() = progress;
  header.set_seed(config_.seed());
  header.set_world_size(world_.size());
  for (const EpochMetrics& m : training_.history()) *header.add_history() = m;
  header.set_optimizer_kind(optimizer_.kind());
  callbacks_.save_state(header);
  std::vector<TensorRef> tensors = collect_tensors(model_, &optimizer_);
  callbacks_.collect_tensors(tensors);
  write_checkpoint(path, header, tensors);
}

std::string CheckpointWriter::write_periodic() {
  const std::string path = checkpoint_path(config_.run_dir(), training_.progress().global_step());
  write(path);
  if (root()) prune_checkpoints(config_.run_dir(), config_.checkpoint().keep());
  return path;
}

}  // namespace lockstep
