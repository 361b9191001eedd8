#!/usr/bin/env bash
# Stopping mid-epoch and resuming gives bit-identical parameters, optimizer
# state and history (same number of ranks); resuming on another number of
# ranks agrees to float rounding; SIGTERM under mpirun writes a checkpoint and
# exits 75; --resume auto skips a damaged newest checkpoint; the sharded
# optimizer step checkpoints and trains as the plain one does, bit for bit.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
# 50 steps per epoch; stop at step 75, i.e. in the middle of epoch 2.
common=(--set epochs=3 --set verbose=0 --set threads=1 --set distributed.sync_batch_norm=true)
# Adam has the most optimizer state to restore. (Across rank counts the test
# uses the config's SGD: Adam normalises the pure rounding noise that is the
# gradient of a Dense bias followed by BatchNormalization into full-size
# steps, so there "equal up to float rounding" does not hold for any framework.)
adam=(--set optimizer.adam.learning_rate=0.01)

dump() { "$TRAINER" inspect "$1" --json >"$2"; }
same_history() { cmp -s <(cut -d, -f1-5 "$1") <(cut -d, -f1-5 "$2"); }

for np in 1 2; do
  launch=("$MPIEXEC" -n $np --oversubscribe)
  "${launch[@]}" "$TRAINER" train "$config" "${common[@]}" "${adam[@]}" --set run_dir=straight$np
  "${launch[@]}" "$TRAINER" train "$config" "${common[@]}" "${adam[@]}" --set run_dir=split$np --set max_steps=75
  [[ -e split$np/checkpoints/ckpt-00000075.pb ]] && pass || fail "np=$np: no checkpoint at step 75"
  "${launch[@]}" "$TRAINER" train "$config" "${common[@]}" "${adam[@]}" --set run_dir=split$np --resume auto >resume.txt
  grep -q "resumed from split$np/checkpoints/ckpt-00000075.pb" resume.txt && pass || fail "np=$np: $(cat resume.txt)"
  # Final checkpoints hold parameters, moving statistics and Adam's slots.
  dump straight$np/checkpoints/ckpt-00000150.pb a.json
  dump split$np/checkpoints/ckpt-00000150.pb b.json
  "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" a.json b.json 0 && pass || fail "np=$np: resume not bit-exact"
  grep -q '"adam/m/dense_1/kernel"' b.json && pass || fail "np=$np: no optimizer slots in checkpoint"
  same_history straight$np/history.jsonl split$np/history.jsonl && pass || fail "np=$np: history differs"
done

# The sharded optimizer step (the default on one node) against every rank
# stepping the whole arena: the same bits, parameters and Adam's slots alike
# (the checkpoint gathers the slots each rank kept current for its part).
"$MPIEXEC" -n 2 --oversubscribe "$TRAINER" train "$config" "${common[@]}" "${adam[@]}" --set run_dir=noshard2 \
  --set distributed.shard_optimizer=false
dump straight2/checkpoints/ckpt-00000150.pb a.json
dump noshard2/checkpoints/ckpt-00000150.pb b.json
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" a.json b.json 0 && pass || fail "sharded step differs from the plain one"

# Saved by 2 ranks, continued on 3: equal up to float rounding.
"$MPIEXEC" -n 2 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir=grow --set max_steps=75
"$MPIEXEC" -n 3 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir=grow --resume auto >/dev/null
dump grow/final/model.pb c.json
"$TRAINER" train "$config" "${common[@]}" --set run_dir=sgd1
dump sgd1/final/model.pb a.json
"$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" a.json c.json 1e-4 && pass || fail "np 2 -> 3 resume differs"

# Pre-emption: a signal to mpirun reaches every rank; they stop at the next
# step boundary, write a checkpoint and exit 75. (mpirun passes 75 on for
# SIGUSR1; on SIGTERM Open MPI's mpirun itself exits 1 after the ranks did.)
status=0
"$MPIEXEC" -n 2 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir=pre --set epochs=100000 \
  --set checkpoint.every_epoch=false >pre.txt 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -s pre/history.jsonl ]] && break; sleep 0.1; done
sleep 1
kill -USR1 $pid
wait $pid || status=$?
[[ $status -eq 75 ]] && pass || fail "SIGUSR1: exit $status, wanted 75: $(tail -5 pre.txt)"
grep -q "stopped by signal at step" pre.txt && pass || fail "SIGUSR1: no stop message"
ckpt=$(ls pre/checkpoints/ckpt-*.pb 2>/dev/null | tail -1)
[[ -n $ckpt ]] && "$TRAINER" inspect "$ckpt" >/dev/null && pass || fail "SIGUSR1: no valid checkpoint"
# SIGTERM to a process started without mpirun (as Slurm's srun delivers it).
"$TRAINER" train "$config" "${common[@]}" --set run_dir=term --set epochs=100000 --set checkpoint.every_epoch=false >term.txt 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -s term/history.jsonl ]] && break; sleep 0.1; done
kill -TERM $pid
status=0
wait $pid || status=$?
[[ $status -eq 75 ]] && pass || fail "SIGTERM: exit $status, wanted 75: $(tail -5 term.txt)"
ckpt=$(ls term/checkpoints/ckpt-*.pb 2>/dev/null | tail -1)
[[ -n $ckpt ]] && "$TRAINER" inspect "$ckpt" >/dev/null && pass || fail "SIGTERM: no valid checkpoint"
"$MPIEXEC" -n 2 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir=pre --set epochs=3 \
  --resume auto >/dev/null 2>&1 && pass || fail "resume after SIGTERM"

# A damaged newest checkpoint is skipped with a warning.
cp -r sgd1 damaged
newest=damaged/checkpoints/ckpt-00000150.pb
printf '\x00\x00\x00\x00' | dd of=$newest bs=1 seek=200 conv=notrunc 2>/dev/null
cp $newest broken.pb
"$TRAINER" train "$config" "${common[@]}" --set run_dir=damaged --set epochs=4 --resume auto >out.txt 2>err.txt
grep -q "warning: skipping damaged checkpoint .*ckpt-00000150.pb" err.txt && pass || fail "no warning: $(cat err.txt)"
grep -q "resumed from damaged/checkpoints/ckpt-00000100.pb" out.txt && pass || fail "did not take ckpt 100: $(cat out.txt)"
expect_error 2 "broken.pb: .*damaged" -- "$TRAINER" train "$config" "${common[@]}" --resume broken.pb --set run_dir=damaged
finish
