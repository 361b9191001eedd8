#!/usr/bin/env bash
# Portable binaries (core/isa.h, core/kernels/): `trainer --version` names
# the instruction-set path in use; LOCKSTEP_ISA forces each path this CPU
# runs, refuses unknown names and paths the CPU cannot run (one error line,
# exit 2); and a short training gives the same parameters on every path:
#  - cnn_small with relu in place of its tanh (Conv2D, BatchNormalization,
#    pooling, dropout, SGD): bit for bit, since every kernel it uses does the
#    same IEEE operations on every path (no FMA contraction in the kernels);
#  - cnn_small as it is and seed_mlp (tanh): within 1e-4 (relative, as the
#    np = 1 vs np = N tests), not bit for bit: tanh goes through Eigen's
#    polynomial, which uses FMA instructions where the path has them, and
#    the last-bit differences grow over the steps.
# Then, where qemu-user is installed, the same binary on emulated older CPUs:
# Nehalem (x86-64-v2, no AVX) runs the baseline path and trains to the same
# parameters within 1e-4 (OpenBLAS picks other kernels there); a CPU with
# AVX2 but no AVX-512 refuses LOCKSTEP_ISA=avx512.
source "$(dirname "$0")/lib.sh"
cnn="$SOURCE_DIR/tests/e2e/configs/cnn_small.pbtxt"
mlp="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
relu=(--set 'model.layers[4].conv2d.activation=relu')
compare() { "$PYTHON" "$SOURCE_DIR/tests/e2e/compare_models.py" "$@"; }

"$TRAINER" --version >version.txt
isa=$(sed -n 's/^ISA: //p' version.txt)
[[ -n $isa ]] && pass || fail "trainer --version prints no ISA line: $(cat version.txt)"
if [[ $isa == "native (built with -march=native)" ]]; then
  expect_error 2 "LOCKSTEP_ISA=avx2: cannot use the avx2 path: this build \(-DLOCKSTEP_NATIVE=ON\) has only the native path" -- \
    env LOCKSTEP_ISA=avx2 "$TRAINER" --version
  echo "SKIPPED: a -DLOCKSTEP_NATIVE=ON build has one path: nothing to compare"
  finish || exit 1
  exit 77
fi
# "avx512 (chosen from the CPU; LOCKSTEP_ISA can force: baseline, avx2, avx512)"
paths=$(sed -n 's/.*\(can force\|machine runs\): \([a-z0-9, ]*\))$/\2/p' <<<"$isa" | tr -d ',')
[[ -n $paths ]] && pass || fail "no list of paths in '$isa'"
echo "ISA: $isa"

expect_error 2 "LOCKSTEP_ISA=sse9: unknown path \(known: baseline, avx2, avx512, native" -- \
  env LOCKSTEP_ISA=sse9 "$TRAINER" --version
expect_error 2 "LOCKSTEP_ISA=sse9: unknown path" -- \
  env LOCKSTEP_ISA=sse9 "$TRAINER" train "$cnn" --set run_dir=bad
[[ $(wc -l <"$WORK/err.txt") -eq 1 ]] && pass || fail "more than one error line: $(cat "$WORK/err.txt")"
for p in baseline avx2 avx512 native; do
  [[ " $paths " == *" $p "* ]] && continue
  expect_error 2 "LOCKSTEP_ISA=$p: cannot use the $p path" -- env LOCKSTEP_ISA=$p "$TRAINER" --version
done

first=""
for p in $paths; do
  forced=$(LOCKSTEP_ISA=$p "$TRAINER" --version | sed -n 's/^ISA: //p')
  [[ $forced == "$p (forced by LOCKSTEP_ISA"* ]] && pass || fail "LOCKSTEP_ISA=$p: --version says ISA: $forced"
  for run in cnn cnn_relu mlp; do
    case $run in
      cnn) args=("$cnn" --set epochs=2) ;;
      cnn_relu) args=("$cnn" --set epochs=2 "${relu[@]}") ;;
      mlp) args=("$mlp" --set epochs=2) ;;
    esac
    LOCKSTEP_ISA=$p "$TRAINER" train "${args[@]}" --set run_dir=$run-$p >/dev/null
    "$TRAINER" inspect $run-$p/final/model.pb --json >$run-$p.json
  done
  if [[ -n $first ]]; then
    compare cnn_relu-$first.json cnn_relu-$p.json 0 && pass || fail "cnn_small (relu): $p differs from $first"
    compare cnn-$first.json cnn-$p.json 1e-4 && pass || fail "cnn_small: $p differs from $first beyond 1e-4"
    compare mlp-$first.json mlp-$p.json 1e-4 && pass || fail "seed_mlp: $p differs from $first beyond 1e-4"
  fi
  first=${first:-$p}
done

# Older CPUs, emulated. OPENBLAS_CORETYPE is unset there: a pin to Haswell
# kernels (this machine's environment sets one) would be wrong on them.
qemu=$(command -v qemu-x86_64 || true)
if [[ -z $qemu || $(uname -m) != x86_64 || " $paths " != *" baseline "* ]]; then
  echo "qemu-x86_64 not installed (or not a portable x86-64 build): emulated CPUs not tested"
else
  old() { env -u OPENBLAS_CORETYPE "$qemu" -cpu "$@"; }
  emulated=$(old Nehalem "$TRAINER" --version 2>/dev/null | sed -n 's/^ISA: //p')
  [[ $emulated == "baseline (chosen from the CPU; LOCKSTEP_ISA can force: baseline)" ]] && pass ||
    fail "Nehalem: --version says ISA: $emulated"
  expect_error 2 "LOCKSTEP_ISA=avx2: cannot use the avx2 path: this CPU cannot run it" -- \
    env -u OPENBLAS_CORETYPE LOCKSTEP_ISA=avx2 "$qemu" -cpu Nehalem "$TRAINER" --version
  old Nehalem "$TRAINER" train "$cnn" --set epochs=2 "${relu[@]}" --set run_dir=nehalem >/dev/null 2>nehalem.err &&
    pass || fail "Nehalem: training failed: $(tail -3 nehalem.err)"
  "$TRAINER" inspect nehalem/final/model.pb --json >nehalem.json
  compare cnn_relu-$first.json nehalem.json 1e-4 && pass || fail "Nehalem: parameters differ beyond 1e-4"
  # qemu's "max" CPU has AVX2 and FMA (x86-64-v3) but no AVX-512.
  expect_error 2 "LOCKSTEP_ISA=avx512: cannot use the avx512 path: this CPU cannot run it" -- \
    env -u OPENBLAS_CORETYPE LOCKSTEP_ISA=avx512 "$qemu" -cpu max "$TRAINER" --version
fi
finish
