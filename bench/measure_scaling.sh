#!/usr/bin/env bash
# Measures, on this machine and in one session, what bench/scaling_model.py
# needs, and writes it as one JSON file of fitted parameters (plus the raw
# JSON lines next to it, RAW_DIR):
#   1. compute: bench_train --json, each model at PER_RANK_BATCH, 1 thread
#      (step time and the optimizer's pass alone);
#   2. inside a node: bench_allreduce at np = 2 on one host (shared memory),
#      at the sizes of SIZES_MB -> alpha and beta of the shared-memory path;
#   3. between nodes: bench_allreduce over 2 network-namespace hosts x 1 rank
#      (the node chain alone; bench/run_multihost.sh), links shaped by tc tbf
#      to RATE, at the same sizes -> alpha and beta of the chain; and at
#      SLOW_RATE, a link slow enough to be the limit -> the share of a
#      link's rate that TCP reaches (empty SLOW_RATE: skipped);
#   4. the check: bench_distributed's training step (variant sync) of each
#      model in every layout of LAYOUTS over the namespaces (run_multihost.sh
#      ROW=step), ROUNDS rounds with the layouts' order rotating.
#
#   sudo bench/measure_scaling.sh [OUT.json]   # default bench/scaling_measured.json
#   MODELS="fashion_mlp" LAYOUTS="2+2 4" ROUNDS=5 sudo bench/measure_scaling.sh /tmp/m.json
#   PARTS="inter" RAW_DIR=/tmp/raw sudo bench/measure_scaling.sh   # redo one part, refit
#   /usr/bin/python3 bench/scaling_model.py check OUT.json
#
# About 15-25 minutes on the 2-core VM. A benchmark prints figures and never
# fails on time.
set -euo pipefail
OUT=${1:-bench/scaling_measured.json}
[[ $OUT == /* ]] || OUT=$PWD/$OUT
cd "$(dirname "$0")/.."
root=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$root/$BUILD_DIR
export BUILD_DIR
RATE=${RATE:-10gbit}
PER_RANK_BATCH=${PER_RANK_BATCH:-128}
SIZES_MB=${SIZES_MB:-0.01 1 16}
SLOW_RATE=${SLOW_RATE-1gbit}
LAYOUTS=${LAYOUTS:-1 2 4 1+1 2+2 1+2+1}
ROUNDS=${ROUNDS:-3}
MODELS=${MODELS:-fashion_mlp mlp1024 fashion_cnn}
PARTS=${PARTS:-compute intra inter steps}  # which of 1-4 to (re)measure into RAW_DIR
RAW_DIR=${RAW_DIR:-$(mktemp -d)}
mkdir -p "$RAW_DIR"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

config_of() {  # MODEL
  case $1 in
    mlp1024) echo "$root/bench/configs/mlp1024.pbtxt" ;;
    *) echo "$root/launch/configs/$1.pbtxt" ;;
  esac
}

echo "measure_scaling: $(date -u '+%F %H:%M UTC'), $(uptime), raw lines in $RAW_DIR"
[[ -s $RAW_DIR/session.json ]] || {
  echo "{\"date\": \"$(date -u '+%F %H:%M UTC')\", \"cpu\": \"$(lscpu | sed -n 's/^Model name: *//p' | head -1)\", \"cores\": $(nproc --all), \"rate\": \"$RATE\", \"per_rank_batch\": $PER_RANK_BATCH, \"load\": \"$(uptime | sed 's/.*load average: //')\"}"
} >"$RAW_DIR/session.json"

part() { [[ " $PARTS " == *" $1 "* ]]; }

part compute && : >"$RAW_DIR/compute.jsonl"
part compute && for m in $MODELS; do
  echo "== compute: $m, batch $PER_RANK_BATCH, 1 thread"
  "$BUILD_DIR/bin/bench_train" --config "$(config_of "$m")" --batch "$PER_RANK_BATCH" --threads 1 --repeats 5 --json \
    | grep '^{"bench": "lockstep"' | tee -a "$RAW_DIR/compute.jsonl"
done

part intra && : >"$RAW_DIR/intra.jsonl"
part intra && for mb in $SIZES_MB; do
  echo "== inside a node: np = 2, $mb MiB"
  mpiexec -np 2 --bind-to core "$BUILD_DIR/bin/bench_allreduce" --mb "$mb" --repeats 5 --json \
    | grep '^{' | tee -a "$RAW_DIR/intra.jsonl"
done

part inter && : >"$RAW_DIR/inter.jsonl"
part inter && for rate in $RATE $SLOW_RATE; do
  for mb in $SIZES_MB; do
    echo "== between nodes: 2 hosts x 1 rank, $mb MiB, $rate"
    ROW=allreduce LAYOUTS=1+1 MB=$mb RATE=$rate OUT="$RAW_DIR/inter.jsonl" bench/run_multihost.sh
  done
done

part steps && : >"$RAW_DIR/steps.jsonl"
part steps && for m in $MODELS; do
  echo "== training step: $m over $LAYOUTS"
  ROW=step LAYOUTS=$LAYOUTS CONFIG="$(config_of "$m")" PER_RANK_BATCH=$PER_RANK_BATCH ROUNDS=$ROUNDS \
    REPEATS=5 RATE=$RATE OUT="$RAW_DIR/steps.jsonl" bench/run_multihost.sh
done

/usr/bin/python3 bench/scaling_model.py fit "$RAW_DIR" >"$OUT"
echo "measure_scaling: parameters in $OUT; $(uptime)"
