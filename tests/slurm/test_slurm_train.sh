#!/usr/bin/env bash
# launch/slurm/train.sbatch and sweep.sbatch, unchanged, on a real (private,
# one-node) Slurm: 2 ranks started by srun (PMIx) train the same parameters as
# `mpirun -np 2`; the mpirun fallback inside the allocation does too; threads
# per rank follow --cpus-per-task; a job array sweeps the learning rate, one
# run directory per task; a bad config ends the job with status 2, not requeued.
source "$(dirname "$0")/lib.sh"
start_cluster 4

config=$SOURCE_DIR/launch/configs/seed_mlp.pbtxt
train=$SOURCE_DIR/launch/slurm/train.sbatch
sweep=$SOURCE_DIR/launch/slurm/sweep.sbatch
J=$SL/jobs
env=(LOCKSTEP_TRAINER="$TRAINER")

# Reference outside Slurm: the same 3 epochs under mpirun -np 2.
"${MPIEXEC:-mpirun}" -n 2 --oversubscribe "$TRAINER" train "$config" --set epochs=3 --set threads=1 \
  --set verbose=0 --set run_dir="$J/mpirun" >"$J/mpirun.out" 2>&1 || abort "mpirun reference run failed: $(tail -5 "$J/mpirun.out")"

# 1. srun (the default launcher): CONFIG as an argument, run_dir from the environment.
a=$(submit "$J/a.out" "${env[@]}" LOCKSTEP_RUN_DIR=runs/a -- "$train" "$config" --set epochs=3) ||
  abort "sbatch train.sbatch failed"
# 2. Open MPI's mpirun inside the allocation; everything from the environment.
b=$(submit "$J/b.out" "${env[@]}" LOCKSTEP_LAUNCHER=mpirun LOCKSTEP_CONFIG="$config" LOCKSTEP_RUN_DIR=runs/b \
  LOCKSTEP_SET="epochs=3 verbose=2" -- "$train") || abort "sbatch train.sbatch (mpirun) failed"
# 3. One rank with 2 CPUs: 2 threads.
c=$(submit "$J/c.out" "${env[@]}" LOCKSTEP_RUN_DIR=runs/c -- --ntasks-per-node=1 --cpus-per-task=2 \
  "$train" "$config" --set epochs=1) || abort "sbatch train.sbatch (threads) failed"
# 4. A sweep over two learning rates, one rank each.
s=$(submit "$J/sweep-%a.out" "${env[@]}" LOCKSTEP_HOME="$SOURCE_DIR" LOCKSTEP_RUN_DIR=runs/sweep \
  LOCKSTEP_SWEEP_VALUES="0.2 0.05" -- --array=0-1 --ntasks-per-node=1 "$sweep" "$config" --set epochs=2) ||
  abort "sbatch sweep.sbatch failed"
# 5. Bad config (the trainer's status 2) and no config at all (the script's).
d=$(submit "$J/d.out" "${env[@]}" -- "$train" "$config" --set epochs=3 --set no_such_field=1) || abort "sbatch failed"
e=$(submit "$J/e.out" "${env[@]}" -- "$train") || abort "sbatch failed"
# 6. srun cannot start the ranks (a stale PMIx folder for its step, as a
# crashed earlier job can leave): Slurm 22.05's srun still exits 0, and the job
# must fail rather than say "training finished".
f=$(submit "$J/f.out" "${env[@]}" LOCKSTEP_RUN_DIR=runs/f -- --hold "$train" "$config" --set epochs=1) ||
  abort "sbatch failed"
mkdir -p "$SL/pmix/spmix_appdir_$(id -u)_$f.0"
scontrol release "$f"
say "submitted jobs $a (srun) $b (mpirun) $c (threads) ${s}_[0-1] (sweep) $d $e (bad config) $f (launch fails)"

for j in $a $b $c ${s}_0 ${s}_1 $d $e $f; do wait_job "$j" 120 || true; done
say "all jobs ended"

# 1. srun
[[ $(job_field "$a" JobState) == COMPLETED && $(job_field "$a" ExitCode) == 0:0 ]] && pass "srun job completed" ||
  fail "srun job: state $(job_field "$a" JobState) exit $(job_field "$a" ExitCode); $(tail -n 20 "$J/a.out")"
if srun --mpi=list 2>&1 | grep -qw pmix; then
  expect_log "$J/a.out" "launcher: srun --mpi=pmix --ntasks=2" "srun has PMIx: ranks started by srun --mpi=pmix"
else
  expect_log "$J/a.out" "launcher: mpirun" "srun has no PMIx: ranks started by mpirun"
fi
expect_log "$J/a.out" "2 rank\(s\), 1 thread\(s\) each" "2 ranks, threads from SLURM_CPUS_PER_TASK=1"
expect_log "$J/a.out" "--resume auto" "always --resume auto"
expect_log "$J/a.out" "no checkpoint in runs/a/checkpoints: starting from scratch" "first run starts from scratch"
[[ -s $J/runs/a/final/model.pb ]] && pass "srun: final/model.pb" || fail "srun: no runs/a/final/model.pb"
[[ $(history_lines "$J/runs/a") -eq 3 ]] && pass "srun: 3 epochs in history.jsonl" ||
  fail "srun: history.jsonl has $(history_lines "$J/runs/a") lines, wanted 3"
grep -q '"ranks": 2' "$J/runs/a/history.jsonl" && pass "srun: history says 2 ranks" || fail "srun: history not from 2 ranks"
same_model "$J/mpirun/final/model.pb" "$J/runs/a/final/model.pb" 0 && pass "srun model == mpirun model (bit-exact)" ||
  fail "2 ranks under srun trained other parameters than 2 under mpirun"

# 2. mpirun fallback
[[ $(job_field "$b" ExitCode) == 0:0 ]] && pass "mpirun job completed" ||
  fail "mpirun job: state $(job_field "$b" JobState) exit $(job_field "$b" ExitCode); $(tail -n 20 "$J/b.out")"
expect_log "$J/b.out" "launcher: mpirun -np 2" "LOCKSTEP_LAUNCHER=mpirun: ranks started by mpirun"
expect_log "$J/b.out" "^Epoch 3/3 " "mpirun: LOCKSTEP_SET reached the trainer (verbose=2, epochs=3)"
[[ $(history_lines "$J/runs/b") -eq 3 ]] && grep -q '"ranks": 2' "$J/runs/b/history.jsonl" &&
  pass "mpirun: 3 epochs on 2 ranks" || fail "mpirun: history.jsonl wrong: $(cat "$J/runs/b/history.jsonl" 2>&1)"
same_model "$J/mpirun/final/model.pb" "$J/runs/b/final/model.pb" 0 && pass "mpirun-in-Slurm model == mpirun model" ||
  fail "mpirun inside Slurm trained other parameters"

# 3. threads
[[ $(job_field "$c" ExitCode) == 0:0 ]] && pass "threads job completed" || fail "threads job: $(tail -n 20 "$J/c.out")"
expect_log "$J/c.out" "1 rank\(s\), 2 thread\(s\) each" "--cpus-per-task=2: 2 threads per rank"
grep -q "^threads: 2" "$J/runs/c/config.pbtxt" && pass "run config has threads: 2" ||
  fail "runs/c/config.pbtxt has no 'threads: 2'"

# 4. sweep
for i in 0 1; do
  lr=$( ((i == 0)) && echo 0.2 || echo 0.05)
  dir=$J/runs/sweep/optimizer.sgd.learning_rate=$lr
  [[ $(job_field "${s}_$i" ExitCode) == 0:0 && -s $dir/final/model.pb && $(history_lines "$dir") -eq 2 ]] &&
    pass "sweep task $i: trained in $dir" || fail "sweep task $i: $(tail -n 20 "$J/sweep-$i.out" 2>&1)"
  grep -Eq "learning_rate: $lr\b" "$dir/config.pbtxt" 2>/dev/null && pass "sweep task $i: learning_rate $lr" ||
    fail "sweep task $i: config.pbtxt has not learning_rate $lr"
done

# 5. bad config: status 2, never requeued
[[ $(job_field "$d" ExitCode) == 2:0 && $(job_field "$d" Restarts) == 0 ]] && pass "bad --set: exit 2, not requeued" ||
  fail "bad --set: exit $(job_field "$d" ExitCode) restarts $(job_field "$d" Restarts)"
expect_log "$J/d.out" "^error: .*no_such_field" "bad --set: the trainer's error is in the job output"
[[ $(job_field "$e" ExitCode) == 2:0 ]] && pass "no config: exit 2" || fail "no config: exit $(job_field "$e" ExitCode)"
expect_log "$J/e.out" "^error: train.sbatch: no config" "no config: the script says so"
# 6. launch failure
if srun --mpi=list 2>&1 | grep -qw pmix; then
  [[ $(job_field "$f" ExitCode) == 1:0 && $(job_field "$f" Restarts) == 0 ]] &&
    pass "srun could not start the ranks: job failed (exit 1), not requeued" ||
    fail "launch failure: exit $(job_field "$f" ExitCode) restarts $(job_field "$f" Restarts); $(tail -n 20 "$J/f.out")"
  expect_log "$J/f.out" "never reported finishing" "launch failure: the script says the trainer never finished"
  ! grep -q "training finished" "$J/f.out" && pass "launch failure: not reported as finished" ||
    fail "launch failure reported as 'training finished'"
fi
finish
