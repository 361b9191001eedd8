#!/usr/bin/env bash
# What a checkpoint at every epoch costs a short run (issue 15 item 7): the
# digits-sized bench/configs/digits_mlp.pbtxt (1,400 samples, 100 epochs of
# 1-2 ms) with no periodic checkpoint, with one per epoch written in the
# background (the default, when_busy: "wait"), in the background skipping
# those that come due while the previous one is still being written
# (when_busy: "skip"), and on the training thread (background=false). Then
# the same with epochs ten times longer (14,000 samples, 10 epochs), where a
# write fits inside an epoch. Alternating, 5 rounds, median wall times and
# their ratios to the run without checkpoints.
#   bench/run_checkpoint_overhead.sh [DIR]   (runs go to DIR: the disk measured)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
[[ -x $build/bin/trainer ]] || launch/build.sh >/dev/null
dir=${1:-$(mktemp -d ./bench_ckpt_overhead.XXXXXX)}
mkdir -p "$dir"
config=bench/configs/digits_mlp.pbtxt
declare -A sets=(
  [none]="--set checkpoint.every_epoch=false"
  [background]="--set checkpoint.every_epoch=true --set checkpoint.background=true"
  [background_skip]="--set checkpoint.every_epoch=true --set checkpoint.background=true --set checkpoint.when_busy=skip"
  [synchronous]="--set checkpoint.every_epoch=true --set checkpoint.background=false"
)
order=(none background background_skip synchronous)
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# measure TITLE OPTIONS...: the table for one shape of run.
measure() {
  local title=$1 round what run start end base t
  shift
  declare -A times=()
  for round in 1 2 3 4 5; do
    for what in "${order[@]}"; do
      run="$dir/$what.$round"
      start=$(date +%s.%N)
      # shellcheck disable=SC2086 # the option lists split on purpose
      "$build/bin/trainer" train "$config" "$@" ${sets[$what]} --set run_dir="$run" >/dev/null
      end=$(date +%s.%N)
      times[$what]+="$(echo "$end - $start" | bc -l) "
      rm -rf "$run"
    done
  done
  base=$(median ${times[none]})
  printf '%-42s %9s %7s\n' "$title (median of 5)" "seconds" "ratio"
  for what in "${order[@]}"; do
    t=$(median ${times[$what]})
    printf '%-42s %9.3f %7.2f\n' "$what" "$t" "$(echo "$t / $base" | bc -l)"
  done
}
measure "digits_mlp, 100 epochs"
measure "digits_mlp x10 samples, 10 epochs" --set data.synthetic.samples=14000 --set epochs=10
[[ $# -ge 1 ]] || rm -rf "$dir"
