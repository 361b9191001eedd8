#!/usr/bin/env bash
# lockstep with plain Open MPI across hosts (no batch system): a hostfile, ssh.
#
#   launch/mpirun_hosts.sh [-H HOSTFILE] [-n RANKS] [-t THREADS] [-i IFACE] [--dry-run] \
#                          CONFIG [TRAINER ARGS...]
#
# HOSTFILE is Open MPI's: one host a line, `slots=N` = ranks on that host, e.g.
#     node1 slots=2
#     node2 slots=2
# (default: ./hostfile, else $LOCKSTEP_HOSTFILE). RANKS defaults to the sum of the
# slots; ranks fill the hosts in order (node1 gets ranks 0-1). THREADS per rank
# default to the trainer's own choice (the host's cores / its ranks). IFACE pins
# MPI's TCP traffic to one network interface (e.g. eth1), for hosts with several.
#
# Requirements, as for any mpirun across hosts: password-less ssh from this host
# to every host in the file; the same trainer path on every host
# (LOCKSTEP_TRAINER, default build/bin/trainer here, made absolute); the config
# and data files at the same paths everywhere; and the run directory on a file
# system that every host sees (rank 0 writes checkpoints; on --resume every
# rank reads one). Training always starts with --resume auto, so running the
# same command again continues from the newest good checkpoint.
#
# Pre-emption: `kill -USR1 <pid of this script>` (or of mpirun) makes mpirun
# forward SIGUSR1 to every rank; they stop at the next step boundary, rank 0
# writes a checkpoint, and the command exits 75. SIGTERM/SIGINT to this script
# are passed on as SIGUSR1 too (mpirun itself would exit 1 on SIGTERM).
# Exit status: the trainer's (0 done, 75 stopped at a checkpoint, 2 bad usage,
# config or data, 1 failure at run time).
set -uo pipefail

die() { echo "error: mpirun_hosts.sh: $*" >&2; exit 2; }
usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }

hostfile=${LOCKSTEP_HOSTFILE:-hostfile}
ranks=""
threads=""
iface=""
dry=0
while [[ $# -gt 0 ]]; do
  case $1 in
    -H | --hostfile) hostfile=${2:?}; shift 2 ;;
    -n | --ranks) ranks=${2:?}; shift 2 ;;
    -t | --threads) threads=${2:?}; shift 2 ;;
    -i | --iface) iface=${2:?}; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || die "no CONFIG given (see --help)"
config=$1
shift
[[ -r $hostfile ]] || die "$hostfile: cannot read the hostfile (-H FILE or LOCKSTEP_HOSTFILE)"
[[ -r $config ]] || die "$config: cannot read the config"

here=$(cd "$(dirname "$0")/.." && pwd)
trainer=${LOCKSTEP_TRAINER:-$here/build/bin/trainer}
[[ $trainer == /* ]] || trainer=$(pwd)/$trainer
[[ -x $trainer ]] || die "$trainer: no trainer binary (build with launch/build.sh or set LOCKSTEP_TRAINER)"

# Slots per host from the hostfile (comments and blank lines skipped; no slots= is 1).
slots=$(awk '{sub(/#.*/, "")} NF {n = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) {sub(/^slots=/, "", $i); n = $i}; s += n} END {print s + 0}' "$hostfile")
((slots > 0)) || die "$hostfile: no hosts in it"
ranks=${ranks:-$slots}
[[ $ranks =~ ^[1-9][0-9]*$ ]] || die "-n wants a positive number of ranks, got '$ranks'"

cmd=(mpirun --hostfile "$hostfile" -np "$ranks" --map-by slot --bind-to none -x PATH)
[[ -n ${LD_LIBRARY_PATH:-} ]] && cmd+=(-x LD_LIBRARY_PATH)
((ranks > slots)) && cmd+=(--oversubscribe)
# shellcheck disable=SC2054  # tcp,vader,self is one argument
[[ -n $iface ]] && cmd+=(--mca btl tcp,vader,self --mca btl_tcp_if_include "$iface" --mca oob_tcp_if_include "$iface")
sets=()
if [[ -n $threads ]]; then
  sets+=(--set "threads=$threads")
  export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
  cmd+=(-x OMP_NUM_THREADS -x OPENBLAS_NUM_THREADS)
fi
# Open MPI refuses root unless told; only then (containers, test machines).
[[ $(id -u) -eq 0 ]] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

full=("${cmd[@]}" "$trainer" train "$config" --resume auto ${sets[@]+"${sets[@]}"} "$@")
echo "mpirun_hosts.sh: $ranks rank(s) on $(awk '{sub(/#.*/, "")} NF {print $1}' "$hostfile" | paste -sd, -)"
echo "mpirun_hosts.sh: ${full[*]}"
((dry)) && exit 0

child=""
traps=0
forward() {
  traps=$((traps + 1))
  echo "mpirun_hosts.sh: got SIG$1: passing SIGUSR1 to the ranks (they stop at the next step and write a checkpoint)"
  [[ -n $child ]] && kill -s USR1 "$child" 2>/dev/null
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM
trap 'forward INT' INT
"${full[@]}" &
child=$!
while :; do
  before=$traps
  wait "$child"
  status=$?
  ((status > 128 && traps != before)) || break
done
exit "$status"
