#!/usr/bin/env bash
# Every file a run or a command writes is checked: history.jsonl,
# history.csv, config.pbtxt, predictions and reports on a full device
# (/dev/full) are an error naming the file and the OS's reason, exit 1; the
# checkpoints already written are unchanged and load. (A disk that fills up
# during a run: test_disk_full.sh.)
source "$(dirname "$0")/lib.sh"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
common=(--set verbose=0 --set threads=1)
"$TRAINER" train "$config" "${common[@]}" --set epochs=1 --set run_dir=run >/dev/null
ckpt=run/checkpoints/ckpt-00000050.pb
before=$(md5sum <$ckpt)
unchanged() {
  [[ $(md5sum <$ckpt) == "$before" ]] && "$TRAINER" inspect $ckpt >/dev/null && pass ||
    fail "$1: the checkpoint changed or no longer loads"
}
enospc="No space left on device"

# A resumed run rewrites its history first.
mv run/history.jsonl history.saved && ln -s /dev/full run/history.jsonl
expect_error 1 "run/history.jsonl: cannot write: $enospc$" -- \
  "$TRAINER" train "$config" "${common[@]}" --set epochs=2 --set run_dir=run --resume auto
unchanged "history.jsonl"
rm run/history.jsonl && mv history.saved run/history.jsonl

# A new run (no checkpoint to resume) fails at the end of its first epoch.
mkdir fresh && ln -s /dev/full fresh/history.jsonl
expect_error 1 "fresh/history.jsonl: cannot write: $enospc$" -- \
  "$TRAINER" train "$config" "${common[@]}" --set epochs=1 --set run_dir=fresh --resume auto

# Keras' CSVLogger and the run's config.pbtxt.
ln -s /dev/full run/history.csv
expect_error 1 "run/history.csv: cannot write: $enospc$" -- \
  "$TRAINER" train "$config" "${common[@]}" --set epochs=2 --set run_dir=run --set 'callbacks={csv_logger{}}' \
  --resume auto
unchanged "history.csv"
rm run/history.csv
mv run/config.pbtxt config.saved && ln -s /dev/full run/config.pbtxt
expect_error 1 "run/config.pbtxt: cannot write: $enospc$" -- \
  "$TRAINER" train "$config" "${common[@]}" --set epochs=2 --set run_dir=run --resume auto
unchanged "config.pbtxt"
rm run/config.pbtxt && mv config.saved run/config.pbtxt

# predict --output and report --output (a link to /dev/full stays a link).
expect_error 1 "/dev/full: cannot write: $enospc$" -- \
  "$TRAINER" predict "$config" "${common[@]}" --model run/final --output /dev/full
ln -s /dev/full report.html
expect_error 1 "report.html: cannot write: $enospc$" -- "$TRAINER" report run --output report.html
[[ -L report.html ]] && pass || fail "report --output replaced the link to /dev/full"
"$TRAINER" report run --output ok.html >/dev/null && [[ -s ok.html ]] && pass || fail "report to a regular file"
finish
