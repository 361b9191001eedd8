#!/usr/bin/env bash
# The installed package, as a user of lockstep sees it:
#   1. `cmake --install BUILD_DIR --prefix TMP` (the current build, static or
#      shared libraries as it was configured);
#   2. the layout: bin/trainer, headers, lib/cmake/lockstep, lib/pkgconfig,
#      share/lockstep (Slurm and PBS scripts, example configs, .proto files);
#      nothing installed points back into the source or build tree;
#   3. the installed `trainer --version` (no mpirun) and `trainer summary` of an
#      installed example config;
#   4. tests/package/consumer, a separate CMake project, configured with
#      find_package(lockstep) and -DCMAKE_PREFIX_PATH=TMP only: it builds a
#      Keras-style model with core/keras.h, trains it a few epochs and writes
#      a checkpoint, which the installed `trainer inspect` reads and `trainer
#      evaluate` scores exactly as the consumer did;
#   5. `pkg-config --cflags --libs lockstep`: every installed header compiles
#      in one translation unit with those flags, and a small program links
#      and runs with them.
# Environment (set by CTest): BUILD_DIR, SOURCE_DIR, CMAKE, CXX; or run by hand:
#   BUILD_DIR=build-shared SOURCE_DIR=$PWD bash tests/package/test_install.sh
set -euo pipefail

BUILD_DIR=${BUILD_DIR:?set BUILD_DIR to a configured and built lockstep build directory}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
CMAKE=${CMAKE:-cmake}
CXX=${CXX:-c++}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lockstep_package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $* ($SECONDS s)"; }

shared=$(sed -n 's/^BUILD_SHARED_LIBS:BOOL=//p' "$BUILD_DIR/CMakeCache.txt")
openmp=$(sed -n 's/^LOCKSTEP_OPENMP:BOOL=//p' "$BUILD_DIR/CMakeCache.txt")
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD_DIR/CMakeCache.txt")
[[ -n $version ]] || fail "no project version in $BUILD_DIR/CMakeCache.txt"
echo "lockstep $version, shared libraries: ${shared:-OFF}, OpenMP: ${openmp:-?}"

step "install into $prefix"
"$CMAKE" --install "$BUILD_DIR" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
libdir=$(dirname "$(find "$prefix" -name lockstepConfig.cmake -path '*/cmake/lockstep/*' | head -1)")
libdir=${libdir%/cmake/lockstep}
[[ -d $libdir ]] || fail "no lockstepConfig.cmake installed"

step "layout"
for f in bin/trainer include/lockstep/version.h include/lockstep/core/keras.h include/lockstep/core/model.h \
         include/lockstep/core/layers/layer.h include/lockstep/distributed/runtime.h \
         include/lockstep/proto/model.pb.h include/lockstep/proto/train.pb.h include/lockstep/proto/checkpoint.pb.h \
         share/lockstep/proto/model.proto share/lockstep/proto/train.proto share/lockstep/proto/checkpoint.proto \
         share/lockstep/launch/slurm/train.sbatch share/lockstep/launch/slurm/sweep.sbatch \
         share/lockstep/launch/pbs/train.pbs share/lockstep/launch/mpirun_hosts.sh \
         share/lockstep/launch/read_checkpoint.py share/lockstep/launch/python/lockstep/checkpoint.py \
         share/lockstep/launch/configs/seed_mlp.pbtxt share/lockstep/launch/configs/fashion_cnn.pbtxt; do
  [[ -e $prefix/$f ]] || fail "$f not installed"
done
for f in lockstepConfig.cmake lockstepConfigVersion.cmake lockstepTargets.cmake; do
  [[ -e $libdir/cmake/lockstep/$f ]] || fail "${libdir#"$prefix"/}/cmake/lockstep/$f not installed"
done
[[ -e $libdir/pkgconfig/lockstep.pc ]] || fail "lockstep.pc not installed"
for part in proto core distributed; do
  if [[ $shared == ON ]]; then ls "$libdir"/liblockstep_$part.so* >/dev/null 2>&1 || fail "liblockstep_$part.so not installed"
  else [[ -e $libdir/liblockstep_$part.a ]] || fail "liblockstep_$part.a not installed"; fi
done
# Every installed header the package's own headers include must be installed too.
(cd "$SOURCE_DIR" && find core distributed -name '*.h') | while read -r h; do
  [[ -e $prefix/include/lockstep/$h ]] || fail "header $h not installed"
done
if grep -rlF -e "$(cd "$BUILD_DIR" && pwd)" -e "$SOURCE_DIR/" "$libdir/cmake/lockstep" "$libdir/pkgconfig" "$prefix/include"; then
  fail "installed files above refer to the build or source tree"
fi

step "installed trainer --version"
trainer=$prefix/bin/trainer
env -u OMPI_COMM_WORLD_SIZE "$trainer" --version | tee "$tmp/version.txt"
grep -qx "lockstep $version" "$tmp/version.txt" || fail "trainer --version does not say 'lockstep $version'"
for key in "git revision: " "compiler: " "BLAS: OpenBLAS" "MPI: "; do
  grep -q "^$key" "$tmp/version.txt" || fail "trainer --version has no '$key' line"
done
if [[ $openmp == ON ]]; then
  grep -q "^BLAS: .*OpenMP threads" "$tmp/version.txt" || fail "installed trainer does not load OpenBLAS' OpenMP build"
fi
if [[ $shared == ON ]]; then
  [[ $(ldd "$trainer") == *"liblockstep_core.so"*" => $prefix/"* ]] || { ldd "$trainer"; fail "installed trainer does not load liblockstep_core from $prefix"; }
fi
(cd "$tmp" && "$trainer" summary "$prefix/share/lockstep/launch/configs/seed_mlp.pbtxt" >summary.txt) || fail "trainer summary of the installed seed_mlp.pbtxt"
grep -q "Trainable params: 5,510" "$tmp/summary.txt" || { cat "$tmp/summary.txt"; fail "unexpected summary of seed_mlp.pbtxt"; }

step "consumer project: configure with find_package(lockstep)"
"$CMAKE" -S "$SOURCE_DIR/tests/package/consumer" -B "$tmp/consumer-build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$CXX" >"$tmp/consumer-configure.log" 2>&1 \
  || { cat "$tmp/consumer-configure.log"; fail "configuring the consumer project"; }
grep "consumer: lockstep" "$tmp/consumer-configure.log"
grep -q "consumer: lockstep $version from $libdir/cmake/lockstep" "$tmp/consumer-configure.log" \
  || fail "find_package did not find lockstep $version in the temporary prefix"
step "consumer project: build"
"$CMAKE" --build "$tmp/consumer-build" >"$tmp/consumer-build.log" 2>&1 \
  || { cat "$tmp/consumer-build.log"; fail "building the consumer project"; }
if [[ $openmp == ON ]]; then
  [[ $(ldd "$tmp/consumer-build/consumer") == *"libopenblas.so.0 => "*"/openblas-openmp/"* ]] \
    || { ldd "$tmp/consumer-build/consumer"; fail "the consumer does not load OpenBLAS' OpenMP build"; }
fi

step "consumer project: train and checkpoint"
"$tmp/consumer-build/consumer" "$tmp/run" | tee "$tmp/consumer.txt"
[[ -s $tmp/run/model.pb ]] || fail "the consumer wrote no checkpoint"

step "installed trainer inspect and evaluate read the consumer's checkpoint"
"$trainer" inspect "$tmp/run/model.pb" | tee "$tmp/inspect.txt"
grep -q "optimizer adam" "$tmp/inspect.txt" || fail "trainer inspect: no 'optimizer adam'"
grep -q "57 steps in all" "$tmp/inspect.txt" || fail "trainer inspect: not 57 steps (3 epochs of 19 batches)"
grep -q "epoch 3: loss" "$tmp/inspect.txt" || fail "trainer inspect: no history"
grep -Eq "^ +dense_1/kernel +PARAMETER +\[8, 32\]" "$tmp/inspect.txt" || fail "trainer inspect: no dense_1/kernel [8, 32]"
"$trainer" inspect "$tmp/run/model.pb" --json | python3 -c '
import json, sys
c = json.load(sys.stdin)
names = {t["name"] for t in c["tensors"]}
assert c["header"]["optimizer_kind"] == "adam", c["header"]["optimizer_kind"]
assert len(c["header"]["history"]) == 3, c["header"]["history"]
assert any(n.endswith("moving_mean") for n in names), names
' || fail "trainer inspect --json"
# The installed Python reader finds the installed .proto files (share/lockstep/proto).
LOCKSTEP_PB_CACHE="$tmp/pb_cache" /usr/bin/python3 "$prefix/share/lockstep/launch/read_checkpoint.py" \
  "$tmp/run/model.pb" >"$tmp/python_reader.txt" || fail "the installed read_checkpoint.py"
grep -qx "dense_1/kernel (8, 32)" "$tmp/python_reader.txt" || fail "installed read_checkpoint.py: no dense_1/kernel (8, 32)"
(cd "$tmp" && "$trainer" evaluate run/config.pbtxt --checkpoint run/model.pb --on train) | tee "$tmp/evaluate.txt"
python3 - "$tmp/consumer.txt" "$tmp/evaluate.txt" <<'PY' || fail "trainer evaluate differs from the consumer's own evaluation"
import json, sys
mine, theirs = (json.loads([l for l in open(p) if l.startswith("{")][-1]) for p in sys.argv[1:])
assert mine["samples"] == theirs["samples"], (mine, theirs)
assert abs(mine["loss"] - theirs["loss"]) <= 1e-4 * abs(mine["loss"]), (mine, theirs)
assert abs(mine["accuracy"] - theirs["accuracy"]) <= 1.5 / mine["samples"], (mine, theirs)
PY

step "pkg-config"
export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
[[ $(pkg-config --modversion lockstep) == "$version" ]] || fail "pkg-config --modversion lockstep"
cflags=$(pkg-config --cflags lockstep) || fail "pkg-config --cflags lockstep"
libs=$(pkg-config --libs lockstep) || fail "pkg-config --libs lockstep"
echo "cflags: $cflags"
echo "libs:   $libs"
# Every installed header at once (each must be self-contained in the installed layout).
(cd "$prefix/include/lockstep" && find core distributed -name '*.h' | sort | sed 's/.*/#include "&"/') >"$tmp/all_headers.cpp"
read -r -a cflag_words <<<"$cflags"
read -r -a lib_words <<<"$libs"
"$CXX" -std=c++17 "${cflag_words[@]}" -c "$tmp/all_headers.cpp" -o "$tmp/all_headers.o" || fail "the installed headers do not compile together with pkg-config --cflags (each must include what it uses, in the installed layout)"
"$CXX" -std=c++17 -O1 "${cflag_words[@]}" "$SOURCE_DIR/tests/package/pkgconfig_main.cpp" -o "$tmp/pkgconfig_main" "${lib_words[@]}" \
  || fail "building with pkg-config --cflags --libs lockstep"
run_env=()
[[ $shared == ON ]] && run_env=(env "LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
"${run_env[@]}" "$tmp/pkgconfig_main" || fail "the program built with pkg-config"
if [[ $openmp == ON ]]; then
  [[ $("${run_env[@]}" ldd "$tmp/pkgconfig_main") == *"libopenblas.so.0 => "*"/openblas-openmp/"* ]] \
    || fail "the program built with pkg-config does not load OpenBLAS' OpenMP build"
fi

step "done"
echo "PASS: install, find_package consumer, pkg-config ($SECONDS s)"
