#!/usr/bin/env bash
# A disk that fills up during a run: training into a small tmpfs ends with
# exit 1 and an error naming the file it could not write and "No space left
# on device"; no temporary file is left, and the newest checkpoint on the
# full disk is intact: it verifies, evaluates, and a copy resumes. At np = 1
# and 2. Needs root (mount); skipped (exit 77) where a tmpfs cannot be mounted.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
mnt="$WORK/small"
mkdir "$mnt"
if ! mount -t tmpfs -o size=256k lockstep_test "$mnt" 2>mount.txt; then
  echo "SKIPPED: cannot mount a tmpfs: $(cat mount.txt)"
  exit 77
fi
trap 'cd /; umount "$mnt" 2>/dev/null || true; rm -rf "$WORK"' EXIT
# ~48 kB per checkpoint (SGD with momentum), every one kept: the disk is
# full after about four.
common=(--set verbose=0 --set threads=1 --set epochs=20 --set checkpoint.keep=0)

for np in 1 2; do
  rm -rf "${mnt:?}"/*
  run="$mnt/run$np"
  expect_error 1 "$run/[^:]*: cannot [a-z ]+: No space left on device$" -- \
    "$MPIEXEC" -n $np --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir="$run"
  ckpts=("$run"/checkpoints/ckpt-*.pb)
  newest=${ckpts[-1]}
  [[ ${#ckpts[@]} -ge 2 && -e $newest ]] && pass || fail "np=$np: expected checkpoints before the disk filled: ${ckpts[*]}"
  ls "$run"/checkpoints/*.tmp.* >/dev/null 2>&1 && fail "np=$np: a temporary file was left" || pass
  "$TRAINER" inspect "$newest" >/dev/null && pass || fail "np=$np: $newest does not verify"
  "$TRAINER" evaluate "$config" --checkpoint "$newest" >/dev/null && pass || fail "np=$np: $newest does not evaluate"
  cp -r "$run" "copy$np"
  "$TRAINER" train "$config" "${common[@]}" --set epochs=6 --set run_dir="copy$np" --resume auto >resume.txt &&
    grep -q "^resumed from copy$np/checkpoints/$(basename "$newest") " resume.txt && pass ||
    fail "np=$np: resuming a copy: $(cat resume.txt)"
done
finish
