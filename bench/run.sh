#!/usr/bin/env bash
# lockstep vs PyTorch in one command, one table:
#
#   bench/run.sh                       # setup + build into build/ (launch/build.sh --bench), then measure
#   BUILD_DIR=build-bench bench/run.sh # use an existing build dir (only the bench programs are (re)built)
#
# Rows (global batch; "thr" = compute threads per process):
#   seed_mlp     batch 32 and 256, 1 thread; 256 at 2 threads
#   fashion_mlp  784-256-128-10 with BatchNormalization, batch 256, 1 and 2 threads
#   mlp1024      784-1024-1024-10 with BatchNormalization, batch 256, 1 and 2 threads
#   fashion_cnn  launch/configs/fashion_cnn.pbtxt (two Conv2D + BatchNormalization +
#                MaxPooling2D blocks, Dense 128, Dense 10), batch 256 and 64, 1 and 2 threads
#   fashion_mlp, mlp1024 and fashion_cnn at np = 2 x 1 thread (128 per rank): lockstep with
#                synchronized BatchNormalization (bench_distributed, variant sync)
#                vs PyTorch DDP (gloo, plain BatchNorm: PyTorch has no
#                SyncBatchNorm on CPU); the bound is two processes with no
#                communication (variant nocomm, torch_bench.py --nocomm)
#   a 64 MB gradient all-reduce at np = 2: lockstep's bucketed all-reduce vs
#                one plain MPI_Allreduce on the same buffer (bench_allreduce)
# Columns: samples/s, GFLOP/s of the Dense and Conv2D products, how close the step comes
# to its bound (% of the cblas_sgemm rate on the model's own shapes, measured
# in the same process; at np = 2, % of the no-communication processes
# measured in the same job), peak RSS, and PyTorch 1.13 on the same model,
# batch, data shape and threads with the lockstep/PyTorch ratio.
#
# Every round runs every row's lockstep and PyTorch programs back to back, the
# order flipping each round, so machine noise hits both alike; figures are
# medians over the rounds, ratios medians of the per-round ratios. Nothing
# passes or fails on time. About 10 minutes on the 2-core development VM once
# built (ROUNDS=5), about half of it the fashion_cnn rows (ROWS=cnn; estimated
# from the brief's rates, not timed on an idle machine).
#
# Environment:
#   BUILD_DIR  existing CMake build dir to use instead of building build/
#   NO_BUILD=1 use the programs in $BUILD_DIR/bin as they are
#   ROUNDS     rounds (default 5)
#   DIST=0     leave out the np = 2 rows and the all-reduce row
#   ROWS       all (default); mlp: the MLP rows and the all-reduce row; cnn: the
#              fashion_cnn rows alone (1 process and, unless DIST=0, np = 2)
#   PYTHON     interpreter with Debian's python3-torch (default /usr/bin/python3)
#   OUT        file for the raw JSON lines (default: a temporary file)
# PyTorch gets OMP_WAIT_POLICY=PASSIVE at 2 threads (without it its OpenMP pool
# and OpenBLAS's spin against each other: 4,400 instead of 13,300 samples/s on
# mlp1024); lockstep has one pool (libgomp's, shared with OpenBLAS' OpenMP
# build) and runs with no variable: PASSIVE would put that pool to sleep
# between products (fashion_mlp at 2 threads: 20% slower).
# OPENBLAS_CORETYPE (e.g. SkylakeX) is passed through to both: they use the
# same OpenBLAS library (PyTorch via libblas.so.3). Unset, and OpenBLAS falls
# back to Prescott on this CPU, both get the core type trainer selects.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ROUNDS=${ROUNDS:-5}
DIST=${DIST:-1}
PYTHON=${PYTHON:-/usr/bin/python3}
programs=(bench_train bench_distributed bench_allreduce trainer)

if [[ -n "${BUILD_DIR:-}" ]]; then
  build=$(cd "$BUILD_DIR" && pwd)
  if [[ "${NO_BUILD:-0}" != 1 ]]; then
    log=$(mktemp /tmp/lockstep_bench_build.XXXXXX.log)
    cmake --build "$build" --target "${programs[@]}" -j "$(nproc)" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
    rm -f "$log"
  fi
else
  launch/build.sh --bench
  build=$root/build
fi
for p in "${programs[@]}"; do
  [[ -x "$build/bin/$p" ]] || { echo "error: bench/run.sh: $build/bin/$p not found" >&2; exit 2; }
done
[[ -x "$PYTHON" ]] || { echo "error: bench/run.sh: PYTHON=$PYTHON not found" >&2; exit 2; }

# PyTorch loads the same OpenBLAS: where lockstep overrides OpenBLAS' generic
# Prescott fallback (core/blas_kernels.h), PyTorch gets the same kernels.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]]; then
  chosen=$("$build/bin/trainer" summary launch/configs/seed_mlp.pbtxt |
           sed -n 's/^BLAS: .*, \([A-Za-z0-9]*\) kernels (selected by lockstep.*/\1/p')
  if [[ -n $chosen ]]; then
    export OPENBLAS_CORETYPE=$chosen
    echo "note: OpenBLAS detects this CPU as Prescott; both frameworks run with OPENBLAS_CORETYPE=$chosen, as trainer does by itself"
  fi
fi

cores=$(getconf _NPROCESSORS_ONLN)  # not nproc: it obeys OMP_NUM_THREADS
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
mpi=(mpiexec -np 2)
if ((cores >= 2)); then
  mpi+=(--bind-to core)
else
  mpi+=(--oversubscribe --bind-to none)
  echo "note: 2 ranks on $cores core: np = 2 figures are meaningless" >&2
fi

out=${OUT:-$(mktemp /tmp/lockstep_bench.XXXXXX.jsonl)}
: >"$out"

# name config batch threads steps [warmup]: steps chosen so that one lockstep
# run lasts >= ~50 ms and one PyTorch run <= ~1 s on the development VM;
# warmup (default steps / 5 + 5) is warm-up steps per run.
mlp_cases=(
  "seed_mlp launch/configs/seed_mlp.pbtxt 32 1 2000"
  "seed_mlp launch/configs/seed_mlp.pbtxt 256 1 600"
  "seed_mlp launch/configs/seed_mlp.pbtxt 256 2 600"
  "fashion_mlp launch/configs/fashion_mlp.pbtxt 256 1 100"
  "fashion_mlp launch/configs/fashion_mlp.pbtxt 256 2 100"
  "mlp1024 bench/configs/mlp1024.pbtxt 256 1 20"
  "mlp1024 bench/configs/mlp1024.pbtxt 256 2 30"
)
# A CNN step is ~60x fashion_mlp's (lockstep ~2,000 samples/s at batch 256 on 1
# thread, PyTorch ~600): steps for a lockstep run >= ~0.5 s and a PyTorch run
# <= ~3 s, and few warm-up steps, which cost as much as timed ones.
cnn_cases=(
  "fashion_cnn launch/configs/fashion_cnn.pbtxt 256 1 6 2"
  "fashion_cnn launch/configs/fashion_cnn.pbtxt 256 2 10 2"
  "fashion_cnn launch/configs/fashion_cnn.pbtxt 64 1 20 3"
  "fashion_cnn launch/configs/fashion_cnn.pbtxt 64 2 30 3"
)
# name config global-batch steps [warmup]: warmup per variant (default 10).
mlp_dist_cases=(
  "fashion_mlp launch/configs/fashion_mlp.pbtxt 256 100"
  "mlp1024 bench/configs/mlp1024.pbtxt 256 30"
)
cnn_dist_cases=(
  "fashion_cnn launch/configs/fashion_cnn.pbtxt 256 8 3"
)
ROWS=${ROWS:-all}
case $ROWS in
  all) cases=("${mlp_cases[@]}" "${cnn_cases[@]}"); dist_cases=("${mlp_dist_cases[@]}" "${cnn_dist_cases[@]}") ;;
  mlp) cases=("${mlp_cases[@]}"); dist_cases=("${mlp_dist_cases[@]}") ;;
  cnn) cases=("${cnn_cases[@]}"); dist_cases=("${cnn_dist_cases[@]}") ;;
  *) echo "error: bench/run.sh: ROWS=$ROWS (expected all, mlp or cnn)" >&2; exit 2 ;;
esac
allreduce_row=$([[ $ROWS == cnn ]] && echo 0 || echo 1)  # not a model's row: with the MLPs

# tag JSON-lines: appends each line of stdin with the row tag in front.
tag() { sed "s#^{#{\"row\": \"$1\", \"round\": $2, #" >>"$out"; }

threads_env() {  # $1 threads; $2 = torch: PyTorch's two pools need PASSIVE
  local env=(OPENBLAS_NUM_THREADS="$1" OMP_NUM_THREADS="$1" MKL_NUM_THREADS="$1")
  (($1 > 1)) && [[ ${2:-} == torch ]] && env+=(OMP_WAIT_POLICY=PASSIVE)
  echo "${env[@]}"
}

run_single() {  # round name config batch threads steps [warmup]
  local r=$1 name=$2 cfg=$3 batch=$4 thr=$5 steps=$6 warmup=${7:-$(($6 / 5 + 5))} row="$2/$4/t$5"
  # shellcheck disable=SC2046
  local ls=(env $(threads_env "$thr") "$build/bin/bench_train" --config "$cfg" --batch "$batch" --threads "$thr"
            --steps "$steps" --warmup "$warmup" --repeats 1 --json)
  # shellcheck disable=SC2046
  local pt=(env $(threads_env "$thr" torch) "$PYTHON" bench/torch_bench.py --config "$cfg" --batch "$batch"
            --threads "$thr" --steps "$steps" --warmup "$warmup" --repeats 1 --json)
  if ((torch_ok == 0)); then
    "${ls[@]}" | tag "$row" "$r"
  elif ((r % 2 == 0)); then
    "${ls[@]}" | tag "$row" "$r"; "${pt[@]}" | tag "$row" "$r"
  else
    "${pt[@]}" | tag "$row" "$r"; "${ls[@]}" | tag "$row" "$r"
  fi
}

run_dist() {  # round name config batch steps [warmup]
  local r=$1 name=$2 cfg=$3 batch=$4 steps=$5 warmup=${6:-10} row="$2/$4/np2"
  local env1=(env OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1)
  local ls=("${env1[@]}" "${mpi[@]}" "$build/bin/bench_distributed" --config "$cfg" --global-batch "$batch"
            --variants sync,local,nocomm,solo --steps "$steps" --warmup "$warmup" --repeats 3 --json)
  local pt=("${env1[@]}" "$PYTHON" bench/torch_bench.py --config "$cfg" --batch "$batch" --threads 1 --ranks 2
            --steps "$steps" --warmup "$warmup" --repeats 1 --json)
  if ((torch_ok == 0)); then
    "${ls[@]}" | tag "$row" "$r"
  elif ((r % 2 == 0)); then
    "${ls[@]}" | tag "$row" "$r"; "${pt[@]}" | tag "$row" "$r"; "${pt[@]}" --nocomm | tag "$row" "$r"
  else
    "${pt[@]}" --nocomm | tag "$row" "$r"; "${pt[@]}" | tag "$row" "$r"; "${ls[@]}" | tag "$row" "$r"
  fi
}

torch_ok=1
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  torch_ok=0
  echo "PyTorch skipped: '$PYTHON -c \"import torch\"' fails (install Debian's python3-torch: launch/setup.sh --bench)"
fi

start=$SECONDS
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
extra=""
if ((DIST)); then
  extra=" + ${#dist_cases[@]} np = 2 rows"
  ((allreduce_row)) && extra+=" + the all-reduce row"
fi
echo "bench: $ROUNDS rounds x ${#cases[@]} single-process rows$extra; raw results in $out"
if ((DIST)); then
  # Peak RSS at np = 2 of the training alone (one variant built per process).
  for c in "${dist_cases[@]}"; do
    read -r name cfg batch _ <<<"$c"
    OPENBLAS_NUM_THREADS=1 "${mpi[@]}" "$build/bin/bench_distributed" --config "$cfg" --global-batch "$batch" \
      --variants sync --steps 10 --warmup 5 --repeats 1 --json | grep distributed_ratios | tag "$name/$batch/np2" -1
  done
fi
for ((r = 0; r < ROUNDS; r++)); do
  for c in "${cases[@]}"; do
    # shellcheck disable=SC2086
    run_single "$r" $c
  done
  if ((DIST)); then
    for c in "${dist_cases[@]}"; do
      # shellcheck disable=SC2086
      run_dist "$r" $c
    done
    if ((allreduce_row)); then
      OPENBLAS_NUM_THREADS=1 "${mpi[@]}" "$build/bin/bench_allreduce" --mb 64 --repeats 5 --json | tag "allreduce/64MB/np2" "$r"
    fi
  fi
  printf '  round %d/%d done (%ds)\n' $((r + 1)) "$ROUNDS" $((SECONDS - start))
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

"$PYTHON" bench/report.py "$out" "load average $load_start at the start, $load_end at the end"
echo "bench: done in $((SECONDS - start))s"
