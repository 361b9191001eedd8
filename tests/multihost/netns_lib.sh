# shellcheck shell=bash
# Several "hosts" on one machine as Linux network namespaces, for
# tests/multihost/test_netns_hosts.sh and bench/run_multihost.sh (sourced by
# both, so the two set up the same network the same way).
#
# Each host is a namespace NETNS_TAG-hI with one interface eth0 (NETNS_NET.I/24),
# joined by a veth pair to a bridge br0 that lives in a namespace of its own
# (NETNS_TAG-sw, the "switch"). The pairs are born in the switch namespace and
# their host ends moved straight to the hosts: nothing ever appears in the
# machine's own namespace, so no traffic can leave. mpirun runs in host 1
# and starts its daemons on the other hosts through netns_agent.sh (in place
# of ssh); ranks talk over Open MPI's TCP transport between hosts.
#
# The caller sets, before netns_create_hosts:
#   NETNS_TAG   namespace prefix, lockstep-$$ (netns_remove_stale relies on it)
#   NETNS_NET   the first three octets of the subnet, e.g. 10.231.0
#   NETNS_WORK  a private folder (hosts table, hostfile, a copy of the agent)
# and may redefine netns_try (the test turns a failed step into a skip).
# Afterwards: NETNS_SPACES (host namespaces, in order), NETNS_CREATED (every
# namespace made, for netns_cleanup), LOCKSTEP_NETNS_TABLE (exported, for the
# agent), netns_mpi_opts (mpirun options without -np and --hostfile).

NETNS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NETNS_SPACES=()
NETNS_CREATED=()

# WHAT COMMAND...: run it; by default a failure ends the script with its error.
netns_try() {
  local what=$1
  shift
  "$@" 2>"$NETNS_WORK/err.txt" || {
    echo "error: $what: '$*' failed: $(tr '\n' ' ' <"$NETNS_WORK/err.txt")" >&2
    exit 2
  }
}

# Namespaces left by runs that were killed outright (no EXIT trap: CTest's
# time-out sends SIGKILL) carry the PID of a process that no longer exists.
netns_remove_stale() {
  local ns pid pids
  for ns in $(ip netns list 2>/dev/null | grep -Eo '^lockstep-[0-9]+-(sw|h[0-9]+)' || true); do
    pid=${ns#lockstep-}
    pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null && continue
    echo "removing $ns, left over by an earlier run"
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086  # one word per pid
    [[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}

# Ends whatever still runs in our namespaces (orted, ranks of a failed run),
# then deletes them.
netns_cleanup() {
  local ns pids
  for ns in "${NETNS_CREATED[@]}"; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086  # one word per pid
    [[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  NETNS_CREATED=()
}

netns_create_hosts() {  # N
  local n=$1 i ns addr switch=$NETNS_TAG-sw
  netns_try "cannot create a network namespace" ip netns add "$switch"
  NETNS_CREATED+=("$switch")
  netns_try "cannot configure a network namespace" ip -n "$switch" link set lo up
  netns_try "cannot create a bridge (kernel module 'bridge')" ip -n "$switch" link add br0 type bridge
  netns_try "cannot bring up the bridge" ip -n "$switch" link set br0 up
  : >"$NETNS_WORK/hosts.table"
  for ((i = 1; i <= n; i++)); do
    ns=$NETNS_TAG-h$i addr=$NETNS_NET.$i
    netns_try "cannot create a network namespace" ip netns add "$ns"
    NETNS_CREATED+=("$ns")
    netns_try "cannot create a veth pair (kernel module 'veth')" \
      ip -n "$switch" link add "port$i" type veth peer name eth0 netns "$ns"
    netns_try "cannot attach to the bridge" ip -n "$switch" link set "port$i" master br0 up
    netns_try "cannot configure $ns" ip -n "$ns" link set lo up
    netns_try "cannot configure $ns" ip -n "$ns" addr add "$addr/24" dev eth0
    netns_try "cannot configure $ns" ip -n "$ns" link set eth0 up
    NETNS_SPACES+=("$ns")
    echo "$addr $ns" >>"$NETNS_WORK/hosts.table"
  done
  export LOCKSTEP_NETNS_TABLE="$NETNS_WORK/hosts.table"
  # A private copy, so the agent is executable whatever the checkout's modes.
  cp "$NETNS_LIB_DIR/netns_agent.sh" "$NETNS_WORK/netns_agent.sh"
  chmod +x "$NETNS_WORK/netns_agent.sh"
  # shellcheck disable=SC2054  # "tcp,self" is one word
  netns_mpi_opts=(--allow-run-as-root --oversubscribe
    --mca plm_rsh_agent "$NETNS_WORK/netns_agent.sh" --mca plm_rsh_no_tree_spawn 1
    --mca btl tcp,self --mca btl_tcp_if_include "$NETNS_NET.0/24" --mca oob_tcp_if_include "$NETNS_NET.0/24"
    -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
}

# RATE (10gbit, 500mbit): a token bucket on both directions of every host's
# link (the host's eth0 and its switch port): RATE, a burst of 4 ms at that
# rate (tbf needs at least rate / HZ), packets queued up to 20 ms.
netns_shape_links() {
  local rate=$1 bits=${1%bit} burst i
  case $bits in
    *g) burst=$((${bits%g} * 1000000000 / 8 / 250)) ;;
    *m) burst=$((${bits%m} * 1000000 / 8 / 250)) ;;
    *) echo "error: RATE must look like 10gbit or 500mbit, got $rate" >&2; exit 2 ;;
  esac
  for ((i = 1; i <= ${#NETNS_SPACES[@]}; i++)); do
    netns_try "tc tbf" ip netns exec "${NETNS_SPACES[i - 1]}" tc qdisc add dev eth0 root tbf rate "$rate" burst "$burst" latency 20ms
    netns_try "tc tbf" ip netns exec "$NETNS_TAG-sw" tc qdisc add dev "port$i" root tbf rate "$rate" burst "$burst" latency 20ms
  done
}

# RANKS_ON_HOST1 RANKS_ON_HOST2 ...: the hostfile mpirun maps by slot.
netns_hostfile() {
  local i=0 n
  : >"$NETNS_WORK/hostfile"
  for n in "$@"; do
    i=$((i + 1))
    echo "$NETNS_NET.$i slots=$n" >>"$NETNS_WORK/hostfile"
  done
}

# ARGS...: sets netns_cmd to mpirun in host 1 over the hostfile's hosts.
# Host 1 also gets its own host name (a UTS namespace, as the agent gives the
# others): Open MPI tells nodes apart by name, and with one name for all
# hosts MPI_Comm_split_type(SHARED) goes wrong and the job hangs.
netns_mpirun_command() {
  # shellcheck disable=SC2034,SC2016  # read by the caller; $0 and $@ belong to the inner shell
  netns_cmd=(ip netns exec "${NETNS_SPACES[0]}" unshare --uts sh -c 'hostname "$0" && exec "$@"' "${NETNS_SPACES[0]}"
    "${MPIEXEC:-mpirun}" "${netns_mpi_opts[@]}" --hostfile "$NETNS_WORK/hostfile" "$@")
}
