#!/usr/bin/env bash
# The timeline's cost when it is off (issue 18 item 5: "off <= 0.5%"),
# counted rather than timed: instructions per training step (callgrind's
# Ir, deterministic to a few dozen instructions per run) of bench_train in
# BASE_BUILD (a build of the commit before the timeline) and in this build,
# from the difference of two runs of LO and HI steps, so start-up cancels.
# Timing differences of 0.5% are below this shared VM's noise; instruction
# counts are not. Needs valgrind (apt-get install valgrind).
#   bench/trace_off_instructions.sh BASE_BUILD
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?give BASE_BUILD, a build of the commit before the timeline}
build=${BUILD_DIR:-build}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
ir() {  # BUILD CONFIG BATCH STEPS
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1/bin/bench_train" --config "$2" --batch "$3" \
    --threads 1 --steps "$4" --warmup 0 --repeats 1 --no-gemm 2>&1 | sed -n 's/.*Collected : //p'
}
per_step() {  # BUILD CONFIG BATCH LO HI
  local lo hi
  lo=$(ir "$1" "$2" "$3" "$4")
  hi=$(ir "$1" "$2" "$3" "$5")
  echo $(((hi - lo) / ($5 - $4)))
}
printf '%-34s %16s %16s %9s\n' "config (batch)" "base Ir/step" "off Ir/step" "off/base"
for row in "launch/configs/seed_mlp.pbtxt 64 20 120" "bench/configs/digits_mlp.pbtxt 32 20 120" \
  "launch/configs/fashion_mlp.pbtxt 256 5 25" "launch/configs/fashion_cnn.pbtxt 64 2 6"; do
  read -r config batch lo hi <<<"$row"
  a=$(per_step "$base" "$config" "$batch" "$lo" "$hi")
  b=$(per_step "$build" "$config" "$batch" "$lo" "$hi")
  printf '%-34s %16d %16d %9.5f\n' "$(basename "$config" .pbtxt) ($batch)" "$a" "$b" "$(echo "$b / $a" | bc -l)"
done
