#!/usr/bin/env bash
# Installs the Debian 12 packages lockstep needs. Idempotent and
# non-interactive: packages already present are not touched, and the package
# lists are refreshed only when something is missing.
#   launch/setup.sh            build + test dependencies (qemu-user: tests/e2e/test_isa_paths.sh
#                              runs the portable trainer on emulated older CPUs)
#   launch/setup.sh --bench    also what the benchmarks compare against (PyTorch)
#   launch/setup.sh --fuzz     also clang and its sanitizer/libFuzzer runtimes
#                              (the "fuzz" CMake preset, tests/fuzz/)
set -euo pipefail

packages=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin libopenblas-dev
          libopenblas-openmp-dev
          libprotobuf-dev protobuf-compiler libeigen3-dev libgtest-dev zlib1g-dev libcli11-dev
          dataset-fashion-mnist python3 python3-numpy python3-protobuf iproute2 bc chromium
          qemu-user)
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(python3-torch) ;;
    --fuzz) packages+=(clang libclang-rt-14-dev) ;;
    *) echo "error: setup: unknown option '$arg' (known: --bench, --fuzz)" >&2; exit 2 ;;
  esac
done
# trainer export: ONNX's schema (onnx.proto) to build it; tests/e2e/test_export_onnx.sh
# checks the ONNX model (python3-onnx) and the PyTorch rebuild (python3-torch).
packages+=(libonnx-dev python3-onnx python3-torch)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "error: setup: need root or sudo to install: ${missing[*]}" >&2; exit 2; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
