#!/usr/bin/env bash
# OpenBLAS kernel selection (core/blas_kernels.h): a site's OPENBLAS_CORETYPE
# is respected; where OpenBLAS falls back to its generic Prescott kernels on
# a CPU with AVX2/AVX-512 (Debian 12's 0.3.21 on CPUs newer than it), trainer
# re-executes itself with the core type the CPU's features call for, also
# under mpirun; LOCKSTEP_BLAS_AUTO=0 leaves OpenBLAS' own choice.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
unset OPENBLAS_CORETYPE
blas() { "$@" | grep '^BLAS: '; }

pinned=$(OPENBLAS_CORETYPE=Haswell blas "$TRAINER" summary "$config")
[[ $pinned == "BLAS: OpenBLAS "*", Haswell kernels (OPENBLAS_CORETYPE=Haswell); "* ]] && pass || fail "pin ignored: $pinned"

own=$(LOCKSTEP_BLAS_AUTO=0 blas "$TRAINER" summary "$config")
auto=$(blas "$TRAINER" summary "$config")
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { [[ " $flags " == *" $1 "* ]]; }
if [[ $own == *", Prescott kernels; "* ]] && has avx2 && has fma; then
  if has avx512f && has avx512bw && has avx512dq && has avx512vl; then
    want=SkylakeX
    has avx512_bf16 && want=Cooperlake
  else
    want=Haswell
  fi
  [[ $auto == *", $want kernels (selected by lockstep"* ]] && pass || fail "wanted $want: $auto (own choice: $own)"
else
  # OpenBLAS knows this CPU (or it has nothing better): its choice stands.
  [[ $auto == "$own" ]] && pass || fail "overrode OpenBLAS' choice: $auto (own choice: $own)"
fi
# Linked against OpenBLAS' OpenMP build (the default where Debian's is
# installed, CMakeLists.txt), the summary says so: one thread pool per rank.
# Not `ldd | grep -q`: under pipefail grep's early exit can fail the pipeline.
if [[ $(ldd "$TRAINER") == *openblas-openmp/libopenblas* ]]; then
  [[ $auto == *"; OpenMP threads" ]] && pass || fail "OpenMP OpenBLAS linked, summary says: $auto"
fi
mpi=$("$MPIEXEC" -n 2 --oversubscribe "$TRAINER" summary "$config" | grep '^BLAS: ')
[[ $mpi == "$auto" ]] && pass || fail "under mpirun: $mpi, alone: $auto"
# Training runs after the re-execution, alone and under mpirun.
"$TRAINER" train "$config" --set epochs=1 --set verbose=0 --set run_dir=one && pass || fail "train"
"$MPIEXEC" -n 2 --oversubscribe "$TRAINER" train "$config" --set epochs=1 --set verbose=0 --set run_dir=two \
  && pass || fail "train under mpirun"
finish
