# Commands the rows of cases.tsv call, sourced by run_suite.sh (which sets
# TRAINER, LAUNCH and CASE_TIMEOUT). A row's command runs in a fresh copy of
# the fixtures, in a subshell.

# trainer ARGS...: the program under test, alone (np = 1) or under mpirun
# (np = 2), bounded so a hang fails its row.
trainer() { timeout -k 5 "$CASE_TIMEOUT" "${LAUNCH[@]}" "$TRAINER" "$@"; }

# trainer_alone ARGS...: set-up steps that should not depend on the rank count.
trainer_alone() { timeout -k 5 "$CASE_TIMEOUT" "$TRAINER" "$@"; }

# wait_for_file GLOB PID: until a file matching GLOB exists (status 0), or
# PID has ended or CASE_TIMEOUT passed (status 1).
wait_for_file() {
  local deadline=$((SECONDS + CASE_TIMEOUT))
  while ((SECONDS < deadline)) && kill -0 "$2" 2>/dev/null; do
    compgen -G "$1" >/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# wait_bounded PID: its status, or 124 after killing it when it outlives
# CASE_TIMEOUT.
wait_bounded() {
  local deadline=$((SECONDS + CASE_TIMEOUT))
  while kill -0 "$1" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      kill -KILL "$1" 2>/dev/null
      wait "$1" 2>/dev/null
      return 124
    fi
    sleep 0.1
  done
  local status=0
  wait "$1" || status=$?
  return "$status"
}

# every_checkpoint_loads DIR: each checkpoint a run left loads with
# `trainer inspect` (no torn file, nothing half-written).
every_checkpoint_loads() {
  local ckpt found=0
  for ckpt in "$1"/checkpoints/ckpt-*.pb; do
    [[ -e $ckpt ]] || continue
    found=1
    "$TRAINER" inspect "$ckpt" >/dev/null || return 1
  done
  ((found))
}

# stop_training SIGNAL TARGET [TRAIN ARGS...]: trains syn.pbtxt for (nearly)
# ever with a checkpoint every 5 steps, sends SIGNAL once the first
# checkpoint exists, and returns the trainer's status, after checking that
# every checkpoint left in run_dir `sig` loads (status 98 if one does not).
# TARGET: `trainer` (the process at np = 1, a rank under mpirun: rank 0's
# process, the first child of mpirun) or `launcher` (mpirun itself; the
# trainer at np = 1). Signals are reset to their defaults first: a
# non-interactive shell starts background jobs with SIGINT ignored.
stop_training() {
  local signal=$1 target=$2
  shift 2
  env --default-signal=INT,TERM,USR1 "${LAUNCH[@]}" "$TRAINER" train syn.pbtxt --set run_dir=sig \
    --set epochs=1000000 --set checkpoint.every_steps=5 "$@" &
  local pid=$! victim
  wait_for_file 'sig/checkpoints/ckpt-*.pb' "$pid" || { wait_bounded "$pid"; return; }
  victim=$pid
  if [[ $target == trainer && ${#LAUNCH[@]} -gt 0 ]]; then
    victim=$(pgrep -P "$pid" | head -1)
  fi
  kill -s "$signal" "$victim"
  local status=0
  wait_bounded "$pid" || status=$?
  if ! every_checkpoint_loads sig; then
    echo "error: sig: a checkpoint left by the stopped run does not load" >&2
    return 98
  fi
  return "$status"
}
