// `trainer train CONFIG [--resume auto|PATH] [--set ...]`
#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <optional>
#include <memory>

#include "core/callbacks/from_config.h"
#include "core/callbacks/history_logger.h"
#include "core/callbacks/model_checkpoint.h"
#include "core/callbacks/progress_logger.h"
#include "core/callbacks/stop_on_signal.h"
#include "core/checkpoint.h"
#include "core/checkpoint_writer.h"
#include "core/config.h"
#include "core/error.h"
#include "core/optim/optimizer.h"
#include "core/summary.h"
#include "core/threads.h"
#include "core/trace_file.h"
#include "core/training.h"
#include "distributed/bucketed_allreduce.h"
#include "core/regular_file.h"
#include "core/run_dir.h"
#include "launch/cli/commands.h"
#include "launch/cli/fault_injection.h"
#include "launch/cli/session.h"

namespace lockstep::cli {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
void on_stop_signal(int sig) { g_stop_signal = sig; }

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

// --resume auto|PATH: restores parameters, optimizer, progress and history
// from the checkpoint (auto: the newest that verifies; none: from scratch).
std::optional<CheckpointContents> resume(const Args& args, const TrainConfig& config, Model& model,
                                         Optimizer& optimizer, Training& training, Communicator& world) {
  if (!args.has("resume")) return std::nullopt;
  const bool root = world.rank() == 0;
  std::string path = args.get("resume");
  if (path == "auto") {
    path.clear();
    if (root) {
      if (auto newest = newest_good_checkpoint(config.run_dir())) path = *newest;
      else std::printf("no checkpoint in %s: starting from scratch\n", checkpoint_dir(config.run_dir()).c_str());
    }
    path = broadcast_string(path, world);
    if (path.empty()) return std::nullopt;
  }
  CheckpointContents ckpt = read_checkpoint(path);
  check_resumable(ckpt.header, config, optimizer.kind(), path);
  restore_tensors(ckpt, model, &optimizer, path);
  const Progress& progress = ckpt.header.progress();
  if (progress.step_in_epoch() > training.steps_per_epoch())
    throw_input_error(path, "cannot resume: progress.step_in_epoch " + std::to_string(progress.step_in_epoch()) +
                                " is beyond the " + std::to_string(training.steps_per_epoch()) +
                                " steps of an epoch with this config's data and batch_size");
  optimizer.set_iterations(progress.global_step());
  training.set_progress(progress);
  training.set_history({ckpt.header.history().begin(), ckpt.header.history().end()});
  if (root)
    std::printf("resumed from %s (epoch %lld, step %lld, saved by %d rank(s))\n", path.c_str(),
                static_cast<long long>(progress.epoch() + 1), static_cast<long long>(progress.global_step()),
                ckpt.header.world_size());
  return ckpt;
}

// --trace FILE (or the config's profile.trace): this rank's timeline file,
// opened before anything is loaded, so a path that cannot be written is
// said at once (exit 2). Null when no timeline is asked for.
std::unique_ptr<TraceSession> open_trace(const Args& args, ConfigFile& file, Communicator& world) {
  if (args.has("trace")) file.mutable_config().mutable_profile()->set_trace(args.get("trace"));
  const ProfileSpec& profile = file.config().profile();
  if (profile.trace().empty()) return nullptr;
  const std::string where = args.has("trace") ? "--trace" : file.locate("profile.trace");
  return std::make_unique<TraceSession>(profile.trace(), static_cast<size_t>(profile.max_events()), world.rank(),
                                        world.size(), where);
}

// Runs training; with a timeline, records from a barrier just before it and
// writes the file once the background checkpoint writer is done (no thread
// records any more), also when training fails: here, while the layers and
// buckets whose names the events point at still exist.
bool fit_with_trace(Training& training, CallbackList& callbacks, TraceSession* trace, CheckpointWriter& writer,
                    Communicator& world, bool say) {
  if (!trace) return training.fit(callbacks);
  trace->start(world);
  bool finished = false;
  try {
    finished = training.fit(callbacks);
  } catch (...) {
    // The error already on its way is the one to report: these stay quiet.
    try {
      writer.wait_for_background();  // it records, and may have failed itself
    } catch (...) {
    }
    try {
      trace->finish();
    } catch (...) {
    }
    throw;
  }
  writer.wait_for_background();
  trace->finish();
  if (say) std::printf("timeline: %s\n", trace->path().c_str());
  return finished;
}

// The loss, its label smoothing, and the labels checked against the model.
Loss make_loss(const ConfigFile& file, const Data& data, int64_t output_width) {
  const TrainConfig& config = file.config();
  Loss loss = located(file, [&] { return Loss(config.loss(), "loss"); });
  located(file, [&] {
    loss.set_label_smoothing(config.label_smoothing(), "label_smoothing");
    loss.check_labels(data.train, output_width, "loss");
    if (data.validation) loss.check_labels(*data.validation, output_width, "loss");
  });
  return loss;
}

// Rank 0, before the first step: the folders, no stale temporaries of a
// crashed save, and the run's config.
void prepare_run_dir(const TrainConfig& config) {
  make_dirs(checkpoint_dir(config.run_dir()));
  remove_stale_temporaries(config.run_dir());
  write_text_file(run_file(config, "config.pbtxt"), to_text(config), false);
}

// What rank 0 says when training ends, and the exit status.
int end_of_run(bool finished, const TrainConfig& config, const Training& training, const CheckpointWriter& writer,
               const ModelCheckpoint& checkpoints, bool root) {
  if (root && writer.skipped() > 0)
    std::printf("checkpoint: %lld periodic checkpoints skipped: the previous one was still being written "
                "(checkpoint.when_busy: \"skip\")\n",
                static_cast<long long>(writer.skipped()));
  if (!finished) {
    if (root)
      std::printf("stopped by signal at step %lld: checkpoint written to %s; exit status %d (resume with --resume auto)\n",
                  static_cast<long long>(training.progress().global_step()), checkpoints.last_path().c_str(),
                  kExitPreempted);
    std::fflush(stdout);
    return kExitPreempted;
  }
  if (root && config.verbose() > 0) std::printf("saved %s\n", run_file(config, "final/model.pb").c_str());
  return 0;
}

}  // namespace

void install_stop_signal_handlers() {
  struct sigaction action = {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // as signal() does: interrupted reads resume
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
  // Ctrl-C stops at a checkpoint too (exit 75), once: the handler resets
  // itself, so a second Ctrl-C ends the process at once. A SIGINT the
  // parent ignores (a background job of a script) stays ignored.
  struct sigaction previous = {};
  if (sigaction(SIGINT, nullptr, &previous) == 0 && previous.sa_handler == SIG_IGN) return;
  action.sa_flags |= SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
}

const volatile std::sig_atomic_t* stop_signal_flag() { return &g_stop_signal; }

// A run_dir that exists but is not a folder (a file, a FIFO, a device), or
// that sits under a file, is the config's mistake, not the disk's: refused
// as bad input (exit 2) before anything is loaded or written, instead of
// failing at the first write with "cannot create folder" (exit 1).
void check_run_dir_is_folder(const ConfigFile& file) {
  const std::string& dir = file.config().run_dir();
  const std::string why = why_not_regular(dir);
  std::string problem;
  if (why.empty()) problem = "'" + dir + "' is a regular file, not a directory";
  else if (why.rfind("is ", 0) == 0 && why != "is a directory") problem = "'" + dir + "' " + why + ", not a directory";
  else if (why == std::strerror(ENOTDIR)) problem = "'" + dir + "': a part of the path is a file, not a directory";
  if (!problem.empty()) located(file, [&] { throw_input_error("run_dir", problem); });
}

// A run_dir that already holds a run (history, checkpoints, a final model)
// is not silently replaced: the user continues it or says to start over.
// --overwrite removes what a run writes there (and nothing else).
void claim_run_dir(const Args& args, const ConfigFile& file, bool resuming, Communicator& world) {
  if (world.rank() != 0) return;
  const TrainConfig& config = file.config();
  check_run_dir_is_folder(file);
  if (resuming) return;
  const std::string& dir = config.run_dir();
  const bool held = !list_checkpoints(dir).empty() || file_exists(lockstep::run_file(dir, "history.jsonl")) ||
                    file_exists(lockstep::run_file(dir, "final/model.pb"));
  if (!held) return;
  if (!args.flag("overwrite"))
    throw_input_error(dir, "holds a run already (history, checkpoints or a final model): continue it with --resume "
                           "auto, or start over with --overwrite");
  remove_run_files(dir);
}

// Keras' adapt(): a Normalization layer without given statistics takes the
// training data's (all ranks' parts when the data is sharded). A resumed
// run gets them back from its checkpoint, overwriting these.
void adapt_to_data(Model& model, const Dataset& train, const TrainConfig& config, Communicator& world) {
  if (!model.adapts_to_data()) return;
  const bool sharded = config.data().shard_mode() == DataSpec::LOCAL && world.size() > 1;
  model.adapt(train.features.data(), train.num_samples, sharded ? &world : nullptr);
  if (world.rank() == 0 && config.verbose() > 0)
    std::printf("%s: mean and variance adapted to the training data\n", model.layer(0).name().c_str());
}

int run_train(const Args& args, Runtime& runtime) {
  // main() installed these before MPI started (a signal during MPI_Init ends
  // start-up at once); again here so run_train stands alone. From here on a
  // pre-emption signal (while loading data or resuming, too) must not kill
  // the rank: training stops at its next step boundary.
  install_stop_signal_handlers();
  if (args.has("resume") && args.flag("overwrite"))
    throw_input_error("usage", "--resume and --overwrite contradict each other: give one");
  Communicator& world = runtime.world();
  const bool root = world.rank() == 0;
  ConfigFile file = load_config(args);
  const TrainConfig& config = file.config();
  // Declared before the checkpoint writer: destroyed after it, so the
  // background writer thread, which records, has ended before the recorder.
  const std::unique_ptr<TraceSession> trace = open_trace(args, file, world);
  // The first collective after start-up: bounded like start-up itself.
  world.set_timeout_seconds(runtime.startup_timeout_seconds());
  check_same_config_everywhere(config, world);
  claim_run_dir(args, file, args.has("resume"), world);
  world.set_timeout_seconds(config.distributed().collective_timeout_seconds());
  set_rank_threads(config, runtime);

  // The model's memory is checked before anything big is allocated, data
  // included: a run that cannot fit is refused in a second, not after
  // loading. Only a model whose input_shape comes from the data waits for it.
  std::optional<Data> loaded;
  if (config.model().input_shape_size() == 0) {
    loaded = load_data(file, world, true);
    infer_input_shape(file, loaded->train);
  }
  auto model = build_model(file, config.model(), config.seed(), local_rows(config, world.size()),
                           optimizer_slots(file), "batch_size", runtime);
  Data data = loaded ? std::move(*loaded) : load_data(file, world, true);
  // Saved with the config in every checkpoint: evaluate and predict map
  // labels and fill missing values as training did.
  record_learned_data(file, data.train);
  if (root && config.verbose() > 0) print_load_summaries(data, config);
  check_data_fits(file, data.train, *model, "data");
  if (data.validation) check_data_fits(file, *data.validation, *model, "validation data");
  Loss loss = make_loss(file, data, model->output_width());
  auto optimizer = located(file, [&] { return make_optimizer(config.optimizer(), "optimizer"); });
  located(file, [&] { validate_schedule(config.lr_schedule(), "lr_schedule"); });
  model->connect(world, config.distributed().sync_batch_norm());
  broadcast_parameters(*model, world);
  adapt_to_data(*model, data.train, config, world);
  if (root && config.verbose() > 0)
    std::fputs(batch_statistics_summary(*model, config.distributed().sync_batch_norm(), world.size()).c_str(), stdout);

  std::unique_ptr<GradientSync> sync;
  if (world.size() > 1) sync = make_gradient_sync(config, *model, world);
  else sync = std::make_unique<NoGradientSync>();
  Training training(config, *model, *optimizer, loss, data.train, data.validation ? &*data.validation : nullptr, world,
                    *sync);

  const std::optional<CheckpointContents> resumed = resume(args, config, *model, *optimizer, training, world);

  if (root) prepare_run_dir(config);

  // ---- the loop and what hooks into it ----
  CallbackList callbacks;
  CheckpointWriter writer(config, *model, *optimizer, training, world, callbacks);
  const bool has_accuracy = loss.kind() != LossKind::kMeanSquaredError || data.train.label_kind != LabelKind::kValue;
  callbacks.emplace<ProgressLogger>(root ? config.verbose() : 0, config.epochs(), stdout, world.size() == 1,
                                    data.validation.has_value(), has_accuracy);
  callbacks.emplace<HistoryLogger>(run_file(config, "history.jsonl"), world.size(), root);
  add_config_callbacks(callbacks, config, *model, root && config.verbose() > 0 ? stdout : nullptr, root);
  // After the config's callbacks: early stopping's restored weights are the ones saved.
  const auto& checkpoints = callbacks.emplace<ModelCheckpoint>(config, writer, has_validation(config));
  callbacks.emplace<StopOnSignal>(g_stop_signal);
  callbacks.emplace<FaultInjection>(world.rank());
  if (resumed) callbacks.restore_state(*resumed);

  const bool finished = fit_with_trace(training, callbacks, trace.get(), writer, world, root && config.verbose() > 0);
  return end_of_run(finished, config, training, writer, checkpoints, root);
}

}  // namespace lockstep::cli
