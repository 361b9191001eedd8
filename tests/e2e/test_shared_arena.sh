#!/usr/bin/env bash
# The node-shared parameter arena of the sharded optimizer step: turning it
# off (LOCKSTEP_SHARED_ARENA=0) gives the same bits, and a shared-memory
# directory too small for it (a container's 64 MB /dev/shm) makes trainer
# warn and keep parameters in each rank's own memory instead of failing (or
# dying of SIGBUS on the first touch of a page tmpfs cannot back).
# Exit status 77 (skipped) only when this machine cannot mount a tmpfs.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
common=(--set epochs=2 --set verbose=0 --set threads=1 --set optimizer.adam.learning_rate=0.01)
dump() { "$TRAINER" inspect "$1" --json >"$2"; }

"$MPIEXEC" -n 2 "$TRAINER" train "$config" "${common[@]}" --set run_dir=arena 2>arena.err
LOCKSTEP_SHARED_ARENA=0 "$MPIEXEC" -n 2 -x LOCKSTEP_SHARED_ARENA "$TRAINER" train "$config" "${common[@]}" \
  --set run_dir=private 2>private.err
dump arena/checkpoints/ckpt-00000100.pb a.json
dump private/checkpoints/ckpt-00000100.pb b.json
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" a.json b.json 0 && pass || fail "shared arena changes the numbers"
! grep -q warning arena.err private.err && pass || fail "unexpected warning: $(cat arena.err private.err)"

tiny="$WORK/tinyshm"
mkdir -p "$tiny"
if ! mount -t tmpfs -o size=32m tmpfs "$tiny" 2>/dev/null; then
  finish >/dev/null || exit 1
  echo "SKIPPED: cannot mount a tmpfs here (needs root); the other checks passed"
  exit 77
fi
trap 'umount "$tiny" 2>/dev/null; rm -rf "$WORK"' EXIT
OMPI_MCA_osc_sm_backing_directory="$tiny" "$MPIEXEC" -n 2 -x OMPI_MCA_osc_sm_backing_directory "$TRAINER" train \
  "$config" "${common[@]}" --set run_dir=small 2>small.err && pass || fail "training with a small /dev/shm: $(cat small.err)"
grep -q "^warning: .*$tiny has [0-9]* MB free, the shared parameter arena needs" small.err && pass ||
  fail "no warning: $(cat small.err)"
[[ $(grep -c warning small.err) -eq 1 ]] && pass || fail "warned more than once: $(cat small.err)"
dump small/checkpoints/ckpt-00000100.pb c.json
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" a.json c.json 0 && pass || fail "fallback changes the numbers"
finish
