#!/usr/bin/env bash
# Two or more builds of lockstep (or one build on several ISA paths), one
# table: bench_train's training step on the same rows, every build once per
# round, the order rotating from round to round so machine noise hits all
# alike; figures are medians over the rounds, ratios medians of the
# per-round ratios to the first build.
#
#   bench/compare_builds.sh SPEC SPEC...
#     SPEC = BUILD_DIR or BUILD_DIR:ISA (runs with LOCKSTEP_ISA=ISA)
#   e.g. native vs portable, and the portable binary forced to its baseline path:
#     bench/compare_builds.sh build-native build build:baseline
#
# Environment: ROUNDS (default 5); THREADS=2 adds 2-thread rows; OUT: file
# for the raw JSON lines (default: a temporary file). Builds the programs
# never: each BUILD_DIR/bin/bench_train must exist. The raw cblas_sgemm
# timing of bench_train is skipped (--no-gemm): both builds call the same
# OpenBLAS.
set -euo pipefail
cd "$(dirname "$0")/.."
(($# >= 2)) || { echo "error: bench/compare_builds.sh: give at least two BUILD_DIR[:ISA]" >&2; exit 2; }
specs=("$@")
for spec in "${specs[@]}"; do
  [[ -x ${spec%%:*}/bin/bench_train ]] || { echo "error: bench/compare_builds.sh: ${spec%%:*}/bin/bench_train not found" >&2; exit 2; }
done
ROUNDS=${ROUNDS:-5}
out=${OUT:-$(mktemp /tmp/lockstep_builds.XXXXXX.jsonl)}
: >"$out"

# name config batch threads steps warmup (steps as bench/run.sh's rows). One
# thread per process by default: the kernels' code is what differs between
# builds, and 2-thread rows on a shared 2-core machine mostly measure the
# neighbours (THREADS=2 adds them).
rows=(
  "seed_mlp launch/configs/seed_mlp.pbtxt 256 1 600 60"
  "fashion_mlp launch/configs/fashion_mlp.pbtxt 256 1 100 25"
  "mlp1024 bench/configs/mlp1024.pbtxt 256 1 20 9"
  "fashion_cnn launch/configs/fashion_cnn.pbtxt 256 1 6 2"
  "fashion_cnn launch/configs/fashion_cnn.pbtxt 64 1 20 3"
)
if [[ ${THREADS:-1} == 2 ]]; then
  rows+=(
    "fashion_mlp launch/configs/fashion_mlp.pbtxt 256 2 100 25"
    "mlp1024 bench/configs/mlp1024.pbtxt 256 2 30 11"
    "fashion_cnn launch/configs/fashion_cnn.pbtxt 256 2 10 2"
  )
fi

for ((r = 0; r < ROUNDS; ++r)); do
  for row in "${rows[@]}"; do
    read -r name cfg batch thr steps warmup <<<"$row"
    n=${#specs[@]}
    for ((i = 0; i < n; ++i)); do
      s=$(((i + r) % n))  # rotate the order each round
      spec=${specs[$s]} build=${specs[$s]%%:*} isa=""
      [[ $spec == *:* ]] && isa=${spec#*:}
      env OPENBLAS_NUM_THREADS="$thr" OMP_NUM_THREADS="$thr" ${isa:+LOCKSTEP_ISA=$isa} \
        "$build/bin/bench_train" --config "$cfg" --batch "$batch" --threads "$thr" --steps "$steps" \
        --warmup "$warmup" --repeats 1 --no-gemm --json |
        sed "s#^{#{\"row\": \"$name/$batch/t$thr\", \"round\": $r, \"spec\": \"$spec\", #" >>"$out"
    done
  done
  echo "round $((r + 1))/$ROUNDS done" >&2
done

/usr/bin/python3 - "$out" "${specs[@]}" <<'EOF'
import json, statistics, sys
path, specs = sys.argv[1], sys.argv[2:]
runs = {}  # (row, round, spec) -> samples/s
rows, isas = [], {}
for line in open(path):
    d = json.loads(line)
    runs[(d["row"], d["round"], d["spec"])] = d["samples_per_s"]
    isas[d["spec"]] = d.get("isa", "?")
    if d["row"] not in rows:
        rows.append(d["row"])
rounds = sorted({k[1] for k in runs})
head = "| row (model/batch/threads) | " + " | ".join(f"{s} ({isas.get(s, '?')}) samples/s" for s in specs)
head += " | " + " | ".join(f"{s} / {specs[0]}" for s in specs[1:]) + " |"
print(head)
print("|---|" + "---:|" * (2 * len(specs) - 1))
for row in rows:
    cells = [f"{statistics.median(runs[(row, r, s)] for r in rounds):.0f}" for s in specs]
    for s in specs[1:]:
        ratios = [runs[(row, r, s)] / runs[(row, r, specs[0])] for r in rounds]
        cells.append(f"{statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f})")
    print(f"| {row} | " + " | ".join(cells) + " |")
print(f"\n{len(rounds)} rounds; ratios: median of the per-round ratios (range in brackets); raw: {path}")
EOF
