#!/usr/bin/env bash
# The central data-parallel test: np = 1, 2, 3, 4 with the same config give
# the same parameters (dropout on, synchronized BatchNormalization — the
# default —, >= 100 steps) up to float rounding, and without synchronization
# np = 4 differs. With local statistics the ranks' moving statistics are
# merged, so the history's validation loss is the saved model's.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
# 4000 samples, validation 20%: 3200 / 64 = 50 steps per epoch; 3 epochs = 150 steps.
common=(--set epochs=3 --set verbose=0 --set threads=1)
tol=1e-4

run() {  # NP RUN_DIR EXTRA...
  local np=$1 dir=$2
  shift 2
  "$MPIEXEC" -n "$np" --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir="$dir" "$@"
  "$TRAINER" inspect "$dir/final/model.pb" --json >"$dir.json"
}

# Synchronized is the default: nothing in the config or on the command line.
for np in 1 2 3 4; do
  run "$np" sync$np
done
for np in 2 3 4; do
  "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" sync1.json sync$np.json $tol \
    && pass || fail "np=$np parameters differ from np=1 by more than $tol"
  "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_history.py" sync1/history.jsonl sync$np/history.jsonl $tol \
    && pass || fail "np=$np history differs from np=1"
done
steps=$(grep -c . sync4/history.jsonl)
[[ $steps -eq 3 ]] && pass || fail "expected 3 epochs of history, got $steps"

# Without synchronization each rank normalizes with its own 16 samples.
run 4 local4 --set distributed.sync_batch_norm=false
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" sync1.json local4.json $tol --expect-differ \
  && pass || fail "np=4 with local BatchNormalization should differ from np=1"
# One process with synchronization on is the same as without it.
run 1 local1 --set distributed.sync_batch_norm=false
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" sync1.json local1.json 0 \
  && pass || fail "np=1: synchronized and local BatchNormalization should be identical"

# One model per run with local statistics: the last epoch's val_loss is what
# trainer evaluate computes on the saved model, and every rank held it.
"$MPIEXEC" -n 3 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir=local3 \
  --set distributed.sync_batch_norm=false --set checkpoint.keep=1
last=$(json_field local3/history.jsonl 3 val_loss)
"$TRAINER" evaluate "$config" --model local3/final "${common[@]}" >eval.txt
evaluated=$(grep -Eo '"loss": [-+0-9.eE]+' eval.txt | awk '{print $2}')
# Equal up to the order of the sums (ranks' parts vs one process).
awk -v a="$last" -v b="$evaluated" 'BEGIN { d = a - b; exit !(d * d <= 1e-12 * a * a) }' && pass ||
  fail "np=3 local BN: history val_loss $last, trainer evaluate $evaluated"
"$MPIEXEC" -n 3 --oversubscribe "$TRAINER" evaluate "$config" --model local3/final "${common[@]}" >eval3.txt
# The score line (the first is the load summary).
[[ $(grep ' samples - loss' eval.txt) == $(grep ' samples - loss' eval3.txt) ]] && pass ||
  fail "evaluate at np=3 differs: $(cat eval.txt eval3.txt)"

# shard_mode LOCAL: each rank reads and shuffles only its part; all samples
# are still used once per epoch, and the model trains (results differ from
# np=1 by design).
"$MPIEXEC" -n 3 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir=shards \
  --set data.shard_mode=LOCAL
[[ $(grep -c '"steps": 50' shards/history.jsonl) -eq 3 ]] && pass || fail "LOCAL shards: not 50 steps per epoch"
val=$(json_field shards/history.jsonl 3 val_accuracy)
awk -v v="$val" 'BEGIN { exit !(v > 0.85) }' && pass || fail "LOCAL shards: val_accuracy $val"
finish
