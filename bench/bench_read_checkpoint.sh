#!/usr/bin/env bash
# The Python checkpoint reader on a 128 MiB checkpoint written by the trainer
# (one dense kernel of 4096 x 8192 floats: 8 records of 16 MiB), next to
# reading the same file's bytes and nothing else, in the same run: median
# seconds of 5 repeats each, alternating, the file in the page cache; wall
# time and CPU time (this process's, or the child's for the command line),
# which a machine shared with other work inflates less.
#   bench/bench_read_checkpoint.sh [DIR]   (default: a temporary folder under ./)
# Prints one table; a benchmark never fails on time.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
python=${PYTHON:-/usr/bin/python3}
[[ -x $build/bin/trainer ]] || launch/build.sh >/dev/null
dir=${1:-$(mktemp -d ./bench_pyread.XXXXXX)}
cat >"$dir/big.pbtxt" <<EOF
model {
  input_shape: 4096
  layers { dense { units: 8192 activation: "softmax" } }
}
data { synthetic { samples: 32 features: 4096 classes: 8192 } }
optimizer { sgd { learning_rate: 0.01 } }
epochs: 1
batch_size: 32
run_dir: "$dir/run"
verbose: 0
threads: 1
EOF
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$build/bin/trainer" train "$dir/big.pbtxt" --overwrite >/dev/null
ckpt="$dir/run/final/model.pb"
"$python" - "$PWD/launch/python" "$ckpt" <<'PY'
import os, resource, statistics, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
import lockstep
path = sys.argv[2]
lockstep.load_checkpoint(path)  # protobuf modules generated (once), file in the page cache

def read_bytes():
    with open(path, "rb") as f:
        f.read()

def cli():
    subprocess.run([sys.executable, "launch/read_checkpoint.py", path], check=True, stdout=subprocess.DEVNULL)

def cpu_seconds():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

runs = {"read the file's bytes (open().read())": [], "lockstep.load_checkpoint (verified)": [],
        "launch/read_checkpoint.py (new process)": []}
cpu = {what: [] for what in runs}
for _ in range(5):
    for what, fn in zip(runs, (read_bytes, lambda: lockstep.load_checkpoint(path), cli)):
        start, start_cpu = time.perf_counter(), cpu_seconds()
        fn()
        runs[what].append(time.perf_counter() - start)
        cpu[what].append(cpu_seconds() - start_cpu)
header, tensors = lockstep.load_checkpoint(path)
mib = os.path.getsize(path) / (1 << 20)
print(f"checkpoint {mib:.1f} MiB, {header.record_count} records; median of 5, seconds")
print(f"{'':44s} {'wall':>8s} {'CPU':>8s}   wall of each run")
for what, seconds in runs.items():
    print(f"{what:44s} {statistics.median(seconds):8.3f} {statistics.median(cpu[what]):8.3f}   "
          f"{' '.join(f'{s:.3f}' for s in seconds)}")
PY
[[ $# -ge 1 ]] || rm -rf "$dir"
