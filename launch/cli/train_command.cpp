// `trainer train CONFIG [--resume auto|PATH] [--set ...]`
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>

#include "core/checkpoint.h"
#include "core/error.h"
#include "core/optim/optimizer.h"
#include "core/summary.h"
#include "core/threads.h"
#include "core/training.h"
#include "distributed/bucketed_allreduce.h"
#include "launch/cli/checkpoint_files.h"
#include "launch/cli/commands.h"
#include "launch/cli/fault_injection.h"
#include "launch/cli/progress.h"
#include "launch/cli/session.h"

namespace lockstep::cli {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) { g_stop_signal = sig; }

std::string history_json(const EpochMetrics& m, int ranks) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"epoch\": %lld, \"loss\": %.9g, \"accuracy\": %.9g, \"val_loss\": %.9g, \"val_accuracy\": %.9g, "
                "\"seconds\": %.6f, \"samples_per_second\": %.2f, \"steps\": %lld, \"learning_rate\": %.9g, "
                "\"ranks\": %d}\n",
                static_cast<long long>(m.epoch()), m.loss(), m.accuracy(), m.val_loss(), m.val_accuracy(), m.seconds(),
                m.samples_per_second(), static_cast<long long>(m.steps()), m.learning_rate(), ranks);
  return buf;
}

void write_text_file(const std::string& path, const std::string& text, bool append) {
  std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
  out << text;
  if (!out) throw_runtime_error(path, "cannot write");
}

// Rank 0's parameters and moving statistics become everyone's.
void broadcast_parameters(Model& model, Communicator& world) {
  ParameterStore& p = model.parameters();
  world.broadcast(p.trainable_values(), p.trainable_count() * sizeof(float), 0);
  world.broadcast(p.state_values(), p.state_count() * sizeof(float), 0);
}

std::string broadcast_string(const std::string& s, Communicator& world) {
  uint64_t size = s.size();
  world.broadcast(&size, sizeof size, 0);
  std::string out = s;
  out.resize(size);
  if (size) world.broadcast(out.data(), size, 0);
  return out;
}

std::unique_ptr<BucketedAllreduce> make_gradient_sync(const TrainConfig& config, Model& model, Communicator& world) {
  std::vector<NamedRange> ranges;
  const ParameterStore& params = model.parameters();
  for (const ParameterInfo& p : params.entries())
    if (p.trainable) ranges.push_back({p.name, p.offset, p.offset + p.size});
  const size_t bytes = static_cast<size_t>(config.distributed().bucket_size_mb() * 1024 * 1024);
  return std::make_unique<BucketedAllreduce>(world, bytes, config.distributed().overlap(),
                                             label_by_ranges(std::move(ranges)));
}

}  // namespace

int run_train(const Args& args, Runtime& runtime) {
  // First thing: a pre-emption signal during start-up (loading data, resuming)
  // must not kill the rank; training then stops before its first step.
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGUSR1, on_stop_signal);
  Communicator& world = runtime.world();
  const bool root = world.rank() == 0;
  ConfigFile file = load_config(args);
  const TrainConfig& config = file.config();
  check_same_config_everywhere(config, world);
  world.set_timeout_seconds(config.distributed().collective_timeout_seconds());
  set_rank_threads(config, runtime);

  Data data = load_data(file, world, true);
  auto model = located(file, [&] { return std::make_unique<Model>(config.model(), config.seed()); });
  check_data_fits(file, data.train, *model, "data");
  if (data.validation) check_data_fits(file, *data.validation, *model, "validation data");
  Loss loss = located(file, [&] { return Loss(config.loss(), "loss"); });
  located(file, [&] {
    loss.check_labels(data.train, model->output_width(), "loss");
    if (data.validation) loss.check_labels(*data.validation, model->output_width(), "loss");
  });
  auto optimizer = located(file, [&] { return make_optimizer(config.optimizer(), "optimizer"); });
  located(file, [&] { validate_schedule(config.lr_schedule(), "lr_schedule"); });
  model->connect(world, config.distributed().sync_batch_norm());
  broadcast_parameters(*model, world);
  if (root && config.verbose() > 0)
    std::fputs(batch_statistics_summary(*model, config.distributed().sync_batch_norm(), world.size()).c_str(), stdout);

  std::unique_ptr<GradientSync> sync;
  if (world.size() > 1) sync = make_gradient_sync(config, *model, world);
  else sync = std::make_unique<NoGradientSync>();
  Training training(config, *model, *optimizer, loss, data.train, data.validation ? &*data.validation : nullptr, world,
                    *sync);

  // ---- resume ----
  std::string resume_from;
  if (args.has("resume")) {
    const std::string& how = args.get("resume");
    if (how == "auto") {
      if (root) {
        if (auto path = newest_good_checkpoint(config.run_dir())) resume_from = *path;
        else std::printf("no checkpoint in %s: starting from scratch\n", checkpoint_dir(config.run_dir()).c_str());
      }
      resume_from = broadcast_string(resume_from, world);
    } else {
      resume_from = how;
    }
  }
  if (!resume_from.empty()) {
    const CheckpointContents ckpt = read_checkpoint(resume_from);
    if (ckpt.header.optimizer_kind() != optimizer->kind())
      throw_input_error(resume_from, "the checkpoint was written by optimizer '" + ckpt.header.optimizer_kind() +
                                         "' but the config uses '" + optimizer->kind() + "'");
    restore_tensors(ckpt, *model, optimizer.get(), resume_from);
    const Progress& progress = ckpt.header.progress();
    optimizer->set_iterations(progress.global_step());
    training.set_progress(progress);
    training.set_history({ckpt.header.history().begin(), ckpt.header.history().end()});
    if (root)
      std::printf("resumed from %s (epoch %lld, step %lld, saved by %d rank(s))\n", resume_from.c_str(),
                  static_cast<long long>(progress.epoch() + 1), static_cast<long long>(progress.global_step()),
                  ckpt.header.world_size());
  }

  // ---- run directory ----
  const std::string history_path = run_file(config, "history.jsonl");
  if (root) {
    make_dirs(checkpoint_dir(config.run_dir()));
    remove_stale_temporaries(config.run_dir());
    write_text_file(run_file(config, "config.pbtxt"), to_text(config), false);
    std::string history;
    for (const EpochMetrics& m : training.history()) history += history_json(m, world.size());
    write_text_file(history_path, history, false);  // a resumed run drops epochs after its checkpoint
  }

  auto save = [&](const std::string& path) {
    model->unify_state(world);                                // collective: one model per run
    const Progress progress = training.snapshot_progress();  // collective
    training.gather_optimizer_state();                        // collective
    if (!root) return;
    CheckpointHeader header;
    *header.mutable_model() = config.model();
    *header.mutable_config() = config;
    *header.mutable_progress() = progress;
    header.set_seed(config.seed());
    header.set_world_size(world.size());
    for (const EpochMetrics& m : training.history()) *header.add_history() = m;
    header.set_optimizer_kind(optimizer->kind());
    write_checkpoint(path, header, collect_tensors(*model, optimizer.get()));
  };
  auto save_checkpoint = [&] {
    const std::string path = checkpoint_path(config.run_dir(), training.progress().global_step());
    save(path);
    if (root) prune_checkpoints(config.run_dir(), config.checkpoint().keep());
  };

  const bool has_accuracy = loss.kind() != LossKind::kMeanSquaredError || data.train.label_kind != LabelKind::kValue;

  ProgressPrinter printer(root ? config.verbose() : 0, config.epochs(), stdout, world.size() == 1);
  const CheckpointSpec& policy = config.checkpoint();
  const auto started = std::chrono::steady_clock::now();
  auto last_save = started;
  bool save_for_time = false;

  const FaultInjection faults;
  FitCallbacks callbacks;
  callbacks.on_epoch_begin = [&](int64_t epoch, int64_t steps) { printer.epoch_begin(epoch, steps); };
  callbacks.on_step_end = [&](int64_t, int64_t step, int64_t steps, const LossTotals& totals, int64_t samples) {
    printer.step_end(step, steps, totals, samples, has_accuracy);
    const int64_t global_step = training.progress().global_step();
    faults.after_step(world.rank(), global_step);
    if ((policy.every_steps() > 0 && global_step % policy.every_steps() == 0) || save_for_time) {
      save_checkpoint();
      last_save = std::chrono::steady_clock::now();
      save_for_time = false;
    }
  };
  callbacks.on_epoch_end = [&](const EpochMetrics& m) {
    printer.epoch_end(m, data.validation.has_value(), has_accuracy);
    if (root) write_text_file(history_path, history_json(m, world.size()), true);
    if (policy.every_epoch()) {
      save_checkpoint();
      last_save = std::chrono::steady_clock::now();
    }
  };
  // Every rank must agree on stopping and on time-based checkpoints, so the
  // local decisions are reduced (one tiny collective per step, multi-rank only).
  callbacks.should_stop = [&] {
    int64_t flags[2] = {g_stop_signal != 0, 0};
    if (policy.every_minutes() > 0 && root)
      flags[1] = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_save).count() >=
                 60.0 * policy.every_minutes();
    if (world.size() > 1) world.allreduce_max(flags, 2, "step-boundary stop/checkpoint flags");
    save_for_time = flags[1] != 0;
    return flags[0] != 0;
  };

  const bool finished = training.fit(callbacks);
  if (!finished) {
    save_checkpoint();
    if (root)
      std::printf("stopped by signal at step %lld: checkpoint written to %s; exit status %d (resume with --resume auto)\n",
                  static_cast<long long>(training.progress().global_step()),
                  checkpoint_path(config.run_dir(), training.progress().global_step()).c_str(), kExitPreempted);
    std::fflush(stdout);
    return kExitPreempted;
  }
  // Always a final checkpoint, and the final model for evaluate/predict.
  save_checkpoint();
  if (root) make_dirs(run_file(config, "final"));
  save(run_file(config, "final/model.pb"));
  if (root) {
    write_text_file(run_file(config, "final/config.pbtxt"), to_text(config), false);
    if (config.verbose() > 0) std::printf("saved %s\n", run_file(config, "final/model.pb").c_str());
  }
  return 0;
}

}  // namespace lockstep::cli
