#!/usr/bin/env bash
# Checkpoint throughput vs the disk: lockstep's atomic save (write + fsync +
# rename + fsync of the folder) and verified load of a 128 MB model, next to
# `dd conv=fsync` of the same size on the same disk, alternating, medians.
#   bench/run_checkpoint.sh [DIR]   (default: a temporary folder under ./)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
[[ -x $build/bin/bench_checkpoint ]] || launch/build.sh >/dev/null
dir=${1:-$(mktemp -d ./bench_ckpt.XXXXXX)}
mb=128
dd_rates=() ours=()
for r in 1 2 3 4 5; do
  start=$(date +%s.%N)
  dd if=/dev/zero of="$dir/dd.bin" bs=1M count=$mb conv=fsync status=none
  end=$(date +%s.%N)
  dd_rates+=("$(echo "$mb / ($end - $start)" | bc -l)")
  rm -f "$dir/dd.bin"
  ours+=("$("$build/bin/bench_checkpoint" --mb $mb --repeats 1 --dir "$dir")")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
dd_mbs=$(median "${dd_rates[@]}")
save=$(median $(printf '%s\n' "${ours[@]}" | grep -o '"save_mb_per_s": [0-9.]*' | awk '{print $2}'))
load=$(median $(printf '%s\n' "${ours[@]}" | grep -o '"load_mb_per_s": [0-9.]*' | awk '{print $2}'))
save_s=$(median $(printf '%s\n' "${ours[@]}" | grep -o '"save_seconds": [0-9.]*' | awk '{print $2}'))
printf '%-34s %10s\n' "what ($mb MB, median of 5)" "MB/s"
printf '%-34s %10.0f\n' "dd bs=1M conv=fsync" "$dd_mbs"
printf '%-34s %10.0f   (%.0f%% of dd; %.2f s per save)\n' "lockstep save (atomic)" "$save" \
  "$(echo "100 * $save / $dd_mbs" | bc -l)" "$save_s"
printf '%-34s %10.0f\n' "lockstep load (verified)" "$load"
[[ $# -ge 1 ]] || rm -rf "$dir"
