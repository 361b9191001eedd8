// bench_allreduce: lockstep's gradient all-reduce (BucketedAllreduce over the
// world communicator, as `trainer train` sets it up) against one plain
// MPI_Allreduce of the same buffer, in the same job.
//
//   mpiexec -np 2 bench_allreduce [--mb 64] [--repeats 11] [--calls N] [--warmup W]
//       [--bucket-mb MB] [--flat] [--json]
//   bench_allreduce ...      # alone (no launcher): nothing to reduce, prints a note and exits 0
//
// Target: "for a 64 MB gradient, >= 1.5x faster than one plain MPI_Allreduce
// on the same buffer in the same run".
//
// Set-up (once): the lockstep Runtime starts MPI and wraps MPI_COMM_WORLD in
// an MpiCommunicator, so when all ranks share a node float sums go through
// its shared-memory all-reduce (ShmAllreduce; LOCKSTEP_SHM_ALLREDUCE=0 on any
// rank turns that off and MPI_Iallreduce is used). ONE float buffer of --mb
// MiB is allocated, and a BucketedAllreduce (overlap on) is attached to it
// with the bucket size `trainer train` uses by default (the config's
// distributed.bucket_size_mb default; --bucket-mb overrides), exactly like
// bench_distributed's "allreduce" variant. Nothing else is allocated later.
//
// The two paths, each one all-reduce of the whole buffer:
//   lockstep  ready(0, n) (every bucket ready at once: buckets start in
//             order, at most 16 in flight) then finish(): the pure cost of
//             one step's gradient reduction when all ranks arrive together
//   mpi       MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM,
//             MPI_COMM_WORLD): Open MPI's blocking all-reduce, whatever
//             algorithm its coll framework picks
//   flat      (--flat, for jobs over several nodes) the same BucketedAllreduce
//             over a second communicator (a copy of the world) made with
//             LOCKSTEP_HIERARCHICAL=0: MPI_Iallreduce over all ranks, the
//             path multi-node jobs took before the hierarchical all-reduce.
//             Its row also gives "hierarchical vs flat" = flat / lockstep.
//
// Data: integer-valued floats in [-5, 10], depending on the element and the
// rank, so every sum is exact whatever the order of additions. After warm-up
// each path is checked once against the exact expected sums; a wrong
// element ends the run with "error: bench_allreduce: ..." and exit status 1.
// Repeated sums multiply the values by ~ranks per call, so the buffer is
// refilled (outside the timed region, a barrier after it) before each timed
// region, and a region longer than ~100/log2(ranks) calls is cut into
// sub-regions, each refilled and preceded by its own barrier (only at tiny
// --mb with many calls); no value ever overflows or goes subnormal.
//
// Timing: --warmup calls of each path first (default 5; page faults, MPI
// connections and buffers). --calls calls per timed region (default:
// calibrated after the warm-up to about 0.2 s per region, at least 3).
// Before each timed region a barrier; steady_clock around the calls on every
// rank; the region's time is the maximum over ranks (allreduce_max), so it is
// the job's. Each repeat times both paths, in an order that flips every
// repeat. Printed figures are medians over --repeats (default 11); the
// speedup is the median of the per-repeat ratios mpi time / lockstep time
// (same repeat = same machine conditions). GB/s = buffer bytes / time of one
// all-reduce (1 GB = 1e9 bytes): the "algorithm bandwidth", how fast a
// gradient of this size is summed; not the bus bandwidth (a ring all-reduce
// moves 2 (p-1)/p times the buffer through each rank). spread = (max - min)
// / median over the repeats; cpu = the smallest share of a timed region's
// wall time that a rank's thread was on a CPU (user + system). Lockstep's
// waits spin, then yield, and only after 10 ms without completion sleep, so
// on the shared-memory path a share well below ~90% means other processes
// took the cores and that run is disturbed; MPI_Allreduce reads ~80% even on
// a quiet machine (its kernel copies and page faults block at times), and so
// does lockstep over MPI_Iallreduce (its long waits do sleep).
//
// Output (rank 0): a header (ranks, buffer, buckets, shared memory on/off,
// MPI library), one line per path (ms per all-reduce, GB/s, spread, cpu) and
// the speedup. --json prints one line instead: {"bench": "allreduce",
// "ranks", "mb", "bytes", "bucket_bytes", "buckets", "shm" (the shared-memory path
// was active), "calls", "repeats", "lockstep_ms", "mpi_ms", "lockstep_gbps",
// "mpi_gbps", "speedup", "lockstep_ms_runs", "mpi_ms_runs",
// "lockstep_min_cpu_share", "mpi_min_cpu_share", "hierarchical", "flat_ms" and
// "vs_flat" (0 without --flat)}.
// A benchmark prints figures; it never fails on time.
#include <mpi.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_util.h"
#include "core/config.h"
#include "core/error.h"
#include "distributed/bucketed_allreduce.h"
#include "distributed/mpi_communicator.h"
#include "distributed/runtime.h"

namespace {

using lockstep::Communicator;
using lockstep::throw_input_error;
using lockstep::throw_runtime_error;
using lockstep::bench::median;

const char* const kWhere = "bench_allreduce";

using Clock = std::chrono::steady_clock;
double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// ---- options ----------------------------------------------------------------

struct Options {
  double mb = 64;
  int repeats = 11;
  int64_t calls = 0;   // 0 = calibrate: about 0.2 s per timed region
  int64_t warmup = 5;  // calls of each path
  double bucket_mb = -1;  // < 0 = the config's default distributed.bucket_size_mb
  bool flat = false;
  bool json = false;
};

[[noreturn]] void usage(const std::string& what) {
  throw_input_error("usage", what +
                                 "\n  bench_allreduce [--mb MB] [--repeats R] [--calls N] [--warmup W] "
                                 "[--bucket-mb MB] [--flat] [--json]");
}

int64_t parse_int(const std::string& flag, const char* text, int64_t min) {
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (!*text || *end || v < min)
    usage(flag + ": expected an integer >= " + std::to_string(min) + ", got '" + text + "'");
  return v;
}

double parse_positive(const std::string& flag, const char* text) {
  char* end = nullptr;
  const double v = std::strtod(text, &end);
  if (!*text || *end || !(v > 0) || !std::isfinite(v))
    usage(flag + ": expected a number > 0, got '" + std::string(text) + "'");
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
    if (a == "--mb") o.mb = parse_positive(a, value());
    else if (a == "--repeats") o.repeats = static_cast<int>(parse_int(a, value(), 1));
    else if (a == "--calls") o.calls = parse_int(a, value(), 1);
    else if (a == "--warmup") o.warmup = parse_int(a, value(), 0);
    else if (a == "--bucket-mb") o.bucket_mb = parse_positive(a, value());
    else if (a == "--json") o.json = true;
    else if (a == "--flat") o.flat = true;
    else if (a == "-h" || a == "--help") usage("help");
    else usage("unknown argument '" + a + "'");
  }
  // MPI_Allreduce takes an int count.
  if (o.mb * 1048576.0 / sizeof(float) > INT_MAX) {
    char msg[128];
    std::snprintf(msg, sizeof msg, "--mb: at most %lld (the count of one MPI_Allreduce is an int), got %g",
                  static_cast<long long>(INT_MAX) * static_cast<long long>(sizeof(float)) >> 20, o.mb);
    usage(msg);
  }
  if (o.mb * 1048576.0 < sizeof(float)) usage("--mb: the buffer must hold at least one float");
  return o;
}

// ---- data ---------------------------------------------------------------------

// Element i of rank r holds ((7 i + 3 r) mod 16) - 5, an integer in [-5, 10]:
// rank-dependent, periodic in i with period 16, and every sum over ranks exact.
float value(size_t i, int rank) {
  return static_cast<float>(static_cast<int>((7 * i + 3 * static_cast<size_t>(rank)) % 16) - 5);
}

void fill(std::vector<float>& buf, int rank) {
  std::array<float, 16> row;
  for (size_t j = 0; j < 16; ++j) row[j] = value(j, rank);
  const size_t n = buf.size();
  float* p = buf.data();
  for (size_t i = 0; i < n; ++i) p[i] = row[i & 15];
}

// True when buf holds the exact sums over all ranks on every rank. A rank
// that saw a wrong element throws (its message names the first one); the
// others return false, and the job ends with that rank's error.
bool check_sums(const std::vector<float>& buf, Communicator& world, const std::string& path) {
  std::array<float, 16> want{};
  for (size_t j = 0; j < 16; ++j)
    for (int r = 0; r < world.size(); ++r) want[j] += value(j, r);
  size_t wrong = 0, first = 0;
  for (size_t i = 0; i < buf.size(); ++i) {
    if (buf[i] != want[i & 15]) {
      if (wrong == 0) first = i;
      ++wrong;
    }
  }
  int64_t any = wrong > 0 ? 1 : 0;
  world.allreduce_max(&any, 1, "bench correctness check");
  if (wrong > 0) {
    char msg[256];
    std::snprintf(msg, sizeof msg, "%zu of %zu elements wrong, the first is element %zu = %g, expected %g", wrong,
                  buf.size(), first, static_cast<double>(buf[first]), static_cast<double>(want[first & 15]));
    throw_runtime_error(kWhere, "rank " + std::to_string(world.rank()) + ": " + path + " gave wrong sums: " + msg);
  }
  return any == 0;
}

// ---- timing -------------------------------------------------------------------

struct Path {
  Path(std::string n, std::function<void()> f) : name(std::move(n)), run(std::move(f)) {}
  std::string name;
  std::function<void()> run;  // one all-reduce of the whole buffer
  std::vector<double> call_s;     // per repeat: max over ranks of seconds per call
  std::vector<double> cpu_share;  // per repeat: min over ranks of thread CPU / wall time
};

struct Bench {
  Communicator& world;
  std::vector<float>& buf;
  int64_t max_calls_per_fill = 1;  // before values could overflow
};

// `calls` calls of the path: refill + barrier before every sub-region of at
// most max_calls_per_fill calls (one sub-region in practice), steady_clock
// around the calls. Returns the max over ranks of seconds per call, and the
// min over ranks of the CPU share in *cpu.
double timed_region(Bench& b, Path& p, int64_t calls, double* cpu) {
  double wall = 0, cpu_s = 0;
  for (int64_t done = 0; done < calls;) {
    const int64_t k = std::min(calls - done, b.max_calls_per_fill);
    fill(b.buf, b.world.rank());
    b.world.barrier();
    const double c0 = thread_cpu_seconds();
    const auto t0 = Clock::now();
    for (int64_t j = 0; j < k; ++j) p.run();
    wall += seconds(Clock::now() - t0);
    cpu_s += thread_cpu_seconds() - c0;
    done += k;
  }
  const double share = wall > 0 ? std::min(1.0, cpu_s / wall) : 1.0;
  int64_t maxima[2] = {static_cast<int64_t>(wall * 1e9), static_cast<int64_t>((1.0 - share) * 1e6)};
  b.world.allreduce_max(maxima, 2, "bench time");
  if (cpu) *cpu = 1.0 - maxima[1] * 1e-6;
  return maxima[0] * 1e-9 / calls;
}

std::string mpi_library() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  if (MPI_Get_library_version(text, &len) != MPI_SUCCESS) return "?";
  std::string s(text, len);
  const size_t end = s.find_first_of(",\n");
  return end == std::string::npos ? s : s.substr(0, end);
}

std::string mpi_error_string(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(text, len);
}

std::string runs_json(const std::vector<double>& s) {
  std::string out;
  for (double x : s) out += (out.empty() ? "" : ", ") + std::to_string(x * 1e3);
  return out;
}

int run(const Options& opt, lockstep::Runtime& runtime) {
  Communicator& world = runtime.world();
  const bool root = world.rank() == 0;
  const int ranks = world.size();
  if (!runtime.using_mpi()) {
    std::fprintf(stderr,
                 "note: bench_allreduce: not started by an MPI launcher, so there is one rank and nothing to "
                 "reduce (MPI is not initialised); run it as `mpiexec -np 2 bench_allreduce`\n");
    return 0;
  }
  if (ranks == 1 && root)
    std::fprintf(stderr, "note: bench_allreduce: one rank, so neither path communicates; the figures are the "
                         "cost of a no-op (run with mpiexec -np 2 or more)\n");
  auto* mpi = dynamic_cast<lockstep::MpiCommunicator*>(&world);
  const bool shm = mpi != nullptr && mpi->uses_shared_memory();
  const bool hier = mpi != nullptr && mpi->hierarchical();

  const size_t n = static_cast<size_t>(opt.mb * 1048576.0 / sizeof(float));
  const size_t bytes = n * sizeof(float);
  // `trainer train` takes the bucket size from distributed.bucket_size_mb.
  const double bucket_mb =
      opt.bucket_mb > 0 ? opt.bucket_mb : lockstep::TrainConfig().distributed().bucket_size_mb();
  const size_t bucket_bytes = static_cast<size_t>(bucket_mb * 1024 * 1024);
  if (bucket_bytes < sizeof(float)) usage("--bucket-mb: a bucket must hold at least one float");

  // Allocated once (BucketedAllreduce::attach allocates its buckets once).
  std::vector<float> buf(n);
  lockstep::BucketedAllreduce sync(world, bucket_bytes, /*overlap=*/true);
  sync.attach(buf.data(), buf.size());

  Path lockstep_path{"lockstep", [&] {
                       sync.ready(0, buf.size());
                       sync.finish();
                     }};
  Path mpi_path{"MPI_Allreduce", [&] {
                  const int rc = MPI_Allreduce(MPI_IN_PLACE, buf.data(), static_cast<int>(buf.size()), MPI_FLOAT,
                                               MPI_SUM, MPI_COMM_WORLD);
                  if (rc != MPI_SUCCESS)
                    throw_runtime_error(kWhere, "rank " + std::to_string(world.rank()) +
                                                    ": MPI_Allreduce failed: " + mpi_error_string(rc));
                }};
  // --flat: MPI_Iallreduce over all ranks, in the same job.
  std::unique_ptr<lockstep::MpiCommunicator> flat_comm;
  std::unique_ptr<lockstep::BucketedAllreduce> flat_sync;
  if (opt.flat) {
    MPI_Comm copy = MPI_COMM_NULL;
    MPI_Comm_dup(MPI_COMM_WORLD, &copy);
    setenv("LOCKSTEP_HIERARCHICAL", "0", 1);
    flat_comm = std::make_unique<lockstep::MpiCommunicator>(copy, /*owned=*/true);
    unsetenv("LOCKSTEP_HIERARCHICAL");
    flat_sync = std::make_unique<lockstep::BucketedAllreduce>(*flat_comm, bucket_bytes, /*overlap=*/true);
    flat_sync->attach(buf.data(), buf.size());
  }
  Path flat_path{"flat", [&] {
                   flat_sync->ready(0, buf.size());
                   flat_sync->finish();
                 }};
  std::vector<Path*> paths = {&lockstep_path, &mpi_path};
  if (opt.flat) paths.push_back(&flat_path);
  const size_t np = paths.size();

  // Values start at |x| <= 10 and grow by a factor `ranks` per call: keep
  // 10 * ranks^k well below FLT_MAX ~ 2^128.
  Bench b{world, buf, 1};
  b.max_calls_per_fill =
      ranks > 1 ? std::max<int64_t>(1, static_cast<int64_t>(100.0 / std::log2(static_cast<double>(ranks))))
                : INT64_MAX;

  // Warm-up, then the correctness check of each path.
  for (Path* p : paths)
    if (opt.warmup > 0) timed_region(b, *p, opt.warmup, nullptr);
  for (Path* p : paths) {
    fill(buf, world.rank());
    world.barrier();
    p->run();
    const char* what = p == &lockstep_path ? "the lockstep all-reduce (BucketedAllreduce)"
                       : p == &mpi_path    ? "MPI_Allreduce"
                                           : "the flat all-reduce (MPI_Iallreduce)";
    if (!check_sums(buf, world, what)) return lockstep::kExitRuntime;  // another rank reports it
  }

  // Calibration: one call of each path, measured (ranks agree: max over ranks).
  int64_t calls = opt.calls;
  if (calls == 0) {
    const double t = 0.5 * (timed_region(b, lockstep_path, 1, nullptr) + timed_region(b, mpi_path, 1, nullptr));
    calls = std::clamp<int64_t>(static_cast<int64_t>(std::lround(0.2 / std::max(t, 1e-9))), 3, int64_t{1} << 20);
  }

  // Repeats: every path, the order rotating every repeat.
  for (int r = 0; r < opt.repeats; ++r) {
    for (size_t j = 0; j < np; ++j) {
      Path& p = *paths[(j + static_cast<size_t>(r)) % np];
      double cpu = 1;
      p.call_s.push_back(timed_region(b, p, calls, &cpu));
      p.cpu_share.push_back(cpu);
    }
  }

  if (!root) return 0;

  std::vector<double> ratios;
  for (size_t i = 0; i < lockstep_path.call_s.size(); ++i)
    ratios.push_back(mpi_path.call_s[i] / lockstep_path.call_s[i]);
  const double speedup = median(ratios);
  double vs_flat = 0;  // median of per-repeat flat / lockstep
  if (opt.flat) {
    std::vector<double> flat_ratios;
    for (size_t i = 0; i < lockstep_path.call_s.size(); ++i)
      flat_ratios.push_back(flat_path.call_s[i] / lockstep_path.call_s[i]);
    vs_flat = median(flat_ratios);
  }
  const double t_lock = median(lockstep_path.call_s), t_mpi = median(mpi_path.call_s);
  const double gb = static_cast<double>(bytes) / 1e9;
  auto min_cpu_of = [](const Path& p) { return *std::min_element(p.cpu_share.begin(), p.cpu_share.end()); };

  if (opt.json) {
    std::printf(
        "{\"bench\": \"allreduce\", \"ranks\": %d, \"mb\": %g, \"bytes\": %zu, \"bucket_bytes\": %zu, "
        "\"buckets\": %zu, \"shm\": %s, \"calls\": %lld, \"repeats\": %d, \"lockstep_ms\": %.6f, "
        "\"mpi_ms\": %.6f, \"lockstep_gbps\": %.4f, \"mpi_gbps\": %.4f, \"speedup\": %.4f, "
        "\"lockstep_ms_runs\": [%s], \"mpi_ms_runs\": [%s], \"lockstep_min_cpu_share\": %.4f, "
        "\"mpi_min_cpu_share\": %.4f, \"hierarchical\": %s, \"flat_ms\": %.6f, \"vs_flat\": %.4f}\n",
        ranks, opt.mb, bytes, bucket_bytes, sync.bucket_count(), shm ? "true" : "false",
        static_cast<long long>(calls), opt.repeats, t_lock * 1e3, t_mpi * 1e3, gb / t_lock, gb / t_mpi, speedup,
        runs_json(lockstep_path.call_s).c_str(), runs_json(mpi_path.call_s).c_str(), min_cpu_of(lockstep_path),
        min_cpu_of(mpi_path), hier ? "true" : "false", opt.flat ? median(flat_path.call_s) * 1e3 : 0.0, vs_flat);
    return 0;
  }
  std::printf("bench_allreduce  ranks %d  buffer %.4g MiB (%zu floats)  lockstep: %zu bucket(s) of %.4g MiB, %s\n",
              ranks, bytes / 1048576.0, n, sync.bucket_count(), bucket_bytes / 1048576.0,
              ranks == 1 ? "one rank: nothing communicated"
              : hier     ? "hierarchical all-reduce (several nodes)"
              : shm      ? "shared-memory all-reduce"
                         : "MPI_Iallreduce (shared memory off)");
  std::printf("MPI: %s  %lld calls per region x %d repeats, medians\n", mpi_library().c_str(),
              static_cast<long long>(calls), opt.repeats);
  std::printf("%-14s %10s %9s %7s %5s\n", "path", "ms/call", "GB/s", "spread", "cpu");
  for (Path* p : paths) {
    const double t = median(p->call_s);
    const double lo = *std::min_element(p->call_s.begin(), p->call_s.end());
    const double hi = *std::max_element(p->call_s.begin(), p->call_s.end());
    const double cpu = min_cpu_of(*p);
    std::printf("%-14s %10.3f %9.3f %6.1f%% %4.0f%%\n", p->name.c_str(), t * 1e3, gb / t, 100.0 * (hi - lo) / t,
                100.0 * cpu);
  }
  std::printf("GB/s = buffer bytes / time of one all-reduce (algorithm bandwidth, 1 GB = 1e9 B)\n");
  std::printf("speedup MPI_Allreduce time / lockstep time (median of per-repeat ratios): %.3fx\n", speedup);
  if (opt.flat) std::printf("hierarchical vs flat: flat time / lockstep time (median of per-repeat ratios): %.3fx\n", vs_flat);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
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
    std::fprintf(stderr, "error: %s: %s\n", kWhere, e.what());
    if (runtime) runtime->abort_job(lockstep::kExitRuntime);
    return lockstep::kExitRuntime;
  }
}
