#!/usr/bin/env bash
# trainer evaluate and predict as a Keras user runs them: with no CONFIG they
# use the checkpoint's own; --data FILE scores a file with the training
# data's settings (and warns when it is the training data); the report has
# per-class precision/recall/F1, the confusion matrix and AUC (two classes),
# agreeing with the predictions; --json prints one JSON object; predict
# writes index,predicted,p0..pK next to the model by default, creates
# folders, and names the OS reason when it cannot write.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
"$PYTHON" - <<'PY'
import random
random.seed(5)
with open("all.csv", "w") as f:
    for i in range(500):
        x = [random.gauss(0, 1) for _ in range(3)]
        f.write(",".join(f"{v:.5f}" for v in x) + f",{int(x[0] + x[1] > 0.3)}\n")
lines = open("all.csv").read().splitlines()
open("fresh.csv", "w").write("\n".join(lines[400:]) + "\n")
PY
cat >cfg.pbtxt <<'CFG'
model { input_shape: 3 layers { dense { units: 8 activation: "relu" } } layers { dense { units: 2 activation: "softmax" } } }
data { csv { path: "all.csv" } }
validation_split: 0.2
optimizer { adam { learning_rate: 0.02 } }
epochs: 5
verbose: 0
threads: 1
CFG
"$TRAINER" train cfg.pbtxt --set run_dir=run >/dev/null
# No CONFIG: the checkpoint's; the same numbers as with it.
"$TRAINER" evaluate --model run/final >own.txt && pass || fail "evaluate without CONFIG"
"$TRAINER" evaluate cfg.pbtxt --model run/final >given.txt
cmp -s own.txt given.txt && pass || fail "evaluate with and without CONFIG differ: $(cat own.txt given.txt)"
grep -q "^validation data: 100 samples" own.txt && pass || fail "$(head -1 own.txt)"
grep -q "confusion matrix" own.txt && grep -Eq "AUC [01]\.[0-9]{4}" own.txt && pass || fail "report: $(cat own.txt)"
# fresh.csv holds the same 100 held-out rows: same loss, no warning.
"$TRAINER" evaluate --model run/final --data fresh.csv >fresh.txt 2>fresh.err
[[ "$(tail -1 fresh.txt)" == "$(tail -1 own.txt)" ]] && pass || fail "--data of the held-out rows: $(tail -1 fresh.txt) vs $(tail -1 own.txt)"
[[ ! -s fresh.err ]] && pass || fail "unexpected warning: $(cat fresh.err)"
"$TRAINER" evaluate --model run/final --data all.csv >/dev/null 2>all.err
grep -q "warning: all.csv is the training data: the model was trained on all but the last 20%" all.err \
  && pass || fail "no training-data warning: $(cat all.err)"
"$TRAINER" evaluate --model run/final --on train >/dev/null 2>train.err
grep -q "warning: scoring the training data" train.err && pass || fail "no warning for --on train"
# --json: one object; the confusion matrix agrees with predict's classes.
"$TRAINER" evaluate --model run/final --json >report.json
[[ $(wc -l <report.json) -eq 1 ]] && pass || fail "--json printed more than one line"
"$TRAINER" predict --model run/final >/dev/null && pass || fail "predict without CONFIG"
[[ $(head -1 run/final/predictions.csv) == "index,predicted,p0,p1" ]] && pass || fail "header: $(head -1 run/final/predictions.csv)"
"$PYTHON" - <<'PY' && pass || fail "report disagrees with the predictions"
import json
r = json.load(open("report.json"))["report"]
rows = [l.split(",") for l in open("run/final/predictions.csv").read().splitlines()[1:]]
labels = [int(l.split(",")[-1]) for l in open("fresh.csv").read().splitlines()]
m = [[0, 0], [0, 0]]
for row, y in zip(rows, labels):
    m[y][int(row[1])] += 1
assert m == r["confusion_matrix"], (m, r["confusion_matrix"])
tp, fp = m[1][1], m[0][1]
assert abs(r["precision"][1] - tp / (tp + fp)) < 1e-6
PY
# Under mpirun: the same report.
"$MPIEXEC" -n 2 --oversubscribe "$TRAINER" evaluate --model run/final >np2.txt
cmp -s own.txt np2.txt && pass || fail "evaluate at np = 2 differs"
# predict creates folders; an unwritable place gives the OS reason.
"$TRAINER" predict --model run/final --data fresh.csv --output out/deeper/p.csv >/dev/null && [[ -s out/deeper/p.csv ]] \
  && pass || fail "predict into a new folder"
expect_error 1 "/proc/p.csv.*(Permission denied|No such file|Read-only|No such)" -- \
  "$TRAINER" predict --model run/final --output /proc/p.csv
expect_error 2 "usage: give --on or --data, not both" -- "$TRAINER" evaluate --model run/final --on train --data x.csv
expect_error 2 "usage: 'evaluate' takes at most one argument" -- "$TRAINER" evaluate a b --model run/final
finish
