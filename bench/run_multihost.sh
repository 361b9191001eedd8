#!/usr/bin/env bash
# The gradient all-reduce over several hosts, on one machine: 2 hosts x 2
# ranks, each host a Linux network namespace (as in
# tests/multihost/test_netns_hosts.sh), every link rate-limited by a token
# bucket (tc tbf, both directions) to stand in for a 10 Gb/s network.
# bench_allreduce --flat times, in one job and interleaved:
#   lockstep       the hierarchical all-reduce (shared memory on each host, a
#                  chain over TCP between hosts; distributed/node_chain.h)
#   flat           the same buckets through MPI_Iallreduce over all ranks
#                  (what multi-node jobs did before)
#   MPI_Allreduce  Open MPI's blocking all-reduce of the whole buffer
# and prints "hierarchical vs flat" = median of per-repeat flat / lockstep.
#
#   sudo bench/run_multihost.sh                 # build/bin/bench_allreduce, 64 MB, 10gbit
#   RATE=25gbit MB=16 REPEATS=7 BUILD_DIR=build bench/run_multihost.sh
#   MB=0.8985 bench/run_multihost.sh            # fashion_mlp's gradient (235,530 floats)
#
# Needs root (namespaces, tc). Addresses 10.232.0.0/24 exist only inside the
# namespaces; everything is deleted on exit. A benchmark prints figures and
# never fails on time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$root/$BUILD_DIR
RATE=${RATE:-10gbit}
MB=${MB:-64}
REPEATS=${REPEATS:-5}
NET=10.232.0
bench="$BUILD_DIR/bin/bench_allreduce"
[[ -x $bench ]] || { echo "error: run_multihost.sh: no $bench (build the bench_allreduce target)" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "error: run_multihost.sh: needs root (network namespaces, tc)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

TAG=lockstep-bench-$$
SWITCH=$TAG-sw
WORK=$(mktemp -d)
spaces=()
cleanup() {
  local ns pids
  for ns in "${spaces[@]}" "$SWITCH"; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086  # one word per pid
    [[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# A token bucket on an interface's egress: RATE, a burst of 4 ms at that
# rate (tbf needs at least rate / HZ), packets queued up to 20 ms.
shape() {  # NAMESPACE DEVICE
  local bits=${RATE%bit} burst_bytes
  case $bits in
    *g) burst_bytes=$(( ${bits%g} * 1000000000 / 8 / 250 )) ;;
    *m) burst_bytes=$(( ${bits%m} * 1000000 / 8 / 250 )) ;;
    *) echo "error: run_multihost.sh: RATE must look like 10gbit or 500mbit, got $RATE" >&2; exit 2 ;;
  esac
  ip netns exec "$1" tc qdisc add dev "$2" root tbf rate "$RATE" burst "$burst_bytes" latency 20ms
}

ip netns add "$SWITCH"
ip -n "$SWITCH" link set lo up
ip -n "$SWITCH" link add br0 type bridge
ip -n "$SWITCH" link set br0 up
: >"$WORK/hosts.table"
: >"$WORK/hostfile"
for i in 1 2; do
  ns=$TAG-h$i
  ip netns add "$ns"
  spaces+=("$ns")
  ip -n "$SWITCH" link add "port$i" type veth peer name eth0 netns "$ns"
  ip -n "$SWITCH" link set "port$i" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$NET.$i/24" dev eth0
  ip -n "$ns" link set eth0 up
  shape "$ns" eth0          # host -> switch
  shape "$SWITCH" "port$i"  # switch -> host
  echo "$NET.$i $ns" >>"$WORK/hosts.table"
  echo "$NET.$i slots=2" >>"$WORK/hostfile"
done
export LOCKSTEP_NETNS_TABLE="$WORK/hosts.table"
cp "$root/tests/multihost/netns_agent.sh" "$WORK/netns_agent.sh"
chmod +x "$WORK/netns_agent.sh"
echo "2 hosts x 2 ranks, links shaped by tc tbf to $RATE each way:"
ip netns exec "${spaces[0]}" tc qdisc show dev eth0

# shellcheck disable=SC2016  # $0 and $@ belong to the inner shell
ip netns exec "${spaces[0]}" unshare --uts sh -c 'hostname "$0" && exec "$@"' "${spaces[0]}" \
  mpirun --allow-run-as-root --oversubscribe -np 4 --hostfile "$WORK/hostfile" \
  --mca plm_rsh_agent "$WORK/netns_agent.sh" --mca plm_rsh_no_tree_spawn 1 \
  --mca btl tcp,self --mca btl_tcp_if_include "$NET.0/24" --mca oob_tcp_if_include "$NET.0/24" \
  -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS \
  "$bench" --mb "$MB" --repeats "$REPEATS" --flat
