# Helpers for end-to-end tests of the trainer program. Sourced by test_*.sh.
# CTest provides TRAINER, SOURCE_DIR, MPIEXEC and PYTHON.
set -euo pipefail
: "${TRAINER:?set by CTest}" "${SOURCE_DIR:?set by CTest}"
PYTHON=${PYTHON:-/usr/bin/python3}
# CI runs as root on 2 cores: allow both, and keep one thread per rank.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
failures=0
checks=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { checks=$((checks + 1)); }

# expect_error STATUS REGEX -- command...: the command must exit with STATUS
# and print a line matching "error: ..." REGEX on stderr, and never crash.
expect_error() {
  local want=$1 pattern=$2
  shift 3
  local status=0
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || status=$?
  if [[ $status -ne $want ]]; then
    fail "$* -> exit $status, wanted $want; stderr: $(cat "$WORK/err.txt")"
  elif ! grep -Eq "^error: .*${pattern}" "$WORK/err.txt"; then
    fail "$* -> stderr does not match 'error: .*${pattern}': $(cat "$WORK/err.txt")"
  else
    pass
  fi
}

# json_field FILE LINE FIELD: a number from history.jsonl
json_field() {
  sed -n "${2}p" "$1" | grep -Eo "\"$3\": [-+0-9.eE]+" | awk '{print $2}'
}

finish() {
  echo "$checks passed, $failures failed"
  [[ $failures -eq 0 ]]
}
