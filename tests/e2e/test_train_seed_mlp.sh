#!/usr/bin/env bash
# What a user does first: summary, train the article's model, evaluate,
# predict, inspect the checkpoint.
source "$(dirname "$0")/lib.sh"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"

"$TRAINER" summary "$config" >summary.txt
grep -q "Total params: 5,770" summary.txt && pass || fail "summary total"
grep -q "Trainable params: 5,510" summary.txt && pass || fail "summary trainable"
grep -q "Non-trainable params: 260" summary.txt && pass || fail "summary non-trainable"

"$TRAINER" train "$config" --set epochs=8 --set run_dir=run >train.txt
[[ $(wc -l <run/history.jsonl) -eq 8 ]] && pass || fail "history has $(wc -l <run/history.jsonl) lines, wanted 8"
for field in epoch loss accuracy val_loss val_accuracy seconds samples_per_second; do
  grep -q "\"$field\":" run/history.jsonl && pass || fail "history lacks $field"
done
val=$(json_field run/history.jsonl 8 val_accuracy)
awk -v v="$val" 'BEGIN { exit !(v > 0.85) }' && pass || fail "val_accuracy $val not far above chance (0.5)"
grep -q "Epoch 8/8" train.txt && pass || fail "no per-epoch progress line"
[[ -s run/final/model.pb ]] && pass || fail "no final model"
ls run/checkpoints/ckpt-*.pb >/dev/null && pass || fail "no checkpoints"

"$TRAINER" evaluate "$config" --model run/final >eval.txt
acc=$(grep -Eo '"accuracy": [0-9.eE+-]+' eval.txt | awk '{print $2}')
awk -v a="$acc" -v v="$val" 'BEGIN { d = a - v; if (d < 0) d = -d; exit !(d < 1e-6) }' \
  && pass || fail "evaluate accuracy $acc differs from the last val_accuracy $val"

"$TRAINER" predict "$config" --model run/final --output pred.csv >/dev/null
[[ $(head -1 pred.csv) == "index,predicted,p0,p1" ]] && pass || fail "predict header: $(head -1 pred.csv)"
[[ $(wc -l <pred.csv) -eq 801 ]] && pass || fail "predict rows: $(wc -l <pred.csv), wanted 800 + header"
awk -F, 'NR > 1 { s = $3 + $4; if (s < 0.999 || s > 1.001) bad = 1 } END { exit bad }' pred.csv \
  && pass || fail "predicted probabilities do not sum to 1"

"$TRAINER" inspect run/final/model.pb >inspect.txt
grep -q "dense_1/kernel" inspect.txt && pass || fail "inspect lists no tensors"
"$TRAINER" inspect run/final/model.pb --json >inspect.json
"${PYTHON:-python3}" -c "import json,sys; d=json.load(open('inspect.json')); assert len(d['tensors']) > 0" \
  && pass || fail "inspect --json is not JSON"

# A JSON config trains too (field names as in the .proto files).
cat >cfg.json <<'JSON'
{"model": {"input_shape": [14], "layers": [
   {"dense": {"units": 16, "activation": "relu"}},
   {"batch_normalization": {}},
   {"dense": {"units": 2, "activation": "softmax"}}]},
 "data": {"synthetic": {"samples": 500}},
 "validation_split": 0.2, "epochs": 3, "batch_size": 32, "run_dir": "run_json", "verbose": 0,
 "optimizer": {"adam": {"learning_rate": 0.01}}}
JSON
"$TRAINER" train cfg.json >/dev/null && [[ $(wc -l <run_json/history.jsonl) -eq 3 ]] && pass || fail "JSON config"
finish
