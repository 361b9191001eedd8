// bench_train: training-step throughput of a config's model, and how close the
// step comes to the raw cblas_sgemm rate of the model's own matrix products.
//
//   bench_train --config FILE [--batch B] [--threads T] [--steps N]
//               [--warmup W] [--repeats R] [--json] [--no-gemm] [--perf-control CTL,ACK] [--trace-ab]
//
// The config's data is replaced by an in-memory synthetic set of the same
// shape (features = model input width, classes = output units, samples a
// multiple of the batch >= max(8192, 4*batch)), so no disk I/O is timed and
// every step is a full batch. One process, LocalCommunicator, NoGradientSync,
// lockstep::Training::train_step() exactly as `trainer train` runs it
// (gather, forward, loss, backward, optimizer). Epoch boundaries
// (begin_epoch: the epoch's permutation) are outside the timed region.
//
// Each repeat times N steps, then times the model's matrix products alone
// (cblas_sgemm on buffers of the same shapes, N steps' worth of calls each,
// at 1 thread and at T threads: the faster of the two is the product's bound). Printed figures
// are medians over the R repeats. Each repeat also times the config's
// optimizer alone, one step() over an arena-sized copy of the parameters:
// that pass is memory-bound and as unavoidable as the products, so "products
// + optimizer" is a second, tighter bound. A benchmark prints figures; it
// never fails on time. --no-gemm skips the raw products (for profiling the step alone
// with perf: `perf record -g bench_train ... --no-gemm`). --perf-control
// CTL,ACK: the FIFOs of `perf record -D -1 --control fifo:CTL,ACK`; sampling
// is enabled after the warm-up and set-up, before the timed repeats, so a
// profile with --no-gemm holds steps only (a CNN's start-up, its data and
// buffers, takes seconds; bench/profile.sh).
//
// FLOP count (only the matrix products of Dense and Conv2D layers;
// element-wise work, im2col gathers and scatters, pooling, BatchNorm,
// activations, dropout, loss and optimizer are not counted). Per sample, for
// a Dense layer with `in` inputs and `out` units:
//   forward  z = x·W (+ b)   : 2*in*out (+ out with a bias: sgemm accumulates
//                              onto C preloaded with the bias, beta = 1)
//   backward dW += xᵀ·dz     : 2*in*out
//            dx  = dz·Wᵀ     : 2*in*out, except for the first layer
//                              (model input: no input gradient is computed)
// So 6*in*out (+out) per hidden Dense layer and 4*in*out (+out) for the first.
// For a Conv2D layer with Q = positions() output positions per sample,
// P = patch_width() = kernel_h*kernel_w*in_channels and F filters, the same
// three products on the im2col patches (one row per output position):
//   forward  z = patches·K (+ b) : 2*Q*P*F (+ Q*F with a bias, beta = 1)
//   backward dK += patchesᵀ·dz   : 2*Q*P*F
//            dpatches = dz·Kᵀ    : 2*Q*P*F, except for the first layer
// conv2d.cpp issues them per block of block_samples() samples (m = samples
// in the block * Q rows; the last block holds the rest of the batch), so the
// raw products below run those shapes, block by block, as many times as the
// step does. The bias gradient (a column sum) is not counted. Only layer 0
// skips dx: lockstep computes no dx for layer 0 only, so a Dense or Conv2D
// that is not layer 0 always gets a dx product.
//
// --trace-ab times the step only, with the timeline (core/trace.h) off and
// on in alternating blocks (bench/run_trace_overhead.sh).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/blas_kernels.h"
#include "core/config.h"
#include "core/data/dataset.h"
#include "core/error.h"
#include "core/isa.h"
#include "core/gradient_sync.h"
#include "core/layers/conv2d.h"
#include "core/loss.h"
#include "core/model.h"
#include "core/optim/optimizer.h"
#include "core/threads.h"
#include "core/trace.h"
#include "core/training.h"
#include "distributed/local_communicator.h"

namespace {

using lockstep::throw_input_error;
using lockstep::bench::json_string;
using lockstep::bench::median;
using lockstep::bench::now_seconds;
using lockstep::bench::proc_status_mb;
using lockstep::bench::stem;

struct Options {
  std::string config;
  int64_t batch = 0;    // 0 = the config's batch_size
  int threads = 1;
  int64_t steps = 0;    // 0 = calibrate: about 0.25 s per repeat
  int64_t warmup = -1;  // -1 = max(20, steps / 10)
  int repeats = 5;
  bool json = false;
  bool gemm = true;  // also time the raw products
  std::string perf_control;  // "CTL,ACK": perf's control and ack FIFOs
  bool trace_ab = false;     // time the step with the timeline off and on
};

[[noreturn]] void usage(const std::string& what) {
  throw_input_error("usage",
                    what + "\n  bench_train --config FILE [--batch B] [--threads T] [--steps N] [--warmup W] "
                           "[--repeats R] [--json] [--no-gemm] [--perf-control CTL,ACK] [--trace-ab]");
}

int64_t parse_int(const std::string& flag, const char* text, int64_t min) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (!*text || *end || v < min) usage(flag + ": expected an integer >= " + std::to_string(min) + ", got '" + text + "'");
  return v;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(a + ": missing value");
      return argv[++i];
    };
    if (a == "--config") o.config = value();
    else if (a == "--batch") o.batch = parse_int(a, value(), 1);
    else if (a == "--threads") o.threads = static_cast<int>(parse_int(a, value(), 1));
    else if (a == "--steps") o.steps = parse_int(a, value(), 0);
    else if (a == "--warmup") o.warmup = parse_int(a, value(), 0);
    else if (a == "--repeats") o.repeats = static_cast<int>(parse_int(a, value(), 1));
    else if (a == "--json") o.json = true;
    else if (a == "--trace-ab") o.trace_ab = true;
    else if (a == "--no-gemm") o.gemm = false;
    else if (a == "--perf-control") o.perf_control = value();
    else if (a == "-h" || a == "--help") usage("help");
    else usage("unknown argument '" + a + "'");
  }
  if (o.config.empty()) usage("--config is required");
  return o;
}

// Tells `perf record --control fifo:CTL,ACK` to start sampling and waits for
// its acknowledgement, so that no step runs before the events are on.
void enable_perf(const std::string& fifos) {
  const size_t comma = fifos.find(',');
  if (comma == std::string::npos) usage("--perf-control: expected CTL,ACK (two FIFO paths)");
  const std::string ctl = fifos.substr(0, comma), ack = fifos.substr(comma + 1);
  std::FILE* c = std::fopen(ctl.c_str(), "w");
  if (!c || std::fputs("enable\n", c) < 0 || std::fclose(c) != 0)
    throw_input_error("--perf-control", "cannot write to " + ctl);
  std::FILE* a = std::fopen(ack.c_str(), "r");
  char reply[16] = {};
  if (!a || !std::fgets(reply, sizeof reply, a)) throw_input_error("--perf-control", "no reply from perf on " + ack);
  std::fclose(a);
}

// ---- memory -----------------------------------------------------------------

double resident_mb() { return proc_status_mb("VmRSS"); }
double peak_resident_mb() { return proc_status_mb("VmHWM"); }

// The process's fixed start-up size: libraries loaded and OpenBLAS's packing
// buffers touched by one product large enough to use all of them (the same
// warm-up torch_bench.py does before it builds anything).
double startup_resident_mb() {
  const int n = 256;
  std::vector<float> a(size_t(n) * n, 1.0f), b(size_t(n) * n, 1.0f), c(size_t(n) * n, 0.0f);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
  a = {}, b = {}, c = {};
  return resident_mb();
}

// What a training step must hold, by the definition: parameters,
// gradients, optimizer slots, and every layer's output for the batch (the
// activations kept for backward, input batch included). Not counted: the data
// set, and the framework's scratch (lockstep's dropout masks, BatchNorm's
// normalised input, the two gradient ping-pong buffers).
// Trainable values, without the arena's alignment padding.
size_t trainable_values(const lockstep::Model& model) {
  size_t params = 0;
  for (const lockstep::ParameterInfo& p : model.parameters().entries())
    if (p.trainable) params += p.size;
  return params;
}

double model_state_mb(const lockstep::Model& model, const lockstep::Optimizer& optimizer, int64_t batch) {
  const size_t params = trainable_values(model);
  const size_t slots = optimizer.slot_names().size();
  int64_t widths = model.input_width();
  for (size_t i = 0; i < model.layer_count(); ++i) widths += model.layer(i).output_width();
  const double floats = static_cast<double>(params) * (2 + slots) + static_cast<double>(batch) * widths;
  return floats * sizeof(float) / (1 << 20);
}

// ---- the model's matrix products -------------------------------------------

// One cblas_sgemm shape as a layer issues it (row-major), with its own
// buffers, run `calls` times per step (Conv2D: once per block of samples).
struct Product {
  std::string what;  // "dense_1 fwd [32x14]x[14x64]", "conv2d_1 dK [288x1764]x[1764x64] x28"
  CBLAS_TRANSPOSE ta, tb;
  int m, n, k, lda, ldb, ldc;
  float beta;
  int calls;     // per step
  double flops;  // per step: all `calls` of it
  std::vector<float> a, b, c;
  // Conv2D: on T threads the step runs T blocks at once, each product on one
  // thread, so the bound is the one-thread time / T (perfect scaling).
  bool side_by_side = false;

  void run() const {
    for (int i = 0; i < calls; ++i)
      cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, beta,
                  const_cast<float*>(c.data()), ldc);
  }
};

std::vector<float> filled(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>((i * 2654435761u) % 1000) / 1000.0f;
  return v;
}

std::string dims(int64_t r, int64_t c) { return "[" + std::to_string(r) + "x" + std::to_string(c) + "]"; }

// C[m,n] (beta) += op(A)·op(B), row-major and packed as the layers store
// them: A is [m,k] ([k,m] transposed), B is [k,n] ([n,k] transposed). The
// fill scales keep the values of the step's own operands (inputs ~1,
// weights ~0.1, gradients ~1e-3): no denormals, no overflow. `extra` = FLOP
// per call beyond 2mnk (the preloaded bias).
Product product(const std::string& what, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k,
                float beta, int64_t calls, float a_scale, float b_scale, double extra = 0) {
  const int lda = static_cast<int>(ta == CblasNoTrans ? k : m), ldb = static_cast<int>(tb == CblasNoTrans ? n : k);
  return {what + (calls > 1 ? " x" + std::to_string(calls) : ""), ta, tb, static_cast<int>(m), static_cast<int>(n),
          static_cast<int>(k), lda, ldb, static_cast<int>(n), beta, static_cast<int>(calls),
          (2.0 * m * n * k + extra) * calls, filled(size_t(m) * k, a_scale), filled(size_t(k) * n, b_scale),
          filled(size_t(m) * n, 0.0f)};
}

// Dense with `in` inputs and `units` outputs on `b` rows (dense.cpp).
void dense_products(std::vector<Product>& out, const lockstep::Layer& l, bool bias, bool first, int64_t b) {
  const int64_t in = l.input_width(), units = l.output_width();
  const std::string name = l.name() + " ";
  // forward: z[B,out] = x[B,in] · W[in,out] (+ z preloaded with the bias)
  out.push_back(product(name + "fwd " + dims(b, in) + "x" + dims(in, units), CblasNoTrans, CblasNoTrans, b, units,
                        in, bias ? 1.0f : 0.0f, 1, 1.0f, 0.1f, bias ? double(b) * units : 0.0));
  // dW[in,out] += xᵀ · dz, x stored [B,in]
  out.push_back(product(name + "dW  " + dims(in, b) + "x" + dims(b, units), CblasTrans, CblasNoTrans, in, units, b,
                        1.0f, 1, 1.0f, 1e-3f));
  // dx[B,in] = dz[B,out] · Wᵀ, W stored [in,out]; none for the first layer
  if (!first)
    out.push_back(product(name + "dx  " + dims(b, units) + "x" + dims(units, in), CblasNoTrans, CblasTrans, b, in,
                          units, 0.0f, 1, 1e-3f, 0.1f));
}

// Conv2D on `rows` samples as conv2d.cpp runs it: the batch in blocks of
// block_samples() samples (the last one shorter), three products per block
// with m = samples in the block x positions(), P = patch_width(), F = filters.
void conv2d_products(std::vector<Product>& out, const lockstep::Conv2DLayer& l, bool first, int64_t rows) {
  const size_t from = out.size();
  const int64_t block = std::min(l.block_samples(), rows), full = rows / block, rest = rows % block;
  const int64_t P = l.patch_width(), F = l.options().filters;
  const bool bias = l.options().use_bias;
  for (const auto& [samples, calls] : {std::pair{block, full}, std::pair{rest, rest > 0 ? int64_t{1} : 0}}) {
    if (calls == 0) continue;
    const int64_t m = samples * l.positions();
    const std::string name = l.name() + " ";
    // forward: z[m,F] = patches[m,P] · K[P,F] (+ z preloaded with the bias)
    out.push_back(product(name + "fwd " + dims(m, P) + "x" + dims(P, F), CblasNoTrans, CblasNoTrans, m, F, P,
                          bias ? 1.0f : 0.0f, calls, 1.0f, 0.1f, bias ? double(m) * F : 0.0));
    // dK[P,F] += patchesᵀ · dz
    out.push_back(product(name + "dK  " + dims(P, m) + "x" + dims(m, F), CblasTrans, CblasNoTrans, P, F, m, 1.0f,
                          calls, 1.0f, 1e-3f));
    // dpatches[m,P] = dz · Kᵀ; none for the first layer (no dx)
    if (!first)
      out.push_back(product(name + "dx  " + dims(m, F) + "x" + dims(F, P), CblasNoTrans, CblasTrans, m, P, F, 0.0f,
                            calls, 1e-3f, 0.1f));
  }
  for (size_t i = from; i < out.size(); ++i) out[i].side_by_side = true;
}

// The Dense and Conv2D layers' products for `rows` rows, in the order of one
// step's forward pass.
std::vector<Product> model_products(const lockstep::Model& model, int64_t rows) {
  std::vector<Product> out;
  const lockstep::ModelSpec& spec = model.spec();
  for (size_t i = 0; i < model.layer_count(); ++i) {
    const lockstep::LayerSpec& ls = spec.layers(static_cast<int>(i));
    if (ls.has_dense()) dense_products(out, model.layer(i), ls.dense().use_bias(), i == 0, rows);
    if (ls.has_conv2d())
      conv2d_products(out, dynamic_cast<const lockstep::Conv2DLayer&>(model.layer(i)), i == 0, rows);
  }
  return out;
}

// ---- the training step ------------------------------------------------------

// Runs train_step over consecutive batches, starting a new epoch when one
// ends; returns the seconds spent in train_step only.
class Stepper {
 public:
  explicit Stepper(lockstep::Training& t) : training_(t), steps_per_epoch_(t.steps_per_epoch()) {
    training_.begin_epoch(epoch_);
  }
  double run(int64_t steps) {
    double total = 0;
    double t0 = now_seconds();
    for (int64_t i = 0; i < steps; ++i) {
      if (step_ == steps_per_epoch_) {
        total += now_seconds() - t0;
        training_.begin_epoch(++epoch_);
        step_ = 0;
        t0 = now_seconds();
      }
      training_.train_step(step_++);
    }
    return total + (now_seconds() - t0);
  }

 private:
  lockstep::Training& training_;
  int64_t steps_per_epoch_;
  int64_t epoch_ = 0, step_ = 0;
};

// --trace-ab: what the timeline (core/trace.h) costs the step. In one
// process, blocks of N steps alternate between tracing off and on (which
// goes first swaps every repeat), so other jobs' load hits both alike.
// Prints the medians and the median of the per-repeat on/off ratios, of
// wall time and of the process's CPU time (which leaves out the time spent
// waiting for a core: most of the noise on a shared machine).
double cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

int trace_ab(Stepper& stepper, int64_t steps, int repeats, const std::string& name) {
  lockstep::TraceRecorder recorder(static_cast<size_t>(steps) * 128);  // more than a step records
  std::vector<double> off, on, ratios, cpu_off, cpu_on, cpu_ratios;
  size_t events = 0, dropped = 0;
  for (int r = 0; r < repeats; ++r) {
    for (int k = 0; k < 2; ++k) {
      const bool tracing = (k == 0) == (r % 2 == 1);
      recorder.clear();
      lockstep::set_active_trace(tracing ? &recorder : nullptr);
      const double cpu_start = cpu_seconds();
      const double seconds = stepper.run(steps) / steps;
      const double cpu = (cpu_seconds() - cpu_start) / steps;
      lockstep::set_active_trace(nullptr);
      (tracing ? on : off).push_back(seconds);
      (tracing ? cpu_on : cpu_off).push_back(cpu);
      if (tracing) events = recorder.recorded(), dropped += recorder.dropped();
    }
    ratios.push_back(on.back() / off.back());
    cpu_ratios.push_back(cpu_on.back() / cpu_off.back());
  }
  std::printf("%s trace-ab: %lld steps x %d repeats; off %.4f ms/step, on %.4f ms/step (medians); on/off %.4f "
              "(median of per-repeat ratios; ratio of medians %.4f); %.1f events/step, %zu dropped\n",
              name.c_str(), static_cast<long long>(steps), repeats, median(off) * 1e3, median(on) * 1e3,
              median(ratios), median(on) / median(off), static_cast<double>(events) / steps, dropped);
  std::printf("%s trace-ab CPU time: off %.4f ms/step, on %.4f ms/step; on/off %.4f (median of per-repeat ratios, "
              "range %.3f-%.3f)\n",
              name.c_str(), median(cpu_off) * 1e3, median(cpu_on) * 1e3, median(cpu_ratios),
              *std::min_element(cpu_ratios.begin(), cpu_ratios.end()),
              *std::max_element(cpu_ratios.begin(), cpu_ratios.end()));
  return 0;
}

int run(const Options& opt) {
  lockstep::set_compute_threads(opt.threads);
  const double rss_start_mb = startup_resident_mb();
  lockstep::ConfigFile file = lockstep::ConfigFile::load(opt.config);
  lockstep::TrainConfig& config = file.mutable_config();
  if (opt.batch > 0) config.set_batch_size(static_cast<int32_t>(opt.batch));
  const int64_t batch = config.batch_size();
  config.set_threads(opt.threads);
  config.set_max_steps(0);

  auto model = std::make_unique<lockstep::Model>(config.model(), config.seed());

  // Synthetic data of the model's shape, a whole number of batches.
  const int64_t want = std::max<int64_t>(8192, 4 * batch);
  const int64_t samples = (want + batch - 1) / batch * batch;
  lockstep::DataSpec* data = config.mutable_data();
  data->Clear();
  lockstep::SyntheticData* syn = data->mutable_synthetic();
  syn->set_samples(samples);
  syn->set_features(static_cast<int32_t>(model->input_width()));
  syn->set_classes(static_cast<int32_t>(std::max<int64_t>(2, model->output_width())));
  config.clear_validation_data();
  config.set_validation_split(0);
  lockstep::Dataset train = lockstep::load_dataset(config.data(), "data");

  lockstep::Loss loss(config.loss(), "loss");
  loss.check_labels(train, model->output_width(), "loss");
  std::unique_ptr<lockstep::Optimizer> optimizer = lockstep::make_optimizer(config.optimizer(), "optimizer");
  lockstep::LocalCommunicator world;
  model->connect(world, config.distributed().sync_batch_norm());
  lockstep::NoGradientSync sync;
  lockstep::Training training(config, *model, *optimizer, loss, train, nullptr, world, sync);
  Stepper stepper(training);

  // Warm-up (page faults, OpenBLAS buffers, caches), then calibration.
  int64_t steps = opt.steps;
  const int64_t warmup = opt.warmup >= 0 ? opt.warmup : std::max<int64_t>(20, steps / 10);
  stepper.run(warmup);
  if (steps == 0) {
    int64_t n = 16;
    double t = stepper.run(n);
    while (t < 0.05) n *= 2, t = stepper.run(n);
    steps = std::max<int64_t>(16, static_cast<int64_t>(0.25 * n / t));
  }

  if (opt.trace_ab) return trace_ab(stepper, steps, opt.repeats, stem(opt.config));

  // Peak before the raw products below allocate their own buffers: steady
  // training allocates nothing, so this is the training run's peak.
  const double rss_peak_mb = peak_resident_mb();
  const double data_mb =
      static_cast<double>(train.features.size() + train.labels.size()) * sizeof(float) / (1 << 20);
  const double state_mb = model_state_mb(*model, *optimizer, batch);

  const size_t params = trainable_values(*model);
  std::vector<Product> products = model_products(*model, batch);
  double flops_per_step = 0;
  for (const Product& p : products) flops_per_step += p.flops;
  if (!opt.gemm) products.clear();

  // The optimizer's pass alone, on an arena-sized copy: memory-bound (Adam
  // reads and writes 28 bytes per parameter), it is the other part of the
  // step that no framework can skip, so products + this pass is the floor.
  std::unique_ptr<lockstep::Optimizer> lone_optimizer;
  std::vector<float> lone_params, lone_grads;
  if (opt.gemm) {
    lone_optimizer = lockstep::make_optimizer(config.optimizer(), "optimizer");
    lone_params = filled(params, 0.1f);
    lone_grads = filled(params, 1e-3f);
    lone_optimizer->reserve(params);
    for (int w = 0; w < 3; ++w)
      lone_optimizer->step(lone_params.data(), lone_grads.data(), params, lone_optimizer->base_learning_rate());
  }
  for (const Product& p : products)
    for (int t : {1, opt.threads}) {
      openblas_set_num_threads(t);
      for (int w = 0; w < 3; ++w) p.run();
    }
  lockstep::set_compute_threads(opt.threads);

  // Sampling from here: the set-up above (data, buffers, the products' operands) is not the step.
  if (!opt.perf_control.empty()) enable_perf(opt.perf_control);
  std::vector<double> step_seconds, gemm_seconds, optimizer_seconds;  // per step, one entry per repeat
  std::vector<std::vector<double>> product_seconds(products.size());  // per step
  for (int r = 0; r < opt.repeats; ++r) {
    step_seconds.push_back(stepper.run(steps) / steps);
    double gemm = 0;
    for (size_t j = 0; j < products.size(); ++j) {
      // The bound: each product at its faster thread count, 1 or all (the
      // step itself picks by size, lockstep::threads_for_product); Conv2D's
      // at one thread divided over all (Product::side_by_side).
      double per_step = 0;
      for (int t : {1, opt.threads}) {
        openblas_set_num_threads(t);
        const double t0 = now_seconds();
        for (int64_t s = 0; s < steps; ++s) products[j].run();
        double d = (now_seconds() - t0) / steps;
        if (t == 1 && products[j].side_by_side) d /= opt.threads;
        per_step = per_step == 0 ? d : std::min(per_step, d);
        if (opt.threads == 1) break;
      }
      lockstep::set_compute_threads(opt.threads);
      product_seconds[j].push_back(per_step);
      gemm += per_step;
    }
    gemm_seconds.push_back(gemm);
    if (lone_optimizer) {
      const double t0 = now_seconds();
      for (int64_t s = 0; s < steps; ++s)
        lone_optimizer->step(lone_params.data(), lone_grads.data(), params, lone_optimizer->base_learning_rate());
      optimizer_seconds.push_back((now_seconds() - t0) / steps);
    }
  }

  const double step_s = median(step_seconds), gemm_s = median(gemm_seconds);
  const double samples_per_s = batch / step_s;
  const double gflops = flops_per_step / step_s * 1e-9;
  const double gemm_gflops = gemm_s > 0 ? flops_per_step / gemm_s * 1e-9 : 0;
  const double pct = 100.0 * gemm_s / step_s;
  const double optimizer_s = optimizer_seconds.empty() ? 0 : median(optimizer_seconds);
  const double pct_floor = 100.0 * (gemm_s + optimizer_s) / step_s;
  const std::string name = stem(opt.config);

  if (opt.json) {
    std::string runs;
    for (double s : step_seconds) runs += (runs.empty() ? "" : ", ") + std::to_string(batch / s);
    std::printf(
        "{\"bench\": \"lockstep\", \"model\": %s, \"config\": %s, \"batch\": %lld, \"threads\": %d, "
        "\"steps\": %lld, \"repeats\": %d, \"samples_per_s\": %.1f, \"ms_per_step\": %.6f, "
        "\"flops_per_sample\": %.0f, \"gflops\": %.3f, \"gemm_gflops\": %.3f, \"pct_of_gemm\": %.1f, "
        "\"params\": %zu, \"samples_per_s_runs\": [%s], \"blas_core\": %s, \"isa\": %s, \"rss_start_mb\": %.1f, "
        "\"rss_peak_mb\": %.1f, \"data_mb\": %.1f, \"state_mb\": %.1f, \"optimizer_ms\": %.6f, "
        "\"pct_of_gemm_and_optimizer\": %.1f}\n",
        json_string(name).c_str(), json_string(opt.config).c_str(), static_cast<long long>(batch), opt.threads,
        static_cast<long long>(steps), opt.repeats, samples_per_s, step_s * 1e3, flops_per_step / batch, gflops,
        gemm_gflops, pct, params, runs.c_str(),
        json_string(openblas_get_corename()).c_str(), json_string(lockstep::isa_name(lockstep::active_isa())).c_str(),
        rss_start_mb, rss_peak_mb, data_mb, state_mb,
        optimizer_s * 1e3, pct_floor);
  } else {
    std::printf("lockstep %s  batch %lld  threads %d  (%lld steps x %d repeats, medians; OpenBLAS %s kernels; "
                "lockstep's loops: %s)\n",
                name.c_str(), static_cast<long long>(batch), opt.threads, static_cast<long long>(steps), opt.repeats,
                openblas_get_corename(), lockstep::isa_name(lockstep::active_isa()));
    std::printf("  %.0f samples/s   %.4f ms/step   %.3f GFLOP/s   (%.0f FLOP/sample in products)\n", samples_per_s,
                step_s * 1e3, gflops, flops_per_step / batch);
    std::printf("  peak RSS %.1f MB = start-up %.1f + data set %.1f + %.1f for the model, whose parameters, "
                "gradients, optimizer slots and activations take %.1f MB\n",
                rss_peak_mb, rss_start_mb, data_mb, rss_peak_mb - rss_start_mb - data_mb, state_mb);
    if (!products.empty())
      std::printf("  raw cblas_sgemm on the same shapes: %.3f GFLOP/s, %.4f ms/step -> the step reaches %.1f%%\n",
                  gemm_gflops, gemm_s * 1e3, pct);
    if (lone_optimizer)
      std::printf("  the optimizer (%s) alone over %zu parameters: %.4f ms/step; products + optimizer: the step "
                  "reaches %.1f%%\n",
                  lone_optimizer->kind(), params, optimizer_s * 1e3, pct_floor);
    for (size_t j = 0; j < products.size(); ++j) {
      const double t = median(product_seconds[j]);
      std::printf("    %-44s %9.2f us/step  %7.2f GFLOP/s\n", products[j].what.c_str(), t * 1e6,
                  products[j].flops / t * 1e-9);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  lockstep::select_blas_kernels(argv);  // the kernels trainer would use
  try {
    return run(parse_args(argc, argv));
  } catch (const lockstep::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return lockstep::kExitRuntime;
  }
}
