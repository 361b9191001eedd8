#!/usr/bin/env bash
# The kernel objects (core/kernels/variant_*.cpp.o) must define nothing
# global but their table function and must run no code at start-up: every
# path's object is linked into every program, so an out-of-line copy of a
# header's inline function (a weak symbol: std::copy, an Eigen evaluator)
# would let the linker hand the AVX-512 copy to the baseline path, and a
# static initialiser would run AVX-512 code on every CPU. (The kernels are
# [[gnu::flatten]] for this; see core/kernels/variant.inc.)
#   check_kernel_symbols.sh OBJECT[:OBJECT...]   (CTest passes lockstep_core's objects)
set -euo pipefail
IFS=':' read -r -a objects <<<"$1"
checked=0 passes=0 failures=0
for object in "${objects[@]}"; do
  [[ $object == */variant_*.o ]] || continue
  name=$(basename "$object" .cpp.o)   # variant_avx2
  path=${name#variant_}               # avx2
  checked=$((checked + 1))
  # Defined symbols that are not local (upper-case type, or u/i/v/w).
  globals=$(nm -C --defined-only "$object" | awk '$2 ~ /^[A-Zuivw]$/ {$1 = ""; $2 = ""; print substr($0, 3)}')
  # An empty object (a path this build does not have) defines nothing.
  if [[ -n $globals && $globals != "lockstep::kernels::${path}_table()" ]]; then
    echo "FAIL: $name.o defines global symbols other than lockstep::kernels::${path}_table():" >&2
    echo "$globals" | grep -vx "lockstep::kernels::${path}_table()" | sed 's/^/  /' >&2
    failures=$((failures + 1))
  else
    passes=$((passes + 1))
  fi
  if nm "$object" | grep -q '_GLOBAL__sub_I' || objdump -h "$object" | grep -Eq '\.(init_array|ctors)'; then
    echo "FAIL: $name.o has a static initialiser (code that runs at start-up on every CPU)" >&2
    failures=$((failures + 1))
  else
    passes=$((passes + 1))
  fi
done
if [[ $checked -ne 3 ]]; then
  echo "FAIL: expected the 3 kernel objects (variant_baseline, _avx2, _avx512), found $checked" >&2
  failures=$((failures + 1))
fi
echo "$passes passed, $failures failed"
[[ $failures -eq 0 ]]
