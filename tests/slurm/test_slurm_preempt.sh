#!/usr/bin/env bash
# Pre-emption and requeue of launch/slurm/train.sbatch (unchanged) on a real
# (private, one-node) Slurm, 2 ranks each:
#  - `scancel --batch --signal=USR1` (what the time-limit warning does): the
#    ranks stop at a step boundary, write a checkpoint, exit 75; the script
#    requeues the job itself; the requeued job resumes from exactly that
#    checkpoint and ends with the same parameters and history as a run that
#    was never interrupted (bit-exact: same number of ranks); with srun and
#    with the mpirun fallback;
#  - `scontrol requeue` (Slurm's own requeue, SIGTERM): Slurm requeues, the
#    script does not requeue again, the job resumes from its newest checkpoint
#    and ends bit-exact too;
#  - the real time-limit warning from `#SBATCH --signal=B:USR1@120` (job
#    submitted with --time=1): checkpoint, exit 75, requeued by the script.
source "$(dirname "$0")/lib.sh"
start_cluster 4

config=$SOURCE_DIR/launch/configs/seed_mlp.pbtxt
train=$SOURCE_DIR/launch/slurm/train.sbatch
J=$SL/jobs
# 400 epochs x 50 steps (a few seconds on 2 ranks), a checkpoint every 1000
# steps; the signals come right after the first one, long before the end.
# Synchronized BatchNormalization, as in tests/e2e/test_resume.sh: with local
# statistics each rank has its own moving averages, a checkpoint holds rank 0's,
# and the validation metrics after a resume differ until the moving averages
# have forgotten the difference (the parameters are bit-exact either way).
long=(LOCKSTEP_TRAINER="$TRAINER"
      LOCKSTEP_SET="epochs=400 checkpoint.every_epoch=false checkpoint.every_steps=1000 verbose=0 distributed.sync_batch_norm=true")

# The time-limit warning needs up to 30 s to come (slurmctld looks every 30 s):
# start it first, one rank that sleeps (no CPU) after step 10 until signalled.
w=$(submit "$J/w.out" "${long[@]}" LOCKSTEP_RUN_DIR=runs/w LOCKSTEP_INJECT_FAULT=stall:0:10:170 -- \
  --time=1 --ntasks-per-node=1 "$train" "$config") || abort "sbatch failed"

# The uninterrupted reference.
r=$(submit "$J/r.out" "${long[@]}" LOCKSTEP_RUN_DIR=runs/r -- "$train" "$config") || abort "sbatch failed"
say "submitted $w (time limit) and $r (reference)"
wait_job "$r" 150 || abort "the reference run did not finish"
[[ $(job_field "$r" ExitCode) == 0:0 && -s $J/runs/r/final/model.pb && $(history_lines "$J/runs/r") -eq 400 ]] ||
  abort "reference run failed: $(tail -n 20 "$J/r.out")"
pass "reference: 400 epochs, uninterrupted"

same_run() {  # same_run NAME RUN_DIR: bit-exact with the reference
  same_model "$J/runs/r/final/model.pb" "$2/final/model.pb" 0 && pass "$1: same parameters as the uninterrupted run (tolerance 0)" ||
    fail "$1: parameters differ from the uninterrupted run"
  cmp -s <(cut -d, -f1-5 "$J/runs/r/history.jsonl") <(cut -d, -f1-5 "$2/history.jsonl") &&
    pass "$1: same history (400 epochs, same losses)" || fail "$1: history differs from the uninterrupted run"
}

# usr1 NAME VAR=VALUE...: pre-empt with the warning signal, let it requeue and finish.
usr1() {
  local name=$1
  shift
  local out=$J/$name.out dir=$J/runs/$name j
  j=$(submit "$out" "${long[@]}" LOCKSTEP_RUN_DIR=runs/$name "$@" -- "$train" "$config") || abort "sbatch failed"
  wait_file 60 "$dir/checkpoints/ckpt-*.pb" || abort "$name: no checkpoint after 60 s: $(tail -n 20 "$out")"
  scancel --batch --signal=USR1 "$j"
  say "$name: job $j sent SIGUSR1 after its first checkpoint"
  wait_until 60 requeued "$j" 1 || abort "$name: not requeued within 60 s: state $(job_field "$j" JobState): $(tail -n 20 "$out")"
  pass "$name: the job requeued itself after SIGUSR1"
  release "$j"
  wait_job "$j" 120 || return 0
  local step
  step=$(grep -Eo "stopped by signal at step [0-9]+" "$out" | grep -Eo "[0-9]+$" | head -1)
  [[ -n $step ]] && pass "$name: stopped at step $step with a checkpoint" || fail "$name: no 'stopped by signal' in $out"
  expect_log "$out" "stopped at a checkpoint; requeued job $j" "$name: the script says it requeued"
  expect_log "$out" "resumed from runs/$name/checkpoints/ckpt-0*$step.pb" "$name: resumed from the checkpoint of step $step"
  [[ $(job_field "$j" JobState) == COMPLETED && $(job_field "$j" ExitCode) == 0:0 && $(job_field "$j" Restarts) == 1 ]] &&
    pass "$name: completed after exactly 1 restart" ||
    fail "$name: state $(job_field "$j" JobState) exit $(job_field "$j" ExitCode) restarts $(job_field "$j" Restarts)"
  same_run "$name" "$dir"
}

usr1 usr1-srun
grep -q "launcher: srun" "$J/usr1-srun.out" || say "note: srun has no PMIx here, usr1-srun used mpirun"
usr1 usr1-mpirun LOCKSTEP_LAUNCHER=mpirun
expect_log "$J/usr1-mpirun.out" "launcher: mpirun" "usr1-mpirun: ranks started by mpirun"

# Slurm's own requeue: SIGTERM to the script and every rank.
q=$(submit "$J/q.out" "${long[@]}" LOCKSTEP_RUN_DIR=runs/q -- "$train" "$config") || abort "sbatch failed"
wait_file 60 "$J/runs/q/checkpoints/ckpt-*.pb" || abort "requeue: no checkpoint after 60 s: $(tail -n 20 "$J/q.out")"
scontrol requeue "$q" || abort "scontrol requeue $q failed"
say "requeue: scontrol requeue $q after its first checkpoint"
wait_until 60 requeued "$q" 1 || abort "requeue: job $q not pending again within 60 s"
release "$q"
if wait_job "$q" 120; then
  expect_log "$J/q.out" "got SIGTERM" "requeue: the script got SIGTERM"
  expect_log "$J/q.out" "Slurm decides whether it runs again" "requeue: the script left the requeue to Slurm"
  expect_log "$J/q.out" "resumed from runs/q/checkpoints/ckpt-" "requeue: resumed from a checkpoint"
  [[ $(job_field "$q" ExitCode) == 0:0 && $(job_field "$q" Restarts) == 1 ]] && pass "requeue: completed after exactly 1 restart" ||
    fail "requeue: exit $(job_field "$q" ExitCode) restarts $(job_field "$q" Restarts)"
  same_run requeue "$J/runs/q"
fi

# The time-limit warning (submitted first).
if wait_until 90 requeued "$w" 1; then
  pass "time limit: requeued within $(($(date +%s) - T0)) s of the test's start"
  expect_log "$J/w.out" "got SIGUSR1" "time limit: Slurm's --signal=B:USR1@120 reached the script"
  expect_log "$J/w.out" "stopped by signal at step 10: checkpoint written" "time limit: the rank stopped and wrote a checkpoint"
  expect_log "$J/w.out" "stopped at a checkpoint; requeued job $w" "time limit: the script requeued the job"
else
  fail "time limit: job $w not requeued within 90 s: state $(job_field "$w" JobState): $(tail -n 20 "$J/w.out")"
fi
scancel "$w"
finish
