#!/usr/bin/env bash
# The timeline (--trace FILE, profile.trace): at np = 1 and np = 2 every
# rank writes well-formed Chrome-trace JSON with pid = its rank; every step
# holds the batch assembly, forward of every layer in order (layers without
# a pass of their own named by the pass that absorbs them), the loss,
# backward in reverse order and the optimizer, all nested inside the step;
# at np = 2 every gradient bucket's reduction appears once per step on the
# reduction lane, with a wait for it. A path that cannot be written is an
# error before training (exit 2); a failed run still writes its timeline;
# a full recorder drops and says so.
source "$(dirname "$0")/lib.sh"
: "${MPIEXEC:?set by CTest}"
config="$SOURCE_DIR/launch/configs/seed_mlp.pbtxt"
# seed_mlp: 5,510 trainable parameters; 10 kB buckets make three of them.
common=(--set epochs=2 --set verbose=0 --set distributed.bucket_size_mb=0.01)

# check_trace FILE RANK RANKS STEPS
check_trace() {
  "$PYTHON" - "$@" <<'PY'
import json, sys
path, rank, ranks, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
trace = json.load(open(path))
assert trace["displayTimeUnit"] == "ms"
events = trace["traceEvents"]
assert trace["otherData"]["rank"] == rank and trace["otherData"]["ranks"] == ranks, trace["otherData"]
assert trace["otherData"]["dropped"] == 0
assert all(e["pid"] == rank for e in events), "pid is not the rank"
meta = {(e["name"], e["tid"]): e["args"] for e in events if e["ph"] == "M"}
assert meta[("process_name", 0)]["name"] == f"rank {rank}", meta
assert meta[("thread_name", 0)]["name"] == "compute" and meta[("thread_name", 1)]["name"] == "reduction"

X = [e for e in events if e["ph"] == "X"]
assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in X)
# The compute lane nests: an event starting inside another ends inside it.
lane = sorted((e for e in X if e["tid"] == 0), key=lambda e: (e["ts"], -e["dur"]))
stack = []
for e in lane:
    while stack and e["ts"] >= stack[-1]["ts"] + stack[-1]["dur"]:
        stack.pop()
    if stack:
        p = stack[-1]
        assert e["ts"] + e["dur"] <= p["ts"] + p["dur"] + 1e-6, f"{e['name']} overlaps the end of {p['name']}"
    stack.append(e)

layers = ["dense_1", "batch_normalization_1", "activation_1", "dropout_1", "dense_2", "batch_normalization_2",
          "activation_2", "dropout_2", "dense_3", "batch_normalization_3", "activation_3"]
step_events = [e for e in X if e["cat"] == "step"]
assert [e["args"]["step"] for e in step_events] == list(range(1, steps + 1)), [e["args"] for e in step_events]
inside = lambda e, s: s["ts"] <= e["ts"] and e["ts"] + e["dur"] <= s["ts"] + s["dur"] + 1e-6
for s in step_events:
    kids = sorted((e for e in lane if e is not s and inside(e, s)), key=lambda e: e["ts"])
    cats = [e["cat"] for e in kids]
    for c in ["data", "loss", "optimizer"]:
        assert c in cats, f"step {s['args']['step']}: no {c} event: {cats}"
    for direction, order in [("forward", layers), ("backward", layers[::-1])]:
        passes = [e for e in kids if e["cat"] == direction]
        covered = []
        for e in passes:
            covered.append(e["name"])
            covered += e["args"].get("absorbs", "").split(",") if e["args"].get("absorbs") else []
        assert sorted(covered) == sorted(layers), f"{direction}: {covered}"
        layer_of = [e["args"]["layer"] for e in passes]
        assert layer_of == sorted(layer_of, reverse=(direction == "backward")), f"{direction} order {layer_of}"
    first_backward = min(e["ts"] for e in kids if e["cat"] == "backward")
    last_forward = max(e["ts"] + e["dur"] for e in kids if e["cat"] == "forward")
    loss = next(e for e in kids if e["cat"] == "loss")
    assert last_forward <= loss["ts"] and loss["ts"] + loss["dur"] <= first_backward + 1e-6
for c in ["epoch", "validation", "checkpoint"] if steps % 50 == 0 else ["checkpoint"]:
    assert any(e["cat"] == c for e in X), f"no {c} event"

begins = [e for e in events if e["ph"] == "b"]
ends = {e["id"]: e for e in events if e["ph"] == "e"}
if ranks == 1:
    assert not begins, "reductions at one rank"
else:
    assert len(begins) == 3 * steps, f"{len(begins)} bucket reductions for {steps} steps of 3 buckets"
    for b in begins:
        assert b["cat"] == "reduction" and b["tid"] == 1 and b["name"].startswith("gradient bucket ")
        assert ends[b["id"]]["ts"] >= b["ts"]
    waits = [e for e in X if e["cat"] == "wait" and e["name"].startswith("gradient bucket ")]
    assert len(waits) == 3 * steps, len(waits)
    assert any(e["cat"] == "collective" and "batch statistics" in e["name"] for e in X)
PY
}

# `trainer help train` describes the option.
"$TRAINER" help train | grep -q -- "--trace FILE" && pass || fail "help train does not describe --trace"

# np = 1: the file as named; seed_mlp has 50 steps an epoch.
"$TRAINER" train "$config" "${common[@]}" --set run_dir=one --trace one.json && pass || fail "np=1 run"
check_trace one.json 0 1 100 && pass || fail "np=1 trace"

# The config field does the same; relative to the working directory.
mkdir sub
"$TRAINER" train "$config" "${common[@]}" --set run_dir=cfg --set profile.trace=sub/cfg.json --set max_steps=5 &&
  pass || fail "profile.trace run"
check_trace sub/cfg.json 0 1 5 && pass || fail "profile.trace trace"

# np = 2: one file per rank, .rankR before the extension; merged, two processes.
"$MPIEXEC" -n 2 --oversubscribe "$TRAINER" train "$config" "${common[@]}" --set run_dir=two --trace two.json &&
  pass || fail "np=2 run"
[[ ! -e two.json ]] && pass || fail "np=2 wrote two.json"
check_trace two.rank0.json 0 2 100 && pass || fail "np=2 rank 0 trace"
check_trace two.rank1.json 1 2 100 && pass || fail "np=2 rank 1 trace"
"$PYTHON" "$SOURCE_DIR/launch/merge_traces.py" two.rank0.json two.rank1.json -o merged.json && pass || fail "merge"
"$PYTHON" -c "
import json; t = json.load(open('merged.json'))
assert {e['pid'] for e in t['traceEvents']} == {0, 1}
assert sum(e['ph'] == 'X' and e['cat'] == 'step' for e in t['traceEvents']) == 200" && pass || fail "merged trace"

# Bad paths: said before training, exit 2, nothing trained.
mkdir adir
expect_error 2 "--trace: 'adir' is a directory: give the name of a file to write$" -- \
  "$TRAINER" train "$config" --set run_dir=bad1 --trace adir
[[ ! -e bad1 ]] && pass || fail "trained into bad1 despite the bad trace path"
expect_error 2 "--trace: 'nowhere/t.json': the folder 'nowhere' does not exist \(create it first\)$" -- \
  "$TRAINER" train "$config" --set run_dir=bad2 --trace nowhere/t.json
expect_error 2 "--set profile.trace: 'nowhere/t.json': the folder 'nowhere' does not exist" -- \
  "$TRAINER" train "$config" --set run_dir=bad3 --set profile.trace=nowhere/t.json
status=0
"$MPIEXEC" -n 2 --oversubscribe "$TRAINER" train "$config" --set run_dir=bad4 --trace nowhere/t.json \
  >out.txt 2>err.txt || status=$?
[[ $status -eq 2 ]] && grep -q "the folder 'nowhere' does not exist" err.txt && pass ||
  fail "np=2 missing folder: exit $status, $(cat err.txt)"

# A run that fails still leaves its timeline, up to the failure.
status=0
LOCKSTEP_INJECT_FAULT=fail:0:7 "$TRAINER" train "$config" "${common[@]}" --set run_dir=failed --trace failed.json \
  >/dev/null 2>failed.err || status=$?
[[ $status -eq 1 ]] && pass || fail "injected failure: exit $status: $(cat failed.err)"
"$PYTHON" -c "
import json; t = json.load(open('failed.json'))
steps = [e for e in t['traceEvents'] if e['ph'] == 'X' and e['cat'] == 'step']
assert len(steps) == 7, len(steps)" && pass || fail "no timeline of the failed run"

# A full recorder keeps the first events, drops the rest and says how many.
"$TRAINER" train "$config" "${common[@]}" --set run_dir=small --trace small.json --set profile.max_events=50 \
  2>small.err && pass || fail "small recorder run"
grep -q "^warning: small.json: [0-9]* events past profile.max_events (50) were not recorded" small.err && pass ||
  fail "no drop warning: $(cat small.err)"
"$PYTHON" -c "
import json; t = json.load(open('small.json'))
assert t['otherData']['events'] == 50 and t['otherData']['dropped'] > 0" && pass || fail "dropped count"

finish
