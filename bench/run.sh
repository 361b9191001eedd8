#!/usr/bin/env bash
# lockstep vs PyTorch, single-threaded training throughput, in one command:
#
#   bench/run.sh                       # setup + build into build/ (launch/build.sh --bench), then measure
#   BUILD_DIR=build-bench bench/run.sh # use an existing build dir (only bench_train is (re)built)
#
# For each case (seed_mlp at batch 32 and 256, fashion_mlp at batch 128 and
# 256) it runs bench_train and bench/torch_bench.py alternately, ROUNDS times
# (the order flips every round), so machine noise hits both alike; each run is
# one timed repeat of the same number of steps after a warm-up. It prints the
# medians over the rounds in one table. Benchmarks print figures; nothing
# passes or fails on time. Takes about a minute and a half on the 2-core
# development VM once built.
#
# Environment:
#   BUILD_DIR  existing CMake build dir to use instead of building build/
#   NO_BUILD=1 use $BUILD_DIR/bin/bench_train as it is (no cmake --build)
#   ROUNDS     alternating rounds per case (default 7)
#   THREADS    threads for both frameworks (default 1)
#   PYTHON     interpreter with Debian's python3-torch (default /usr/bin/python3)
#   OUT        file for the raw JSON lines (default: a temporary file)
# OPENBLAS_CORETYPE (e.g. SkylakeX) is passed through to both: they use the
# same OpenBLAS library (PyTorch via libblas.so.3).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ROUNDS=${ROUNDS:-7}
THREADS=${THREADS:-1}
PYTHON=${PYTHON:-/usr/bin/python3}

if [[ -n "${BUILD_DIR:-}" ]]; then
  build=$(cd "$BUILD_DIR" && pwd)
  if [[ "${NO_BUILD:-0}" != 1 ]]; then
    log=$(mktemp /tmp/lockstep_bench_build.XXXXXX.log)
    cmake --build "$build" --target bench_train -j "$(nproc)" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    rm -f "$log"
  fi
else
  launch/build.sh --bench
  build=$root/build
fi
bench_train=$build/bin/bench_train
[[ -x "$bench_train" ]] || { echo "error: bench/run.sh: $bench_train not found" >&2; exit 2; }
[[ -x "$PYTHON" ]] || { echo "error: bench/run.sh: PYTHON=$PYTHON not found" >&2; exit 2; }

# Both frameworks get the same thread count: OpenBLAS (lockstep's only pool,
# and PyTorch's BLAS), OpenMP (PyTorch's intra-op pool).
export OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS

out=${OUT:-$(mktemp /tmp/lockstep_bench.XXXXXX.jsonl)}
: >"$out"

# config batch steps: the same steps for both; chosen so that one lockstep run
# lasts >= ~40 ms and one PyTorch run <= ~0.6 s on the development VM.
cases=(
  "seed_mlp 32 2000"
  "seed_mlp 256 600"
  "fashion_mlp 128 150"
  "fashion_mlp 256 100"
)

run_lockstep() {  # config batch steps
  "$bench_train" --config "launch/configs/$1.pbtxt" --batch "$2" --threads "$THREADS" --steps "$3" \
    --warmup $(($3 / 5)) --repeats 1 --json >>"$out"
}
run_torch() {
  "$PYTHON" bench/torch_bench.py --config "launch/configs/$1.pbtxt" --batch "$2" --threads "$THREADS" \
    --steps "$3" --warmup $(($3 / 5)) --repeats 1 --json >>"$out"
}

torch_ok=1
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  torch_ok=0
  echo "PyTorch skipped: '$PYTHON -c \"import torch\"' fails (install Debian's python3-torch: launch/setup.sh --bench)"
fi

start=$SECONDS
echo "bench: $ROUNDS alternating rounds x ${#cases[@]} cases, $THREADS thread(s); raw results in $out"
for ((r = 0; r < ROUNDS; r++)); do
  for c in "${cases[@]}"; do
    # shellcheck disable=SC2086
    set -- $c
    if ((torch_ok == 0)); then
      run_lockstep "$@"
    elif ((r % 2 == 0)); then
      run_lockstep "$@"; run_torch "$@"
    else
      run_torch "$@"; run_lockstep "$@"
    fi
  done
  printf '  round %d/%d done (%ds)\n' $((r + 1)) "$ROUNDS" $((SECONDS - start))
done

"$PYTHON" - "$out" <<'EOF'
import json, os, platform, statistics, sys, time

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
cases = []
for r in rows:
    key = (r["model"], r.get("batch"), r.get("threads"))
    if r.get("skipped") or key in cases:
        continue
    cases.append(key)

def runs(bench, key):
    return [r for r in rows if r["bench"] == bench and not r.get("skipped")
            and (r["model"], r["batch"], r["threads"]) == key]

def med(rs, field):
    return statistics.median(r[field] for r in rs) if rs else float("nan")

def spread(rs):
    v = [r["samples_per_s"] for r in rs]
    return 100.0 * (max(v) - min(v)) / statistics.median(v) if len(v) > 1 else 0.0

try:
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
except Exception:
    cpu = platform.processor()
ls_any = [r for r in rows if r["bench"] == "lockstep"]
pt_any = [r for r in rows if r["bench"] == "pytorch" and not r.get("skipped")]
print()
rounds = max((len(runs("lockstep", k)) for k in cases), default=0)
print("lockstep vs PyTorch, one training step (gather + forward + loss + backward + optimizer), "
      "medians over %d rounds" % rounds)
print("%s; %s; %d cores; OpenBLAS %s kernels; PyTorch %s" % (
    time.strftime("%Y-%m-%d"), cpu, os.cpu_count(),
    ls_any[0].get("blas_core", "?") if ls_any else "?",
    pt_any[0]["torch_version"] if pt_any else "skipped"))
hdr = ("model", "batch", "thr", "lockstep samples/s", "lockstep GFLOP/s", "% of sgemm", "PyTorch samples/s",
       "PyTorch GFLOP/s", "lockstep/PyTorch")
fmt = "%-12s %5s %3s %18s %16s %10s %17s %15s %16s"
print(fmt % hdr)
for key in cases:
    ls, pt = runs("lockstep", key), runs("pytorch", key)
    # Ratio: median over rounds of the paired ratio (both runs of a round saw
    # the same machine state).
    paired = [a["samples_per_s"] / b["samples_per_s"] for a, b in zip(ls, pt)]
    print(fmt % (key[0], key[1], key[2],
                 "%.0f" % med(ls, "samples_per_s"), "%.2f" % med(ls, "gflops"), "%.0f%%" % med(ls, "pct_of_gemm"),
                 "%.0f" % med(pt, "samples_per_s") if pt else "skipped",
                 "%.2f" % med(pt, "gflops") if pt else "-",
                 "%.2fx" % statistics.median(paired) if paired else "-"))
print()
print("spread (max-min)/median of samples/s over the rounds: " + ", ".join(
    "%s/%d lockstep %.0f%%%s" % (k[0], k[1], spread(runs("lockstep", k)),
                                 (" PyTorch %.0f%%" % spread(runs("pytorch", k))) if runs("pytorch", k) else "")
    for k in cases))
print("% of sgemm: time the step's Dense products take in raw cblas_sgemm (same shapes, same process) over the "
      "step time. GFLOP/s counts the Dense products only (bench/README.md).")
EOF
echo "bench: done in $((SECONDS - start))s"
