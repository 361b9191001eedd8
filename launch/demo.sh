#!/usr/bin/env bash
# The newcomer's first command: set up, build, and train the BatchNorm
# article's model on synthetic data (no files needed).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/build.sh
config=launch/configs/seed_mlp.pbtxt
build/bin/trainer summary "$config"
build/bin/trainer train "$config" --set epochs=5
build/bin/trainer evaluate "$config" --model runs/seed_mlp/final
if command -v mpirun >/dev/null; then
  echo "--- the same run on 2 ranks (one global batch of 64 split 32 + 32):"
  mpirun --allow-run-as-root --oversubscribe -np 2 build/bin/trainer train "$config" \
    --set epochs=5 --set run_dir=runs/seed_mlp_np2
fi
