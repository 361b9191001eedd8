#!/usr/bin/python3
"""Tables and curves of the BatchNormalization placement study.

    bench/study/analyze.py OUT [--trainer build/bin/trainer] [--no-reports]
                           [--target seed=0.95,0.99] [--target fashion=0.85,0.88]

OUT is bench/study/placement.sh's results folder. Reads every
OUT/runs/sweep/DATASET/ACT/ARM/lrRATE/sSEED/history.jsonl and
OUT/runs/np4/DATASET/ACT/before/bBATCH/MODE/sSEED/history.jsonl and prints
Markdown:

* per dataset, activation and arm the best learning rate (highest mean final
  test accuracy over the seeds), mean +- sd over the seeds of the final and the
  best (highest over the epochs) test accuracy, the epoch of the best, the
  epochs until the test accuracy first reaches each target (mean over the
  seeds that reach it; "k/n" says how many do) and the difference of the mean
  final accuracy to the "before" arm with its standard error;
* the same for every learning rate;
* np = 4, synchronized vs local BatchNormalization.

"Test accuracy" is history.jsonl's val_accuracy: the official test set on
Fashion-MNIST, the held-out 20% (validation_split) on the seed task. With
--trainer, `trainer report` writes OUT/reports/*.html: per dataset and
activation the best-rate run of each arm (first seed), per np = 4 batch size
sync vs local (first seed). Standard library only.
"""

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys

DEFAULT_TARGETS = {"seed": [0.95, 0.99], "fashion": [0.85, 0.88]}
# trainer writes a diverged run's loss as nan/-nan/inf, which JSON lacks.
NONFINITE = re.compile(r'(:\s*)(-?)(nan|inf)\b', re.IGNORECASE)


def _nonfinite(m):
    if m.group(3).lower() == "nan":
        return m.group(1) + "NaN"
    return m.group(1) + m.group(2) + "Infinity"
DATASET_TITLES = {
    "seed": "Seed task (14 features, 2 classes; test = the held-out validation_split 0.2, 800 samples)",
    "fashion": "Fashion-MNIST (test = the official 10,000 test images)",
}
ARM_ORDER = {"before": 0, "after": 1, "none": 2}
ARM_TITLES = {"before": "before act.", "after": "after act.", "none": "none"}


def read_history(path):
    """Epoch records of one history.jsonl; a torn last line is skipped."""
    records = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(NONFINITE.sub(_nonfinite, line)))
            except json.JSONDecodeError:
                break
    return records


class Run:
    def __init__(self, directory, history):
        self.dir = directory
        self.val = [r["val_accuracy"] for r in history]
        self.final = self.val[-1]
        self.best = max(self.val)
        self.best_epoch = self.val.index(self.best) + 1
        self.epochs = len(self.val)
        self.seconds = sum(r["seconds"] for r in history)
        self.diverged = not math.isfinite(history[-1]["loss"])
        self.lr = None
        try:
            with open(os.path.join(directory, "config.pbtxt")) as f:
                m = re.search(r"learning_rate:\s*([0-9.eE+-]+)", f.read())
            self.lr = float(m.group(1)) if m else None
        except OSError:
            pass

    def epochs_to(self, target):
        for i, v in enumerate(self.val):
            if v >= target:
                return i + 1
        return None


def collect(out):
    """{key tuple: [Run]} for the sweep and the np = 4 runs."""
    sweep, np4 = {}, {}
    base = os.path.join(out, "runs")
    for dirpath, _, files in os.walk(base):
        if "history.jsonl" not in files:
            continue
        parts = os.path.relpath(dirpath, base).split(os.sep)
        history = read_history(os.path.join(dirpath, "history.jsonl"))
        if not history or not os.path.exists(os.path.join(dirpath, "final", "model.pb")):
            print(f"warning: {dirpath}: unfinished run left out", file=sys.stderr)
            continue
        run = Run(dirpath, history)
        run.seed = int(parts[-1][1:])
        if parts[0] == "sweep" and len(parts) == 6:
            _, ds, act, arm, lr, _ = parts
            sweep.setdefault((ds, act, arm, float(lr[2:])), []).append(run)
        elif parts[0] == "np4" and len(parts) == 7:
            _, ds, act, arm, batch, mode, _ = parts
            np4.setdefault((ds, act, arm, int(batch[1:]), mode), []).append(run)
    for runs in list(sweep.values()) + list(np4.values()):
        runs.sort(key=lambda r: r.seed)
    return sweep, np4


def mean_sd(values, digits=4):
    if not values:
        return "—"
    m = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {sd:.{digits}f}"


def diff_se(a, b, digits=4):
    """mean(a) - mean(b) with the standard error of the difference (Welch)."""
    if len(a) < 2 or len(b) < 2:
        return "—"
    d = statistics.fmean(a) - statistics.fmean(b)
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return f"{d:+.{digits}f} ± {se:.{digits}f}"


def reach(runs, target):
    hits = [e for e in (r.epochs_to(target) for r in runs) if e is not None]
    if not hits:
        return f"never (0/{len(runs)})"
    s = f"{statistics.fmean(hits):.1f}"
    return s if len(hits) == len(runs) else f"{s} ({len(hits)}/{len(runs)})"


def fmt_lr(lr):
    return f"{lr:g}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def run_report(trainer, dirs, output):
    os.makedirs(os.path.dirname(output), exist_ok=True)
    result = subprocess.run([trainer, "report", *dirs, "--output", output],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        print(f"warning: trainer report failed for {output}: {result.stdout.strip()}", file=sys.stderr)
        return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="placement.sh's results folder")
    ap.add_argument("--trainer", help="trainer binary for the HTML curves (trainer report)")
    ap.add_argument("--no-reports", action="store_true", help="tables only")
    ap.add_argument("--target", action="append", default=[], metavar="DATASET=ACC[,ACC]",
                    help="accuracy targets for 'epochs to' (default seed=0.95,0.99, fashion=0.85,0.88)")
    args = ap.parse_args()
    targets = dict(DEFAULT_TARGETS)
    for t in args.target:
        ds, _, values = t.partition("=")
        targets[ds] = [float(v) for v in values.split(",") if v]

    out = os.path.abspath(args.out)
    sweep, np4 = collect(out)
    if not sweep and not np4:
        sys.exit(f"error: analyze.py: no finished runs under {out}/runs")
    reports = []
    make_reports = args.trainer and not args.no_reports

    print("# BatchNormalization placement study\n")
    print(f"Results folder `{out}`: {sum(map(len, sweep.values()))} sweep runs, "
          f"{sum(map(len, np4.values()))} np = 4 runs. Accuracy = test accuracy (history.jsonl's "
          "val_accuracy); mean ± sd over the seeds. Best rate = the highest mean final test accuracy "
          "(chosen on the test set, alike for every arm). \"final − before\": difference of the mean "
          "final accuracy to the same activation's BatchNormalization-before arm at its best rate, "
          "± the standard error of the difference.\n")

    datasets = sorted({k[0] for k in sweep}, key=lambda d: (d != "seed", d))
    for ds in datasets:
        tg = targets.get(ds, [])
        keys = [k for k in sweep if k[0] == ds]
        acts = sorted({k[1] for k in keys}, key=lambda a: (a != "tanh", a))
        arms = sorted({k[2] for k in keys}, key=lambda a: ARM_ORDER.get(a, 9))
        lrs = sorted({k[3] for k in keys})
        any_runs = sweep[keys[0]]
        seeds = sorted({r.seed for k in keys for r in sweep[k]})
        print(f"## {DATASET_TITLES.get(ds, ds)}\n")
        print(f"{any_runs[0].epochs} epochs, seeds {seeds[0]}–{seeds[-1]} ({len(seeds)}), "
              f"learning rates {', '.join(fmt_lr(x) for x in lrs)}.\n")
        print("Best learning rate per arm:\n")
        rows = []
        best = {}
        for act in acts:
            for arm in arms:
                cands = [(statistics.fmean(r.final for r in sweep[k]), k) for k in keys
                         if k[1] == act and k[2] == arm]
                if not cands:
                    continue
                _, k = max(cands)
                best[(act, arm)] = sweep[k]
        for act in acts:
            for arm in arms:
                runs = best.get((act, arm))
                if runs is None:
                    continue
                ref = best.get((act, "before"))
                lr = [k for k, v in sweep.items() if v is runs][0][3]
                rows.append([act, ARM_TITLES.get(arm, arm), fmt_lr(lr), mean_sd([r.final for r in runs]),
                             mean_sd([r.best for r in runs]),
                             f"{statistics.fmean(r.best_epoch for r in runs):.1f}",
                             *[reach(runs, t) for t in tg],
                             "—" if arm == "before" or ref is None else
                             diff_se([r.final for r in runs], [r.final for r in ref])])
        print(table(["activation", "BatchNorm", "best lr", "final test acc", "best test acc", "best epoch",
                     *[f"epochs to {t:g}" for t in tg], "final − before"], rows))
        print()
        print("Every learning rate:\n")
        rows = []
        for act in acts:
            for arm in arms:
                for lr in lrs:
                    runs = sweep.get((ds, act, arm, lr))
                    if not runs:
                        continue
                    mark = " *" if best.get((act, arm)) is runs else ""
                    rows.append([act, ARM_TITLES.get(arm, arm), fmt_lr(lr) + mark, mean_sd([r.final for r in runs]),
                                 mean_sd([r.best for r in runs]), *[reach(runs, t) for t in tg], len(runs),
                                 sum(r.diverged for r in runs)])
        print(table(["activation", "BatchNorm", "lr", "final test acc", "best test acc",
                     *[f"epochs to {t:g}" for t in tg], "runs", "diverged"], rows))
        print("\n(* the best rate; diverged: runs whose loss ended as nan or inf)\n")
        if make_reports:
            for act in acts:
                dirs = [best[(act, arm)][0].dir for arm in arms if (act, arm) in best]
                path = os.path.join(out, "reports", f"{ds}_{act}.html")
                if run_report(args.trainer, dirs, path):
                    reports.append((path, f"{ds}, {act}: best rate of each arm, seed "
                                          f"{best[(act, arms[0])][0].seed}"))

    if np4:
        print("## np = 4: synchronized vs local BatchNormalization\n")
        print("BatchNormalization before the activation; global batch split over 4 ranks; "
              "sync: statistics over the global batch (the same model as one process), "
              "local: each rank normalizes its own share. \"sync − local\": difference of the "
              "mean final accuracy ± its standard error.\n")
        rows = []
        for ds in sorted({k[0] for k in np4}, key=lambda d: (d != "seed", d)):
            tg = targets.get(ds, [])
            for batch in sorted({k[3] for k in np4 if k[0] == ds}, reverse=True):
                for mode in ("sync", "local"):
                    ks = [k for k in np4 if k[0] == ds and k[3] == batch and k[4] == mode]
                    if not ks:
                        continue
                    k = ks[0]
                    runs = np4[k]
                    other = np4.get((k[0], k[1], k[2], batch, "local"))
                    lrs = sorted({r.lr for r in runs if r.lr is not None})
                    rows.append([ds, k[1], ", ".join(fmt_lr(x) for x in lrs) or "?", batch, batch // 4, mode, mean_sd([r.final for r in runs]),
                                 mean_sd([r.best for r in runs]),
                                 " ".join(f"{t:g}: {reach(runs, t)}" for t in tg),
                                 diff_se([r.final for r in runs], [r.final for r in other])
                                 if mode == "sync" and other else "—", len(runs)])
                if make_reports:
                    dirs = [np4[(ds, k[1], k[2], batch, m)][0].dir for m in ("sync", "local")
                            if (ds, k[1], k[2], batch, m) in np4]
                    path = os.path.join(out, "reports", f"np4_{ds}_b{batch}.html")
                    if run_report(args.trainer, dirs, path):
                        reports.append((path, f"np = 4, {ds}, global batch {batch}: sync vs local, seed "
                                              f"{np4[(ds, k[1], k[2], batch, 'sync')][0].seed}"))
        print(table(["data", "activation", "lr", "global batch", "per rank", "BatchNorm", "final test acc",
                     "best test acc", "epochs to target", "sync − local", "runs"], rows))
        print()

    if reports:
        print("## Curves (`trainer report`)\n")
        for path, what in reports:
            print(f"- `{path}`: {what}")
        print()


if __name__ == "__main__":
    main()
