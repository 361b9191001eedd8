#!/bin/sh
# Launch agent for Open MPI (--mca plm_rsh_agent) that stands in for ssh when
# every "host" is a Linux network namespace on this machine.
#
#   netns_agent.sh [ssh-style options] HOST COMMAND...
#
# HOST is looked up in the table named by $LOCKSTEP_NETNS_TABLE (lines
# "HOST NAMESPACE"; written by test_netns_hosts.sh) and COMMAND is run there
# through /bin/sh -c, with the words joined by spaces as ssh would. The
# environment is inherited (ssh would not pass it; here that is harmless).
# The command also gets a UTS namespace whose host name is the network
# namespace's name: Open MPI tells nodes apart by host name, and with one
# name for all "hosts" MPI_Comm_split_type(MPI_COMM_TYPE_SHARED) puts the
# ranks of different hosts into mismatched groups and the job hangs or crashes.
set -eu
table=${LOCKSTEP_NETNS_TABLE:?netns_agent.sh: LOCKSTEP_NETNS_TABLE is not set}

# Skip the options ssh accepts (Open MPI adds some through plm_rsh_args, e.g.
# -x or -o BatchMode=yes); those that take a value consume the next word.
while [ $# -gt 0 ]; do
  case $1 in
    -[bcDEeFIiJLlmOopQRSWw]) shift 2 ;;
    -[bcDEeFIiJLlmOopQRSWw]?*) shift ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || { echo "netns_agent.sh: usage: netns_agent.sh [options] HOST COMMAND..." >&2; exit 255; }
host=${1#*@}  # ssh also accepts user@host
shift
ns=$(awk -v h="$host" '$1 == h { print $2; exit }' "$table")
[ -n "$ns" ] || { echo "netns_agent.sh: unknown host '$host' (not in $table)" >&2; exit 255; }
# shellcheck disable=SC2016  # $0 and $1 belong to the inner shell
exec ip netns exec "$ns" unshare --uts /bin/sh -c 'hostname "$0" && exec /bin/sh -c "$1"' "$ns" "$*"
