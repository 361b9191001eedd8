#!/usr/bin/env bash
# Checkpoints survive crashes: an injected death between write and rename and
# repeated kill -9 during saving leave every checkpoint on disk valid, and
# --resume auto continues. A checkpoint is readable from Python with only the
# .proto files; an inference-only export evaluates like the original.
source "$(dirname "$0")/lib.sh"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
wide="$SOURCE_DIR/tests/e2e/configs/mlp_wide.pbtxt"

# 1. Death between the complete write and the rename.
"$TRAINER" train "$config" --set verbose=0 --set run_dir=crash --set epochs=2 >/dev/null
status=0
LOCKSTEP_TEST_CRASH_BEFORE_RENAME=1 "$TRAINER" train "$config" --set verbose=0 --set run_dir=crash --set epochs=3 \
  --resume auto >/dev/null 2>&1 || status=$?
[[ $status -eq 70 ]] && pass || fail "injected crash: exit $status, wanted 70"
ls crash/checkpoints/*.tmp.* >/dev/null 2>&1 && pass || fail "the crashed save left no temporary file (was it injected?)"
[[ ! -e crash/checkpoints/ckpt-00000150.pb ]] && pass || fail "a checkpoint appeared without its rename"
"$TRAINER" inspect crash/checkpoints/ckpt-00000100.pb >/dev/null && pass || fail "previous checkpoint damaged"
"$TRAINER" train "$config" --set verbose=0 --set run_dir=crash --set epochs=3 --resume auto >out.txt
grep -q "resumed from crash/checkpoints/ckpt-00000100.pb" out.txt && pass || fail "resume after crash: $(cat out.txt)"
ls crash/checkpoints/*.tmp.* >/dev/null 2>&1 && fail "stale temporary file not removed" || pass

# 2. kill -9 at random moments while it saves every step.
for i in $(seq 8); do
  "$TRAINER" train "$wide" --resume auto >/dev/null 2>&1 &
  pid=$!
  sleep "0.$((RANDOM % 7 + 3))"
  kill -9 $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  for f in wide/checkpoints/ckpt-*.pb; do
    [[ -e $f ]] || continue
    "$TRAINER" inspect "$f" >/dev/null 2>err.txt && pass || fail "after kill -9 #$i: $f damaged: $(cat err.txt)"
  done
done
ls wide/checkpoints/ckpt-*.pb >/dev/null 2>&1 && pass || fail "no checkpoint was ever completed"
"$TRAINER" train "$wide" --resume auto --set max_steps=1 >out.txt 2>&1 || true
grep -q "resumed from wide/checkpoints/ckpt-" out.txt && pass || fail "resume after kill -9 loop: $(cat out.txt)"

# 3. Python reads a checkpoint with nothing but the .proto files (its
# protobuf modules generated on first use; tests/e2e/test_python_reader.sh has more).
export LOCKSTEP_PB_CACHE="$WORK/pb_cache"
ckpt=crash/final/model.pb
"$PYTHON" "$SOURCE_DIR/launch/read_checkpoint.py" "$ckpt" >py.txt && pass || fail "python reader failed"
grep -q "dense_1/kernel (14, 64)" py.txt && pass || fail "python reader: $(cat py.txt)"
"$TRAINER" inspect "$ckpt" --json >ckpt.json
PYTHONPATH="$SOURCE_DIR/launch" "$PYTHON" - "$ckpt" ckpt.json <<'PY' && pass || fail "python values differ from trainer inspect"
import json, sys
import numpy as np
import read_checkpoint
header, tensors = read_checkpoint.load(sys.argv[1])
dump = {t["name"]: t["values"] for t in json.load(open(sys.argv[2]))["tensors"]}
assert set(dump) == set(tensors), set(dump) ^ set(tensors)
for name, values in tensors.items():
    assert np.allclose(values.ravel(), np.array(dump[name], dtype=np.float32), rtol=1e-7, atol=0), name
assert header.model.layers[0].dense.units == 64
PY

# 4. Inference-only export: no optimizer state, same evaluation.
"$TRAINER" export "$ckpt" exported.pb >/dev/null
[[ $("$TRAINER" inspect exported.pb --json) == *'"OPTIMIZER_SLOT"'* ]] && fail "export kept optimizer slots" || pass
a=$("$TRAINER" evaluate "$config" --checkpoint "$ckpt" | tail -1)
b=$("$TRAINER" evaluate "$config" --checkpoint exported.pb | tail -1)
[[ "$a" == "$b" ]] && pass || fail "export evaluates differently: $a vs $b"
finish
