#!/usr/bin/env bash
# Set up, build and run every test (unit, MPI under mpiexec, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/build.sh
cd build
status=0
ctest --output-on-failure --timeout 900 -j 2 "$@" || status=$?
# CTest hides the output of skipped tests; say why they were skipped.
grep -h '^SKIPPED:' Testing/Temporary/LastTest.log 2>/dev/null || true
exit $status
