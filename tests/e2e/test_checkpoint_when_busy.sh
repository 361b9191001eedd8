#!/usr/bin/env bash
# checkpoint { when_busy: "skip" }: a periodic checkpoint that comes due
# while the previous one is still being written is left out, and training
# goes on. On the digits-sized set an epoch (44 steps) is shorter than a
# write and its two fsyncs, so some are skipped here, how many depends on
# the disk; what must hold whatever the disk does:
# - every epoch has its checkpoint file or is counted as skipped (the last
#   one is always written, at the end of the run);
# - every file written loads, and resuming from one continues the run;
# - training is not changed: the final model is the same bits as with
#   when_busy: "wait", which writes every checkpoint.
source "$(dirname "$0")/lib.sh"
config="$SOURCE_DIR/bench/configs/digits_mlp.pbtxt"
epochs=30
steps_per_epoch=44
common=(--set epochs=$epochs --set checkpoint.keep=0 --set threads=1)
tensors() { "$TRAINER" inspect "$1" --json | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["tensors"])'; }

"$TRAINER" train "$config" "${common[@]}" --set checkpoint.when_busy=skip --set run_dir=skip >skip.txt
"$TRAINER" train "$config" "${common[@]}" --set checkpoint.when_busy=wait --set run_dir=wait >wait.txt

written=$(ls skip/checkpoints | grep -c '^ckpt-.*\.pb$')
skipped=$(grep -Eo '^checkpoint: [0-9]+ periodic checkpoints skipped' skip.txt | grep -Eo '[0-9]+' || echo 0)
[[ $((written + skipped)) -ge $epochs && $((written + skipped)) -le $((epochs + 1)) ]] && pass ||
  fail "skip: $written written + $skipped skipped for $epochs epochs: $(cat skip.txt)"
[[ $(ls wait/checkpoints | grep -c '^ckpt-.*\.pb$') -eq $epochs ]] && pass ||
  fail "wait: not one checkpoint per epoch: $(ls wait/checkpoints)"
grep -q "skipped" wait.txt && fail "wait: skipped a checkpoint: $(cat wait.txt)" || pass

last=$(printf 'skip/checkpoints/ckpt-%08d.pb' $((epochs * steps_per_epoch)))
[[ -f $last ]] && pass || fail "skip: the last checkpoint $last is missing: $(ls skip/checkpoints)"
for f in skip/checkpoints/ckpt-*.pb; do
  step=$(basename "$f" .pb | sed 's/^ckpt-0*//')
  [[ $((step % steps_per_epoch)) -eq 0 ]] && "$TRAINER" inspect "$f" >/dev/null && pass ||
    fail "skip: $f is not an epoch's checkpoint that loads"
done

[[ $(tensors skip/final/model.pb) == "$(tensors wait/final/model.pb)" ]] && pass ||
  fail "skip and wait trained different models"

# Resume from the first checkpoint written continues to the same model.
first=$(ls skip/checkpoints/ckpt-*.pb | head -1)
"$TRAINER" train "$config" "${common[@]}" --set checkpoint.when_busy=skip --set run_dir=skip \
  --resume "$first" >resume.txt
[[ $(tensors skip/final/model.pb) == "$(tensors wait/final/model.pb)" ]] && pass ||
  fail "resumed from $first: not the same final model: $(cat resume.txt)"
finish
