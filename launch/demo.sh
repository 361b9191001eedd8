#!/usr/bin/env bash
# The newcomer's first command: set up, build, and train the BatchNorm
# article's model on synthetic data (no files needed); then the same run on
# 2 ranks, which gives the same loss per epoch (synchronized
# BatchNormalization is the default: results do not depend on the ranks).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/build.sh
config=launch/configs/seed_mlp.pbtxt
build/bin/trainer summary "$config"
build/bin/trainer train "$config" --set epochs=5 --set run_dir=runs/seed_mlp --overwrite
build/bin/trainer evaluate "$config" --model runs/seed_mlp/final
command -v mpirun >/dev/null || exit 0
echo "--- the same run on 2 ranks (each global batch of 64 split 32 + 32):"
mpirun --allow-run-as-root --oversubscribe -np 2 build/bin/trainer train "$config" \
  --set epochs=5 --set run_dir=runs/seed_mlp_np2 --overwrite
echo "--- training loss per epoch, 1 process vs 2 ranks:"
loss() { grep -Eo '"loss": [-+0-9.eE]+' "$1/history.jsonl" | awk '{print $2}'; }
paste <(loss runs/seed_mlp) <(loss runs/seed_mlp_np2) | awk '
  { d = ($1 - $2) / $1; d = d < 0 ? -d : d; worst = d > worst ? d : worst
    printf "  epoch %d   np = 1: %.6f   np = 2: %.6f\n", NR, $1, $2 }
  END { printf "the same up to float rounding (largest relative difference %.1e): N ranks x B samples train like one batch of N*B\n", worst }'
