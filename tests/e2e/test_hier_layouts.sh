#!/usr/bin/env bash
# The hierarchical all-reduce with pretend nodes on one machine
# (LOCKSTEP_NODE_ID, test-only): np = 4 as 1 node x 4 ranks (the one-node
# path), 2 x 2, 4 x 1 and 3 + 1 trains seed_mlp (dropout, synchronized
# BatchNormalization, Adam) to the same bits; the sharded optimizer step's
# checkpoint over 2 x 2 resumes bit for bit; LOCKSTEP_HIERARCHICAL=0 (flat
# MPI_Iallreduce) equals it within rounding (with the config's SGD: Adam
# turns the rounding noise of a bias before BatchNormalization into full
# steps, see test_resume.sh). Real network hops:
# tests/multihost/test_netns_hosts.sh.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
# 50 steps per epoch, 3 epochs; Adam keeps the most optimizer state.
common=(--set epochs=3 --set verbose=0 --set threads=1 --set distributed.sync_batch_norm=true)
adam=(--set optimizer.adam.learning_rate=0.01)

train() {  # BLOCK RUN_DIR EXTRA...: np = 4, ranks in pretend nodes of BLOCK (0: no pretending)
  local block=$1 dir=$2
  shift 2
  # shellcheck disable=SC2016  # expanded by each rank's shell
  "$MPIEXEC" -n 4 --oversubscribe sh -c \
    'if [ "$0" -gt 0 ]; then LOCKSTEP_NODE_ID=$((OMPI_COMM_WORLD_RANK / $0)); export LOCKSTEP_NODE_ID; fi; exec "$@"' \
    "$block" "$TRAINER" train "$config" "${common[@]}" --set run_dir="$dir" "$@"
}
dump() { "$TRAINER" inspect "$1" --json >"$2"; }

train 0 one "${adam[@]}"
dump one/checkpoints/ckpt-00000150.pb one.json
for block in 2 1 3; do
  train "$block" nodes$block "${adam[@]}" 2>err$block.txt || fail "pretend nodes of $block: $(cat err$block.txt)"
  ! grep -q "warning" err$block.txt && pass || fail "pretend nodes of $block warned: $(cat err$block.txt)"
  dump nodes$block/checkpoints/ckpt-00000150.pb nodes$block.json
  # Parameters, moving statistics and Adam's slots (gathered from the shards).
  "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" one.json nodes$block.json 0 \
    && pass || fail "pretend nodes of $block ranks: not the bits of one node x 4"
done

# Stop at step 75 and resume, over 2 x 2.
train 2 split "${adam[@]}" --set max_steps=75
train 2 split "${adam[@]}" --resume auto >resume.txt
grep -q "resumed from split/checkpoints/ckpt-00000075.pb" resume.txt && pass || fail "resume: $(cat resume.txt)"
dump split/checkpoints/ckpt-00000150.pb split.json
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" nodes2.json split.json 0 \
  && pass || fail "2 x 2: stopping and resuming is not bit-exact"

train 2 hier_sgd
LOCKSTEP_HIERARCHICAL=0 train 2 flat_sgd
dump hier_sgd/final/model.pb hier_sgd.json
dump flat_sgd/final/model.pb flat_sgd.json
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" hier_sgd.json flat_sgd.json 1e-4 \
  && pass || fail "2 x 2 through MPI_Iallreduce differs from the hierarchical result"

finish
