#include "core/callbacks/model_checkpoint.h"

#include "core/config.h"
#include "core/run_dir.h"

namespace lockstep {

void ModelCheckpoint::save() {
  last_path_ = writer_.write_periodic();
  last_save_ = std::chrono::steady_clock::now();
}

void ModelCheckpoint::on_step_end(const StepEnd& step) {
  const int64_t every = config_.checkpoint().every_steps();
  if (every > 0 && step.global_step % every == 0) save();
}

void ModelCheckpoint::vote(StepVotes& votes) {
  const float minutes = config_.checkpoint().every_minutes();
  if (minutes <= 0 || !writer_.root()) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_save_).count();
  if (elapsed >= 60.0 * minutes) votes.checkpoint = true;
}

void ModelCheckpoint::on_epoch_end(const EpochMetrics&) {
  if (config_.checkpoint().every_epoch()) save();
}

// Always a last checkpoint (a stopped run resumes from it), and the final
// model for evaluate/predict when training finished.
void ModelCheckpoint::on_train_end(bool finished) {
  save();
  if (!finished) return;
  const std::string final_dir = run_file(config_.run_dir(), "final");
  if (writer_.root()) make_dirs(final_dir);
  writer_.write(final_dir + "/model.pb");
  if (writer_.root()) write_text_file(final_dir + "/config.pbtxt", to_text(config_), false);
}

}  // namespace lockstep
