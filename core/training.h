// The training loop of one rank. Every rank runs the same loop over the same
// global batches; a rank computes only its slice of each batch, gradients are
// summed over ranks by a GradientSync, and every rank applies the same update.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "checkpoint.pb.h"
#include "core/callbacks/callback.h"
#include "core/communicator.h"
#include "core/data/dataset.h"
#include "core/gradient_sync.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "train.pb.h"

namespace lockstep {

struct EvalResult {
  double loss = 0;
  double accuracy = 0;
  int64_t samples = 0;
};

class Training {
 public:
  // `validation` may be null. The model must already be connect()ed.
  Training(const TrainConfig& config, Model& model, Optimizer& optimizer, Loss& loss, const Dataset& train,
           const Dataset* validation, Communicator& world, GradientSync& sync);

  // Runs until config.epochs are done, max_steps optimizer steps were taken
  // or a callback called stop_training() (returns true), or a stop vote
  // ended it (returns false). A stop vote and max_steps leave the epoch
  // open: history gets no partial epoch, and a checkpoint taken afterwards
  // resumes mid-epoch exactly.
  bool fit(CallbackList& callbacks);
  // From a callback's on_epoch_end: the current epoch is the last (Keras'
  // model.stop_training = True). Callbacks decide on global metrics, so
  // every rank asks at the same epoch.
  void stop_training() { stop_training_ = true; }
  bool stop_requested() const { return stop_training_; }
  // A terminate vote (TerminateOnNaN) ended the last fit() mid-epoch.
  bool terminated() const { return terminated_; }

  // One optimizer step on global batch `step_in_epoch` of the current epoch's
  // order (begin_epoch must have been called). Allocates nothing.
  void train_step(int64_t step_in_epoch);
  void begin_epoch(int64_t epoch);
  int64_t steps_per_epoch() const;

  // Loss and accuracy over a whole data set in inference mode, every sample
  // counted exactly once over all ranks.
  EvalResult evaluate(const Dataset& data);

  // Progress, for checkpoints and resume. snapshot_progress() is collective
  // (it sums the epoch's running metrics over ranks): call it on every rank.
  const Progress& progress() const { return progress_; }
  Progress snapshot_progress();
  void set_progress(const Progress& p) { progress_ = p; }
  const std::vector<EpochMetrics>& history() const { return history_; }
  void set_history(std::vector<EpochMetrics> h) { history_ = std::move(h); }
  float current_learning_rate() const;
  // Scales the scheduled rate from now on (ReduceLROnPlateau); 1 = as scheduled.
  void set_learning_rate_factor(double factor) { learning_rate_factor_ = factor; }
  double learning_rate_factor() const { return learning_rate_factor_; }
  // Collective, between steps: the optimizer's slots whole on every rank
  // (a sharded step keeps each rank's current only where it updates). Call
  // it before saving the optimizer's state.
  void gather_optimizer_state() { sync_.gather_optimizer_state(); }

 private:
  struct BatchPlan {
    const int64_t* indices = nullptr;  // this rank's rows, as data set indices
    int64_t rows = 0;
    int64_t batch_offset = 0;  // position of this rank's first row in the global batch
    int64_t global_rows = 0;   // rows of the global batch over all ranks
    int64_t end_position = 0;  // samples of the epoch consumed after this batch
  };
  BatchPlan plan_batch(int64_t step) const;
  StepVotes agreed_votes(CallbackList& callbacks);
  EpochMetrics end_epoch(int64_t epoch, double seconds_this_session);
  void gather(const Dataset& data, const int64_t* indices, int64_t rows);
  void set_up_weights();
  int64_t optimizer_updates() const;

  const TrainConfig& config_;
  Model& model_;
  Optimizer& optimizer_;
  Loss& loss_;
  const Dataset& train_;
  const Dataset* validation_;
  Communicator& world_;
  GradientSync& sync_;
  bool sharded_update_ = false;

  int64_t max_local_rows_ = 0;
  bool local_shards_ = false;         // data.shard_mode LOCAL on several ranks
  std::vector<int64_t> shard_sizes_;  // every rank's part (LOCAL)
  int64_t total_samples_ = 0;         // training samples over all ranks
  std::vector<int64_t> order_;        // the epoch's permutation
  std::vector<float> batch_x_, batch_y_;
  std::vector<float> batch_weights_;  // sample x class weight per row; empty = none
  std::vector<float> class_weights_;  // per class (class_weight), empty = all 1
  Progress progress_;
  std::vector<EpochMetrics> history_;
  int64_t epoch_ = -1;
  LossTotals epoch_totals_;   // this rank's sums over the epoch so far
  int64_t local_samples_ = 0;
  double session_start_ = 0;  // when this process started the current epoch
  bool stop_training_ = false;
  bool terminated_ = false;
  double learning_rate_factor_ = 1.0;
};

}  // namespace lockstep
