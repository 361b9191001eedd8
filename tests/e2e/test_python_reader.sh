#!/usr/bin/env bash
# The Python reader (launch/read_checkpoint.py, package launch/python/lockstep)
# on checkpoints the trainer wrote: its protobuf modules generated on first
# use (no protoc step, an empty cache), every value equal to what the C++
# reader gives (`trainer inspect --json`) for the committed version 1
# checkpoint, a trained one and one whose tensors span two records; and
# damage (a flipped byte anywhere, a record whose own checksum fails, a cut
# file) is one `error: FILE: ...` line with exit status 2, never a traceback.
source "$(dirname "$0")/lib.sh"
reader="$SOURCE_DIR/launch/read_checkpoint.py"
export LOCKSTEP_PB_CACHE="$WORK/pb_cache" PYTHONPATH=

# compare CHECKPOINT: the Python values are the C++ reader's, bit for bit.
compare() {
  "$TRAINER" inspect "$1" --json >inspect.json
  "$PYTHON" - "$SOURCE_DIR/launch/python" "$1" inspect.json <<'PY'
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import lockstep
header, tensors = lockstep.load_checkpoint(sys.argv[2])
dump = json.load(open(sys.argv[3]))
want = {t["name"]: (t["shape"], np.array(t["values"], dtype=np.float32)) for t in dump["tensors"]}
assert list(tensors) == list(want), (list(tensors), list(want))
for name, values in tensors.items():
    shape, expected = want[name]
    assert values.dtype == np.float32 and list(values.shape) == shape, (name, values.shape, shape)
    assert np.array_equal(values.ravel(), expected), name
assert header.record_count == int(dump["header"].get("record_count", 0))  # int64: a string in JSON
PY
}

# 1. The committed checkpoint of lockstep 0.3.0 (d1d76a1), modules generated on first use.
fixture="$SOURCE_DIR/tests/unit/fixtures/checkpoint_v1.pb"
"$PYTHON" "$reader" "$fixture" >py.txt 2>err.txt && pass || fail "reader on the v1 fixture: $(cat err.txt)"
grep -q "^sgd/momentum/dense_1/kernel (6, 16)$" py.txt && pass || fail "v1 fixture listing: $(cat py.txt)"
[[ -s err.txt ]] && fail "the reader wrote to stderr: $(cat err.txt)" || pass
ls "$LOCKSTEP_PB_CACHE"/python_pb-*/checkpoint_pb2.py >/dev/null && pass || fail "no generated modules in the cache"
compare "$fixture" && pass || fail "v1 fixture: values differ from trainer inspect"

# 2. A trained checkpoint, with optimizer slots and callbacks' state.
"$TRAINER" train "$SOURCE_DIR/launch/configs/seed_mlp.pbtxt" --set verbose=0 --set run_dir=seed --set epochs=2 >/dev/null
compare seed/final/model.pb && pass || fail "seed_mlp: values differ from trainer inspect"

# 3. Tensors of more than 4 Mi floats (16 MiB) span two records: the kernel
# and its momentum slot each come in two, reassembled by their offsets.
cat >big.pbtxt <<'EOF'
model {
  input_shape: 1024
  layers { dense { units: 4097 } }
  layers { dense { units: 2 activation: "softmax" } }
}
data { synthetic { samples: 64 features: 1024 classes: 2 } }
optimizer { sgd { learning_rate: 0.01 momentum: 0.9 } }
epochs: 1
batch_size: 32
run_dir: "big"
verbose: 0
threads: 1
EOF
"$TRAINER" train big.pbtxt >/dev/null
big=big/final/model.pb
"$PYTHON" - "$SOURCE_DIR/launch/python" "$big" <<'PY' && pass || fail "big checkpoint: not split into records as expected"
import sys
sys.path.insert(0, sys.argv[1])
import lockstep
header, tensors = lockstep.load_checkpoint(sys.argv[2])
assert header.record_count == len(tensors) + 2, (header.record_count, len(tensors))
assert tensors["dense_1/kernel"].shape == (1024, 4097)
PY
compare "$big" && pass || fail "big checkpoint: values differ from trainer inspect"

# 4. Damage: one line, exit status 2, the file named.
# expect_reader_error PATTERN FILE
expect_reader_error() {
  local status=0
  "$PYTHON" "$reader" "$2" >out.txt 2>err.txt || status=$?
  if [[ $status -ne 2 ]]; then
    fail "$2: exit $status, wanted 2: $(cat err.txt)"
  elif [[ $(wc -l <err.txt) -ne 1 ]] || ! grep -Eq "^error: $2: .*$1" err.txt; then
    fail "$2: wanted one line 'error: $2: ...$1': $(cat err.txt)"
  else
    pass
  fi
}
size=$(stat -c %s "$big")
for at in 20 200 $((size / 2)) $((size - 40)); do  # header, first record, data, the last record
  cp "$big" flipped.pb
  printf '\xA5' | dd of=flipped.pb bs=1 seek="$at" conv=notrunc status=none
  cmp -s "$big" flipped.pb && { cp "$big" flipped.pb; printf '\x5A' | dd of=flipped.pb bs=1 seek="$at" conv=notrunc status=none; }
  expect_reader_error "file checksum mismatch: damaged" flipped.pb
done
head -c $((size - 3)) "$big" >cut.pb
expect_reader_error "no footer as lockstep writes it" cut.pb
expect_reader_error "not a lockstep checkpoint" big.pbtxt
expect_reader_error "is a directory" big
expect_reader_error "cannot open checkpoint: No such file" missing.pb

# A record whose data fails its own CRC-32 while the file's CRC-32 was made
# to match: the per-record check names it.
"$PYTHON" - "$fixture" recrc.pb <<'PY'
import sys, zlib
data = bytearray(open(sys.argv[1], "rb").read())
at = data.index(b"dense_1/kernel") + 100  # inside that record's data (384 bytes)
data[at] ^= 0x10
footer = len(data) - 8  # length 7, then tag, CRC-32, tag, record count 14
assert data[footer] == 7 and data[footer + 1] == 0x0D
data[footer + 2:footer + 6] = zlib.crc32(bytes(data[:footer])).to_bytes(4, "little")
open(sys.argv[2], "wb").write(bytes(data))
PY
expect_reader_error "tensor record [0-9]+ \('[a-z_/0-9]*'\) fails its checksum: damaged" recrc.pb
"$TRAINER" inspect recrc.pb >/dev/null 2>err.txt && fail "the C++ reader took recrc.pb" || pass

# 5. No protoc and no cached modules: a runtime error (exit 1), one line.
status=0
LOCKSTEP_PB_CACHE="$WORK/empty_cache" PATH=/nonexistent "$PYTHON" "$reader" "$fixture" >out.txt 2>err.txt || status=$?
[[ $status -eq 1 && $(wc -l <err.txt) -eq 1 ]] && grep -q "^error: protoc: cannot run it" err.txt && pass ||
  fail "without protoc: exit $status, $(cat err.txt)"
finish
