#!/usr/bin/env bash
# The command line as a user meets it: `trainer help COMMAND` and
# `trainer COMMAND --help` describe every option with examples; a mistyped
# option names the closest one; repeated options and surplus arguments are
# usage errors (exit 2); the generated man page and bash completion list
# every command and option.
source "$(dirname "$0")/lib.sh"
for command in train evaluate predict summary inspect export report; do
  "$TRAINER" help $command >help.txt && pass || fail "help $command: exit $?"
  "$TRAINER" $command --help >dash.txt && pass || fail "$command --help: exit $?"
  cmp -s help.txt dash.txt && pass || fail "help $command and $command --help differ"
  grep -q "^Examples:" help.txt && grep -q "  trainer $command\|mpirun.*trainer $command" help.txt \
    && pass || fail "help $command has no example: $(cat help.txt)"
done
for option in --resume --overwrite --set; do
  grep -q -- "$option" <("$TRAINER" help train) && pass || fail "help train lacks $option"
done
for option in --model --checkpoint --on --data --json; do
  grep -q -- "$option" <("$TRAINER" help evaluate) && pass || fail "help evaluate lacks $option"
done
expect_error 2 "usage: 'train' has no option --resme \(did you mean --resume\?\)" -- "$TRAINER" train x.pbtxt --resme auto
expect_error 2 "usage: 'evaluate' has no option --modle \(did you mean --model\?\)" -- "$TRAINER" evaluate --modle d
expect_error 2 "usage: 'train' has no option --epochs$" -- "$TRAINER" train x.pbtxt --epochs 3
expect_error 2 "usage: --resume given twice" -- "$TRAINER" train x.pbtxt --resume auto --resume auto
expect_error 2 "usage: 'train' takes 1 argument\(s\), got 2" -- "$TRAINER" train a.pbtxt b.pbtxt
expect_error 2 "usage: --resume: " -- "$TRAINER" train x.pbtxt --resume
expect_error 2 "usage: unknown command 'nope'" -- "$TRAINER" help nope
# Build products: the man page and the completion, from the same table.
build=$(dirname "$(dirname "$TRAINER")")
if [[ -f $build/trainer.1 ]]; then
  for command in train evaluate predict summary inspect export report; do
    grep -q "^\.SS $command" "$build/trainer.1" && pass || fail "trainer.1 lacks $command"
  done
  if command -v man >/dev/null; then
    man -l "$build/trainer.1" >/dev/null 2>&1 && pass || fail "trainer.1 does not render"
  fi
fi
"$TRAINER" completion >trainer.bash
words=$(bash -c 'source ./trainer.bash; COMP_WORDS=(trainer train --re); COMP_CWORD=2; _lockstep_trainer; echo "${COMPREPLY[*]}"')
[[ $words == "--resume" ]] && pass || fail "completion of 'trainer train --re': '$words'"
words=$(bash -c 'source ./trainer.bash; COMP_WORDS=(trainer ev); COMP_CWORD=1; _lockstep_trainer; echo "${COMPREPLY[*]}"')
[[ $words == "evaluate" ]] && pass || fail "completion of 'trainer ev': '$words'"
finish
