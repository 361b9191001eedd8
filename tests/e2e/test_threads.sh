#!/usr/bin/env bash
# Threads per rank beyond the rank's share of the node's cores. With the
# OpenMP pool (the default build), whose idle threads spin while they wait,
# that only slows every rank down (2 ranks x 2 threads on 2 cores: 30x), so
# trainer runs the share, says so once, and OMP_WAIT_POLICY=PASSIVE keeps the
# count asked for. Within the share nothing is said. The pthread fallback
# build (-DLOCKSTEP_OPENMP=OFF) keeps the count asked for.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
unset OMP_WAIT_POLICY
cores=$(getconf _NPROCESSORS_ONLN)
too_many=$((cores + 1))
sets=(--set epochs=1 --set verbose=0)
train() { "$TRAINER" train "$config" "${sets[@]}" --set run_dir="run$RANDOM" "$@" 2>"$WORK/err.txt"; }
train_np2() {
  "$MPIEXEC" -n 2 --bind-to none "$TRAINER" train "$config" "${sets[@]}" --set run_dir="run$RANDOM" "$@" 2>"$WORK/err.txt"
}
warned() { grep -c '^warning: threads: ' "$WORK/err.txt" || true; }

# Not `ldd | grep -q`: under pipefail grep's early exit can fail the pipeline.
if [[ $(ldd "$TRAINER") == *openblas-openmp/libopenblas* ]]; then
  train --set threads=$too_many && pass || fail "train with threads=$too_many: $(cat "$WORK/err.txt")"
  [[ $(warned) -eq 1 ]] && pass || fail "one process, $too_many threads on $cores cores: $(cat "$WORK/err.txt")"
  grep -q "running $cores, .*OMP_WAIT_POLICY=PASSIVE to keep $too_many" "$WORK/err.txt" && pass ||
    fail "warning does not say what runs and how to keep it: $(cat "$WORK/err.txt")"

  # Two ranks, each asking for all the cores: one warning (rank 0), not two.
  train_np2 --set threads=$cores && pass || fail "mpirun train: $(cat "$WORK/err.txt")"
  if ((cores >= 2)); then
    [[ $(warned) -eq 1 ]] && pass || fail "2 ranks x $cores threads on $cores cores: $(cat "$WORK/err.txt")"
  fi

  OMP_WAIT_POLICY=passive train --set threads=$too_many && pass || fail "passive: $(cat "$WORK/err.txt")"
  [[ $(warned) -eq 0 ]] && pass || fail "OMP_WAIT_POLICY=passive still capped: $(cat "$WORK/err.txt")"
else
  train --set threads=$too_many && pass || fail "pthread build, threads=$too_many: $(cat "$WORK/err.txt")"
  [[ $(warned) -eq 0 ]] && pass || fail "pthread build capped threads: $(cat "$WORK/err.txt")"
fi

# Within the share (the default, and 1 explicitly): silent.
train && pass || fail "default threads: $(cat "$WORK/err.txt")"
[[ $(warned) -eq 0 ]] && pass || fail "default threads warned: $(cat "$WORK/err.txt")"
train_np2 --set threads=1 && pass || fail "mpirun threads=1: $(cat "$WORK/err.txt")"
[[ $(warned) -eq 0 ]] && pass || fail "threads=1 under mpirun warned: $(cat "$WORK/err.txt")"
finish
