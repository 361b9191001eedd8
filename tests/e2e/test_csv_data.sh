#!/usr/bin/env bash
# A CSV as a data scientist has it, through trainer: a header, the label
# column named and holding class names, missing values filled with the
# training means, no input_shape. Checks the load summary lines, that
# validation_data inherits data's scale, that predict writes label names and
# evaluate names the classes, that the mapping and the means are saved and
# used from the checkpoint, and that np = 2 trains the same model as np = 1
# (GLOBAL; up to float rounding) and LOCAL shards at np = 2 and 3 learn
# exactly the same names and means.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
"$PYTHON" - <<'PY'
import random
random.seed(11)
names = ["virginica", "setosa", "versicolor"]  # file order is not class order
def rows(n, missing):
    out = []
    for i in range(n):
        c = random.randrange(3)
        x = [random.gauss(2 * c, 1) for _ in range(4)]
        f = [f"{v:.4f}" for v in x]
        if missing and i % 17 == 3:
            f[1] = "NA"
        if missing and i % 23 == 5:
            f[3] = ""
        out.append(f[:2] + [names[c]] + f[2:])
    return out
def write(path, header, rows):
    with open(path, "w") as f:
        f.write(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
write("train.csv", "sepal_length,sepal_width,species,petal_length,petal_width", rows(300, True))
# Validation and test data without "virginica"... only two classes appear in test.csv.
write("valid.csv", "sepal_length,sepal_width,species,petal_length,petal_width", rows(60, True))
test = [r for r in rows(90, False) if r[2] != "virginica"]
write("test.csv", "sepal_length,sepal_width,species,petal_length,petal_width", test)
# pandas' to_csv without column names: a header 0..4, label last as an index.
with open("indexed.csv", "w") as f:
    f.write("0,1,2,3,4\n")
    for i in range(40):
        c = i % 2
        f.write(",".join(f"{random.gauss(c, 1):.3f}" for _ in range(4)) + f",{c}\n")
PY
cat >cfg.pbtxt <<'CFG'
model { layers { dense { units: 8 activation: "relu" } } layers { dense { units: 3 activation: "softmax" } } }
data { csv { path: "train.csv" label_column_name: "species" missing: "mean" } scale: 0.5 }
validation_data { csv { path: "valid.csv" label_column_name: "species" } }
optimizer { adam { learning_rate: 0.02 } }
epochs: 4
batch_size: 30
shuffle: true
verbose: 2
threads: 1
CFG
"$TRAINER" train cfg.pbtxt --set run_dir=run >train.out 2>train.err || fail "train: $(cat train.err)"
grep -Eq "^data: train.csv: 300 samples, 4 features, 3 classes \(0=setosa 1=versicolor 2=virginica\), [0-9]+ missing values filled with the training means, header: column names detected$" train.out \
  && pass || fail "data summary: $(grep '^data' train.out)"
grep -Eq "^validation_data: valid.csv: 60 samples, 4 features, 3 classes \(0=setosa 1=versicolor 2=virginica\), [0-9]+ missing values filled with the training means, header: column names detected, scale and shift of data$" train.out \
  && pass || fail "validation summary: $(grep '^validation' train.out)"
# The inferred input_shape, the names and the means are in the saved config.
grep -q "input_shape: 4" run/config.pbtxt && pass || fail "input_shape not inferred: $(cat run/config.pbtxt)"
grep -q 'class_names: "setosa"' run/config.pbtxt && grep -q "fill_values:" run/config.pbtxt \
  && pass || fail "names or means not saved: $(cat run/config.pbtxt)"

# trainer summary takes the input shape from the data too: 4 x 8 + 8 parameters.
"$TRAINER" summary cfg.pbtxt >summary.out 2>&1
grep -Eq "dense_1 \(Dense\) +\(None, 8\) +40 " summary.out && pass || fail "summary: $(cat summary.out)"

# validation_data without scale inherits data's: the same history as with it written out.
"$TRAINER" train cfg.pbtxt --set run_dir=explicit --set validation_data.scale=0.5 >/dev/null
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_history.py" run/history.jsonl explicit/history.jsonl 0 >/dev/null \
  && pass || fail "inherited scale differs from the explicit one: $(head -1 run/history.jsonl explicit/history.jsonl)"
"$TRAINER" train cfg.pbtxt --set run_dir=own --set validation_data.scale=1 >own.out
grep -q "scale and shift of data" own.out && fail "an explicit validation scale was replaced" || pass
val() { json_field "$1/history.jsonl" 4 val_loss; }
[[ "$(val own)" != "$(val run)" ]] && pass || fail "an explicit validation scale of 1 gave the inherited val_loss"

# predict: the predicted column holds label names; test.csv lacks a class and
# has no missing values, yet it maps and scores with the training mapping.
"$TRAINER" predict --model run/final --data test.csv >predict.out 2>predict.err || fail "predict: $(cat predict.err)"
[[ $(head -1 run/final/predictions.csv) == "index,predicted,p0,p1,p2" ]] && pass || fail "$(head -1 run/final/predictions.csv)"
cut -d, -f2 run/final/predictions.csv | tail -n +2 | sort -u | grep -Eqv '^(setosa|versicolor|virginica)$' \
  && fail "predicted column is not label names: $(cut -d, -f2 run/final/predictions.csv | sort -u)" || pass
grep -Eq "^--data: test.csv: [0-9]+ samples, 4 features, 3 classes \(0=setosa 1=versicolor 2=virginica\), header: column names detected$" predict.out \
  && pass || fail "predict summary: $(cat predict.out)"
# evaluate names the classes in the per-class table and the JSON.
"$TRAINER" evaluate --model run/final --data test.csv >eval.out || fail "evaluate"
grep -Eq "^ *2 virginica +0\.0000 +0\.0000 +0\.0000 +0$" eval.out && grep -Eq "^ *0 setosa " eval.out \
  && pass || fail "per-class table: $(cat eval.out)"
"$TRAINER" evaluate --model run/final --data test.csv --json >eval.json
grep -q '"class_names": \["setosa", "versicolor", "virginica"\]' eval.json && pass || fail "json: $(cat eval.json)"
# Without --data: the checkpoint's validation data, with its names and means.
"$TRAINER" evaluate --model run/final >val.out && pass || fail "evaluate on validation_data"
# With the CONFIG given (it has no class_names): the checkpoint's are used.
"$TRAINER" evaluate cfg.pbtxt --model run/final >val_cfg.out
cmp -s val.out val_cfg.out && pass || fail "CONFIG given: $(diff val.out val_cfg.out)"

# Header detection: pandas' 0..n-1 column names; header: NO overrides.
cat >idx.pbtxt <<'CFG'
model { layers { dense { units: 2 activation: "softmax" } } }
data { csv { path: "indexed.csv" } }
epochs: 1
verbose: 1
threads: 1
CFG
"$TRAINER" train idx.pbtxt --set run_dir=idx >idx.out
grep -q "^data: indexed.csv: 40 samples, 4 features, 2 classes, header: column indices 0..4 detected$" idx.out \
  && pass || fail "index header: $(grep '^data' idx.out)"
# header: NO reads "0,1,2,3,4" as a sample of class 4, which the model's 2
# outputs cannot hold: an error, after the summary that shows why.
expect_error 2 "the data has 5 classes but the model outputs 2 units" -- "$TRAINER" train idx.pbtxt --set run_dir=idx_no --set data.csv.header=NO
grep -q "^data: indexed.csv: 41 samples, 4 features, 5 classes, header: none (header: NO)$" "$WORK/out.txt" \
  && pass || fail "header: NO: $(cat "$WORK/out.txt")"
expect_error 2 "--set data.csv.label_column_name: no column 'kind' in the header of train.csv \(sepal_length, sepal_width, species, petal_length, petal_width\)" -- \
  "$TRAINER" train cfg.pbtxt --set run_dir=bad --set data.csv.label_column_name=kind
expect_error 2 "train.csv:[0-9]+: missing value 'NA' in column 2 'sepal_width'; set missing: \"mean\"" -- \
  "$TRAINER" train cfg.pbtxt --set run_dir=bad --set data.csv.missing=error
expect_error 2 "model.input_shape: input_shape \[5\] disagrees with data \(train.csv\), whose samples have shape \[4\]" -- \
  "$TRAINER" train cfg.pbtxt --set run_dir=bad --set model.input_shape=5

# np = 2 (GLOBAL data) trains the same model as np = 1.
"$MPIEXEC" -n 2 --oversubscribe "$TRAINER" train cfg.pbtxt --set run_dir=np2 >np2.out 2>np2.err \
  || fail "np=2: $(cat np2.err)"
"$TRAINER" inspect run/final/model.pb --json >np1.json
"$TRAINER" inspect np2/final/model.pb --json >np2.json
# Up to the rounding of the gradient sums' order, as in test_mpi_equivalence;
# the data's names and means exactly.
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" np1.json np2.json 1e-4 >/dev/null \
  && pass || fail "np=2 model differs from np=1"
cmp -s <(grep -E "class_names|fill_values" run/config.pbtxt) <(grep -E "class_names|fill_values" np2/config.pbtxt) \
  && pass || fail "np=2 learned other names or means"
grep "^data\|^validation" np2.out | cmp -s - <(grep "^data\|^validation" train.out) \
  && pass || fail "np=2 summaries differ: $(grep '^data' np2.out)"
# LOCAL shards: every rank learns the names and means of the whole file.
for np in 2 3; do
  "$MPIEXEC" -n $np --oversubscribe "$TRAINER" train cfg.pbtxt --set run_dir=local$np --set data.shard_mode=LOCAL \
    --set epochs=1 >/dev/null 2>local.err || fail "LOCAL np=$np: $(cat local.err)"
  cmp -s <(grep -E "class_names|fill_values" run/config.pbtxt) <(grep -E "class_names|fill_values" local$np/config.pbtxt) \
    && pass || fail "LOCAL np=$np learned other names or means: $(grep -E 'class_names|fill_values' local$np/config.pbtxt)"
done
finish
