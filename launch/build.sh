#!/usr/bin/env bash
# Installs dependencies (launch/setup.sh) and builds lockstep into build/.
# Executables land in build/bin/ (build/bin/trainer).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/setup.sh "$@"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
