#!/usr/bin/env bash
# Hostile and careless input (issue 17, items 2 and 3): sizes refused before
# anything is allocated, integers that would wrap, protobuf's own messages
# folded into one error line, and files that are not regular files. Each
# case asserts the exit status and the place and cause in the message.
source "$(dirname "$0")/lib.sh"
seed="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"

# expect_one_line STATUS REGEX -- cmd: expect_error, and stderr is exactly
# that one line: no "[libprotobuf ERROR", no caret line, nothing else.
expect_one_line() {
  expect_error "$@"
  local lines
  lines=$(wc -l <"$WORK/err.txt")
  if [[ $lines -ne 1 ]] || grep -q 'libprotobuf' "$WORK/err.txt"; then
    fail "${*:4} -> stderr is not one line: $(cat "$WORK/err.txt")"
  else
    pass
  fi
}

# A command that might hang (a FIFO with no writer) gets this long before it
# counts as hung; 124 is timeout's status, never the one wanted.
guard() { timeout -s KILL 60 "$@"; }

model_config() {  # FILE INPUT_SHAPE UNITS [BATCH]
  cat >"$1" <<CFG
model {
  input_shape: $2
  layers { dense { units: $3 } }
  layers { dense { units: 2 activation: "softmax" } }
}
data { synthetic { samples: 64 features: 14 } }
batch_size: ${4:-32}
epochs: 1
run_dir: "run"
verbose: 0
CFG
}

# ---- sizes: refused from the spec, before anything is allocated ----
# (bytes needed, what is available and where that number comes from, and
# the biggest part; the blame goes to the layer, or to batch_size when the
# model alone would fit)
model_config units.pbtxt 14 2147483647
expect_one_line 2 "units.pbtxt:3: model.layers\[0\]: the run needs [0-9.]+ TiB \([0-9,]+ bytes\) per rank for batch_size 32 \(32 rows per rank\), but .* are available \(.*\); the biggest part is dense_1 \(Dense\), .*parameters 120.0 GiB, gradients 120.0 GiB" -- \
  "$TRAINER" train units.pbtxt
model_config square.pbtxt 1000000 1000000
expect_one_line 2 "square.pbtxt:3: model.layers\[0\]: the run needs [0-9.]+ TiB .*the biggest part is dense_1 \(Dense\), [0-9.]+ TiB: parameters 3.6 TiB" -- \
  "$TRAINER" train square.pbtxt
# 48 GiB and more: refused on any machine given 16 GiB (set here so the
# test does not depend on the machine's memory).
model_config wide.pbtxt 65536 65536
expect_one_line 2 "wide.pbtxt:3: model.layers\[0\]: the run needs .* but 16.0 GiB \(17,179,869,184 bytes\) are available \(LOCKSTEP_MEMORY_AVAILABLE\); the biggest part is dense_1 \(Dense\)" -- \
  env LOCKSTEP_MEMORY_AVAILABLE=16G "$TRAINER" train wide.pbtxt
model_config batch.pbtxt 14 64 2147483647
expect_one_line 2 "batch.pbtxt:7: batch_size: the run needs [0-9.]+ TiB .* per rank for batch_size 2147483647 \(2147483647 rows per rank\)" -- \
  "$TRAINER" train batch.pbtxt
expect_one_line 2 "--set batch_size: the run needs .* for batch_size 2147483647" -- \
  "$TRAINER" train "$seed" --set batch_size=2147483647
expect_one_line 2 "LOCKSTEP_MEMORY_AVAILABLE: 'lots' is not a number of bytes" -- \
  env LOCKSTEP_MEMORY_AVAILABLE=lots "$TRAINER" train "$seed"
# Data sized by the config: refused before it is generated.
expect_one_line 2 "--set data.synthetic.samples: 50000000000 samples of 14 features needs [0-9.]+ TiB .* are available" -- \
  "$TRAINER" train "$seed" --set data.synthetic.samples=50000000000
# An IDX file whose floats would not fit (a sparse 1 GB file: 4 GB as floats).
printf '\x00\x00\x08\x03\x00\x00\x03\xe8\x00\x00\x03\xe8\x00\x00\x03\xe8' >big.idx
truncate -s $((16 + 1000 * 1000 * 1000)) big.idx
{ printf '\x00\x00\x08\x01\x00\x00\x03\xe8'; head -c 1000 /dev/zero; } >big_labels.idx
cat >big_idx.pbtxt <<CFG
model { input_shape: [1000, 1000, 1] layers { flatten {} } layers { dense { units: 10 activation: "softmax" } } }
data { idx { images: "big.idx" labels: "big_labels.idx" } }
batch_size: 4
run_dir: "run"
CFG
expect_one_line 2 "big.idx: converting 1000 samples to floats needs 3.7 GiB \(4,000,000,000 bytes\) but 1.0 GiB .* are available \(LOCKSTEP_MEMORY_AVAILABLE\)" -- \
  env LOCKSTEP_MEMORY_AVAILABLE=1G "$TRAINER" train big_idx.pbtxt
# Under MPI the ranks of a node share its memory; the job ends with exit 2
# and rank 0's message.
if [[ -n "${MPIEXEC:-}" ]]; then
  status=0
  timeout -s KILL 120 "$MPIEXEC" -n 2 --oversubscribe "$TRAINER" train units.pbtxt >out.txt 2>err.txt || status=$?
  if [[ $status -ne 2 ]] || ! grep -Eq "^error: rank [01]: units.pbtxt:3: model.layers\[0\]: the run needs .* per rank \([0-9.]+ TiB for the 2 ranks on this node\)" err.txt; then
    fail "mpiexec -n 2 train units.pbtxt -> exit $status: $(head -c 2000 err.txt)"
  else
    pass
  fi
fi
# evaluate plans its 256-row chunks for the checkpoint's model the same way.
"$TRAINER" train "$seed" --set epochs=1 --set run_dir=fit --set verbose=0 >/dev/null
expect_one_line 2 "seed_mlp.pbtxt:[0-9]+: model.layers\[[0-9]+\]: the run needs .* for 256-row batches \(256 rows per rank\), but 1.0 KiB" -- \
  env LOCKSTEP_MEMORY_AVAILABLE=1K "$TRAINER" evaluate "$seed" --model fit/final

# summary prints the bytes instead of failing, and says the run would not fit
for cfg in units.pbtxt square.pbtxt batch.pbtxt; do
  status=0
  "$TRAINER" summary "$cfg" >out.txt 2>err.txt || status=$?
  if [[ $status -ne 0 ]] || [[ -s err.txt ]]; then
    fail "summary $cfg -> exit $status: $(cat err.txt)"
  elif ! grep -Eq "^  total: +[0-9.]+ TiB \([0-9,]+ bytes\)$" out.txt ||
       ! grep -Eq "^  available: .*: does not fit, \`trainer train\` would refuse this run$" out.txt ||
       ! grep -Eq "^  biggest part: +(dense_1 \(Dense\)|the backward pass's gradient buffers), [0-9.]+ [GT]iB: " out.txt; then
    fail "summary $cfg lacks the memory lines: $(cat out.txt)"
  else
    pass
  fi
done
"$TRAINER" summary "$seed" >out.txt
if grep -Eq "^Memory per rank for batch_size 64 \(64 rows per rank\), float32:$" out.txt &&
   grep -Eq "^  parameters: +22.5 KiB \(23,080 bytes\)$" out.txt &&
   grep -Eq "^  optimizer state: .*\(1 slot per trainable parameter\)$" out.txt &&
   grep -Eq "^  available: .*: fits$" out.txt; then
  pass
else
  fail "summary of seed_mlp: $(cat out.txt)"
fi

# ---- integers range-checked, indices numbers ----
expect_one_line 2 "--set batch_size=4294967328: 4294967328 is out of range for batch_size \(int32: -2147483648 to 2147483647\)" -- \
  "$TRAINER" train "$seed" --set batch_size=4294967328
expect_one_line 2 "--set epochs=4294967297: 4294967297 is out of range for epochs \(int32" -- \
  "$TRAINER" train "$seed" --set epochs=4294967297
expect_one_line 2 "--set seed=-1: -1 is out of range for seed \(uint64: 0 to 18446744073709551615\)" -- \
  "$TRAINER" train "$seed" --set seed=-1
expect_one_line 2 "--set model.layers\[x\].dense.units=3: index 'x' in 'model.layers\[x\].dense.units' is not a number" -- \
  "$TRAINER" train "$seed" --set 'model.layers[x].dense.units=3'
expect_one_line 2 "--set model.layers\[-1\].dense.units=3: index '-1' .* is not a number" -- \
  "$TRAINER" summary "$seed" --set 'model.layers[-1].dense.units=3'

# ---- protobuf's messages in lockstep's one line ----
expect_one_line 2 "--set optimizer=\{adam\{lr:1\}\}: '\{adam\{lr:1\}\}' is not a valid OptimizerSpec in text format: column 9: .*no field named \"lr\".*known: learning_rate" -- \
  "$TRAINER" train "$seed" --set 'optimizer={adam{lr:1}}'
expect_one_line 2 "--set lr_schedule=\{cosine\{decay_steps:x\}\}: .*not a valid ScheduleSpec in text format: column 21: " -- \
  "$TRAINER" train "$seed" --set 'lr_schedule={cosine{decay_steps:x}}'
printf '{"model": {"input_shape": [3],, }}' >comma.json
expect_one_line 2 "comma.json:1:31: invalid JSON config: Expected an object key or \}\.$" -- "$TRAINER" train comma.json
printf '{"model": {"input_shape": [3]}\n "epochs": 2}' >pair.json
expect_one_line 2 "pair.json:2:2: invalid JSON config: Expected , or \} after key:value pair\.$" -- "$TRAINER" train pair.json
printf '{\n  "model": {"input_shape": [3], "layerz": []}}' >key.json
expect_one_line 2 "key.json:2:33: invalid JSON config: \(model\) layerz: Cannot find field\.$" -- "$TRAINER" summary key.json
printf '{"epochs": 2} trailing' >trail.json
expect_one_line 2 "trail.json:1:[0-9]+: invalid JSON config: " -- "$TRAINER" train trail.json
printf '{"epochs": "many"}' >type.json
expect_one_line 2 "type.json:1:2: invalid JSON config: \(epochs\): invalid value \"many\" for type TYPE_INT32" -- "$TRAINER" train type.json
printf 'model { input_shape: 3 \n layers { dense { units: } }\n}\n' >syntax.pbtxt
expect_one_line 2 "syntax.pbtxt:2:26: " -- "$TRAINER" train syntax.pbtxt

# ---- files that are not regular files: refused, never opened, never hang ----
mkdir -p folder.pbtxt
expect_one_line 2 "folder.pbtxt: cannot open config: is a directory, not a regular file" -- "$TRAINER" train folder.pbtxt
mkfifo fifo.pbtxt
expect_one_line 2 "fifo.pbtxt: cannot open config: is a FIFO \(named pipe\), not a regular file" -- guard "$TRAINER" train fifo.pbtxt
expect_one_line 2 "/dev/null: cannot open config: is a character device, not a regular file" -- "$TRAINER" summary /dev/null

csv_config() {  # FILE CSV_PATH
  cat >"$1" <<CFG
model { input_shape: 3 layers { dense { units: 2 activation: "softmax" } } }
data { csv { path: "$2" } }
batch_size: 4
epochs: 1
run_dir: "run"
verbose: 0
CFG
}
mkfifo fifo.csv
csv_config fifo_csv.pbtxt fifo.csv
expect_one_line 2 "fifo.csv: cannot open: is a FIFO \(named pipe\), not a regular file" -- guard "$TRAINER" train fifo_csv.pbtxt
csv_config zero.pbtxt /dev/zero
expect_one_line 2 "/dev/zero: cannot open: is a character device, not a regular file" -- guard "$TRAINER" train zero.pbtxt
mkdir -p folder.csv
csv_config folder_csv.pbtxt folder.csv
expect_one_line 2 "folder.csv: cannot open: is a directory, not a regular file" -- "$TRAINER" train folder_csv.pbtxt
mkfifo images.idx
cat >idx_fifo.pbtxt <<CFG
model { input_shape: [28, 28, 1] layers { flatten {} } layers { dense { units: 10 activation: "softmax" } } }
data { idx { images: "images.idx" labels: "labels.idx" } }
run_dir: "run"
CFG
expect_one_line 2 "images.idx: cannot open: is a FIFO \(named pipe\), not a regular file" -- guard "$TRAINER" train idx_fifo.pbtxt
# A random binary file is blamed on the file, with the position of the
# first byte no CSV holds (not on data.csv.label_column).
"$PYTHON" -c 'import random, sys; random.seed(17); sys.stdout.buffer.write(bytes(random.randrange(256) for _ in range(65536)))' >random.csv
csv_config random_csv.pbtxt random.csv
expect_one_line 2 "random.csv:[0-9]+: not a CSV text file: control byte 0x[0-9A-F]{2} at column [0-9]+$" -- \
  "$TRAINER" train random_csv.pbtxt
printf '1\n2\n' >one_column.csv
csv_config one_column_csv.pbtxt one_column.csv
expect_one_line 2 "one_column.csv:1: no feature columns besides the label in the line's 1 column \(data.csv.label_column: -1\)" -- \
  "$TRAINER" train one_column_csv.pbtxt
"$PYTHON" -c 'import sys; sys.stdout.write("1,2,3,0\n" + "7" * (65 << 20) + ",1,2,0\n")' >long.csv
csv_config long_csv.pbtxt long.csv
expect_one_line 2 "long.csv:2: line longer than 64 MiB \(68157446 bytes\): not a CSV text file" -- "$TRAINER" train long_csv.pbtxt

finish
