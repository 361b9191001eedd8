#!/usr/bin/env bash
# Data-parallel scaling of lockstep in one command: np = 1 vs np = 2 (one
# compute thread per rank), the share of the step spent waiting for the
# gradient all-reduce with and without overlap, and synchronized vs local
# BatchNormalization, for fashion_mlp (launch/configs/fashion_mlp.pbtxt,
# 784-256-128-10) and mlp1024 (bench/configs/mlp1024.pbtxt, 784-1024-1024-10),
# both with BatchNormalization, at a global batch of 256 (128 per rank at np = 2).
#
#   bench/run_distributed.sh                        # launch/build.sh (setup + build into build/), then measure
#   BUILD_DIR=build-dist bench/run_distributed.sh   # use/configure that build dir; only bench_distributed is built
#
# Each round runs, per model: bench_distributed alone (np = 1, the
# single-process Runtime), then under `mpiexec -np 2` with the variants sync,
# local, nooverlap, local_nooverlap, nocomm, solo and allreduce (see
# bench/bench_distributed.cpp), then (TUNED=1) np = 2 again with Open MPI's ring algorithm for the
# nonblocking all-reduce (OMPI_MCA_coll_libnbc_iallreduce_algorithm=1) instead
# of its default (binomial reduce + broadcast for < 4 ranks or in-place
# buffers). The order of the np = 1 and np = 2 runs flips every round. Figures
# are medians over rounds of each run's medians; np2/np1 is the median of the
# per-round ratios; the other ratios are measured inside one np = 2 job
# (interleaved variants) and then taken as medians over rounds. Benchmarks
# print figures; nothing passes or fails on time. About 2 minutes on the
# 2-core development VM once built.
#
# Environment:
#   BUILD_DIR  CMake build dir to use (configured if needed) instead of launch/build.sh + build/
#   NO_BUILD=1 use $BUILD_DIR/bin/bench_distributed as it is
#   ROUNDS     rounds (default 3)        REPEATS  timed repeats per variant and run (default 5)
#   BATCH      global batch (default 256) NP      ranks of the multi-rank runs (default 2)
#   MPI_ALLREDUCE 1 = also np = 2 with Open MPI's own all-reduce instead of lockstep's
#              shared-memory one (LOCKSTEP_SHM_ALLREDUCE=0), the "mpi" rows (default 1)
#   TUNED      1 = also MPI's all-reduce with the ring algorithm, the "ring" rows (default 0)
#   OUT        file for the raw JSON lines (default: a temporary file)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ROUNDS=${ROUNDS:-3}
REPEATS=${REPEATS:-5}
BATCH=${BATCH:-256}
NP=${NP:-2}
TUNED=${TUNED:-0}
MPI_ALLREDUCE=${MPI_ALLREDUCE:-1}
PYTHON=${PYTHON:-/usr/bin/python3}

if [[ -n "${BUILD_DIR:-}" ]]; then
  build=$(mkdir -p "$BUILD_DIR" && cd "$BUILD_DIR" && pwd)
  if [[ "${NO_BUILD:-0}" != 1 ]]; then
    log=$(mktemp /tmp/lockstep_bench_dist_build.XXXXXX.log)
    { [[ -f "$build/CMakeCache.txt" ]] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release; } >"$log" 2>&1 ||
      { cat "$log" >&2; exit 1; }
    cmake --build "$build" --target bench_distributed -j "$(nproc)" >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    rm -f "$log"
  fi
else
  launch/build.sh
  build=$root/build
fi
bench=$build/bin/bench_distributed
[[ -x "$bench" ]] || { echo "error: bench/run_distributed.sh: $bench not found" >&2; exit 2; }
[[ -x "$PYTHON" ]] || { echo "error: bench/run_distributed.sh: PYTHON=$PYTHON not found" >&2; exit 2; }

cores=$(getconf _NPROCESSORS_ONLN)  # not nproc: it obeys OMP_NUM_THREADS
# One compute thread per rank: OpenBLAS is lockstep's only pool.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mpi=(mpiexec -np "$NP")
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if ((cores >= NP)); then
  mpi+=(--bind-to core)  # one rank per core (Open MPI's default for np <= 2, said explicitly)
else
  mpi+=(--oversubscribe --bind-to none)
  echo "note: $NP ranks on $cores cores: ranks share cores, scaling figures are meaningless" >&2
fi

out=${OUT:-$(mktemp /tmp/lockstep_bench_dist.XXXXXX.jsonl)}
: >"$out"

models=("fashion_mlp launch/configs/fashion_mlp.pbtxt" "mlp1024 bench/configs/mlp1024.pbtxt")
common=(--global-batch "$BATCH" --repeats "$REPEATS" --json)

# run TAGS... -- COMMAND...: appends COMMAND's JSON lines, each tagged with TAGS.
run() {
  local tags=$1
  shift
  local lines
  lines=$("$@") || { echo "error: bench/run_distributed.sh: failed: $*" >&2; exit 1; }
  sed "s/^{/{$tags, /" <<<"$lines" >>"$out"
}
started=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= ROUNDS; ++r)); do
  for m in "${models[@]}"; do
    read -r name cfg <<<"$m"
    one() { run "\"round\": $r, \"alg\": \"default\"" "$bench" --config "$cfg" "${common[@]}" --variants sync; }
    multi() {
      run "\"round\": $r, \"alg\": \"default\"" "${mpi[@]}" "$bench" --config "$cfg" "${common[@]}" \
        --variants sync,local,nooverlap,local_nooverlap,nocomm,solo,allreduce
    }
    if ((r % 2)); then one; multi; else multi; one; fi
    if [[ "$TUNED" == 1 ]]; then
      run "\"round\": $r, \"alg\": \"ring\"" env OMPI_MCA_coll_libnbc_iallreduce_algorithm=1 \
        LOCKSTEP_SHM_ALLREDUCE=0 "${mpi[@]}" -x LOCKSTEP_SHM_ALLREDUCE "$bench" \
        --config "$cfg" "${common[@]}" --variants sync,local,nooverlap,local_nooverlap,nocomm,allreduce
    fi
    if [[ "$MPI_ALLREDUCE" == 1 ]]; then
      run "\"round\": $r, \"alg\": \"mpi\"" env LOCKSTEP_SHM_ALLREDUCE=0 "${mpi[@]}" -x LOCKSTEP_SHM_ALLREDUCE "$bench" \
        --config "$cfg" "${common[@]}" --variants sync,local,nooverlap,local_nooverlap,nocomm,allreduce
    fi
    echo "round $r/$ROUNDS: $name done ($((SECONDS - started)) s)" >&2
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

"$PYTHON" - "$out" "$NP" "$BATCH" "$load_start" "$load_end" <<'EOF'
import json, statistics, sys
path, np_, batch, load_start, load_end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = [json.loads(l) for l in open(path) if l.strip()]
med = statistics.median

def pick(model, ranks, alg, bench="distributed", variant=None):
    return [r for r in rows if r["model"] == model and r["ranks"] == ranks and r["alg"] == alg
            and r["bench"] == bench and (variant is None or r.get("variant") == variant)]

def table(header, lines):
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + " |")
    for cells in lines:
        print("| " + " | ".join(cells) + " |")
    print()

def disturbed(rs):
    shares = [c for r in rs for c in r["cpu_share_runs"]]
    return f"{sum(c < 0.95 for c in shares)}/{len(shares)}"

def pct(x, signed=False):
    return "n/a" if x is None else (f"{x:+.1f}%" if signed else f"{100 * x:.1f}%")

rounds = len({r["round"] for r in rows})
print(f"\nlockstep data-parallel scaling: global batch {batch} ({batch // np_} per rank at np = {np_}), "
      f"1 compute thread per rank, medians over {rounds} round(s); load average {load_start} -> {load_end}\n")
scaling, comm = [], []
for model in dict.fromkeys(r["model"] for r in rows):
    one = {r["round"]: r["samples_per_s"] for r in pick(model, 1, "default", variant="sync")}
    for alg in ("default", "mpi", "ring"):
        sync = pick(model, np_, alg, variant="sync")
        if not sync:
            continue
        two = {r["round"]: r["samples_per_s"] for r in sync}
        paired = [two[k] / one[k] for k in two if k in one]
        ratios = pick(model, np_, alg, bench="distributed_ratios")

        def rmed(key):
            v = [r[key] for r in ratios if key in r]
            return med(v) if v else None

        def vmed(variant, key):
            v = [r[key] for r in pick(model, np_, alg, variant=variant)]
            return med(v) if v else None

        solo, nocomm = rmed("throughput_sync_over_solo"), rmed("throughput_sync_over_nocomm")
        alone = vmed("allreduce", "ms_per_step")
        scaling.append([model, alg, f"{med(one.values()):,.0f}" if one else "n/a", f"{med(two.values()):,.0f}",
                        f"{med(paired):.2f}x" if paired else "n/a", f"{solo:.2f}x" if solo else "n/a",
                        f"{nocomm:.2f}" if nocomm else "n/a"])
        comm.append([model, alg, pct(vmed("sync", "wait_share")), pct(vmed("nooverlap", "wait_share")),
                     pct(vmed("sync", "comm_share")), pct(vmed("nooverlap", "comm_share")),
                     pct(rmed("nooverlap_vs_overlap_pct"), True), pct(rmed("syncbn_cost_pct"), True),
                     pct(rmed("syncbn_cost_nooverlap_pct"), True), f"{alone:.3f}" if alone else "n/a"])
table(["model", "all-reduce", "np=1 samples/s", f"np={np_} samples/s", f"np={np_} / np=1",
       f"same job: np={np_} / rank 0 alone", f"np={np_} sync / nocomm"], scaling)
table(["model", "all-reduce", "wait% overlap on", "wait% overlap off", "comm% overlap on", "comm% overlap off",
       "step, overlap off vs on", "SyncBN vs local (overlap on)", "SyncBN vs local (overlap off)",
       "all-reduce alone, ms"], comm)
print("wait% = time in GradientSync::finish() / step time; comm% = time in finish(), ready() and the\n"
      "synchronized-BatchNorm collectives / step time (np = 2, synchronized BatchNorm). SyncBN vs local = step time\n"
      "of synchronized over local BatchNormalization - 1 (median of per-repeat ratios in the same job).\n")
print("Per-variant medians, ms per step (fwd = step start .. first ready(), bwd = .. finish(), wait = in finish(),\n"
      "opt = after finish(); bn = in synchronized-BatchNorm collectives, already inside fwd and bwd):\n")
keys = []
for r in rows:
    if r["bench"] == "distributed":
        k = (r["model"], r["alg"], r["ranks"], r["variant"])
        if k not in keys:
            keys.append(k)
lines = []
for k in keys:
    rs = [r for r in rows if r["bench"] == "distributed" and (r["model"], r["alg"], r["ranks"], r["variant"]) == k]
    f = lambda key: med([r[key] for r in rs])
    lines.append([k[0], k[1], str(k[2]), k[3], f"{f('ms_per_step'):.3f}", f"{f('samples_per_s'):,.0f}",
                  f"{f('fwd_ms'):.3f}", f"{f('bwd_ms'):.3f}", f"{f('wait_ms'):.3f}", f"{f('opt_ms'):.3f}",
                  f"{f('bn_sync_ms'):.3f}", disturbed(rs)])
table(["model", "all-reduce", "np", "variant", "ms/step", "samples/s", "fwd", "bwd", "wait", "opt", "bn", "disturbed"],
      lines)
shares = [c for r in rows if r["bench"] == "distributed" for c in r["cpu_share_runs"]]
bad = sum(c < 0.95 for c in shares)
print(f"disturbed = timed regions in which a rank's thread was off its CPU for more than 5% of the time (other\n"
      f"processes were running; medians absorb a few): {bad} of {len(shares)} in this run.")
if bad > 0.2 * len(shares):
    print("WARNING: the machine was busy; rerun when it is quiet.")
print(f"raw JSON lines: {path}")
EOF
