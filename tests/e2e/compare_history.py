"""Compares loss/accuracy/val_loss/val_accuracy of two history.jsonl files.

usage: compare_history.py A B TOLERANCE   (absolute difference)
"""
import json
import sys

FIELDS = ("loss", "accuracy", "val_loss", "val_accuracy")


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    a, b, tol = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3])
    if len(a) != len(b):
        print(f"{len(a)} epochs vs {len(b)}")
        return 1
    worst = max(abs(x[f] - y[f]) for x, y in zip(a, b) for f in FIELDS)
    print(f"max history difference {worst:.3g}")
    return 0 if worst <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
