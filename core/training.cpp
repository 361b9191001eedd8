#include "core/training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/data/batching.h"
#include "core/error.h"
#include "core/evaluate.h"
#include "core/trace.h"

namespace lockstep {
namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Training::Training(const TrainConfig& config, Model& model, Optimizer& optimizer, Loss& loss, const Dataset& train,
                   const Dataset* validation, Communicator& world, GradientSync& sync)
    : config_(config),
      model_(model),
      optimizer_(optimizer),
      loss_(loss),
      train_(train),
      validation_(validation),
      world_(world),
      sync_(sync) {
  if (config.batch_size() <= 0)
    throw_input_error("batch_size", "must be > 0, got " + std::to_string(config.batch_size()));
  if (config.epochs() < 0) throw_input_error("epochs", "must be >= 0, got " + std::to_string(config.epochs()));
  const int ranks = world.size();
  max_local_rows_ = std::max<int64_t>(1, (config.batch_size() + ranks - 1) / ranks);
  model.reserve(max_local_rows_);
  batch_x_.assign(static_cast<size_t>(max_local_rows_ * train.sample_size()), 0.0f);
  batch_y_.assign(static_cast<size_t>(max_local_rows_ * train.label_width), 0.0f);
  order_.assign(static_cast<size_t>(train.num_samples), 0);
  local_shards_ = config.data().shard_mode() == DataSpec::LOCAL && ranks > 1;
  if (local_shards_) {
    // Each rank holds only its part of the file; everyone needs every part's
    // size to agree on the number of steps and the global batch sizes.
    shard_sizes_.assign(static_cast<size_t>(ranks), 0);
    const int64_t mine = train.num_samples;
    world.allgather(&mine, shard_sizes_.data(), sizeof(int64_t));
    for (int64_t n : shard_sizes_) total_samples_ += n;
  } else {
    total_samples_ = train.num_samples;
  }
  set_up_weights();
  loss.set_label_smoothing(config.label_smoothing(), "label_smoothing");
  ParameterStore& params = model.parameters();
  optimizer.reserve(params.trainable_count());
  std::vector<VariableRange> variables;
  for (const ParameterInfo& p : params.entries())
    if (p.trainable) variables.push_back(VariableRange{p.offset, p.size});
  optimizer.set_variables(std::move(variables));
  if (config.distributed().shard_optimizer() && params.trainable_count() > 0) {
    // Parameters and gradients where every rank of the node reaches them:
    // the sharded step then reads gradients and writes parameters in place
    // instead of copying both through staging buffers.
    const size_t count = params.trainable_count();
    if (float* shared = sync.shared_arena(2 * count)) model.place_trainable(shared, shared + count);
  }
  sync.attach(params.trainable_grads(), params.trainable_count());
  sharded_update_ = config.distributed().shard_optimizer() && optimizer.updates_by_range() &&
                    sync.shard_update(optimizer, params.trainable_values());
  if (loss.fuses_with(model.final_activation())) {
    loss.set_fused(true);
    model.fuse_final_activation();
  }
}

// Keras' class_weight and CSV sample weights become one weight per row.
void Training::set_up_weights() {
  if (!config_.class_weight().empty()) {
    if (train_.label_kind == LabelKind::kValue)
      throw_input_error("class_weight", "needs class labels; the training data has regression targets");
    const int32_t classes = std::max<int32_t>(train_.num_classes, train_.label_width);
    class_weights_.assign(static_cast<size_t>(classes), 1.0f);
    for (const auto& [cls, weight] : config_.class_weight()) {
      const std::string where = "class_weight[" + std::to_string(cls) + "]";
      if (cls < 0 || cls >= classes)
        throw_input_error(where, "no such class: the data has classes 0.." + std::to_string(classes - 1));
      if (!(weight >= 0 && std::isfinite(weight)))
        throw_input_error(where, "must be a finite number >= 0, got " + std::to_string(weight));
      class_weights_[static_cast<size_t>(cls)] = weight;
    }
  }
  if (!class_weights_.empty() || !train_.weights.empty())
    batch_weights_.assign(static_cast<size_t>(max_local_rows_), 1.0f);
}

int64_t Training::steps_per_epoch() const {
  return (total_samples_ + config_.batch_size() - 1) / config_.batch_size();
}

// GLOBAL: global batch s is positions [s*B, s*B + rows) of the epoch's one
// order, split into contiguous as-even-as-possible slices. LOCAL: rank r
// takes its share b_r of every batch from its own part, in its own order;
// near the end of an epoch a short part simply contributes fewer rows.
Training::BatchPlan Training::plan_batch(int64_t step) const {
  const int64_t batch = config_.batch_size();
  BatchPlan plan;
  if (!local_shards_) {
    const int64_t start = step * batch;
    plan.global_rows = std::min(batch, train_.num_samples - start);
    const Slice mine = even_slice(plan.global_rows, world_.rank(), world_.size());
    plan.indices = order_.data() + start + mine.begin;
    plan.rows = mine.size;
    plan.batch_offset = mine.begin;
    plan.end_position = start + plan.global_rows;
    return plan;
  }
  for (int r = 0; r < world_.size(); ++r) {
    const int64_t share = even_slice(batch, r, world_.size()).size;
    const int64_t rows = std::max<int64_t>(0, std::min(share, shard_sizes_[r] - step * share));
    if (r < world_.rank()) plan.batch_offset += rows;
    if (r == world_.rank()) {
      plan.rows = rows;
      plan.indices = order_.data() + std::min(step * share, train_.num_samples);
    }
    plan.global_rows += rows;
  }
  plan.end_position = std::min(total_samples_, (step + 1) * batch);
  return plan;
}

void Training::begin_epoch(int64_t epoch) {
  epoch_ = epoch;
  // LOCAL shards shuffle inside their part, each with its own key.
  const uint64_t key = local_shards_ ? hash_combine(config_.seed(), static_cast<uint64_t>(world_.rank())) : config_.seed();
  epoch_permutation(key, epoch, config_.shuffle(), order_);
  epoch_totals_ = LossTotals{};
  local_samples_ = 0;
}

void Training::gather(const Dataset& data, const int64_t* indices, int64_t rows) {
  const int64_t width = data.sample_size(), label_width = data.label_width;
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(batch_x_.data() + r * width, data.sample(indices[r]), sizeof(float) * width);
    std::memcpy(batch_y_.data() + r * label_width, data.label(indices[r]), sizeof(float) * label_width);
  }
  if (batch_weights_.empty()) return;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = indices[r];
    float w = data.weights.empty() ? 1.0f : data.weights[static_cast<size_t>(i)];
    if (!class_weights_.empty()) {
      const float* label = data.label(i);
      const int64_t cls = data.label_kind == LabelKind::kClassIndex
                              ? static_cast<int64_t>(label[0])
                              : std::max_element(label, label + label_width) - label;
      w *= class_weights_[static_cast<size_t>(cls)];
    }
    batch_weights_[static_cast<size_t>(r)] = w;
  }
}

// With gradient accumulation the schedule counts updates, not batches.
int64_t Training::optimizer_updates() const {
  return progress_.global_step() / std::max(1, config_.optimizer().gradient_accumulation_steps());
}

float Training::current_learning_rate() const {
  const float scheduled =
      scheduled_learning_rate(config_.lr_schedule(), optimizer_.base_learning_rate(), optimizer_updates());
  return learning_rate_factor_ == 1.0 ? scheduled : static_cast<float>(scheduled * learning_rate_factor_);
}

void Training::train_step(int64_t step_in_epoch) {
  ScopedTraceEvent step_event("step", TraceCategory::kStep, progress_.global_step() + 1);
  const BatchPlan plan = plan_batch(step_in_epoch);
  const int64_t global_rows = plan.global_rows;
  {
    ScopedTraceEvent event("batch assembly", TraceCategory::kData);
    gather(train_, plan.indices, plan.rows);
  }

  StepContext ctx;
  ctx.training = true;
  ctx.seed = config_.seed();
  ctx.epoch = epoch_;
  ctx.step = progress_.global_step();
  ctx.batch_offset = plan.batch_offset;
  ctx.global_rows = global_rows;

  ParameterStore& params = model_.parameters();
  const float learning_rate = current_learning_rate();
  // A sharded step runs inside the gradient reduction, which starts during backward.
  if (sharded_update_) {
    ScopedTraceEvent event("optimizer begin (sharded: updates run in the reduction)", TraceCategory::kOptimizer);
    sync_.begin_update(learning_rate);
  }
  {
    ScopedTraceEvent event("zero gradients", TraceCategory::kOptimizer);
    params.zero_grads();
  }
  const float* out = model_.forward(ctx, batch_x_.data(), plan.rows);
  {
    ScopedTraceEvent event("loss", TraceCategory::kLoss);
    // Scaling by the GLOBAL row count makes the summed gradient the gradient
    // of the global mean loss, whatever the number of ranks.
    loss_.evaluate(out, plan.rows, model_.output_width(), batch_y_.data(), train_.label_width, train_.label_kind,
                   1.0f / static_cast<float>(global_rows), model_.output_grad(), epoch_totals_,
                   batch_weights_.empty() ? nullptr : batch_weights_.data());
  }
  model_.backward(ctx, model_.output_grad(), plan.rows, &sync_);
  {
    ScopedTraceEvent event("gradient reduction (finish)", TraceCategory::kWait);
    sync_.finish();
  }
  if (!sharded_update_) {
    ScopedTraceEvent event("optimizer", TraceCategory::kOptimizer);
    optimizer_.step(params.trainable_values(), params.trainable_grads(), params.trainable_count(), learning_rate);
  }

  local_samples_ += plan.rows;
  progress_.set_global_step(progress_.global_step() + 1);
  progress_.set_step_in_epoch(step_in_epoch + 1);
  progress_.set_position_in_epoch(plan.end_position);
}

Progress Training::snapshot_progress() {
  double sums[3] = {epoch_totals_.loss_sum, epoch_totals_.correct, static_cast<double>(local_samples_)};
  world_.allreduce_sum(sums, 3);
  Progress p = progress_;
  // An interrupted run's carried-over sums (progress_) are the same on every
  // rank, so they are added once, after the reduction.
  p.set_loss_sum_in_epoch(progress_.loss_sum_in_epoch() + sums[0]);
  p.set_correct_in_epoch(progress_.correct_in_epoch() + sums[1]);
  p.set_samples_in_epoch(progress_.samples_in_epoch() + sums[2]);
  if (session_start_ > 0) p.set_train_seconds_in_epoch(progress_.train_seconds_in_epoch() + now_seconds() - session_start_);
  return p;
}

EvalResult Training::evaluate(const Dataset& data) {
  // A validation split of LOCAL shards is itself sharded: each rank has its own.
  const bool sharded = local_shards_ && &data == validation_ && !config_.has_validation_data();
  const EvalTotals t = evaluate_model(model_, loss_, data, world_, max_local_rows_, !sharded);
  EvalResult r;
  r.samples = static_cast<int64_t>(t.count);
  r.loss = t.count > 0 ? t.loss_sum / t.count : 0;
  r.accuracy = t.count > 0 ? t.correct / t.count : 0;
  return r;
}

// One tiny collective per step (several ranks only): the callbacks' votes,
// so every rank stops or checkpoints at the same step.
StepVotes Training::agreed_votes(CallbackList& callbacks) {
  ScopedTraceEvent event("step votes", TraceCategory::kCollective);
  StepVotes votes;
  callbacks.vote(votes);
  int64_t flags[3] = {votes.stop, votes.checkpoint, votes.terminate};
  if (world_.size() > 1) world_.allreduce_max(flags, 3, "step-boundary votes (stop, checkpoint, terminate)");
  return StepVotes{flags[0] != 0, flags[1] != 0, flags[2] != 0};
}

bool Training::fit(CallbackList& callbacks) {
  const int64_t steps = steps_per_epoch();
  stop_training_ = terminated_ = false;
  callbacks.on_train_begin(*this);
  for (int64_t epoch = progress_.epoch(); epoch < config_.epochs() && !stop_training_; ++epoch) {
    if (config_.max_steps() > 0 && progress_.global_step() >= config_.max_steps()) break;
    ScopedTraceEvent epoch_event("epoch", TraceCategory::kEpoch, epoch + 1);
    begin_epoch(epoch);
    callbacks.on_epoch_begin(epoch, steps);
    const double start = now_seconds();
    session_start_ = start;
    bool stopped = false, step_limit = false;
    for (int64_t s = progress_.step_in_epoch(); s < steps; ++s) {
      if (config_.max_steps() > 0 && progress_.global_step() >= config_.max_steps()) {
        step_limit = true;
        break;
      }
      const StepVotes votes = agreed_votes(callbacks);
      if (votes.checkpoint) callbacks.on_checkpoint_due();
      if (votes.stop) {
        stopped = true;
        break;
      }
      if (votes.terminate) {
        terminated_ = true;
        break;
      }
      train_step(s);
      callbacks.on_step_end(StepEnd{epoch, s + 1, steps, progress_.global_step(), &epoch_totals_, local_samples_});
    }
    // Stopped mid-epoch (stop vote or max_steps): the epoch stays open, so a
    // checkpoint taken now resumes exactly here; snapshot_progress() adds
    // this session's time.
    if (stopped) {
      callbacks.on_train_end(false);
      return false;
    }
    if (terminated_ || (step_limit && progress_.step_in_epoch() < steps)) break;
    const EpochMetrics metrics = end_epoch(epoch, now_seconds() - start);  // progress points at the next epoch
    ScopedTraceEvent event("epoch end (callbacks, checkpoints)", TraceCategory::kEpoch, epoch + 1);
    callbacks.on_epoch_end(metrics);
    if (step_limit) break;
  }
  callbacks.on_train_end(true);
  return true;
}

// The epoch's global metrics (and validation), added to the history.
EpochMetrics Training::end_epoch(int64_t epoch, double seconds_this_session) {
  const double train_seconds = seconds_this_session + progress_.train_seconds_in_epoch();
  ScopedTraceEvent end_event("epoch end (metrics, validation)", TraceCategory::kEpoch, epoch + 1);
  const Progress totals = snapshot_progress();
  const double samples = totals.samples_in_epoch(), session_samples = samples - progress_.samples_in_epoch();
  EpochMetrics m;
  m.set_epoch(epoch + 1);
  m.set_loss(samples > 0 ? totals.loss_sum_in_epoch() / samples : 0);
  m.set_accuracy(samples > 0 ? totals.correct_in_epoch() / samples : 0);
  m.set_seconds(train_seconds);
  // Training samples over training time of this process (validation excluded).
  m.set_samples_per_second(seconds_this_session > 0 ? session_samples / seconds_this_session : 0);
  m.set_steps(progress_.step_in_epoch());
  m.set_learning_rate(current_learning_rate());
  model_.unify_state(world_);  // validation and checkpoints see one model
  if (validation_) {
    ScopedTraceEvent event("validation", TraceCategory::kValidation, epoch + 1);
    const EvalResult v = evaluate(*validation_);
    m.set_val_loss(v.loss);
    m.set_val_accuracy(v.accuracy);
  }
  history_.push_back(m);
  progress_.set_epoch(epoch + 1);
  progress_.set_step_in_epoch(0);
  progress_.set_position_in_epoch(0);
  progress_.set_train_seconds_in_epoch(0);
  progress_.set_loss_sum_in_epoch(0);
  progress_.set_correct_in_epoch(0);
  progress_.set_samples_in_epoch(0);
  session_start_ = 0;
  local_samples_ = 0;
  epoch_totals_ = LossTotals{};
  return m;
}

}  // namespace lockstep
