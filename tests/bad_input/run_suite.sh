#!/usr/bin/env bash
# The bad-input suite (issue 17, item 8): each row of cases.tsv is one
# hostile or careless input, the exit status `trainer` must give, and a
# regex for the place and cause in its one-line message "error: WHERE: WHAT".
#
#   run_suite.sh NP [NAME_REGEX]
#
# NP = 1 runs `trainer` alone; NP = 2 runs it under mpirun with 2 ranks, for
# the rows whose `ranks` column lists 2 (the inputs that reach MPI). Each row
# runs in a fresh copy of the fixtures (make_fixtures.py, plus one trained
# run with checkpoints) so a row may damage files freely. Every command is
# bounded by a timeout: a hang fails the row instead of the whole suite.
source "$(dirname "$0")/../e2e/lib.sh"
here=$(cd "$SOURCE_DIR/tests/bad_input" && pwd)
np=${1:?usage: run_suite.sh NP [NAME_REGEX]}
filter=${2:-.}
[[ $np == 1 || $np == 2 ]] || { echo "NP must be 1 or 2" >&2; exit 2; }
LAUNCH=()
[[ $np == 2 ]] && LAUNCH=("${MPIEXEC:?set by CTest}" -n 2 --oversubscribe)
# Long enough for mpirun's start-up on a busy 2-core machine; a hang ends
# here (status 124 or 137, never one a row expects).
CASE_TIMEOUT=${CASE_TIMEOUT:-60}
source "$here/helpers.sh"

# ---- fixtures: tiny data files, configs and one trained run ----
mkdir fx
(
  cd fx
  "$PYTHON" "$here/make_fixtures.py"
  "$TRAINER" train syn.pbtxt --set run_dir=trained --set checkpoint.every_steps=4 --set epochs=2 >/dev/null
  newest=$(ls trained/checkpoints/ckpt-*.pb | tail -1)
  "$PYTHON" "$here/make_fixtures.py" "$newest"
)

# one_line FILE: the message is one line. Usage errors alone are followed
# by the synopsis (`usage:`, indented lines, a blank line), as git does.
one_line() {
  [[ $(grep -c '' "$1") -eq 1 ]] && return 0
  head -1 "$1" | grep -q '^error: usage: ' && ! grep -Evq '^(  |usage:$|CONFIG is |$)' <(tail -n +2 "$1")
}

# check_row NAME WANT REGEX: the last command's status and output, in
# $WORK/status, out.txt and err.txt.
check_row() {
  local name=$1 want=$2 regex=$3 status
  status=$(cat "$WORK/status")
  local err="$WORK/case/err.txt" out="$WORK/case/out.txt"
  if [[ $status -ne $want ]]; then
    fail "$name: exit $status, wanted $want$( ((status == 124 || status == 137)) && echo ' (timed out: a hang)'); stderr: $(head -c 1500 "$err")"
  elif grep -Eq 'libprotobuf|Segmentation fault|terminate called|Aborted|AddressSanitizer|runtime error:' "$err"; then
    fail "$name: stderr shows a crash or protobuf's own log: $(head -c 1500 "$err")"
  elif ((want == 1 || want == 2)); then
    # The rank prefix is there under mpirun; the message is the same.
    if ! grep -Eq "^error: (rank [0-9]+( on [^:]+)?: )?${regex}" "$err"; then
      fail "$name: no line 'error: ${regex}' in stderr: $(head -c 1500 "$err")"
    elif [[ $np == 1 ]] && ! one_line "$err"; then
      fail "$name: stderr is not one line: $(head -c 1500 "$err")"
    else
      pass
    fi
  # grep reads the files itself: under pipefail, `cat | grep -q` fails
  # when grep stops at the first match while cat is still writing (SIGPIPE).
  elif ! grep -Eq "$regex" "$out" "$err"; then
    fail "$name: no line '${regex}' in the output: $(head -c 1500 "$out") $(head -c 1500 "$err")"
  else
    pass
  fi
}

rows=0
while IFS=$'\t' read -r name ranks want regex command; do
  [[ -z $name || $name == \#* ]] && continue
  [[ $name =~ $filter ]] || continue
  [[ ,$ranks, == *,$np,* ]] || continue
  rows=$((rows + 1))
  rm -rf "$WORK/case" && cp -a "$WORK/fx" "$WORK/case"
  status=0
  (cd "$WORK/case" && eval "$command") >"$WORK/case/out.txt" 2>"$WORK/case/err.txt" </dev/null || status=$?
  echo "$status" >"$WORK/status"
  check_row "$name" "$want" "$regex"
done <"$here/cases.tsv"
echo "np = $np: $rows rows"
((rows > 0)) || fail "no row matched '$filter' at np = $np"
finish
