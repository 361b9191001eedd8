#!/usr/bin/env bash
# Keras training options through trainer: gradient accumulation (k batches
# of B train like one batch of k*B, the schedule counting updates; resumed
# mid-accumulation bit-exact; np = 2 as np = 1), norm clipping (np = 2 as
# np = 1, and it changes the result), class weights and a CSV sample-weight
# column (the same weights by either route give the same bits), label
# smoothing (the history's val_loss is what trainer evaluate reports).
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/tests/e2e/configs/options_mlp.pbtxt"
compare() { "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" "$@" >/dev/null; }
train() {  # RUN_DIR [NP] -- EXTRA...
  local dir=$1 np=$2
  shift 3
  "$MPIEXEC" -n "$np" --oversubscribe "$TRAINER" train "$config" --set run_dir="$dir" "$@" \
    || { fail "train $dir: exit $?"; return; }
  "$TRAINER" inspect "$dir/final/model.pb" --json >"$dir.json"
}
cosine=(--set lr_schedule.cosine.decay_steps=24)  # 3 epochs x 8 updates

# 1. Gradient accumulation: 4 x 32 == 128, with a schedule over updates.
train acc4 1 -- --set optimizer.gradient_accumulation_steps=4 "${cosine[@]}"
train big 1 -- --set batch_size=128 "${cosine[@]}"
compare acc4.json big.json 1e-5 --ignore accumulated_gradients && pass || fail "4 accumulated batches of 32 differ from batches of 128"
train acc4np2 2 -- --set optimizer.gradient_accumulation_steps=4 "${cosine[@]}"
compare acc4.json acc4np2.json 1e-5 && pass || fail "accumulation at np = 2 differs from np = 1"
# Stopped after 6 batches (in the middle of the second update), resumed.
train split 2 -- --set optimizer.gradient_accumulation_steps=4 "${cosine[@]}" --set max_steps=6
"$MPIEXEC" -n 2 --oversubscribe "$TRAINER" train "$config" --set run_dir=split \
  --set optimizer.gradient_accumulation_steps=4 "${cosine[@]}" --resume auto >/dev/null
"$TRAINER" inspect split/final/model.pb --json >split.json
compare acc4np2.json split.json 0 && pass || fail "resumed mid-accumulation: not bit-identical"

# 2. Clipping: the same at np = 1 and 2 (sharded update off for norms), and it bites.
train clip1 1 -- --set optimizer.global_clipnorm=0.05
train clip2 2 -- --set optimizer.global_clipnorm=0.05
compare clip1.json clip2.json 1e-5 && pass || fail "global_clipnorm at np = 2 differs from np = 1"
train plain 1 --
compare plain.json clip1.json 1e-3 --expect-differ && pass || fail "global_clipnorm 0.05 changed nothing"
train clipn 2 -- --set optimizer.clipnorm=0.05 --set optimizer.clipvalue=0.01
compare plain.json clipn.json 1e-3 --expect-differ && pass || fail "clipnorm/clipvalue changed nothing"
expect_error 2 "optimizer.global_clipnorm: give clipnorm or global_clipnorm, not both" -- \
  "$TRAINER" train "$config" --set run_dir=bad --set optimizer.clipnorm=1 --set optimizer.global_clipnorm=1

# 3. Class weights and a sample-weight column: weight 2 everywhere, either way.
"$PYTHON" - <<'PY'
import random
random.seed(3)
with open("plain.csv", "w") as a, open("weighted.csv", "w") as b:
    for i in range(200):
        x = [round(random.uniform(-1, 1), 3) for _ in range(4)]
        y = int(x[0] + 0.5 * x[1] > 0)
        a.write(",".join(map(str, x + [y])) + "\n")
        b.write(",".join(map(str, x[:2] + [2] + x[2:] + [y])) + "\n")
PY
csv=(--set model.input_shape=4 --set data.csv.label_column=-1 --set validation_split=0.25)
train cw 1 -- "${csv[@]}" --set data.csv.path=plain.csv --set 'class_weight[0]={key:0 value:2}' \
  --set 'class_weight[1]={key:1 value:2}'
train sw 1 -- "${csv[@]}" --set data.csv.path=weighted.csv --set data.csv.sample_weight_column=2
compare cw.json sw.json 0 && pass || fail "class_weight 2 and a sample weight column of 2 differ"
train cw2 2 -- "${csv[@]}" --set data.csv.path=plain.csv --set 'class_weight[0]={key:0 value:2}' \
  --set 'class_weight[1]={key:1 value:0.5}'
train cw1 1 -- "${csv[@]}" --set data.csv.path=plain.csv --set 'class_weight[0]={key:0 value:2}' \
  --set 'class_weight[1]={key:1 value:0.5}'
compare cw1.json cw2.json 1e-5 && pass || fail "class_weight at np = 2 differs from np = 1"
expect_error 2 "class_weight\[5\]: no such class" -- "$TRAINER" train "$config" --set run_dir=bad \
  --set 'class_weight[0]={key:5 value:1}'

# 4. Label smoothing: in the loss of training and validation alike.
"$TRAINER" train "$config" --set run_dir=smooth --set label_smoothing=0.1
want=$(json_field smooth/history.jsonl 3 val_loss)
got=$("$TRAINER" evaluate "$config" --set label_smoothing=0.1 --model smooth/final | grep -Eo 'loss: [0-9.]+' | awk '{print $2}')
[[ $(printf '%.4f' "$want") == "$got" ]] && pass || fail "val_loss $want vs evaluate $got"
expect_error 2 "label_smoothing: applies to the cross-entropies" -- "$TRAINER" train "$config" \
  --set run_dir=bad --set loss=mse --set label_smoothing=0.1
finish
