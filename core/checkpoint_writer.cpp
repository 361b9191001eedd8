#include "core/checkpoint_writer.h"

#include "core/checkpoint.h"
#include "core/run_dir.h"
#include "core/trace.h"

namespace lockstep {

bool CheckpointWriter::collect(CheckpointHeader& header, std::vector<TensorRef>& tensors) {
  model_.unify_state(world_);                               // one model per run
  const Progress progress = training_.snapshot_progress();  // the epoch's sums over ranks
  training_.gather_optimizer_state();                       // the sharded step's slots, whole
  if (!root()) return false;
  *header.mutable_model() = config_.model();
  *header.mutable_config() = config_;
  *header.mutable_progress() = progress;
  header.set_seed(config_.seed());
  header.set_world_size(world_.size());
  for (const EpochMetrics& m : training_.history()) *header.add_history() = m;
  header.set_optimizer_kind(optimizer_.kind());
  callbacks_.save_state(header);
  tensors = collect_tensors(model_, &optimizer_);
  callbacks_.collect_tensors(tensors);
  return true;
}

void CheckpointWriter::write(const std::string& path) {
  ScopedTraceEvent event("checkpoint", TraceCategory::kCheckpoint);
  CheckpointHeader header;
  std::vector<TensorRef> tensors;
  if (!collect(header, tensors)) return;
  background_.wait();
  write_checkpoint(path, header, tensors);
}

std::string CheckpointWriter::write_periodic(bool background) {
  const std::string path = checkpoint_path(config_.run_dir(), training_.progress().global_step());
  ScopedTraceEvent event("checkpoint (periodic)", TraceCategory::kCheckpoint);
  CheckpointHeader header;
  std::vector<TensorRef> tensors;
  // Decided after the collective part, on rank 0 alone: only it writes.
  if (!collect(header, tensors)) return path;
  const bool in_background = background && config_.checkpoint().background();
  if (in_background && config_.checkpoint().when_busy() == "skip" && background_.writing()) {
    ++skipped_;
    return "";
  }
  const std::string run_dir = config_.run_dir();
  const int keep = config_.checkpoint().keep();
  auto prune = [run_dir, keep] { prune_checkpoints(run_dir, keep); };
  if (in_background) {
    ScopedTraceEvent snapshot("checkpoint snapshot (copy for the background writer)", TraceCategory::kCheckpoint);
    background_.submit(path, std::move(header), tensors, prune);
  } else {
    background_.wait();
    write_checkpoint(path, header, tensors);
    prune();
  }
  return path;
}

}  // namespace lockstep
