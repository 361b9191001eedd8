#!/usr/bin/env bash
# Keras callbacks through trainer: early stopping (stops before `epochs`,
# brings back the best weights), ReduceLROnPlateau (the rate in the history
# falls), CSVLogger (history.csv agrees with history.jsonl), the best model
# kept in RUN_DIR/best (trainer evaluate on it gives the best val_loss), and
# TerminateOnNaN; a run stopped mid-way and resumed ends exactly as the
# uninterrupted one (callback state is in the checkpoints), at np = 1 and 2.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/tests/e2e/configs/callbacks.pbtxt"

"$TRAINER" train "$config" --set run_dir=straight >straight.txt
epochs=$(grep -c . straight/history.jsonl)
((epochs > 3 && epochs < 40)) && pass || fail "early stopping: $epochs epochs of 40"
grep -q "early stopping" straight.txt && pass || fail "no early-stopping message: $(cat straight.txt)"
grep -q "ReduceLROnPlateau reducing learning rate" straight.txt && pass || fail "no learning-rate reduction"
first_lr=$(json_field straight/history.jsonl 1 learning_rate)
last_lr=$(json_field straight/history.jsonl "$epochs" learning_rate)
awk -v a="$first_lr" -v b="$last_lr" 'BEGIN { exit !(b < a) }' && pass || fail "rate $first_lr -> $last_lr"

# history.csv: Keras' columns, 0-based epochs, the same numbers as history.jsonl.
"$PYTHON" - straight <<'PY' && pass || fail "history.csv does not match history.jsonl"
import csv, json, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(d + "/history.csv")))
hist = [json.loads(l) for l in open(d + "/history.jsonl")]
assert list(rows[0].keys()) == ["epoch", "accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"], rows[0].keys()
assert len(rows) == len(hist)
for r, h in zip(rows, hist):
    assert int(r["epoch"]) == h["epoch"] - 1
    for k in ["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]:
        assert abs(float(r[k]) - h[k]) <= 1e-8 * max(1, abs(h[k])), (k, r[k], h[k])
PY

# The best model: trainer evaluate on it gives the history's best val_loss,
# and with restore_best_weights the final model is that same model.
best=$("$PYTHON" -c "import json,sys; print(min(json.loads(l)['val_loss'] for l in open('straight/history.jsonl')))")
"$TRAINER" evaluate "$config" --model straight/best >best.txt
got=$(grep -Eo '"loss": [-+0-9.eE]+' best.txt | awk '{print $2}')
awk -v a="$best" -v b="$got" 'BEGIN { d = a - b; exit !(d * d <= 1e-10 * a * a) }' && pass ||
  fail "best/model.pb evaluates to $got, the best val_loss was $best"
# (Parameters and moving statistics; optimizer slots went on.)
model_only() { "$TRAINER" inspect "$1" --json | "$PYTHON" -c '
import json, sys
d = json.load(sys.stdin)
d["tensors"] = [t for t in d["tensors"] if t["kind"] in ("PARAMETER", "STATE")]
json.dump(d, sys.stdout)'; }
model_only straight/best/model.pb >best.json
model_only straight/final/model.pb >final.json
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" best.json final.json 0 && pass ||
  fail "restore_best_weights: the final model is not the best epoch's"
ls straight/checkpoints | grep -c 'ckpt-' | grep -qx 2 && [[ -f straight/best/model.pb ]] && pass ||
  fail "keep: 2 must keep 2 checkpoints and never delete best/: $(ls -R straight)"

# Interrupted in epoch 3 and resumed: the same history, stop epoch and
# parameters as the uninterrupted run (callback state from the checkpoint).
for np in 1 2; do
  "$MPIEXEC" -n $np --oversubscribe "$TRAINER" train "$config" --set run_dir=straight$np >/dev/null
  "$MPIEXEC" -n $np --oversubscribe "$TRAINER" train "$config" --set run_dir=split$np --set max_steps=33 >/dev/null
  "$MPIEXEC" -n $np --oversubscribe "$TRAINER" train "$config" --set run_dir=split$np --resume auto >/dev/null
  cmp -s <(cut -d, -f1-5,9 straight$np/history.jsonl) <(cut -d, -f1-5,9 split$np/history.jsonl) && pass ||
    fail "np=$np: resumed history differs from the uninterrupted one"
  "$TRAINER" inspect straight$np/final/model.pb --json >a.json
  "$TRAINER" inspect split$np/final/model.pb --json >b.json
  "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" a.json b.json 0 && pass || fail "np=$np: resumed model differs"
done
# np = 2 decides like np = 1 (the same global metrics up to rounding).
[[ $(grep -c . straight1/history.jsonl) == $(grep -c . straight2/history.jsonl) ]] && pass ||
  fail "np=2 stopped after $(grep -c . straight2/history.jsonl) epochs, np=1 after $(grep -c . straight1/history.jsonl)"

# TerminateOnNaN: an absurd rate makes the loss NaN; every rank ends at the
# same step, the run finishes (exit 0) without the partial epoch.
for np in 1 2; do
  status=0
  "$MPIEXEC" -n $np --oversubscribe "$TRAINER" train "$config" --set run_dir=nan$np \
    --set optimizer.adam.learning_rate=1e30 --set 'model.layers[1]={dropout{rate:0}}' >nan.txt 2>&1 || status=$?
  [[ $status -eq 0 ]] && grep -q "Invalid loss, terminating training" nan.txt && pass ||
    fail "np=$np TerminateOnNaN: exit $status, $(cat nan.txt)"
done

# Monitoring validation metrics without validation data is refused up front.
expect_error 2 "callbacks.early_stopping.monitor: 'val_loss' needs validation data" -- \
  "$TRAINER" train "$config" --set run_dir=bad --set validation_split=0
finish
