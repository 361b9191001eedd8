#!/usr/bin/env bash
# When one rank fails, the whole job ends with that rank's message, fast, and
# never hangs: a config that differs on one rank, a rank that throws mid-run,
# and a rank that stops making progress (collective time-out).
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
common=(--set epochs=2 --set verbose=0 --set threads=1 --set distributed.sync_batch_norm=true)

# expect_job_error SECONDS STATUS_REGEX REGEX -- cmd: ends within SECONDS,
# exit status matching STATUS_REGEX, stderr matching REGEX.
expect_job_error() {
  local limit=$1 want=$2 pattern=$3
  shift 4
  local status=0 start=$SECONDS
  timeout -s KILL 120 "$@" >out.txt 2>err.txt || status=$?
  local took=$((SECONDS - start))
  if [[ $status -eq 137 ]]; then
    fail "$* hung (killed after 120 s)"
  elif ! [[ $status =~ ^($want)$ ]]; then
    fail "$* -> exit $status, wanted $want; stderr: $(head -c 2000 err.txt)"
  elif ! grep -Eq "$pattern" err.txt; then
    fail "$* -> stderr lacks '$pattern': $(head -c 2000 err.txt)"
  elif ((took > limit)); then
    fail "$* took ${took}s, more than ${limit}s"
  else
    pass
  fi
}

# Rank 1 gets another --set: the config hash check catches it at start-up.
cat >differ.sh <<SH
#!/usr/bin/env bash
extra=()
[[ \${OMPI_COMM_WORLD_RANK:-0} == 1 ]] && extra=(--set epochs=3)
exec "$TRAINER" train "$config" ${common[*]} --set run_dir=differ "\${extra[@]}"
SH
chmod +x differ.sh
expect_job_error 30 "2" "error: .*config differs from rank 0's on rank\(s\) 1" -- "$MPIEXEC" -n 3 --oversubscribe ./differ.sh

# Rank 1 throws after step 20: its message, non-zero exit, no checkpoint damaged.
LOCKSTEP_INJECT_FAULT=fail:1:20 expect_job_error 30 "[1-9][0-9]*" "error: rank 1: .*injected failure after step 20" -- \
  "$MPIEXEC" -n 3 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir=failing
for f in failing/checkpoints/*.pb; do
  [[ -e $f ]] || continue
  "$TRAINER" inspect "$f" >/dev/null && pass || fail "checkpoint $f damaged"
done

# Rank 2 stalls for 100 s after step 10; with a 3 s time-out the others give
# up in a collective and name what they were waiting for.
LOCKSTEP_INJECT_FAULT=stall:2:10:100 expect_job_error 40 "[1-9][0-9]*" "error: rank [01]: .*no progress for 3 s" -- \
  "$MPIEXEC" -n 3 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir=stall \
  --set distributed.collective_timeout_seconds=3
finish
