#!/usr/bin/env bash
# normalization {} through trainer: train adapts it to raw tabular data
# (features on scales from 1e-3 to 1e4) and learns; evaluate and predict use
# the saved statistics with no flag (evaluate's loss is the history's
# val_loss); the adapted statistics are the same for np = 1 and for np = 3
# with LOCAL shards (each rank reads a third of the file); a resumed run
# keeps the statistics of its checkpoint.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
"$PYTHON" - <<'PY'
import random
random.seed(11)
scales = [1e-3, 1.0, 50.0, 1e4]
with open("train.csv", "w") as f:
    f.write("a,b,c,d,label\n")
    for i in range(600):
        z = [random.gauss(0, 1) for _ in scales]
        y = int(z[0] - z[2] + 0.5 * z[3] > 0)
        f.write(",".join(f"{v * s + 3 * s:.6g}" for v, s in zip(z, scales)) + f",{y}\n")
PY
cat >norm.pbtxt <<'CFG'
model {
  input_shape: 4
  layers { normalization {} }
  layers { dense { units: 16 activation: "relu" } }
  layers { dense { units: 2 activation: "softmax" } }
}
data { csv { path: "train.csv" } }
validation_split: 0.2
optimizer { adam { learning_rate: 0.01 } }
epochs: 8
batch_size: 32
verbose: 0
threads: 1
CFG
"$TRAINER" train norm.pbtxt --set run_dir=norm >/dev/null && pass || fail "train with normalization"
acc=$(json_field norm/history.jsonl 8 val_accuracy)
awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }' && pass || fail "normalized raw data: val_accuracy $acc < 0.9"
want=$(json_field norm/history.jsonl 8 val_loss)
got=$("$TRAINER" evaluate norm.pbtxt --model norm/final | grep -Eo 'loss: [0-9.]+' | awk '{print $2}')
[[ $(printf '%.4f' "$want") == "$got" ]] && pass || fail "history val_loss $want vs evaluate $got"
"$TRAINER" inspect norm/final/model.pb --json >norm.json
"$PYTHON" - <<'PY' && pass || fail "adapted statistics are not the training part's population mean/variance"
import json, statistics
t = {x["name"]: x["values"] for x in json.load(open("norm.json"))["tensors"]}
rows = [list(map(float, l.split(",")[:4])) for l in open("train.csv").read().split("\n")[1:] if l]
rows = rows[:480]  # validation_split 0.2 holds out the last 120
for k in range(4):
    col = [r[k] for r in rows]
    m, v = statistics.fmean(col), statistics.pvariance(col)
    assert abs(t["normalization_1/mean"][k] - m) <= 1e-6 * max(1, abs(m)), (k, t["normalization_1/mean"][k], m)
    assert abs(t["normalization_1/variance"][k] - v) <= 1e-5 * v, (k, t["normalization_1/variance"][k], v)
assert t["normalization_1/count"] == [480.0], t["normalization_1/count"]
PY

# The same statistics from every rank's third of the file (epochs 0: the
# saved model is the adapted one).
"$TRAINER" train norm.pbtxt --set run_dir=adapt1 --set epochs=0 --set validation_split=0 >/dev/null
"$MPIEXEC" -n 3 --oversubscribe "$TRAINER" train norm.pbtxt --set run_dir=adapt3 --set epochs=0 \
  --set validation_split=0 --set data.shard_mode=LOCAL >/dev/null
for d in adapt1 adapt3; do "$TRAINER" inspect $d/final/model.pb --json >$d.json; done
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" adapt1.json adapt3.json 0 >/dev/null \
  && pass || fail "np = 3 LOCAL adapted other statistics than np = 1"

# Resumed: the checkpoint's statistics, bit for bit the uninterrupted run.
"$TRAINER" train norm.pbtxt --set run_dir=split --set max_steps=20 >/dev/null
"$TRAINER" train norm.pbtxt --set run_dir=split --resume auto >/dev/null
"$TRAINER" inspect split/final/model.pb --json >split.json
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" norm.json split.json 0 >/dev/null \
  && pass || fail "resumed run differs from the uninterrupted one"

# predict applies it too: same classes from the model as from evaluate's accuracy.
"$TRAINER" predict norm.pbtxt --model norm/final --output p.csv >/dev/null && pass || fail "predict"
finish
