#!/usr/bin/env bash
# BatchNormalization placement study: no BatchNormalization vs BatchNormalization
# before the activation vs after it, for tanh and ReLU MLPs, on
#   seed     the article's 14-feature synthetic task (seed_*.pbtxt; its test
#            set is the held-out validation_split 0.2, 800 samples), SGD with
#            Nesterov momentum 0.9, batch 64, 20 epochs
#   fashion  Fashion-MNIST, 784-256-128-10 MLP, tested on the official 10,000
#            test images (fashion_*.pbtxt), Adam with cosine decay, batch 256,
#            10 epochs
# every arm with the same budget, the same learning-rate sweep and the same
# seeds; then synchronized vs local BatchNormalization at np = 4 with small
# per-rank batches (global 64 -> 16 per rank, global 32 -> 8 per rank), arm
# "before", ReLU on Fashion-MNIST (5 epochs) and tanh on the seed task.
# The rate grids are the same for every arm; each arm is reported at its best.
# bench/study/analyze.py prints the tables (best rate per arm, mean +- sd over
# seeds) and writes HTML curves with `trainer report`. README.md here discusses the
# results of one full run.
#
#   bench/study/placement.sh                      # everything: hours on 2 cores
#   OUT=/tmp/s2 SEEDS_FASHION="1 2" bench/study/placement.sh
#
# Runs that already finished in $OUT (final/model.pb present) are kept, so a
# stopped study continues where it was; remove $OUT to start afresh.
#
# Environment (defaults in brackets):
#   OUT            results folder [/tmp/lockstep_study]: runs/, configs/, logs,
#                  results.md (the tables), reports/*.html (the curves)
#   TRAINER        [build/bin/trainer]; built with `cmake --build build --target trainer`
#   JOBS           single-process runs at a time, 1 thread each [2]
#   SEEDS_SEED     seeds on the seed task [1 .. 10]
#   SEEDS_FASHION  seeds on Fashion-MNIST [1 .. 5]
#   LRS_SEED       SGD learning rates [0.01 0.03 0.1 0.3 1]
#   LRS_FASHION    Adam learning rates [0.001 0.002 0.004 0.008 0.016]
#   ACTS           [tanh relu];  ARMS [before after none];  DATASETS [seed fashion]
#   NP4            1: the np = 4 sync-vs-local runs, 0: leave them out [1]
#   NP4_BATCHES    global batches at np = 4 [64 32]
#   NP4_SEEDS      seeds at np = 4 [1 .. 5]
#   NP4_LR_SEED / NP4_LR_FASHION   rates at np = 4 [0.1 / 0.001]
#   NP4_EPOCHS_FASHION             Fashion-MNIST epochs at np = 4 [5] (the seed
#                  task keeps its 20); cosine decay to 0 over them
#   MPIRUN         [mpirun]; run as root, OMPI_ALLOW_RUN_AS_ROOT* are set
#   PYTHON         [/usr/bin/python3] for analyze.py (standard library only)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

OUT=${OUT:-/tmp/lockstep_study}
TRAINER=${TRAINER:-$root/build/bin/trainer}
JOBS=${JOBS:-2}
SEEDS_SEED=${SEEDS_SEED:-"1 2 3 4 5 6 7 8 9 10"}
SEEDS_FASHION=${SEEDS_FASHION:-"1 2 3 4 5"}
LRS_SEED=${LRS_SEED:-"0.01 0.03 0.1 0.3 1"}
LRS_FASHION=${LRS_FASHION:-"0.001 0.002 0.004 0.008 0.016"}
ACTS=${ACTS:-"tanh relu"}
ARMS=${ARMS:-"before after none"}
DATASETS=${DATASETS:-"seed fashion"}
NP4=${NP4:-1}
NP4_BATCHES=${NP4_BATCHES:-"64 32"}
NP4_SEEDS=${NP4_SEEDS:-"1 2 3 4 5"}
NP4_LR_SEED=${NP4_LR_SEED:-0.1}
NP4_LR_FASHION=${NP4_LR_FASHION:-0.001}
NP4_EPOCHS_FASHION=${NP4_EPOCHS_FASHION:-5}
MPIRUN=${MPIRUN:-mpirun}
PYTHON=${PYTHON:-/usr/bin/python3}

die() { echo "error: placement.sh: $*" >&2; exit 2; }
[[ -x $TRAINER ]] || die "$TRAINER not found (cmake --build build --target trainer)"
[[ -x $PYTHON ]] || die "PYTHON=$PYTHON not found"
if [[ " $DATASETS " == *" fashion "* ]]; then
  [[ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]] ||
    die "Fashion-MNIST not found in /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)"
fi
if [[ $NP4 == 1 ]]; then
  command -v "$MPIRUN" >/dev/null || die "$MPIRUN not found (NP4=0 leaves the np = 4 runs out)"
  if [[ $EUID == 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
fi
mkdir -p "$OUT/configs" "$OUT/runs"
OUT=$(cd "$OUT" && pwd)
t0=$(date +%s)

# One binary for the whole study, even if build/ is rebuilt meanwhile or the
# study is continued later: a copy in $OUT, made at the first start.
if [[ ! -x $OUT/trainer ]]; then
  cp "$TRAINER" "$OUT/trainer"
  { echo "copied from $TRAINER on $(date -u '+%F %T UTC')"
    git -C "$root" log -1 --format='source: commit %H (%cd)' 2>/dev/null || true
    echo "uncommitted changes to tracked files at the time: $(git -C "$root" status --short --untracked-files=no 2>/dev/null | wc -l)"
  } >"$OUT/trainer.txt"
elif ! cmp -s "$TRAINER" "$OUT/trainer"; then
  echo "note: using $OUT/trainer from the study's first start; $TRAINER differs (remove $OUT to start afresh)" >&2
fi
TRAINER=$OUT/trainer

# Per-dataset settings: the optimizer's rate field, epochs, training samples.
lr_field() { [[ $1 == seed ]] && echo optimizer.sgd.learning_rate || echo optimizer.adam.learning_rate; }
seeds_of() { [[ $1 == seed ]] && echo "$SEEDS_SEED" || echo "$SEEDS_FASHION"; }
lrs_of() { [[ $1 == seed ]] && echo "$LRS_SEED" || echo "$LRS_FASHION"; }

# The activation is the only thing the generated configs change.
config_for() {  # DATASET ARM ACT -> path of the config
  local f=$OUT/configs/$1_$2_$3.pbtxt
  sed -E "s/activation: \"(tanh|relu)\"/activation: \"$3\"/" "$here/configs/$1_$2.pbtxt" >"$f"
  echo "$f"
}

failed=0
done_runs=0
started=0
finished() { [[ -s $1/final/model.pb && -s $1/history.jsonl ]]; }
reap() { wait -n || failed=$((failed + 1)); }

# start_run RUN_DIR COMMAND...: run in the background, JOBS at a time; a
# finished run is kept, an unfinished one is started again from scratch.
start_run() {
  local dir=$1; shift
  if finished "$dir"; then done_runs=$((done_runs + 1)); return; fi
  rm -rf "$dir"; mkdir -p "$(dirname "$dir")"
  while (( $(jobs -rp | wc -l) >= JOBS )); do reap; done
  started=$((started + 1))
  ( "$@" --set run_dir="$dir" >"$dir.log" 2>&1 ||
      { echo "error: placement.sh: run failed: $dir (log: $dir.log)" >&2; exit 1; } ) &
}
wait_all() { while (( $(jobs -rp | wc -l) > 0 )); do reap; done; }

common=(--set verbose=2 --set checkpoint.every_epoch=false)

# 1. The sweep: dataset x activation x arm x rate x seed, one process, 1 thread.
for ds in $DATASETS; do
  for act in $ACTS; do
    for arm in $ARMS; do
      cfg=$(config_for "$ds" "$arm" "$act")
      "$TRAINER" summary "$cfg" >/dev/null || die "bad config $cfg"
      for lr in $(lrs_of "$ds"); do
        for s in $(seeds_of "$ds"); do
          start_run "$OUT/runs/sweep/$ds/$act/$arm/lr$lr/s$s" \
            "$TRAINER" train "$cfg" "${common[@]}" --set threads=1 --set seed="$s" \
            --set "$(lr_field "$ds")=$lr"
        done
      done
    done
  done
  echo "sweep $ds: queued ($(( $(date +%s) - t0 )) s so far)"
done
wait_all
echo "sweep: $started runs trained, $done_runs kept from before, $failed failed ($(( $(date +%s) - t0 )) s)"

# 2. np = 4, synchronized vs local BatchNormalization, arm "before", one job
# at a time (4 ranks already oversubscribe 2 cores).
if [[ $NP4 == 1 ]]; then
  saved_jobs=$JOBS; JOBS=1
  for ds in $DATASETS; do
    if [[ $ds == seed ]]; then act=tanh; lr=$NP4_LR_SEED; else act=relu; lr=$NP4_LR_FASHION; fi
    cfg=$(config_for "$ds" before "$act")
    for b in $NP4_BATCHES; do
      extra=()
      if [[ $ds == fashion ]]; then  # the cosine decay ends with the last step
        steps=$(( (60000 + b - 1) / b ))
        extra=(--set epochs="$NP4_EPOCHS_FASHION"
               --set "lr_schedule.cosine.decay_steps=$(( NP4_EPOCHS_FASHION * steps ))")
      fi
      for mode in sync local; do
        [[ $mode == sync ]] && sync=true || sync=false
        for s in $NP4_SEEDS; do
          start_run "$OUT/runs/np4/$ds/$act/before/b$b/$mode/s$s" \
            "$MPIRUN" -np 4 --oversubscribe "$TRAINER" train "$cfg" "${common[@]}" \
            --set threads=1 --set seed="$s" --set batch_size="$b" \
            --set distributed.sync_batch_norm="$sync" --set "$(lr_field "$ds")=$lr" "${extra[@]}"
        done
      done
    done
  done
  wait_all
  JOBS=$saved_jobs
  echo "np = 4: done, $failed failed so far ($(( $(date +%s) - t0 )) s)"
fi

(( failed == 0 )) || { echo "error: placement.sh: $failed runs failed (their logs: $OUT/runs/**/*.log)" >&2; exit 1; }

# 3. Tables and curves.
"$PYTHON" "$here/analyze.py" "$OUT" --trainer "$TRAINER" | tee "$OUT/results.md"
echo
echo "study: $(( $(date +%s) - t0 )) s wall time; tables in $OUT/results.md, curves in $OUT/reports/"
