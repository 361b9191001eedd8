"""Compares the tensors of two `trainer inspect --json` dumps.

usage: compare_models.py A.json B.json TOLERANCE [--expect-differ] [--ignore SUBSTRING]
Relative difference per element: |a - b| / max(|a|, 1e-2) (the floor keeps
values near zero from turning rounding noise into huge ratios). Exit 0 when
the maximum is <= TOLERANCE (or > it, with --expect-differ).
"""
import json
import sys


def load(path):
    with open(path) as f:
        return {t["name"]: t["values"] for t in json.load(f)["tensors"]}


def main():
    a, b, tol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
    expect_differ = "--expect-differ" in sys.argv
    if "--ignore" in sys.argv:  # tensors whose names contain it exist in one or both, unchecked
        skip = sys.argv[sys.argv.index("--ignore") + 1]
        a = {k: v for k, v in a.items() if skip not in k}
        b = {k: v for k, v in b.items() if skip not in k}
    if set(a) != set(b):
        print("tensor names differ:", sorted(set(a) ^ set(b)))
        return 1
    worst, where = 0.0, ""
    for name, values in a.items():
        for x, y in zip(values, b[name]):
            d = abs(x - y) / max(abs(x), 1e-2)
            if d > worst:
                worst, where = d, name
    print(f"max relative difference {worst:.3g} (in {where})")
    ok = worst > tol if expect_differ else worst <= tol
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
