#!/usr/bin/env bash
# Where one training step's time goes, by sampling (perf, software clock):
#
#   bench/profile.sh [CONFIG [BATCH [THREADS]]]     # default: bench/configs/mlp1024.pbtxt 256 1
#   bench/profile.sh launch/configs/seed_mlp.pbtxt 32 1
#   bench/profile.sh launch/configs/fashion_cnn.pbtxt 256 1
#
# Runs build/bin/bench_train (BUILD_DIR overrides build/) on the config's
# model with synthetic data, about 5 s of training steps, under
# `perf record -e cpu-clock` (a software event: works in VMs without hardware
# counters), with sampling off until bench_train has warmed up and set up
# (perf's control FIFO, bench_train --perf-control), so that data generation
# and initialisation are not sampled: a fixed delay missed a CNN's start-up,
# which takes seconds on a loaded machine. The samples are grouped by the function
# they landed in (self time, not inclusive):
#   matrix products   OpenBLAS sgemm: kernel, packing (copy) and cblas entry
#   im2col gather     Conv2DLayer::gather_patches and its kernel (conv_gather):
#                     patches from the input, per block (forward, and again in
#                     backward unless the layer keeps forward's)
#   im2col scatter    Conv2DLayer::scatter_patches: the patch gradient added
#                     back onto dx
#   Conv2D bias, rest Conv2DLayer::forward/backward's own loops (bias preload,
#                     bias gradient), outside the products and im2col
#   pooling           MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D
#   BatchNorm         BatchNormLayer (statistics, normalise, backward)
#   activations       activation_forward / activation_backward and their loops
#   dropout           DropoutLayer (mask from the counter-based RNG, multiply)
#   optimizer         the optimizer's update over the arena
#   loss              softmax + cross-entropy (Loss, expf/logf)
#   copies, zeroing   memcpy/memmove/memset: the batch gather, the bias broadcast
#                     before the forward product, zeroing the gradient arena;
#                     also the libc calls of the layers above (im2col's long
#                     runs and zero padding, Flatten's copy): self time only
#   pool threads waiting  libgomp: the pool's other threads spinning between
#                     parallel regions while the calling thread works alone
#   rest              everything else (step bookkeeping, kernel)
# and printed as % of the samples and ms per step (the step time is the
# median of a separate timed run of bench_train just before, without the raw
# products: only its step time is used). Needs perf
# (Debian: linux-perf); installs it when missing and run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-bench/configs/mlp1024.pbtxt}
batch=${2:-256}
threads=${3:-1}
build=${BUILD_DIR:-build}
bench=$build/bin/bench_train
[[ -x "$bench" ]] || { echo "error: bench/profile.sh: $bench not found (launch/build.sh first)" >&2; exit 2; }
[[ -f "$config" ]] || { echo "error: bench/profile.sh: $config: no such file" >&2; exit 2; }
if ! command -v perf >/dev/null || ! perf version >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || { echo "error: bench/profile.sh: perf not installed (apt-get install linux-perf)" >&2; exit 2; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends linux-perf >/dev/null
fi
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads

# 5 warm-up steps: a CNN step is ~0.1 s, and bench_train's default (20) would add seconds for nothing.
timing=$("$bench" --config "$config" --batch "$batch" --threads "$threads" --repeats 5 --warmup 5 --no-gemm --json)
ms=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ms_per_step"])' "$timing")
steps=$(python3 -c "print(max(10, int(5000 / $ms)))")  # about 5 s of steps
dir=$(mktemp -d /tmp/lockstep_perf.XXXXXX)
trap 'rm -rf "$dir"' EXIT
data=$dir/perf.data
mkfifo "$dir/ctl" "$dir/ack"
perf record -q -e cpu-clock -F 2999 -D -1 --control "fifo:$dir/ctl,$dir/ack" -o "$data" \
  "$bench" --config "$config" --batch "$batch" --threads "$threads" --no-gemm --repeats 1 --steps "$steps" \
  --warmup $((steps / 10 + 2)) --perf-control "$dir/ctl,$dir/ack" >/dev/null 2>&1
perf report -i "$data" --stdio --no-children --sort dso,symbol --percent-limit 0 2>/dev/null |
  python3 -c '
import re, sys
ms, config, batch, threads = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
# First match wins: the Conv2D and pooling groups come before "activations",
# whose pattern a Conv2D symbol could contain; gather/scatter match their
# lambdas and OpenMP outlined copies too (the name is in the symbol).
groups = [
    ("matrix products", r"sgemm|gemm_|cblas_"),
    ("im2col gather", r"Conv2DLayer::gather_patches|kernels::.*::conv_gather"),
    ("im2col scatter", r"Conv2DLayer::scatter_patches|kernels::.*::conv_scatter"),
    ("Conv2D bias, rest", r"Conv2DLayer::"),
    ("pooling", r"(Max|Average|GlobalAverage)Pooling2DLayer|kernels::.*::(max|average)_pool"),
    ("BatchNorm", r"BatchNorm|kernels::.*::bn_"),
    ("activations", r"activation_|blockwise|forward_rows|backward_rows"),
    ("dropout", r"Dropout|kernels::.*::dropout"),
    ("optimizer", r"Optimizer::(step|update|apply)|kernels::.*::(adam|sgd|rmsprop)"),
    ("loss", r"Loss::|expf|logf|exp_|log_"),
    ("copies, zeroing", r"memmove|memcpy|memset"),
    ("pool threads waiting", r"^libgomp"),
]
share = {g: 0.0 for g, _ in groups}
share["rest"] = 0.0
top = []
for line in sys.stdin:
    m = re.match(r"\s+([0-9.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*?)\s*$", line)
    if not m:
        continue
    pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).rstrip(" -")
    if sym.startswith("0x"):
        sym = dso + " " + sym  # stripped library: say which
    for g, rx in groups:
        if re.search(rx, sym):
            share[g] += pct
            break
    else:
        share["rest"] += pct
    top.append((pct, sym))
print("profile of one training step: %s, batch %s, %s thread(s), %.3f ms per step (perf cpu-clock samples)"
      % (config, batch, threads, ms))
print()
# With T threads the samples are of T threads, so a share is of T x the step
# time: ms per step below is thread-time (summed over the threads).
print("| part of the step | share of the samples | thread-ms per step |")
print("|---|---:|---:|")
image = ("im2col gather", "im2col scatter", "Conv2D bias, rest", "pooling")
shown = [g for g, _ in groups if g not in image or any(share[i] for i in image)]  # image rows: for CNNs
for g in shown + ["rest"]:
    print("| %s | %.1f%% | %.4f |" % (g, share[g], int(threads) * ms * share[g] / 100))
print()
print("top functions (self time):")
for pct, sym in sorted(top, reverse=True)[:12]:
    print("  %5.1f%%  %s" % (pct, sym[:110]))
' "$ms" "$config" "$batch" "$threads"
