#!/usr/bin/env bash
# Damaged checkpoints are found on every read and --resume auto falls back
# past them: a single-bit flip at any of a sample of offsets (the magic, the
# header, tensor records and each of the last 16 bytes, where the last
# record ends and the footer is) makes `trainer inspect` fail with exit 2
# naming the file, and `train --resume auto` skip to the previous checkpoint
# (evaluate and export refuse it too). A checkpoint of the same tensor names
# in another layer order, or of another optimizer, is refused for resume
# with the differences listed. (Every bit of a checkpoint, in-process:
# tests/unit/test_checkpoint_integrity.cpp.)
source "$(dirname "$0")/lib.sh"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
common=(--set verbose=0 --set threads=1 --set epochs=2)
"$TRAINER" train "$config" "${common[@]}" --set run_dir=base >/dev/null
newest=checkpoints/ckpt-00000100.pb previous=checkpoints/ckpt-00000050.pb
[[ -e base/$newest && -e base/$previous ]] && pass || fail "no checkpoints at steps 50 and 100: $(ls base/checkpoints)"
size=$(stat -c %s base/$newest)

flip() {  # flip FILE OFFSET BIT
  "$PYTHON" - "$@" <<'PY'
import sys
path, at, bit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = bytearray(open(path, "rb").read())
data[at] ^= 1 << bit
open(path, "wb").write(data)
PY
}

positions="0 7 8 9 40 $((size / 3)) $((size / 2)) $((size * 2 / 3)) $((size - 300)) $((size - 60))"
for k in $(seq 16 -1 1); do positions+=" $((size - k))"; done
for at in $positions; do
  bit=$((at % 8))
  rm -rf run && cp -r base run
  flip run/$newest "$at" $bit
  expect_error 2 "run/$newest: " -- "$TRAINER" inspect run/$newest
  # max_steps=50: resumed at step 50, the run has nothing left to do.
  status=0
  "$TRAINER" train "$config" "${common[@]}" --set run_dir=run --set max_steps=50 --resume auto >out.txt 2>err.txt ||
    status=$?
  if [[ $status -ne 0 ]]; then
    fail "flip at $at.$bit: resume exit $status: $(cat err.txt)"
  elif ! grep -q "^warning: skipping damaged checkpoint run/$newest: " err.txt; then
    fail "flip at $at.$bit: not reported as damaged: $(cat err.txt)"
  elif ! grep -q "^resumed from run/$previous " out.txt; then
    fail "flip at $at.$bit: did not fall back to $previous: $(cat out.txt)"
  else
    pass
  fi
done
echo "flipped $(wc -w <<<"$positions") positions of a $size-byte checkpoint"

# evaluate and export read checkpoints the same way: the last byte (the
# footer's record count, never checked before) and the footer's length.
rm -rf run && cp -r base run
flip run/$newest $((size - 1)) 0
expect_error 2 "run/$newest: the footer counts 31 tensor records, the header 30: damaged" -- \
  "$TRAINER" evaluate "$config" "${common[@]}" --checkpoint run/$newest
expect_error 2 "run/$newest: the footer counts 31 tensor records, the header 30: damaged" -- \
  "$TRAINER" export run/$newest exported.pb
rm -rf run && cp -r base run
flip run/$newest $((size - 8)) 2
expect_error 2 "run/$newest: .*damaged" -- "$TRAINER" evaluate "$config" "${common[@]}" --checkpoint run/$newest
[[ ! -e exported.pb ]] && pass || fail "export wrote a file from a damaged checkpoint"

# Same tensor names, another layer order: BatchNormalization after the
# activation. Resuming it with the article's order is refused.
"$TRAINER" train "$SOURCE_DIR/launch/configs/seed_mlp_bn_after.pbtxt" "${common[@]}" --set epochs=1 \
  --set run_dir=order >/dev/null
expect_error 2 "order/$previous: cannot resume: the checkpoint was written by another model or optimizer: \
model.layers\[1\]: activation in the checkpoint, batch_normalization in the config; \
model.layers\[2\]: batch_normalization in the checkpoint, activation in the config; " -- \
  "$TRAINER" train "$config" "${common[@]}" --set run_dir=order --resume auto
expect_error 2 "base/$newest: cannot resume: .*optimizer.sgd.learning_rate 0.1 in the checkpoint, 0.05 in the config$" -- \
  "$TRAINER" train "$config" "${common[@]}" --set run_dir=base --set epochs=3 --set optimizer.sgd.learning_rate=0.05 \
  --resume auto
expect_error 2 "base/$newest: cannot resume: .*optimizer sgd in the checkpoint, adam in the config$" -- \
  "$TRAINER" train "$config" "${common[@]}" --set run_dir=base --set epochs=3 --set 'optimizer={adam{}}' --resume auto
finish
