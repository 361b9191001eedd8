// bench_distributed: data-parallel training-step throughput of a config's
// model, the share of the step spent waiting for the gradient all-reduce, and
// the cost of synchronized BatchNormalization.
//
//   mpiexec -np 2 bench_distributed --config FILE [--global-batch B | --per-rank-batch b]
//       [--steps N] [--warmup W] [--repeats R] [--bucket-mb MB]
//       [--variants sync,local,nooverlap,local_nooverlap,nocomm,solo,flags,noshard,allreduce] [--json]
//   bench_distributed --config FILE ...          # alone: np = 1 (single-process Runtime, no MPI)
//
// The config's data is replaced by an in-memory synthetic set of the model's
// shape (features = input width, classes = output units, samples a multiple
// of the global batch >= max(8192, 4*B)), so no I/O is timed and every step
// is a full batch. One compute thread per rank (set_compute_threads(1); also
// set OPENBLAS_NUM_THREADS=1). Each variant is built the way `trainer train`
// builds its run (launch/cli/train_command.cpp): Model, Model::connect(world,
// force_sync), rank 0's parameters broadcast, BucketedAllreduce over the
// world with the config's bucket size (NoGradientSync on one rank), Loss,
// Optimizer, lockstep::Training, and Training::train_step() is what is timed.
//
// Variants (all of them are built up front, then timed interleaved: every
// repeat runs each variant once, in an order that rotates per repeat):
//   sync       every BatchNormalization synchronized (force_sync), overlap on,
//              optimizer step sharded when the communicator can (one node)
//   local      every BatchNormalization local (synchronized cleared), overlap on
//   nooverlap  as sync, overlap off (all buckets started in finish())
//   local_nooverlap  as local, overlap off
//   overlap    alias of sync
//   nocomm     each rank trains alone on the per-rank batch (LocalCommunicator,
//              NoGradientSync): N independent processes, the upper bound
//   solo       rank 0 alone trains the whole global batch (LocalCommunicator)
//              while the other ranks wait: np = 1 measured inside this job
//   flags      as sync, plus the one 2 x int64 allreduce_max per step that
//              `trainer train` adds at every step boundary (stop/checkpoint flags)
//   noshard    as sync, with distributed.shard_optimizer off: every rank
//              applies the optimizer to all parameters after the all-reduce
//   allreduce  no compute: BucketedAllreduce over an arena of the model's
//              gradient size, all of it ready at once, then finish(): the pure
//              cost of one step's gradient reduction when all ranks arrive together
// --variants default: sync,local,nooverlap,nocomm (np = 1: sync). On one rank
// every variant but allreduce is the same computation (NoGradientSync, and a
// BatchNormalization synchronized over one rank is local).
//
// Instrumentation (costs ~6 steady_clock reads per step):
//   * the GradientSync handed to Training is a decorator that forwards to the
//     real one and accumulates the time inside ready() (starting buckets) and
//     finish() (waiting for the all-reduce); it also records when backward
//     first reports gradients and when finish() is entered, which splits the
//     step into  fwd  = step start .. first ready()  (gather, zero_grads,
//                       forward, loss, backward of the last layer)
//                bwd  = first ready() .. finish()    (rest of backward)
//                wait = inside finish()
//                opt  = finish() returned .. step end (optimizer, bookkeeping)
//   * the Communicator the model and the BucketedAllreduce get is a decorator
//     over the world that accumulates time inside allreduce_moments (the
//     BatchNorm forward statistics) and allreduce_sum(double) (the BatchNorm
//     backward sums): "bn" = time in synchronized BatchNorm collectives.
//
// Warm-up: --warmup steps (default 20) of every variant, then --steps N per
// timed region (default: calibrated on the first variant to about 0.2 s).
// Timing: before each timed region a barrier; steady_clock around N steps on
// every rank; the region's time is the maximum over ranks (allreduce_max), so
// it is the job's. Epoch boundaries (begin_epoch) are excluded. The phase
// times are the mean over ranks. Printed figures are medians over the
// repeats; ratios between variants are medians of the per-repeat ratios
// (same repeat = same machine conditions). Samples/s = global samples per
// step / step time (nocomm: ranks x per-rank batch; solo: the global batch).
//
// Output (rank 0): per variant ms/step, samples/s, spread = (max - min) /
// median over the repeats, the phases in ms per step, and as shares of the
// step: wait% (in finish()), ready% (in ready()), bn% (in synchronized-
// BatchNorm collectives) and comm% = their sum; cpu = the smallest share of a
// timed region's wall time that a rank's thread was on a CPU (waiting ranks
// spin, so below ~95% means other processes took the cores: the figures of
// that run are disturbed); then the same-run ratios
// (throughput sync/nocomm, sync/solo, local/solo; SyncBN cost = step time
// sync/local - 1, with overlap on and off; overlap off vs on; flags vs sync).
// --json prints one JSON object per variant (bench "distributed": model,
// config, variant, ranks, global_batch, per_rank_batch, steps, repeats,
// bucket_bytes, buckets, params, ms_per_step, samples_per_s, fwd_ms, bwd_ms,
// wait_ms, opt_ms, ready_ms, bn_sync_ms, wait_share, bn_share, comm_share,
// min_cpu_share, ms_per_step_runs, cpu_share_runs, blas_core) and one with the ratios (bench
// "distributed_ratios").
// A benchmark prints figures; it never fails on time.
#include <cblas.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/blas_kernels.h"
#include "core/config.h"
#include "core/data/dataset.h"
#include "core/error.h"
#include "core/gradient_sync.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "core/threads.h"
#include "core/training.h"
#include "distributed/bucketed_allreduce.h"
#include "distributed/local_communicator.h"
#include "distributed/runtime.h"

namespace {

using lockstep::Communicator;
using lockstep::GradientSync;
using lockstep::throw_input_error;
using lockstep::bench::json_string;
using lockstep::bench::median;
using lockstep::bench::stem;

using Clock = std::chrono::steady_clock;
double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- options ----------------------------------------------------------------

struct Options {
  std::string config;
  int64_t global_batch = 0;    // 0 = the config's batch_size (unless per_rank_batch)
  int64_t per_rank_batch = 0;  // 0 = not given
  int64_t steps = 0;           // 0 = calibrate: about 0.2 s per timed region
  int64_t warmup = -1;         // -1 = 20 steps per variant
  int repeats = 7;
  double bucket_mb = -1;  // < 0 = the config's distributed.bucket_size_mb
  std::vector<std::string> variants;
  bool json = false;
};

[[noreturn]] void usage(const std::string& what) {
  throw_input_error("usage",
                    what + "\n  bench_distributed --config FILE [--global-batch B | --per-rank-batch b] "
                           "[--steps N] [--warmup W] [--repeats R] [--bucket-mb MB] "
                           "[--variants sync,local,nooverlap,local_nooverlap,nocomm,solo,flags,noshard,allreduce] [--json]");
}

int64_t parse_int(const std::string& flag, const char* text, int64_t min) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (!*text || *end || v < min)
    usage(flag + ": expected an integer >= " + std::to_string(min) + ", got '" + text + "'");
  return v;
}

const char* const kKnownVariants[] = {"sync", "local", "nooverlap", "local_nooverlap", "nocomm", "solo", "flags", "noshard",
                                      "allreduce"};

Options parse_args(int argc, char** argv) {
  Options o;
  std::string variants;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(a + ": missing value");
      return argv[++i];
    };
    if (a == "--config") o.config = value();
    else if (a == "--global-batch") o.global_batch = parse_int(a, value(), 1);
    else if (a == "--per-rank-batch") o.per_rank_batch = parse_int(a, value(), 1);
    else if (a == "--steps") o.steps = parse_int(a, value(), 0);
    else if (a == "--warmup") o.warmup = parse_int(a, value(), 0);
    else if (a == "--repeats") o.repeats = static_cast<int>(parse_int(a, value(), 1));
    else if (a == "--bucket-mb") {
      const char* t = value();
      char* end = nullptr;
      o.bucket_mb = std::strtod(t, &end);
      if (!*t || *end || !(o.bucket_mb > 0)) usage("--bucket-mb: expected a number > 0, got '" + std::string(t) + "'");
    } else if (a == "--variants") variants = value();
    else if (a == "--json") o.json = true;
    else if (a == "-h" || a == "--help") usage("help");
    else usage("unknown argument '" + a + "'");
  }
  if (o.config.empty()) usage("--config is required");
  if (o.global_batch > 0 && o.per_rank_batch > 0) usage("give --global-batch or --per-rank-batch, not both");
  for (size_t pos = 0; pos < variants.size();) {
    size_t comma = variants.find(',', pos);
    if (comma == std::string::npos) comma = variants.size();
    std::string v = variants.substr(pos, comma - pos);
    pos = comma + 1;
    if (v.empty()) continue;
    if (v == "overlap") v = "sync";
    if (std::find(std::begin(kKnownVariants), std::end(kKnownVariants), v) == std::end(kKnownVariants))
      usage("--variants: unknown variant '" + v + "'");
    if (std::find(o.variants.begin(), o.variants.end(), v) == o.variants.end()) o.variants.push_back(v);
  }
  return o;
}

// ---- timing decorators ------------------------------------------------------

// Forwards everything to `inner`; times the synchronized-BatchNorm collectives.
class TimingCommunicator final : public Communicator {
 public:
  explicit TimingCommunicator(Communicator& inner) : inner_(inner) {}

  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }

  void allreduce_sum(float* data, size_t count, const char* label) override {
    inner_.allreduce_sum(data, count, label);
  }
  // BatchNormalization backward: the two per-channel sums.
  void allreduce_sum(double* data, size_t count, const char* label) override {
    const auto t0 = Clock::now();
    inner_.allreduce_sum(data, count, label);
    bn_seconds += seconds(Clock::now() - t0);
    ++bn_calls;
  }
  void allreduce_max(int64_t* data, size_t count, const char* label) override {
    inner_.allreduce_max(data, count, label);
  }
  int start_allreduce_sum(float* data, size_t count, const char* label) override {
    return inner_.start_allreduce_sum(data, count, label);
  }
  void wait(int ticket) override { inner_.wait(ticket); }
  bool supports_reduce_update() const override { return inner_.supports_reduce_update(); }
  int start_reduce_update(float* grads, float* params, size_t count, size_t offset,
                          lockstep::ReducedRangeUpdate& update, const char* label) override {
    return inner_.start_reduce_update(grads, params, count, offset, update, label);
  }
  float* shared_arena(size_t floats) override { return inner_.shared_arena(floats); }
  // BatchNormalization forward: the batch statistics.
  void allreduce_moments(lockstep::Moments* data, size_t count, const char* label) override {
    const auto t0 = Clock::now();
    inner_.allreduce_moments(data, count, label);
    bn_seconds += seconds(Clock::now() - t0);
    ++bn_calls;
  }
  void broadcast(void* data, size_t bytes, int root) override { inner_.broadcast(data, bytes, root); }
  void allgather(const void* send, void* recv, size_t bytes) override { inner_.allgather(send, recv, bytes); }
  void barrier() override { inner_.barrier(); }
  std::unique_ptr<Communicator> split(int color, int key) override { return inner_.split(color, key); }
  void set_timeout_seconds(double s) override { inner_.set_timeout_seconds(s); }

  double bn_seconds = 0;
  int64_t bn_calls = 0;

 private:
  Communicator& inner_;
};

// Forwards to the real GradientSync; times ready() and finish() and marks the
// phase boundaries of the step.
class TimingSync final : public GradientSync {
 public:
  explicit TimingSync(GradientSync& inner) : inner_(inner) {}
  void attach(float* grads, size_t count) override { inner_.attach(grads, count); }
  void ready(size_t begin, size_t end) override {
    const auto t0 = Clock::now();
    if (!saw_ready_) first_ready = t0, saw_ready_ = true;
    inner_.ready(begin, end);
    ready_seconds += seconds(Clock::now() - t0);
  }
  void finish() override {
    finish_enter = Clock::now();
    if (!saw_ready_) first_ready = finish_enter;
    inner_.finish();
    finish_exit = Clock::now();
    finish_seconds += seconds(finish_exit - finish_enter);
    saw_ready_ = false;
  }
  bool shard_update(lockstep::Optimizer& optimizer, float* params) override {
    return inner_.shard_update(optimizer, params);
  }
  void begin_update(float learning_rate) override { inner_.begin_update(learning_rate); }
  float* shared_arena(size_t floats) override { return inner_.shared_arena(floats); }
  void gather_optimizer_state() override { inner_.gather_optimizer_state(); }

  double ready_seconds = 0, finish_seconds = 0;
  Clock::time_point first_ready, finish_enter, finish_exit;

 private:
  GradientSync& inner_;
  bool saw_ready_ = false;
};

// ---- variants -----------------------------------------------------------------

struct Phases {  // seconds, summed over the steps of one timed region
  double fwd = 0, bwd = 0, wait = 0, opt = 0, ready = 0, bn = 0;
};

struct Variant {
  std::string name;
  bool active = true;            // false: this rank only waits (solo on ranks > 0)
  int64_t samples_per_step = 0;  // global samples per step (for samples/s)
  bool step_flags = false;       // trainer's per-step allreduce_max
  bool comm_only = false;        // "allreduce": no compute

  std::unique_ptr<lockstep::TrainConfig> config;
  std::unique_ptr<lockstep::LocalCommunicator> local;  // nocomm / solo
  std::unique_ptr<TimingCommunicator> comm;
  std::unique_ptr<lockstep::Model> model;
  std::unique_ptr<lockstep::Loss> loss;
  std::unique_ptr<lockstep::Optimizer> optimizer;
  std::unique_ptr<GradientSync> real_sync;
  std::unique_ptr<TimingSync> sync;
  std::unique_ptr<lockstep::Training> training;
  std::vector<float> arena;  // allreduce: the stand-in gradient arena
  int64_t steps_per_epoch = 0, epoch = 0, step = 0;

  std::vector<double> step_s;     // per repeat: max over ranks of seconds per step
  std::vector<Phases> phases;     // per repeat: mean over ranks, seconds per step
  std::vector<double> cpu_share;  // per repeat: min over ranks of thread CPU time / wall time
};

struct Context {
  Communicator& world;
  const Options& opt;
  const lockstep::TrainConfig& base;  // config with synthetic data and the global batch
  const lockstep::Dataset& train;
  int64_t global_batch = 0, per_rank_batch = 0;
  size_t bucket_bytes = 0;
};

lockstep::ModelSpec with_bn_synchronized(lockstep::ModelSpec spec, bool on) {
  for (lockstep::LayerSpec& l : *spec.mutable_layers())
    if (l.has_batch_normalization()) l.mutable_batch_normalization()->set_synchronized(on);
  return spec;
}

std::unique_ptr<Variant> build_variant(const std::string& name, const Context& cx) {
  auto v = std::make_unique<Variant>();
  v->name = name;
  Communicator& world = cx.world;
  const bool alone = name == "nocomm" || name == "solo" || world.size() == 1;
  v->config = std::make_unique<lockstep::TrainConfig>(cx.base);
  lockstep::TrainConfig& config = *v->config;
  const bool local_bn = name == "local" || name == "local_nooverlap";
  config.mutable_distributed()->set_overlap(name != "nooverlap" && name != "local_nooverlap");
  config.mutable_distributed()->set_sync_batch_norm(!local_bn);
  config.mutable_distributed()->set_shard_optimizer(name != "noshard");
  *config.mutable_model() = with_bn_synchronized(config.model(), !local_bn);
  if (name == "nocomm") config.set_batch_size(static_cast<int32_t>(cx.per_rank_batch));
  v->samples_per_step = name == "nocomm" ? cx.per_rank_batch * world.size() : cx.global_batch;
  v->step_flags = name == "flags" && world.size() > 1;
  v->active = name != "solo" || world.rank() == 0;

  Communicator* comm_world = &world;
  if (alone) {
    v->local = std::make_unique<lockstep::LocalCommunicator>();
    comm_world = v->local.get();
  }
  v->comm = std::make_unique<TimingCommunicator>(*comm_world);
  v->model = std::make_unique<lockstep::Model>(config.model(), config.seed());

  if (name == "allreduce") {
    v->comm_only = true;
    v->arena.assign(v->model->parameters().trainable_count(), 1.0f);
    v->real_sync = std::make_unique<lockstep::BucketedAllreduce>(*v->comm, cx.bucket_bytes, true);
    v->sync = std::make_unique<TimingSync>(*v->real_sync);
    v->sync->attach(v->arena.data(), v->arena.size());
    return v;
  }
  if (!v->active) return v;

  v->loss = std::make_unique<lockstep::Loss>(config.loss(), "loss");
  v->loss->check_labels(cx.train, v->model->output_width(), "loss");
  v->optimizer = lockstep::make_optimizer(config.optimizer(), "optimizer");
  v->model->connect(*v->comm, config.distributed().sync_batch_norm());
  if (!alone) {  // as broadcast_parameters() in train_command.cpp
    lockstep::ParameterStore& p = v->model->parameters();
    world.broadcast(p.trainable_values(), p.trainable_count() * sizeof(float), 0);
    world.broadcast(p.state_values(), p.state_count() * sizeof(float), 0);
  }
  if (comm_world->size() > 1) {
    // make_gradient_sync() in train_command.cpp, with the same labels.
    std::vector<lockstep::NamedRange> ranges;
    for (const lockstep::ParameterInfo& p : v->model->parameters().entries())
      if (p.trainable) ranges.push_back({p.name, p.offset, p.offset + p.size});
    v->real_sync = std::make_unique<lockstep::BucketedAllreduce>(
        *v->comm, cx.bucket_bytes, config.distributed().overlap(), lockstep::label_by_ranges(std::move(ranges)));
  } else {
    v->real_sync = std::make_unique<lockstep::NoGradientSync>();
  }
  v->sync = std::make_unique<TimingSync>(*v->real_sync);
  v->training = std::make_unique<lockstep::Training>(config, *v->model, *v->optimizer, *v->loss, cx.train, nullptr,
                                                     *v->comm, *v->sync);
  v->steps_per_epoch = v->training->steps_per_epoch();
  v->training->begin_epoch(0);
  return v;
}

// Runs `steps` steps of the variant on this rank; returns the seconds spent
// in steps (epoch starts excluded) and stores the phase times in *ph.
double run_steps(Variant& v, Communicator& world, int64_t steps, Phases* ph) {
  if (!v.active) return 0;
  const double ready0 = v.sync->ready_seconds, wait0 = v.sync->finish_seconds, bn0 = v.comm->bn_seconds;
  double total = 0;
  Phases p;
  if (v.comm_only) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < steps; ++i) {
      v.sync->ready(0, v.arena.size());
      v.sync->finish();
    }
    total = seconds(Clock::now() - t0);
  } else {
    for (int64_t i = 0; i < steps; ++i) {
      if (v.step == v.steps_per_epoch) {
        v.training->begin_epoch(++v.epoch);
        v.step = 0;
      }
      const auto t0 = Clock::now();
      v.training->train_step(v.step++);
      if (v.step_flags) {  // train_command.cpp's should_stop: one tiny collective per step
        int64_t flags[2] = {0, 0};
        world.allreduce_max(flags, 2, "step-boundary stop/checkpoint flags");
      }
      const auto t1 = Clock::now();
      total += seconds(t1 - t0);
      p.fwd += seconds(v.sync->first_ready - t0);
      p.bwd += seconds(v.sync->finish_enter - v.sync->first_ready);
      p.opt += seconds(t1 - v.sync->finish_exit);
    }
  }
  p.wait = v.sync->finish_seconds - wait0;
  p.ready = v.sync->ready_seconds - ready0;
  p.bn = v.comm->bn_seconds - bn0;
  if (ph) *ph = p;
  return total;
}

// One timed region: barrier, N steps, max over ranks of the time.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// One timed region: barrier, N steps, max over ranks of the time. Also the
// smallest share of the region's wall time that a rank's thread got on a CPU:
// about 1 when nothing else ran (waiting ranks spin), lower when other
// processes took the core.
void timed_region(Variant& v, Communicator& world, int64_t steps) {
  world.barrier();
  Phases p;
  const double cpu0 = thread_cpu_seconds();
  const auto wall0 = Clock::now();
  const double local = run_steps(v, world, steps, &p);
  const double wall = seconds(Clock::now() - wall0), cpu = thread_cpu_seconds() - cpu0;
  const double share = v.active && wall > 0 ? std::min(1.0, cpu / wall) : 1.0;
  int64_t maxima[2] = {static_cast<int64_t>(local * 1e9), static_cast<int64_t>((1.0 - share) * 1e6)};
  world.allreduce_max(maxima, 2, "bench time");
  double sums[6] = {p.fwd, p.bwd, p.wait, p.opt, p.ready, p.bn};
  world.allreduce_sum(sums, 6, "bench phases");
  // solo: only rank 0 worked, so its phases are the figure.
  const double n = v.name == "solo" ? 1.0 : world.size();
  const double per = 1.0 / (n * steps);
  v.step_s.push_back(maxima[0] * 1e-9 / steps);
  v.cpu_share.push_back(1.0 - maxima[1] * 1e-6);
  v.phases.push_back({sums[0] * per, sums[1] * per, sums[2] * per, sums[3] * per, sums[4] * per, sums[5] * per});
}

double median_phase(const Variant& v, double Phases::*field) {
  std::vector<double> x;
  for (const Phases& p : v.phases) x.push_back(p.*field);
  return median(x);
}

// Median over repeats of a.step_s[r] / b.step_s[r].
double paired_ratio(const Variant& a, const Variant& b) {
  std::vector<double> r;
  for (size_t i = 0; i < a.step_s.size() && i < b.step_s.size(); ++i) r.push_back(a.step_s[i] / b.step_s[i]);
  return median(r);
}

int run(const Options& opt, lockstep::Runtime& runtime) {
  Communicator& world = runtime.world();
  const bool root = world.rank() == 0;
  const int ranks = world.size();

  lockstep::ConfigFile file = lockstep::ConfigFile::load(opt.config);
  lockstep::TrainConfig& config = file.mutable_config();
  int64_t global_batch = config.batch_size();
  if (opt.global_batch > 0) global_batch = opt.global_batch;
  if (opt.per_rank_batch > 0) global_batch = opt.per_rank_batch * ranks;
  if (global_batch % ranks != 0 && root)
    std::fprintf(stderr, "note: global batch %lld does not split evenly over %d ranks\n",
                 static_cast<long long>(global_batch), ranks);
  const int64_t per_rank_batch = (global_batch + ranks - 1) / ranks;  // rank 0's share
  config.set_batch_size(static_cast<int32_t>(global_batch));
  config.set_threads(1);
  config.set_max_steps(0);
  config.set_verbose(0);
  if (opt.bucket_mb > 0) config.mutable_distributed()->set_bucket_size_mb(static_cast<float>(opt.bucket_mb));
  const size_t bucket_bytes = static_cast<size_t>(config.distributed().bucket_size_mb() * 1024 * 1024);
  world.set_timeout_seconds(config.distributed().collective_timeout_seconds());
  lockstep::set_compute_threads(1);

  // Synthetic data of the model's shape, a whole number of global batches.
  lockstep::Model probe(config.model(), config.seed());
  const int64_t want = std::max<int64_t>(8192, 4 * global_batch);
  const int64_t samples = (want + global_batch - 1) / global_batch * global_batch;
  lockstep::DataSpec* data = config.mutable_data();
  data->Clear();
  lockstep::SyntheticData* syn = data->mutable_synthetic();
  syn->set_samples(samples);
  syn->set_features(static_cast<int32_t>(probe.input_width()));
  syn->set_classes(static_cast<int32_t>(std::max<int64_t>(2, probe.output_width())));
  config.clear_validation_data();
  config.set_validation_split(0);
  const lockstep::Dataset train = lockstep::load_dataset(config.data(), "data");

  std::vector<std::string> names = opt.variants;
  if (names.empty()) {
    if (ranks > 1) names = {"sync", "local", "nooverlap", "nocomm"};
    else names = {"sync"};
  }
  const Context cx{world, opt, config, train, global_batch, per_rank_batch, bucket_bytes};
  std::vector<std::unique_ptr<Variant>> variants;
  for (const std::string& n : names) variants.push_back(build_variant(n, cx));

  // Warm-up of every variant (page faults, OpenBLAS buffers, MPI
  // connections), then calibration on the first variant with compute (all
  // ranks agree: the max over ranks decides).
  Variant* calib = variants.front().get();
  for (auto& v : variants)
    if (!v->comm_only && v->active) {
      calib = v.get();
      break;
    }
  const int64_t warmup = opt.warmup >= 0 ? opt.warmup : 20;
  for (auto& v : variants) {
    world.barrier();
    run_steps(*v, world, warmup, nullptr);
  }
  int64_t steps = opt.steps;
  if (steps == 0) {
    int64_t n = 8;
    for (;;) {
      world.barrier();
      int64_t ns = static_cast<int64_t>(run_steps(*calib, world, n, nullptr) * 1e9);
      world.allreduce_max(&ns, 1, "bench calibration");
      if (ns >= 50'000'000 || n >= (int64_t{1} << 20)) {
        steps = std::max<int64_t>(16, static_cast<int64_t>(0.2 * n / (ns * 1e-9)));
        break;
      }
      n *= 2;
    }
  }

  // Interleaved repeats: every repeat runs every variant once; the order
  // rotates so no variant always follows the same one.
  const size_t nv = variants.size();
  for (int r = 0; r < opt.repeats; ++r)
    for (size_t j = 0; j < nv; ++j) timed_region(*variants[(j + r) % nv], world, steps);

  // Peak resident set of the most demanding rank, over everything this process
  // built (all requested variants: run one variant alone for one model's figure).
  int64_t peak_kb = static_cast<int64_t>(lockstep::bench::proc_status_mb("VmHWM") * 1024.0);
  world.allreduce_max(&peak_kb, 1, "bench peak RSS");
  const double rss_peak_mb = static_cast<double>(peak_kb) / 1024.0;

  if (!root) return 0;

  const std::string model_name = stem(opt.config);
  size_t params = 0;
  for (const lockstep::ParameterInfo& p : probe.parameters().entries())
    if (p.trainable) params += p.size;
  std::map<std::string, Variant*> by_name;
  for (auto& v : variants) by_name[v->name] = v.get();
  auto find = [&](const char* n) -> Variant* {
    auto it = by_name.find(n);
    return it == by_name.end() ? nullptr : it->second;
  };
  const size_t bucket_elems = std::max<size_t>(1, bucket_bytes / sizeof(float));
  const size_t buckets = (probe.parameters().trainable_count() + bucket_elems - 1) / bucket_elems;

  if (!opt.json) {
    std::printf(
        "bench_distributed %s  ranks %d  global batch %lld (%lld per rank)  %zu params in %zu bucket(s) of %.3g MB"
        "  %lld steps x %d repeats, medians  OpenBLAS %s\n",
        model_name.c_str(), ranks, static_cast<long long>(global_batch), static_cast<long long>(per_rank_batch),
        params, buckets, bucket_bytes / 1048576.0, static_cast<long long>(steps), opt.repeats,
        openblas_get_corename());
    std::printf("%-15s %9s %11s %7s | %7s %7s %7s %7s | %6s %6s %6s %6s %5s\n", "variant", "ms/step", "samples/s",
                "spread", "fwd", "bwd", "wait", "opt", "wait%", "ready%", "bn%", "comm%", "cpu");
  }
  for (auto& vp : variants) {
    const Variant& v = *vp;
    const double t = median(v.step_s);
    const double lo = *std::min_element(v.step_s.begin(), v.step_s.end());
    const double hi = *std::max_element(v.step_s.begin(), v.step_s.end());
    const double fwd = median_phase(v, &Phases::fwd), bwd = median_phase(v, &Phases::bwd),
                 wait = median_phase(v, &Phases::wait), optm = median_phase(v, &Phases::opt),
                 ready = median_phase(v, &Phases::ready), bn = median_phase(v, &Phases::bn);
    const double sps = v.samples_per_step / t;
    const double cpu = *std::min_element(v.cpu_share.begin(), v.cpu_share.end());
    if (opt.json) {
      std::string runs, cpus;
      for (double s : v.step_s) runs += (runs.empty() ? "" : ", ") + std::to_string(s * 1e3);
      for (double c : v.cpu_share) cpus += (cpus.empty() ? "" : ", ") + std::to_string(c);
      std::printf(
          "{\"bench\": \"distributed\", \"model\": %s, \"config\": %s, \"variant\": %s, \"ranks\": %d, "
          "\"global_batch\": %lld, \"per_rank_batch\": %lld, \"steps\": %lld, \"repeats\": %d, "
          "\"bucket_bytes\": %zu, \"buckets\": %zu, \"params\": %zu, \"ms_per_step\": %.6f, "
          "\"samples_per_s\": %.1f, \"fwd_ms\": %.6f, \"bwd_ms\": %.6f, \"wait_ms\": %.6f, \"opt_ms\": %.6f, "
          "\"ready_ms\": %.6f, \"bn_sync_ms\": %.6f, \"wait_share\": %.5f, \"bn_share\": %.5f, "
          "\"comm_share\": %.5f, \"min_cpu_share\": %.4f, "
          "\"ms_per_step_runs\": [%s], \"cpu_share_runs\": [%s], \"blas_core\": %s}\n",
          json_string(model_name).c_str(), json_string(opt.config).c_str(), json_string(v.name).c_str(), ranks,
          static_cast<long long>(global_batch), static_cast<long long>(per_rank_batch), static_cast<long long>(steps),
          opt.repeats, bucket_bytes, buckets, params, t * 1e3, sps, fwd * 1e3, bwd * 1e3, wait * 1e3, optm * 1e3,
          ready * 1e3, bn * 1e3, wait / t, bn / t, (wait + ready + bn) / t, cpu, runs.c_str(), cpus.c_str(),
          json_string(openblas_get_corename()).c_str());
    } else {
      std::printf("%-15s %9.4f %11.0f %6.1f%% | %7.4f %7.4f %7.4f %7.4f | %5.1f%% %5.1f%% %5.1f%% %5.1f%% %4.0f%%\n",
                  v.name.c_str(), t * 1e3, sps, 100.0 * (hi - lo) / t, fwd * 1e3, bwd * 1e3, wait * 1e3, optm * 1e3,
                  100.0 * wait / t, 100.0 * ready / t, 100.0 * bn / t, 100.0 * (wait + ready + bn) / t,
                  100.0 * cpu);
    }
  }

  // Same-run ratios (medians of per-repeat ratios).
  Variant *sync = find("sync"), *local = find("local"), *noov = find("nooverlap"), *nocomm = find("nocomm"),
          *solo = find("solo"), *flags = find("flags"), *local_noov = find("local_nooverlap"),
          *noshard = find("noshard");
  std::vector<std::pair<std::string, double>> ratios;
  // throughput ratio a/b = (samples_a / t_a) / (samples_b / t_b)
  auto tput = [](const Variant& a, const Variant& b) {
    return paired_ratio(b, a) * static_cast<double>(a.samples_per_step) / static_cast<double>(b.samples_per_step);
  };
  if (sync && nocomm) ratios.push_back({"throughput_sync_over_nocomm", tput(*sync, *nocomm)});
  if (sync && solo) ratios.push_back({"throughput_sync_over_solo", tput(*sync, *solo)});
  if (local && solo) ratios.push_back({"throughput_local_over_solo", tput(*local, *solo)});
  if (sync && local) ratios.push_back({"syncbn_cost_pct", 100.0 * (paired_ratio(*sync, *local) - 1.0)});
  if (noov && local_noov)
    ratios.push_back({"syncbn_cost_nooverlap_pct", 100.0 * (paired_ratio(*noov, *local_noov) - 1.0)});
  if (noov && sync) ratios.push_back({"nooverlap_vs_overlap_pct", 100.0 * (paired_ratio(*noov, *sync) - 1.0)});
  if (local_noov && local)
    ratios.push_back({"nooverlap_vs_overlap_local_pct", 100.0 * (paired_ratio(*local_noov, *local) - 1.0)});
  if (noshard && sync) ratios.push_back({"noshard_vs_sharded_pct", 100.0 * (paired_ratio(*noshard, *sync) - 1.0)});
  if (flags && sync) ratios.push_back({"step_flags_cost_pct", 100.0 * (paired_ratio(*flags, *sync) - 1.0)});
  if (opt.json) {
    std::string fields;
    for (auto& [k, x] : ratios) fields += ", " + json_string(k) + ": " + std::to_string(x);
    std::printf("{\"bench\": \"distributed_ratios\", \"model\": %s, \"ranks\": %d, \"global_batch\": %lld, "
                "\"variants\": %zu, \"rss_peak_mb\": %.1f%s}\n",
                json_string(model_name).c_str(), ranks, static_cast<long long>(global_batch), variants.size(),
                rss_peak_mb, fields.c_str());
  } else {
    std::printf("peak RSS of the largest rank: %.1f MB (all %zu variants built in this process)\n", rss_peak_mb,
                variants.size());
  }
  if (!opt.json && !ratios.empty()) {
    std::printf("same-run ratios (median of per-repeat ratios):\n");
    for (auto& [k, x] : ratios) std::printf("  %-30s %8.3f\n", k.c_str(), x);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  lockstep::select_blas_kernels(argv);  // the kernels trainer would use; before MPI_Init
  std::unique_ptr<lockstep::Runtime> runtime;
  try {
    runtime = std::make_unique<lockstep::Runtime>();
    const int rc = run(parse_args(argc, argv), *runtime);
    std::fflush(stdout);
    return rc;
  } catch (const lockstep::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (runtime) runtime->abort_job(e.exit_code());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    if (runtime) runtime->abort_job(lockstep::kExitRuntime);
    return lockstep::kExitRuntime;
  }
}
