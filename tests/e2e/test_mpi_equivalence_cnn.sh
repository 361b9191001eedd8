#!/usr/bin/env bash
# The data-parallel guarantee for convolutional models: a CNN with every
# image layer, synchronized BatchNormalization on [N, H, W, C] and dropout
# gives the same parameters at np = 1, 2, 3, 4 up to float rounding (the
# last batch of 3 samples leaves rank 3 empty at np = 4); stopping mid-epoch
# and resuming is bit-exact; without synchronization np = 4 differs.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/tests/e2e/configs/cnn_small.pbtxt"
tol=1e-4

run() {  # NP RUN_DIR EXTRA...
  local np=$1 dir=$2
  shift 2
  "$MPIEXEC" -n "$np" --oversubscribe "$TRAINER" train "$config" --set run_dir="$dir" "$@"
  "$TRAINER" inspect "$dir/final/model.pb" --json >"$dir.json"
}
compare() { "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" "$@"; }

for np in 1 2 3 4; do run "$np" sync$np; done
for np in 2 3 4; do
  compare sync1.json sync$np.json $tol && pass || fail "np=$np parameters differ from np=1 by more than $tol"
  "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_history.py" sync1/history.jsonl sync$np/history.jsonl $tol \
    && pass || fail "np=$np history differs from np=1"
done
grep -q '"conv2d_2/kernel"' sync4.json && pass || fail "no conv2d_2/kernel in the checkpoint"

run 4 local4 --set distributed.sync_batch_norm=false
compare sync1.json local4.json $tol --expect-differ && pass || fail "np=4 with local BatchNormalization should differ"

# 14 steps per epoch; stop at step 20, in epoch 2, and resume (np 1 and 3).
for np in 1 3; do
  "$MPIEXEC" -n $np --oversubscribe "$TRAINER" train "$config" --set run_dir=split$np --set max_steps=20
  "$MPIEXEC" -n $np --oversubscribe "$TRAINER" train "$config" --set run_dir=split$np --resume auto >resume.txt
  grep -q "resumed from split$np/checkpoints/ckpt-00000020.pb" resume.txt && pass || fail "np=$np: $(cat resume.txt)"
  "$TRAINER" inspect split$np/final/model.pb --json >split$np.json
  compare sync$np.json split$np.json 0 && pass || fail "np=$np: resume is not bit-exact"
done
finish
