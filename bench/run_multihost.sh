#!/usr/bin/env bash
# Several hosts on one machine: each host a Linux network namespace (set up
# by tests/multihost/netns_lib.sh, as tests/multihost/test_netns_hosts.sh
# does), every link rate-limited by a token bucket (tc tbf, both directions)
# to stand in for a 10 Gb/s network. Two rows:
#
# ROW=allreduce (default): 2 hosts x 2 ranks; bench_allreduce --flat times,
# in one job and interleaved:
#   lockstep       the hierarchical all-reduce (shared memory on each host, a
#                  chain over TCP between hosts; distributed/node_chain.h)
#   flat           the same buckets through MPI_Iallreduce over all ranks
#                  (what multi-node jobs did before)
#   MPI_Allreduce  Open MPI's blocking all-reduce of the whole buffer
# and prints "hierarchical vs flat" = median of per-repeat flat / lockstep.
# LAYOUTS="2" runs it on 2 hosts x 1 rank instead (the chain alone).
#
# ROW=step: the training step (bench_distributed, variant sync: what
# `trainer train` runs) of CONFIG at PER_RANK_BATCH per rank, in each of
# LAYOUTS (ranks per host joined by '+': "2+2" is 2 hosts x 2 ranks, "4" one
# host x 4 ranks), one mpirun per layout per round, the layouts' order
# rotating every round; medians over ROUNDS rounds and, for the first two
# layouts, the median of the per-round ratios of their step times.
#
#   sudo bench/run_multihost.sh                 # build/bin/bench_allreduce, 64 MB, 10gbit
#   RATE=25gbit MB=16 REPEATS=7 BUILD_DIR=build bench/run_multihost.sh
#   MB=0.8985 bench/run_multihost.sh            # fashion_mlp's gradient (235,530 floats)
#   ROW=step CONFIG=bench/configs/mlp1024.pbtxt bench/run_multihost.sh   # 2+2 vs 4, 5 rounds
#   ROW=step LAYOUTS="1 2 2+1 2+2 1+2+1 4" ROUNDS=3 OUT=steps.jsonl bench/run_multihost.sh
#
# OUT (optional): every JSON line the benchmarks print, each with "layout"
# and "rate" added (bench/measure_scaling.sh reads it). Needs root
# (namespaces, tc). Addresses 10.232.0.0/24 exist only inside the namespaces;
# everything is deleted on exit. A benchmark prints figures and never fails
# on time.
set -euo pipefail
OUT=${OUT:-}
[[ -z $OUT || $OUT == /* ]] || OUT=$PWD/$OUT
cd "$(dirname "$0")/.."
root=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$root/$BUILD_DIR
ROW=${ROW:-allreduce}
RATE=${RATE:-10gbit}
MB=${MB:-64}
REPEATS=${REPEATS:-5}
ROUNDS=${ROUNDS:-5}
CONFIG=${CONFIG:-launch/configs/fashion_mlp.pbtxt}
PER_RANK_BATCH=${PER_RANK_BATCH:-128}
[[ $CONFIG == /* ]] || CONFIG=$root/$CONFIG
case $ROW in
  allreduce) LAYOUTS=${LAYOUTS:-2+2} bench="$BUILD_DIR/bin/bench_allreduce" ;;
  step) LAYOUTS=${LAYOUTS:-2+2 4} bench="$BUILD_DIR/bin/bench_distributed" ;;
  *) echo "error: run_multihost.sh: ROW must be allreduce or step, got '$ROW'" >&2; exit 2 ;;
esac
[[ -x $bench ]] || { echo "error: run_multihost.sh: no $bench (build the $(basename "$bench") target)" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "error: run_multihost.sh: needs root (network namespaces, tc)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

NETNS_TAG=lockstep-$$ NETNS_NET=10.232.0
NETNS_WORK=$(mktemp -d)
# shellcheck source=tests/multihost/netns_lib.sh
source "$root/tests/multihost/netns_lib.sh"
cleanup() {
  netns_cleanup
  rm -rf "$NETNS_WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
netns_remove_stale

hosts=1
for layout in $LAYOUTS; do
  n=$(tr '+' '\n' <<<"$layout" | wc -l)
  ((n > hosts)) && hosts=$n
done
netns_create_hosts "$hosts"
netns_shape_links "$RATE"
echo "$hosts hosts, links shaped by tc tbf to $RATE each way:"
ip netns exec "${NETNS_SPACES[0]}" tc qdisc show dev eth0

run_layout() {  # LAYOUT ARGS...: bench over the layout's hosts; JSON lines to stdout
  local layout=$1 ranks
  shift
  # shellcheck disable=SC2046  # one word per host
  netns_hostfile $(tr '+' ' ' <<<"$layout")
  ranks=$(($(tr '+' '\n' <<<"$layout" | paste -sd+)))
  netns_mpirun_command -np "$ranks" "$bench" "$@"
  "${netns_cmd[@]}"
}

tag_json() {  # LAYOUT: adds layout and rate to each JSON line, appends to OUT
  sed "s/^{/{\"layout\": \"$1\", \"rate\": \"$RATE\", /" | tee -a "${OUT:-/dev/null}"
}

if [[ $ROW == allreduce ]]; then
  for layout in $LAYOUTS; do
    echo "== $layout (ranks per host), $MB MiB"
    if [[ -z $OUT ]]; then
      run_layout "$layout" --mb "$MB" --repeats "$REPEATS" --flat
    else
      run_layout "$layout" --mb "$MB" --repeats "$REPEATS" --flat --json | grep '^{' | tag_json "$layout"
    fi
  done
  exit 0
fi

# ROW=step
read -r -a layouts <<<"$LAYOUTS"
results=$NETNS_WORK/steps.jsonl
echo "training step: $CONFIG, $PER_RANK_BATCH samples per rank, layouts ${layouts[*]}, $ROUNDS rounds; $(uptime)"
for ((round = 0; round < ROUNDS; round++)); do
  for ((k = 0; k < ${#layouts[@]}; k++)); do
    layout=${layouts[(k + round) % ${#layouts[@]}]}
    run_layout "$layout" --config "$CONFIG" --per-rank-batch "$PER_RANK_BATCH" \
      --variants sync --repeats "$REPEATS" --json 2>&1 \
      | grep '^{"bench": "distributed",' | sed "s/^{/{\"round\": $round, /" | tag_json "$layout" >>"$results"
  done
done
echo "load after: $(uptime)"
/usr/bin/python3 - "$results" "${layouts[@]}" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
layouts = sys.argv[2:]
ms = {l: {r["round"]: r["ms_per_step"] for r in rows if r["layout"] == l} for l in layouts}
print(f"{'layout':>8} {'ranks':>5} {'ms/step (median)':>17} {'samples/s':>10}  per round")
for l in layouts:
    runs = [ms[l][k] for k in sorted(ms[l])]
    sps = [r["samples_per_s"] for r in rows if r["layout"] == l]
    ranks = next((r["ranks"] for r in rows if r["layout"] == l), 0)
    if runs:
        print(f"{l:>8} {ranks:>5} {statistics.median(runs):>17.3f} {statistics.median(sps):>10.0f}  "
              + " ".join(f"{x:.2f}" for x in runs))
if len(layouts) >= 2:
    a, b = layouts[0], layouts[1]
    pairs = [ms[a][k] / ms[b][k] for k in ms[a] if k in ms[b]]
    if pairs:
        print(f"step time {a} / {b}: median {statistics.median(pairs):.3f} over {len(pairs)} rounds "
              f"({min(pairs):.3f}-{max(pairs):.3f})")
EOF
