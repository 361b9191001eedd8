#!/usr/bin/env bash
# Several hosts on one machine: each "host" is a Linux network namespace, all
# joined by veth pairs to a bridge that lives in a namespace of its own (the
# "switch"). mpirun runs inside host 1 and starts its daemon on host 2 through
# netns_agent.sh (in place of ssh); ranks talk over Open MPI's TCP transport
# only. seed_mlp (synchronized BatchNormalization, dropout) is trained with
# np = 4 over 2 hosts x 2 ranks and over 3 hosts with 1 + 2 + 1 ranks: the
# hierarchical all-reduce (shared memory on each host, a chain over TCP
# between hosts). Both must give the same parameters as np = 1 (alone, no
# MPI) within the tolerance, and the same bits as each other and as np = 4
# on one host (the sums are formed in world-rank order whatever the layout).
# With too little room in Open MPI's shared-memory directory (a 4 MB tmpfs)
# the job warns once, falls back to MPI_Iallreduce and still equals np = 1.
# Then a rank on the middle host is killed (kill -9), and another stopped
# (SIGSTOP): the job must end on every host within the collective time-out.
#
# Addresses are 10.231.0.0/24 and exist only inside the namespaces created
# here: no interface is added to the machine's own namespace, so no traffic
# can leave. Everything is deleted on exit.
#
# Exit status: 0 passed, 1 failed, 77 skipped (the machine cannot create the
# namespaces: not root, no 'ip', no veth/bridge/UTS support); the reason is printed
# as "SKIPPED: ...". When the namespaces work but MPI across them does not,
# the test fails and shows mpirun's output.
# CTest provides TRAINER, SOURCE_DIR, MPIEXEC, PYTHON; run by hand with e.g.
#   TRAINER=build/bin/trainer SOURCE_DIR=$PWD bash tests/multihost/test_netns_hosts.sh
set -euo pipefail
SKIP_CODE=77
: "${TRAINER:?set by CTest}" "${SOURCE_DIR:?set by CTest}"
MPIEXEC=${MPIEXEC:-mpirun}
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

NHOSTS=3 NP=4 NET=10.231.0 TIMEOUT=120  # seconds, for each mpirun and the np=1 run
LAYOUTS=("2 2" "1 2 1")  # ranks on host 1, host 2, ...
COLLECTIVE_TIMEOUT=10  # seconds, for the failure runs
TAG=lockstep-$$
SWITCH=$TAG-sw
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
# 4000 samples, validation 20%: 3200 / 64 = 50 steps per epoch; 3 epochs = 150 steps.
common=(--set distributed.sync_batch_norm=true --set epochs=3 --set threads=1 --set verbose=0)
tol=1e-4

# CTest shows no output of a skipped test, even with --output-on-failure, so
# the reason is also written to CTest's own output, for CI's log: when that is
# a pipe or terminal, or a file CTest appends to (writing into a file at
# another offset would garble it).
tell_ctest() {
  local out=/proc/$PPID/fd/1 target flags
  [[ $(cat "/proc/$PPID/comm" 2>/dev/null) == ctest ]] || return 0
  target=$(readlink "$out" 2>/dev/null) || return 0
  case $target in
    pipe:* | socket:* | /dev/pts/* | /dev/tty*) ;;
    *)
      flags=$(awk '$1 == "flags:" { print $2 }' "/proc/$PPID/fdinfo/1" 2>/dev/null)
      ((8#${flags:-0} & 8#2000)) || return 0 ;;  # O_APPEND
  esac
  echo "$*" 2>/dev/null >>"$out" || true
}
skip() {
  echo "SKIPPED: $*"
  tell_ctest "multihost_netns_hosts: SKIPPED: $*"
  exit "$SKIP_CODE"
}
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }

# --- Can this machine do it? -------------------------------------------------
[[ $(uname -s) == Linux ]] || skip "network namespaces need Linux (this is $(uname -s))"
if [[ $(id -u) -ne 0 ]]; then
  skip "creating network namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); running as uid $(id -u)"
fi
if ! command -v ip >/dev/null; then
  if command -v apt-get >/dev/null; then
    step "'ip' is missing: installing Debian's iproute2"
    export DEBIAN_FRONTEND=noninteractive
    { timeout 300 apt-get install -y -q --no-install-recommends iproute2 \
        || { timeout 300 apt-get update -q && timeout 300 apt-get install -y -q --no-install-recommends iproute2; }; } \
      >/dev/null 2>&1 || true
  fi
  command -v ip >/dev/null || skip "the 'ip' command (Debian package iproute2) is missing and could not be installed"
fi
[[ -x $TRAINER ]] || fail "no trainer at $TRAINER"
command -v "$MPIEXEC" >/dev/null || fail "no mpirun ($MPIEXEC)"

# --- Namespaces, bridge, veth pairs (tests/multihost/netns_lib.sh) ---------------
NETNS_TAG=$TAG NETNS_NET=$NET
# shellcheck source=tests/multihost/netns_lib.sh
source "$HERE/netns_lib.sh"
netns_remove_stale
WORK=$(mktemp -d)
NETNS_WORK=$WORK
cleanup() {
  umount "$WORK/tiny-shm" 2>/dev/null || true
  netns_cleanup
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

try() {  # WHAT COMMAND...: run it; skip the test with its error when it fails
  local what=$1
  shift
  "$@" 2>"$WORK/err.txt" || skip "$what: '$*' failed: $(tr '\n' ' ' <"$WORK/err.txt")"
}
netns_try() { try "$@"; }

step "creating $NHOSTS hosts ($TAG-h1..h$NHOSTS) on bridge br0 in $SWITCH, subnet $NET.0/24"
netns_create_hosts "$NHOSTS"
spaces=("${NETNS_SPACES[@]}")
for ns in "${spaces[@]}"; do ip -n "$ns" -br addr show; done

# --- MPI across the hosts -------------------------------------------------------
# mpirun runs in host 1; host 1's ranks are its own children, host 2's are
# started by an orted that netns_agent.sh launches in host 2's namespace;
# every host has its own host name (see netns_lib.sh).
try "cannot create a UTS namespace" unshare --uts true
use_layout() {  # RANKS_ON_HOST1 RANKS_ON_HOST2 ...: the hostfile mpirun maps by slot
  netns_hostfile "$@"
  layout=("$@")
}
mpi_command() {  # ARGS...: the mpirun command line over the hosts of the layout
  netns_mpirun_command -np "$NP" "$@"
  cmd=("${netns_cmd[@]}")
}
mpi() {  # LOG ARGS...: mpirun over the hosts; its output is shown and kept in LOG
  local log=$1 status=0 cmd
  shift
  mpi_command "$@"
  echo "\$ LOCKSTEP_NETNS_TABLE=$LOCKSTEP_NETNS_TABLE $(printf '%q ' "${cmd[@]}")"
  timeout -k 10 "$TIMEOUT" "${cmd[@]}" >"$log" 2>&1 || status=$?
  sed 's/^/  | /' "$log"
  if [[ $status -eq 124 || $status -eq 137 ]]; then
    echo "mpirun did not finish within ${TIMEOUT}s"
  fi
  return "$status"
}
diagnose() {
  local ns
  for ns in "${spaces[@]}"; do
    echo "-- $ns:"
    ip -n "$ns" -br addr show
    ip -n "$ns" route show
  done
}
rx_tx() { ip netns exec "$1" cat /sys/class/net/eth0/statistics/rx_bytes /sys/class/net/eth0/statistics/tx_bytes | paste -sd' '; }

host_of_rank() {  # R: the namespace rank R runs in, by the layout (mapping by slot)
  local r=$1 i
  for ((i = 0; i < ${#layout[@]}; i++)); do
    ((r < layout[i])) && { echo "${spaces[i]}"; return; }
    r=$((r - layout[i]))
  done
}
hosts_used() { echo "${#layout[@]}"; }

train_layout() {  # NAME: probe the placement, train, check where ranks ran and the traffic
  local name=$1 ns n want got r i rx0 tx0 rx1 tx1
  step "layout $name: probe where each of the $NP ranks runs"
  # shellcheck disable=SC2016  # expanded by each rank's shell
  if ! mpi "$WORK/probe-$name.log" sh -c 'echo "rank $OMPI_COMM_WORLD_RANK host $(hostname) netns $(ip netns identify)"'; then
    diagnose
    fail "mpirun across the namespaces failed (output above)"
  fi
  for ((i = 0; i < $(hosts_used); i++)); do
    n=$(grep -c " netns ${spaces[i]}\$" "$WORK/probe-$name.log" || true)
    [[ $n -eq ${layout[i]} ]] || fail "probe ($name): $n ranks in ${spaces[i]}, wanted ${layout[i]}"
  done
  step "layout $name: train seed_mlp with np=$NP (150 steps, synchronized BatchNormalization, dropout)"
  read -r rx0 tx0 < <(rx_tx "${spaces[1]}")
  mkdir -p "$WORK/where-$name"
  # Each rank notes its namespace, then becomes the trainer.
  # shellcheck disable=SC2016
  if ! mpi "$WORK/train-$name.log" sh -c 'ip netns identify >"$0/rank$OMPI_COMM_WORLD_RANK"; exec "$@"' \
      "$WORK/where-$name" "$TRAINER" train "$config" "${common[@]}" --set run_dir="$WORK/$name"; then
    diagnose
    fail "training with np=$NP ($name) across the namespaces failed (output above)"
  fi
  read -r rx1 tx1 < <(rx_tx "${spaces[1]}")
  for ((r = 0; r < NP; r++)); do
    want=$(host_of_rank "$r")
    got=$(cat "$WORK/where-$name/rank$r" 2>/dev/null || echo "nothing recorded")
    echo "rank $r ran in $got"
    [[ $got == "$want" ]] || fail "rank $r of the trainer ($name) ran in '$got', wanted $want"
  done
  echo "host 2 eth0 during training: received $((rx1 - rx0)) bytes, sent $((tx1 - tx0)) bytes"
  # Launch and wire-up move a few kB; 150 all-reduces of 5,510 gradients (22
  # kB) move megabytes.
  ((rx1 - rx0 > 1000000 && tx1 - tx0 > 1000000)) \
    || fail "too little traffic between the hosts ($name): the ranks did not talk over TCP"
  ! grep -q "warning: .*hierarchical" "$WORK/train-$name.log" \
    || fail "layout $name fell back to the flat all-reduce (output above)"
  "$TRAINER" inspect "$WORK/$name/final/model.pb" --json >"$WORK/$name.json"
  grep -q "\"ranks\": $NP" "$WORK/$name/history.jsonl" || fail "history.jsonl ($name) does not say ranks $NP"
}

names=()
for l in "${LAYOUTS[@]}"; do
  # shellcheck disable=SC2086  # one word per host
  use_layout $l
  name=$(echo "$l" | tr ' ' '+')
  train_layout "$name"
  names+=("$name")
done

step "train seed_mlp alone (np=1), and with np=$NP on one host (no namespaces)"
timeout -k 10 "$TIMEOUT" "$TRAINER" train "$config" "${common[@]}" --set run_dir="$WORK/np1" \
  || fail "np=1 training failed"
"$TRAINER" inspect "$WORK/np1/final/model.pb" --json >"$WORK/np1.json"
timeout -k 10 "$TIMEOUT" "$MPIEXEC" --allow-run-as-root --oversubscribe -np "$NP" \
  "$TRAINER" train "$config" "${common[@]}" --set run_dir="$WORK/onehost" >"$WORK/onehost.log" 2>&1 \
  || { cat "$WORK/onehost.log"; fail "np=$NP on one host failed"; }
"$TRAINER" inspect "$WORK/onehost/final/model.pb" --json >"$WORK/onehost.json"

for name in "${names[@]}"; do
  step "compare np=$NP as $name hosts with np=1 (tolerance $tol) and with np=$NP on one host (bit for bit)"
  "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" "$WORK/np1.json" "$WORK/$name.json" "$tol" \
    || fail "np=$NP as $name hosts: parameters differ from np=1 by more than $tol"
  "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_history.py" "$WORK/np1/history.jsonl" "$WORK/$name/history.jsonl" "$tol" \
    || fail "np=$NP as $name hosts: history differs from np=1"
  "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" "$WORK/onehost.json" "$WORK/$name.json" 0 \
    || fail "np=$NP as $name hosts: parameters are not the bits of np=$NP on one host"
done

# --- No room for the shared window ----------------------------------------------
step "layout 2+2 with a 4 MB shared-memory directory: one warning, MPI_Iallreduce, np=1's parameters"
mkdir -p "$WORK/tiny-shm"
if mount -t tmpfs -o size=4m lockstep-tiny-shm "$WORK/tiny-shm" 2>"$WORK/err.txt"; then
  use_layout 2 2
  OMPI_MCA_osc_sm_backing_directory="$WORK/tiny-shm" \
    mpi "$WORK/flat.log" "$TRAINER" train "$config" "${common[@]}" --set run_dir="$WORK/flat" \
    || fail "training with too little shared memory failed (output above)"
  warnings=$(grep -c "warning: rank 0: a node could not make the shared-memory window" "$WORK/flat.log" || true)
  [[ $warnings -eq 1 ]] || fail "wanted one warning about the shared-memory window, got $warnings"
  "$TRAINER" inspect "$WORK/flat/final/model.pb" --json >"$WORK/flat.json"
  "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" "$WORK/np1.json" "$WORK/flat.json" "$tol" \
    || fail "the flat fall-back: parameters differ from np=1 by more than $tol"
  umount "$WORK/tiny-shm"
else
  echo "cannot mount a tmpfs ($(cat "$WORK/err.txt")): fall-back not checked here (tests/mpi checks the vote)"
fi

# --- A rank fails on one host --------------------------------------------------
# kill -9: the host's Open MPI daemon sees its child die and mpirun ends the
# job. SIGSTOP: nothing dies; the other ranks' collective time-out fires, the
# first to notice calls MPI_Abort and mpirun ends every host's ranks.
fail_rank() {  # SIGNAL: train long, hit a rank on host 2, check the job ends everywhere in time
  local sig=$1 pid="" t0 took status=0 ns left job
  use_layout 1 2 1
  step "layout 1+2+1: kill -$sig one rank on host 2 during training"
  mpi_command "$TRAINER" train "$config" --set distributed.sync_batch_norm=true --set epochs=1000 --set threads=1 \
    --set verbose=0 --set distributed.collective_timeout_seconds=$COLLECTIVE_TIMEOUT --set run_dir="$WORK/fail-$sig"
  timeout -k 10 "$TIMEOUT" "${cmd[@]}" >"$WORK/fail-$sig.log" 2>&1 &
  job=$!
  for _ in $(seq 600); do  # up to 60 s for the ranks to start training
    [[ -e $WORK/fail-$sig/history.jsonl ]] && break
    sleep 0.1
  done
  for p in $(ip netns pids "${spaces[1]}"); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == trainer ]] && { pid=$p; break; }
  done
  [[ -n $pid ]] || { kill -9 "$job" 2>/dev/null; cat "$WORK/fail-$sig.log"; fail "no trainer running on host 2"; }
  t0=$(date +%s.%N)
  kill "-$sig" "$pid"
  wait "$job" || status=$?
  took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  sed 's/^/  | /' "$WORK/fail-$sig.log" | tail -15
  echo "kill -$sig of a rank on host 2: mpirun exited with status $status after ${took}s"
  [[ $status -ne 0 ]] || fail "kill -$sig: the job exited 0"
  # (mpirun's own status is 137 when a rank died of SIGKILL; timeout's is 124)
  [[ $status -ne 124 ]] || fail "kill -$sig: the job did not end within ${TIMEOUT}s"
  awk -v t="$took" -v limit="$((COLLECTIVE_TIMEOUT + 15))" 'BEGIN { exit !(t < limit) }' \
    || fail "kill -$sig: the job took ${took}s to end (collective time-out ${COLLECTIVE_TIMEOUT}s)"
  for ns in "${spaces[@]}"; do
    left=0
    for p in $(ip netns pids "$ns"); do
      [[ $(cat "/proc/$p/comm" 2>/dev/null) == trainer ]] && left=$((left + 1))
    done
    [[ $left -eq 0 ]] || fail "kill -$sig: $left trainer processes still running in $ns"
  done
}
fail_rank KILL
fail_rank STOP
echo "PASSED: np=$NP over network-namespace hosts as ${names[*]} equals np=1, and a failed rank ends the job"
