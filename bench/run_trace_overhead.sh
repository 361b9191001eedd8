#!/usr/bin/env bash
# What the timeline costs (issue 18 item 5), three ways:
#  1. the step, tracing on vs off, in one process (bench_train --trace-ab:
#     blocks of steps alternate, ROUNDS repeats; median of per-repeat
#     ratios). Other jobs' load hits both alike: the precise figure.
#  2. given BASE_BUILD (a build of the commit before the timeline, with
#     bench_train), this build with tracing off vs it: bench/compare_builds.sh,
#     ROUNDS rounds, order rotating; median of per-round ratios; then the
#     CPU time of the same runs (bench/cpu_ab.py), less hit by waiting for a core.
#  3. whole `trainer train` runs: "on" (--trace) against the same binary
#     without it ("off") and BASE_BUILD's trainer ("base"), alternating,
#     order rotating; medians of the runs' training time (the sum of
#     history.jsonl's per-epoch seconds: steps only, validation and start-up
#     excluded) and of the wall time (the trace file's writing included).
#   bench/run_trace_overhead.sh [BASE_BUILD]
#   e.g. git worktree add /tmp/base PARENT && cmake -S /tmp/base -B /tmp/base/build \
#          -DCMAKE_BUILD_TYPE=Release -DLOCKSTEP_NATIVE=OFF && cmake --build /tmp/base/build --target trainer bench_train
#        bench/run_trace_overhead.sh /tmp/base/build
# ROUNDS (default 7); PARTS (default "1 2 3"); ROWS selects part 3's rows by name.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
trainer=$PWD/$build/bin/trainer
[[ -x $trainer ]] || launch/build.sh >/dev/null
base_build=${1:-}
base=${base_build:+$base_build/bin/trainer}
rounds=${ROUNDS:-7}
parts=${PARTS:-1 2 3}
[[ -x $build/bin/bench_train ]] || cmake --build "$build" --target bench_train >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
fashion=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
common="--set verbose=0 --set threads=1 --set checkpoint.every_epoch=false"
# name|ranks|config|more settings
rows=(
  "seed_mlp|1|launch/configs/seed_mlp.pbtxt|--set epochs=200"
  "digits_mlp|1|bench/configs/digits_mlp.pbtxt|--set epochs=200"
  "seed_mlp_np2|2|launch/configs/seed_mlp.pbtxt|--set epochs=200"
)
[[ -e $fashion ]] && rows+=(
  "fashion_mlp|1|launch/configs/fashion_mlp.pbtxt|--set epochs=2"
  "fashion_cnn|1|launch/configs/fashion_cnn.pbtxt|--set epochs=1 --set data.limit=5120"
)
variants=(off on)
[[ -n $base ]] && variants=(base off on)
dir=$(mktemp -d ./bench_trace_overhead.XXXXXX)
trap 'rm -rf "$dir"' EXIT

# run NAME RANKS CONFIG SETS VARIANT -> "train_seconds wall_seconds"
run() {
  local ranks=$2 config=$3 sets=$4 variant=$5 bin=$trainer extra=()
  [[ $variant == base ]] && bin=$base
  [[ $variant == on ]] && extra=(--trace "$dir/t.json")
  local launcher=()
  ((ranks > 1)) && launcher=(mpiexec -n "$ranks" --oversubscribe)
  rm -rf "$dir/run" "$dir"/t*.json
  local start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2086 # the settings split on purpose
  "${launcher[@]}" "$bin" train "$config" $common $sets --set run_dir="$dir/run" "${extra[@]}" >/dev/null
  end=$(date +%s.%N)
  /usr/bin/python3 -c "
import json, sys
print(sum(json.loads(l)['seconds'] for l in open(sys.argv[1])), float(sys.argv[3]) - float(sys.argv[2]))" \
    "$dir/run/history.jsonl" "$start" "$end"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "load before: $(uptime)"
if [[ $parts == *1* ]]; then
  echo "== 1. the step, tracing on vs off, one process (bench_train --trace-ab, 1 thread)"
  # config batch steps: small layers (many events per unit of work) to a CNN.
  for row in "launch/configs/seed_mlp.pbtxt 64 2000" "bench/configs/digits_mlp.pbtxt 32 2000" \
             "launch/configs/fashion_mlp.pbtxt 256 200" "launch/configs/fashion_cnn.pbtxt 64 20"; do
    read -r config batch steps <<<"$row"
    "$build/bin/bench_train" --config "$config" --batch "$batch" --threads 1 --steps "$steps" \
      --repeats "$rounds" --trace-ab
  done
fi
if [[ $parts == *2* && -n $base_build ]]; then
  echo "== 2. tracing off vs the build before the timeline ($base_build), bench/compare_builds.sh"
  ROUNDS=$rounds bench/compare_builds.sh "$base_build" "$build" 2>/dev/null
  echo "   CPU time (user + sys) of 30,000 steps, B = this build, A = $base_build (bench/cpu_ab.py)"
  for row in "launch/configs/seed_mlp.pbtxt 64" "bench/configs/digits_mlp.pbtxt 32"; do
    read -r config batch <<<"$row"
    args="--config $config --batch $batch --threads 1 --steps 30000 --warmup 0 --repeats 1 --no-gemm"
    echo -n "   $(basename "$config" .pbtxt): "
    /usr/bin/python3 bench/cpu_ab.py $((rounds + 4)) "$base_build/bin/bench_train $args" "$build/bin/bench_train $args"
  done
fi
[[ $parts == *3* ]] || { echo "load after: $(uptime)"; exit 0; }
echo "== 3. whole trainer runs"
printf '%-14s %-5s %12s %8s %10s   %s\n' row variant "train s" ratio "wall s" "(medians of $rounds; ratio to off)"
for row in "${rows[@]}"; do
  IFS='|' read -r name ranks config sets <<<"$row"
  [[ -n ${ROWS:-} && ! $name =~ ${ROWS} ]] && continue
  declare -A train=() wall=()
  for ((r = 0; r < rounds; r++)); do
    n=${#variants[@]}
    for ((k = 0; k < n; k++)); do
      v=${variants[$(((k + r) % n))]}
      read -r t w < <(run "$name" "$ranks" "$config" "$sets" "$v")
      train[$v]+="$t "
      wall[$v]+="$w "
    done
  done
  off=$(median ${train[off]})
  for v in "${variants[@]}"; do
    t=$(median ${train[$v]})
    printf '%-14s %-5s %12.4f %8.4f %10.3f   %s\n' "$name" "$v" "$t" "$(echo "$t / $off" | bc -l)" \
      "$(median ${wall[$v]})" "${train[$v]}"
  done
  unset train wall
done
echo "load after: $(uptime)"
