#!/usr/bin/env bash
# launch/mpirun_hosts.sh on this one host (a hostfile naming localhost, so
# Open MPI needs no ssh): 2 ranks train the same parameters as `mpirun -np 2`;
# SIGUSR1 to the script stops every rank at a checkpoint with exit 75; the same
# command again resumes and ends bit-exact; bad input is exit 2.
set -euo pipefail
: "${TRAINER:?set by CTest}" "${SOURCE_DIR:?set by CTest}"
PYTHON=${PYTHON:-/usr/bin/python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
failures=0
checks=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { checks=$((checks + 1)); echo "ok: $*"; }

script=$SOURCE_DIR/launch/mpirun_hosts.sh
config=$SOURCE_DIR/launch/configs/seed_mlp.pbtxt
export LOCKSTEP_TRAINER=$TRAINER
printf '# test hosts\nlocalhost slots=2\n' >hosts
common=(--set verbose=0 --set distributed.sync_batch_norm=true)
same() {
  "$TRAINER" inspect "$1" --json >a.json && "$TRAINER" inspect "$2" --json >b.json &&
    "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" a.json b.json 0
}

"${MPIEXEC:-mpirun}" -n 2 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set threads=1 --set epochs=200 \
  --set run_dir=ref >ref.txt 2>&1 || fail "reference mpirun run: $(tail -5 ref.txt)"

# A straight run.
timeout 120 "$script" -H hosts -t 1 "$config" "${common[@]}" --set epochs=3 --set run_dir=a >a.txt 2>&1 &&
  pass "2 ranks from the hostfile" || fail "mpirun_hosts.sh failed: $(tail -5 a.txt)"
grep -q "mpirun --hostfile hosts -np 2" a.txt && pass "ranks = the hostfile's slots" || fail "$(head -3 a.txt)"
[[ $(wc -l <a/history.jsonl) -eq 3 ]] && grep -q '"ranks": 2' a/history.jsonl && pass "3 epochs on 2 ranks" ||
  fail "history: $(cat a/history.jsonl)"

# Stopped with SIGUSR1 after the first checkpoint, then the same command again.
run=("$script" -H hosts -t 1 "$config" "${common[@]}" --set epochs=200 --set run_dir=b
     --set checkpoint.every_epoch=false --set checkpoint.every_steps=500)
"${run[@]}" >b1.txt 2>&1 &
pid=$!
for _ in $(seq 300); do compgen -G "b/checkpoints/ckpt-*.pb" >/dev/null && break; sleep 0.1; done
kill -USR1 $pid
for _ in $(seq 1200); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done  # never hang
kill -9 $pid 2>/dev/null || true
status=0
wait $pid || status=$?
[[ $status -eq 75 ]] && pass "SIGUSR1: exit 75" || fail "SIGUSR1: exit $status, wanted 75: $(tail -5 b1.txt)"
step=$(grep -Eo "stopped by signal at step [0-9]+" b1.txt | grep -Eo "[0-9]+$" || true)
[[ -n $step ]] && pass "SIGUSR1: stopped at step $step with a checkpoint" || fail "no stop message: $(tail -5 b1.txt)"
timeout 120 "${run[@]}" >b2.txt 2>&1 && pass "second run finished" || fail "second run: $(tail -5 b2.txt)"
grep -Eq "resumed from b/checkpoints/ckpt-0*$step.pb" b2.txt && pass "resumed from step $step" ||
  fail "not resumed from step $step: $(head -5 b2.txt)"
same ref/final/model.pb b/final/model.pb && pass "bit-exact with the uninterrupted run" || fail "parameters differ"

# Bad input.
status=0
"$script" -H nonexistent "$config" >c.txt 2>&1 || status=$?
[[ $status -eq 2 ]] && grep -q "^error: mpirun_hosts.sh: nonexistent" c.txt && pass "missing hostfile: exit 2" ||
  fail "missing hostfile: exit $status: $(cat c.txt)"
status=0
"$script" -H hosts "$config" --set no_such_field=1 >d.txt 2>&1 || status=$?
[[ $status -eq 2 ]] && pass "bad --set: the trainer's exit 2" || fail "bad --set: exit $status: $(tail -3 d.txt)"

echo "$checks passed, $failures failed"
((failures == 0))
