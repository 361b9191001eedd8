#include "core/callbacks/model_checkpoint.h"

#include <utility>

#include "core/config.h"
#include "core/run_dir.h"

namespace lockstep {

ModelCheckpoint::ModelCheckpoint(const TrainConfig& config, CheckpointWriter& writer, bool has_validation)
    : config_(config), writer_(writer) {
  const CheckpointSpec& c = config.checkpoint();
  if (c.save_best_only()) best_monitor_.emplace(c.monitor(), c.mode(), has_validation, "checkpoint");
  if (best_monitor_) best_ = best_monitor_->worst();
}

void ModelCheckpoint::restore_state(const CallbackState& state) {
  if (best_monitor_ && state.values().count("best")) best_ = state.values().at("best");
}

// RUN_DIR/<folder>/model.pb and config.pbtxt.
void ModelCheckpoint::save_to(const std::string& folder) {
  const std::string dir = run_file(config_.run_dir(), folder);
  if (writer_.root()) make_dirs(dir);
  writer_.write(dir + "/model.pb");
  if (writer_.root()) write_text_file(dir + "/config.pbtxt", to_text(config_), false);
}

void ModelCheckpoint::save(bool background) {
  std::string path = writer_.write_periodic(background);
  if (!path.empty()) last_path_ = std::move(path);
  last_save_ = std::chrono::steady_clock::now();
}

// A background write that failed ends the run at the step after it finished.
void ModelCheckpoint::on_step_end(const StepEnd& step) {
  if (writer_.root()) writer_.rethrow_background_failure();
  const int64_t every = config_.checkpoint().every_steps();
  if (every > 0 && step.global_step % every == 0) save(true);
}

void ModelCheckpoint::vote(StepVotes& votes) {
  const float minutes = config_.checkpoint().every_minutes();
  if (minutes <= 0 || !writer_.root()) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_save_).count();
  if (elapsed >= 60.0 * minutes) votes.checkpoint = true;
}

void ModelCheckpoint::on_epoch_end(const EpochMetrics& m) {
  if (best_monitor_ && best_monitor_->improves(best_monitor_->value(m), best_, 0.0)) {
    best_ = best_monitor_->value(m);
    save_to("best");
  }
  if (config_.checkpoint().every_epoch()) save(true);
}

// Always a last checkpoint (a stopped run resumes from it), and the final
// model for evaluate/predict when training finished. Written before
// returning, after the background write in flight: a stopped run (SIGTERM)
// exits only when its checkpoints are on disk.
void ModelCheckpoint::on_train_end(bool finished) {
  save(false);
  if (finished) save_to("final");
}

}  // namespace lockstep
