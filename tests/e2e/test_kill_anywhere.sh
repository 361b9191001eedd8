#!/usr/bin/env bash
# No hang, ever (np = 4, one host). A rank that never starts, a rank killed
# inside MPI_Init, SIGTERM during start-up, and kill -9 of a random rank at a
# random moment (start-up included) 20 times: the job always ends (mpirun
# and every rank) within 3x the configured bound, leaves no checkpoint that
# fails `trainer inspect`, and `--resume auto` then ends with the parameters
# of an uninterrupted run, bit for bit. LOCKSTEP_TEST_SEED repeats a sequence.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
host=$(hostname)
bound=5       # seconds: LOCKSTEP_STARTUP_TIMEOUT and the collective time-out of the runs that are killed
limit=$((3 * bound))
trials=${LOCKSTEP_KILL_TRIALS:-20}
seed=${LOCKSTEP_TEST_SEED:-$(date +%s)}
RANDOM=$seed
echo "seed $seed (LOCKSTEP_TEST_SEED=$seed repeats this run)"
# 3 epochs of 25 steps, a checkpoint every 7 steps and at each epoch's end (the newest 3 kept).
common=(--set data.synthetic.samples=2000 --set epochs=3 --set verbose=0 --set threads=1 --set checkpoint.every_steps=7)
bounded=(--set distributed.collective_timeout_seconds=$bound)

# Each rank records its pid (the trainer's, after exec) in $PIDS/pid.RANK.
# NEVER=R: rank R never starts (a node that hangs before exec). LATE=R:S:
# rank R starts S seconds late, so the others wait for it inside MPI_Init.
cat >rank.sh <<SH
#!/usr/bin/env bash
r=\${OMPI_COMM_WORLD_RANK:?}
echo \$\$ >"\$PIDS/pid.\$r"
[[ \${NEVER:-} == "\$r" ]] && exec sleep 600
[[ \${LATE:-} == "\$r:"* ]] && sleep "\${LATE#*:}"
exec "$TRAINER" "\$@"
SH
chmod +x rank.sh

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
later_than() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x > y) }'; }

# start_job DIR [VAR=VALUE...] -- args: mpirun -n 4 in the background, pids
# in DIR.pids, output in DIR.log; sets job. A safety net kills it after 120 s.
start_job() {
  local dir=$1
  shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  rm -rf "$dir.pids"
  mkdir -p "$dir.pids"
  env PIDS="$dir.pids" LOCKSTEP_STARTUP_TIMEOUT=$bound "${envs[@]}" timeout -s KILL 120 \
    "$MPIEXEC" -n 4 --oversubscribe ./rank.sh train "$config" "${common[@]}" "${bounded[@]}" --set run_dir="$dir" \
    "$@" >"$dir.log" 2>&1 &
  job=$!
}

# pid_of DIR RANK: waits until the rank has started; prints its pid ("" if the job ended first).
pid_of() {
  while [[ ! -s $1.pids/pid.$2 ]]; do
    kill -0 "$job" 2>/dev/null || return 0
    sleep 0.01
  done
  cat "$1.pids/pid.$2"
}

# in_trainer PID: the rank runs the trainer and catches SIGTERM (main() has
# installed its handlers, right before MPI_Init).
in_trainer() {
  grep -q trainer "/proc/$1/cmdline" 2>/dev/null || return 1
  local mask
  mask=$(awk '/^SigCgt/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
  (((0x$mask >> 14) & 1))
}
wait_in_trainer() {
  for _ in $(seq 3000); do in_trainer "$1" && return 0; kill -0 "$job" 2>/dev/null || return 1; sleep 0.01; done
  return 1
}

# finish_job DIR SINCE WHAT: waits for the job; it must end within $limit s of
# SINCE with no rank left; sets status and took.
finish_job() {
  local dir=$1 t0=$2 what=$3 p
  status=0
  wait "$job" || status=$?
  took=$(since "$t0")
  if [[ $status -eq 137 ]] && later_than "$took" 100; then
    fail "$what: the job hung (killed after 120 s): $(tail -5 "$dir.log")"
  elif later_than "$took" "$limit"; then
    fail "$what: the job took ${took}s to end, more than ${limit}s: $(tail -5 "$dir.log")"
  else
    pass
  fi
  for p in $(cat "$dir.pids"/pid.* 2>/dev/null); do
    if grep -q trainer "/proc/$p/cmdline" 2>/dev/null; then
      fail "$what: rank pid $p still runs after mpirun ended"
      kill -9 "$p" 2>/dev/null || true
    fi
  done
}

# intact DIR WHAT: every checkpoint there passes `trainer inspect`.
intact() {
  local f bad=0
  for f in "$1"/checkpoints/*.pb "$1"/final/model.pb; do
    [[ -e $f ]] || continue
    "$TRAINER" inspect "$f" >/dev/null 2>inspect.err || { bad=1; fail "$2: $f is damaged: $(head -2 inspect.err)"; }
  done
  ((bad)) || pass
}

# resumed_equals_reference DIR WHAT: --resume auto (default bounds) ends with
# the reference run's parameters, moving statistics and optimizer slots.
resumed_equals_reference() {
  if ! "$MPIEXEC" -n 4 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir="$1" --resume auto \
    >resume.log 2>&1; then
    fail "$2: --resume auto failed: $(tail -3 resume.log)"
    return
  fi
  "$TRAINER" inspect "$1/final/model.pb" --json >b.json
  "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" ref.json b.json 0 >cmp.log 2>&1 && pass ||
    fail "$2: resumed parameters differ from the uninterrupted run: $(tail -3 cmp.log)"
}

# ---- the uninterrupted run (default bounds) ----
t0=$(now)
"$MPIEXEC" -n 4 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir=ref
run_seconds=$(since "$t0")
"$TRAINER" inspect ref/final/model.pb --json >ref.json
echo "uninterrupted run: ${run_seconds}s"

# A bound that is not a positive number is refused before anything starts.
expect_error 2 "LOCKSTEP_STARTUP_TIMEOUT: must be a number of seconds > 0, got 'soon'$" -- \
  env LOCKSTEP_STARTUP_TIMEOUT=soon "$TRAINER" train "$config" "${common[@]}" --set run_dir=badbound

# ---- a rank that never starts: the others give up after the bound ----
t0=$(now)
start_job never NEVER=2 --
finish_job never "$t0" "rank 2 never starts"
echo "rank 2 never starts: the job ended after ${took}s (bound ${bound}s), status $status"
[[ $status -eq 1 ]] && pass || fail "rank 2 never starts: exit $status, wanted 1: $(tail -5 never.log)"
grep -Eq "^error: rank [013] on $host: start-up did not finish within $bound s \(in MPI_Init\): another rank probably died or never started; LOCKSTEP_STARTUP_TIMEOUT sets the bound$" never.log &&
  pass || fail "rank 2 never starts: no watchdog message: $(head -c 1500 never.log)"

# ---- kill -9 inside MPI_Init (rank 3 starts late, rank 1 waits for it there) ----
start_job inside LATE=3:4 --
pid=$(pid_of inside 1)
if [[ -n $pid ]] && wait_in_trainer "$pid"; then
  t0=$(now)
  kill -9 "$pid"
  finish_job inside "$t0" "kill -9 in MPI_Init"
  echo "kill -9 of rank 1 inside MPI_Init: the job ended ${took}s later, status $status"
  intact inside "kill -9 in MPI_Init"
  resumed_equals_reference inside "kill -9 in MPI_Init"
else
  fail "kill -9 in MPI_Init: rank 1 never reached the trainer: $(tail -5 inside.log)"
fi

# ---- SIGTERM during start-up: a one-line message, status 75, at once ----
start_job term LATE=3:4 --
pid=$(pid_of term 1)
if [[ -n $pid ]] && wait_in_trainer "$pid"; then
  t0=$(now)
  kill -TERM "$pid"
  finish_job term "$t0" "SIGTERM in start-up"
  echo "SIGTERM to rank 1 inside MPI_Init: the job ended ${took}s later, status $status"
  [[ $status -eq 75 ]] && pass || fail "SIGTERM in start-up: exit $status, wanted 75: $(tail -5 term.log)"
  grep -Eq "^rank 1 on $host: stopped by SIGTERM during start-up \(in MPI_Init\), before the first step: nothing to save; exit status 75" term.log &&
    pass || fail "SIGTERM in start-up: no message: $(head -c 1500 term.log)"
  [[ ! -e term/checkpoints ]] && pass || fail "SIGTERM in start-up: wrote $(ls term/checkpoints)"
else
  fail "SIGTERM in start-up: rank 1 never reached the trainer: $(tail -5 term.log)"
fi

# ---- kill -9 of a random rank at a random moment ----
# Trials take turns: a moment in the first second after mpirun starts
# (start-up), one anywhere in a run as long as the uninterrupted one, and
# one in the training steps (after the first checkpoint, while others are
# being written).
span_ms=$(awk -v s="$run_seconds" 'BEGIN { printf "%d", s * 1000 }')
# sleep_until T0 MS: sleeps until MS milliseconds after T0.
sleep_until() {
  sleep "$(awk -v a="$1" -v b="$EPOCHREALTIME" -v ms="$2" 'BEGIN { d = a + ms / 1000 - b; printf "%.3f", (d > 0 ? d : 0) }')"
}
for i in $(seq "$trials"); do
  dir=kill$i rank=$((RANDOM % 4)) mode=$((i % 3))
  t_start=$(now)
  start_job "$dir" --
  pid=$(pid_of "$dir" "$rank")
  case $mode in
    1) at_ms=$((RANDOM % 1000)); sleep_until "$t_start" "$at_ms" ;;
    2) at_ms=$(((RANDOM * 32768 + RANDOM) % span_ms)); sleep_until "$t_start" "$at_ms" ;;
    0)
      while [[ ! -e $dir/checkpoints/ckpt-00000007.pb ]] && kill -0 "$job" 2>/dev/null; do sleep 0.005; done
      sleep_until "$(now)" $((RANDOM % 700))
      at_ms=$(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }')
      ;;
  esac
  where="trainer"
  [[ -n $pid ]] && ! grep -q trainer "/proc/$pid/cmdline" 2>/dev/null && where="before exec"
  checkpoints=$(ls "$dir/checkpoints" 2>/dev/null | grep -c '^ckpt-' || true)
  t0=$(now)
  [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || where="after the end"
  what="trial $i (rank $rank at ${at_ms} ms)"
  finish_job "$dir" "$t0" "$what"
  echo "trial $i: kill -9 rank $rank at ${at_ms} ms ($where, $checkpoints checkpoints on disk): ended ${took}s later, status $status"
  intact "$dir" "$what"
  resumed_equals_reference "$dir" "$what"
done
finish
