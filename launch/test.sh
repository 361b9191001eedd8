#!/usr/bin/env bash
# Set up, build and run every test (unit, MPI under mpiexec, end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/build.sh
cd build
ctest --output-on-failure --timeout 900 -j 2 "$@"
