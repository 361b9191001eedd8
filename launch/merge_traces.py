#!/usr/bin/env python3
"""Merge the per-rank timelines of `trainer train --trace FILE` into one file.

Each rank writes FILE with .rankR before its extension (trace.rank0.json,
trace.rank1.json, ...): its events have pid = R and time zero is the moment
the ranks left a common barrier, so merging is concatenating the events.
Open the result in https://ui.perfetto.dev or chrome://tracing: one process
per rank, lanes "compute", "reduction" and "checkpoint writer".

    /usr/bin/python3 launch/merge_traces.py trace.rank*.json -o trace.json
"""
import argparse
import json
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="the ranks' trace files")
    parser.add_argument("-o", "--output", required=True, help="the merged file to write")
    args = parser.parse_args()
    events, ranks, dropped = [], [], 0
    for path in args.inputs:
        try:
            with open(path) as f:
                trace = json.load(f)
            events.extend(trace["traceEvents"])
            other = trace.get("otherData", {})
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"error: {path}: not a lockstep timeline: {e}", file=sys.stderr)
            return 2
        ranks.append(other.get("rank"))
        dropped += int(other.get("dropped", 0))
    if len(set(ranks)) != len(ranks):
        print(f"error: {', '.join(args.inputs)}: the same rank twice ({ranks})", file=sys.stderr)
        return 2
    merged = {"traceEvents": events, "displayTimeUnit": "ms",
              "otherData": {"ranks": len(ranks), "dropped": dropped, "merged_from": args.inputs}}
    with open(args.output, "w") as f:
        json.dump(merged, f, separators=(",", ":"))
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
