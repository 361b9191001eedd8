#!/usr/bin/env bash
# A run directory that holds a run is not silently replaced: training into
# it again is an error that names the two ways on (--resume auto,
# --overwrite); --overwrite starts over (and removes only what a run
# writes); --resume and --overwrite together are a usage error; under
# mpirun the error ends every rank.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
common=(--set epochs=2 --set verbose=0 --set threads=1 --set run_dir=run)

"$TRAINER" train "$config" "${common[@]}" && pass || fail "first run"
expect_error 2 "run: holds a run already .*--resume auto.*--overwrite" -- "$TRAINER" train "$config" "${common[@]}"
expect_error 2 "run: holds a run already" -- "$MPIEXEC" -n 2 --oversubscribe "$TRAINER" train "$config" "${common[@]}"
expect_error 2 "usage: --resume and --overwrite contradict each other" -- \
  "$TRAINER" train "$config" "${common[@]}" --resume auto --overwrite

echo "notes" >run/notes.txt
"$TRAINER" train "$config" "${common[@]}" --set epochs=1 --overwrite && pass || fail "--overwrite"
[[ $(grep -c . run/history.jsonl) -eq 1 ]] && pass || fail "--overwrite kept the old history: $(cat run/history.jsonl)"
[[ -f run/notes.txt ]] && pass || fail "--overwrite removed a file that is not the run's"
"$TRAINER" train "$config" "${common[@]}" --set epochs=3 --resume auto >resume.txt && pass || fail "--resume auto"
[[ $(grep -c . run/history.jsonl) -eq 3 ]] && pass || fail "resumed run: $(cat run/history.jsonl)"
# A fresh folder, or one with other files only, needs neither flag.
mkdir other && echo x >other/readme.txt
"$TRAINER" train "$config" "${common[@]}" --set run_dir=other && pass || fail "a folder without a run"
finish
