#!/usr/bin/env python3
"""CPU time (user + sys) of two commands, alternating, ROUNDS rounds: the median
of the per-round ratios B/A. CPU time leaves out the time a process waits
for a core, which dominates the wall-time noise on a shared machine.
    bench/cpu_ab.py ROUNDS "COMMAND A" "COMMAND B"
"""
import os, resource, subprocess, sys, statistics

rounds = int(sys.argv[1]); a, b = sys.argv[2], sys.argv[3]
env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
def cpu(cmd):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, shell=True, check=True, env=env, stdout=subprocess.DEVNULL)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
ta, tb, ratios = [], [], []
for r in range(rounds):
    order = [("a", a), ("b", b)] if r % 2 == 0 else [("b", b), ("a", a)]
    got = {k: cpu(c) for k, c in order}
    ta.append(got["a"]); tb.append(got["b"]); ratios.append(got["b"] / got["a"])
print(f"cpu seconds A {statistics.median(ta):.3f}, B {statistics.median(tb):.3f}; B/A median of per-round ratios "
      f"{statistics.median(ratios):.4f} (range {min(ratios):.3f}-{max(ratios):.3f}); ratio of medians "
      f"{statistics.median(tb)/statistics.median(ta):.4f}; {rounds} rounds")
