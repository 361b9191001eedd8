#!/usr/bin/python3
"""An alpha-beta cost model of lockstep's data-parallel training step.

    scaling_model.py fit RAW_DIR > params.json   # from bench/measure_scaling.sh's raw lines
    scaling_model.py check [params.json]         # prediction vs measurement, markdown
    scaling_model.py predict [params.json] [--gbps 10,25,100] [--threshold 0.7] [--bucket-mb 4]
                     [--global-batch G] [--max-global-batch G] [--models a,b] [--no-tables] [--alpha-ms A]

Without a file, the defaults below (measured on the development VM) are used.

What it models is the algorithm in main, read from the code:
  * compute: forward + backward of a rank's batch on 1 thread (bench_train's
    step minus its optimizer pass); backward's time is spread over the layers
    in proportion to their backward FLOPs, which says when each gradient is
    ready.
  * buckets (distributed/bucketed_allreduce.cpp): the gradient arena is cut
    into buckets of bucket_mb from its END; a bucket starts when every
    gradient in it is ready, buckets run one after the other (FIFO), and the
    step waits in finish() for what is left after backward: the "tail".
  * one bucket's reduction (distributed/shm_allreduce.cpp, node_chain.cpp):
    inside a node every rank sums its 1/r slice straight from the others'
    shared arenas (memory traffic ~2 bytes per gradient byte per rank, the
    node's memory bandwidth shared by its r ranks); across N nodes local rank
    k chains slice k through the nodes in order, the last node scatters the
    sums, and an all-gather returns them: per node link ~(2 - 1/N) x the
    bucket (a ring would be 2(N-1)/N), and N - 1 hops of one 1 MiB piece to
    fill the pipeline plus a scatter and an all-gather latency:
        t_inter = (N + 1) alpha + ((N - 1) min(P, g) + (2 - 1/N) g) beta
    The intra- and inter-node stages are pipelined piece by piece, so a
    bucket takes the larger of the two bandwidth terms plus the latencies.
  * the optimizer is sharded over every rank of the world (each updates its
    sub-slice inside the reduction pipeline): optimizer time / p, per bucket.
  * synchronized BatchNorm: 2 small collectives per BN layer per step, on the
    critical path: a few microseconds through shared memory on one node;
    across nodes an MPI all-gather (ceil(log2 p) latencies).
  * weak scaling: the per-rank batch is fixed (global batch = p x that), so
    compute per rank does not change with p. --global-batch G instead
    fixes the global batch (per-rank G/p, compute scaled linearly).
  * oversubscription (the check only): with more ranks than cores on the
    machine, compute and optimizer are stretched by ranks / cores, or by
    the ranks' CPU share as measured (which also counts other jobs).
Not modelled: rank skew and stragglers, network contention beyond one link
per node, the switch, the trainer's per-step flag collective, data loading.
"""
import argparse
import json
import math
import os
import statistics
import sys

MiB = 1 << 20
PIECE_BYTES = 1 * MiB  # ShmAllreduce::kDefaultSlotFloats floats

# Measured on the development VM (KVM, 2 vCPUs, lscpu "AMD EPYC", Debian 12,
# OpenBLAS 0.3.21 Haswell kernels), 2026-12-02 07:52-08:21 UTC, load average
# 6-12 from other jobs, by `bench/measure_scaling.sh` (RATE=10gbit, SLOW_RATE
# =1gbit, 128 samples per rank): bench/scaling_measured.json, raw lines in
# bench/scaling_raw/. node_mem_gbps is an assumption, not a measurement;
# wire_efficiency is the share of a 1 Gb/s tbf link TCP reached here.
# `fit` replaces all of it; measured_steps (the check) only comes from a file.
DEFAULTS = {
    "session": {"date": "2026-12-02 07:52 UTC", "cpu": "AMD EPYC", "cores": 2, "rate": "10gbit",
                "per_rank_batch": 128},
    "models": {
        "fashion_mlp": {"step_ms": 3.028, "optimizer_ms": 0.130},
        "mlp1024": {"step_ms": 28.16, "optimizer_ms": 2.304},
        "fashion_cnn": {"step_ms": 124.5, "optimizer_ms": 0.186},
    },
    "intra": {"alpha_ms": 0.247, "beta_ms_per_mib": 0.610},
    "inter": {"alpha_ms": 0.352, "beta_ms_per_mib": 2.275},
    # per collective: an estimate, not measured this session (bench/README:
    # synchronized BatchNorm through shared memory was 0.5% of a 1.2 ms step)
    "bn_shm_ms": 0.005,
    "node_mem_gbps": 200.0,   # assumed: a 2-socket node's streaming bandwidth
    "wire_efficiency": 0.915,
    "bucket_mb": 4.0,
    "measured_steps": [],
}


# ---- the three models' layers ------------------------------------------------

def dense(i, o, bias=False, first=False):
    return {"params": i * o + (o if bias else 0), "fwd": 2 * i * o, "bwd": 2 * i * o * (1 if first else 2)}


def conv(h, w, cin, cout, k=3, first=False):  # "same" padding, stride 1
    f = 2 * h * w * k * k * cin * cout
    return {"params": k * k * cin * cout, "fwd": f, "bwd": f * (1 if first else 2)}


def bn(c):  # gamma and beta; its passes are not products: no FLOPs counted
    return {"params": 2 * c, "fwd": 0, "bwd": 0, "bn": True}


LAYERS = {
    "fashion_mlp": [dense(784, 256, first=True), bn(256), dense(256, 128), bn(128), dense(128, 10, True)],
    "mlp1024": [dense(784, 1024, first=True), bn(1024), dense(1024, 1024), bn(1024), dense(1024, 10, True)],
    "fashion_cnn": [conv(28, 28, 1, 32, first=True), bn(32), conv(14, 14, 32, 64), bn(64),
                    dense(3136, 128), bn(128), dense(128, 10, True)],
}


def gradient_floats(model):
    return sum(layer["params"] for layer in LAYERS[model])


def ready_times(model, t_bwd):
    """(arena offset, time after backward starts when it is ready) per layer, in arena order."""
    layers = LAYERS[model]
    total = sum(layer["bwd"] for layer in layers) or 1
    t, ready = 0.0, [0.0] * len(layers)
    for j in reversed(range(len(layers))):
        t += t_bwd * layers[j]["bwd"] / total
        ready[j] = t
    offsets, o = [], 0
    for layer in layers:
        offsets.append(o)
        o += layer["params"]
    return list(zip(offsets, ready))


def buckets(model, t_bwd, bucket_mb):
    """[(bytes, ready time)] in the order they start: from the arena's end."""
    n = gradient_floats(model)
    per = max(1, int(bucket_mb * MiB / 4))
    layers = ready_times(model, t_bwd)
    out, end = [], n
    while end > 0:
        begin = max(0, end - per)
        ready = max(r for (o, r), nxt in zip(layers, [x[0] for x in layers[1:]] + [n])
                    if o < end and nxt > begin)
        out.append((4 * (end - begin), ready))
        end = begin
    return out


# ---- one step ------------------------------------------------------------------

def bucket_ms(p, nodes, ranks, g, beta_net, opt_ms_share):
    """Time of one bucket of g bytes: intra and inter pipelined, plus latencies."""
    intra, inter = p["intra"], p["inter"]
    mib = g / MiB
    lat, bw = 0.0, 0.0
    if ranks > 1:
        per_rank = intra["beta_ms_per_mib"] * mib
        node_bound = 2.0 * ranks * g / (p["node_mem_gbps"] * 1e9) * 1e3
        lat += intra["alpha_ms"]
        bw = max(per_rank, node_bound)
    if nodes > 1:
        lat += (nodes + 1) * inter["alpha_ms"] + (nodes - 1) * min(PIECE_BYTES, g) / MiB * beta_net
        bw = max(bw, (2.0 - 1.0 / nodes) * mib * beta_net)
    return lat + bw + opt_ms_share


def step_ms(p, model, nodes, ranks, beta_net=None, bucket_mb=None, batch_scale=1.0, stretch=1.0, overlap=True):
    """Predicted time of one training step (ms) at `nodes` x `ranks` per node."""
    m = p["models"][model]
    world = nodes * ranks
    beta_net = p["inter"]["beta_ms_per_mib"] if beta_net is None else beta_net
    bucket_mb = p["bucket_mb"] if bucket_mb is None else bucket_mb
    compute = (m["step_ms"] - m["optimizer_ms"]) * batch_scale * stretch
    opt = m["optimizer_ms"] * stretch
    if world == 1:
        return compute + opt
    flops = LAYERS[model]
    bwd_share = sum(x["bwd"] for x in flops) / sum(x["fwd"] + x["bwd"] for x in flops)
    t_bwd = compute * bwd_share
    total = 4 * gradient_floats(model)
    free = 0.0
    for g, ready in buckets(model, t_bwd, bucket_mb):
        start = max(ready if overlap else t_bwd, free)
        free = start + bucket_ms(p, nodes, ranks, g, beta_net, opt * g / total / world)
    tail = max(0.0, free - t_bwd)
    n_bn = sum(1 for x in flops if x.get("bn"))
    if nodes > 1:
        bn_ms = 2 * n_bn * p["inter"]["alpha_ms"] * math.ceil(math.log2(world))
    else:
        bn_ms = 2 * n_bn * p["bn_shm_ms"]
    return compute + tail + bn_ms * stretch


def efficiency(p, model, nodes, ranks, global_batch=None, **kw):
    """Weak scaling (global_batch None): one rank's step time over the step
    time at nodes x ranks, the per-rank batch fixed. Strong scaling: the
    global batch on one rank over p x the step time of its 1/p share."""
    world = nodes * ranks
    if global_batch is None:
        return step_ms(p, model, 1, 1) / step_ms(p, model, nodes, ranks, **kw)
    b = p["session"]["per_rank_batch"]
    one = step_ms(p, model, 1, 1, batch_scale=global_batch / b)
    return one / (world * step_ms(p, model, nodes, ranks, batch_scale=global_batch / world / b, **kw))


def link_beta(p, gbps):
    """ms per MiB through a link of `gbps` Gb/s at the share of its rate TCP
    reaches (wire_efficiency, fitted on a link slow enough to be the limit)."""
    return MiB * 8 / (gbps * 1e9 * p["wire_efficiency"]) * 1e3


# ---- fit: raw lines of bench/measure_scaling.sh -> parameters ------------------

def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def fit_line(xs, ys):
    """Least-squares y = a + b x (a two-column design, see fit_ab)."""
    return fit_ab([1.0] * len(xs), xs, ys)


def fit_ab(us, vs, ys):
    """Least squares of the relative error of y = a u + b v (each point
    weighted 1/y^2, so a small message pins the latency and a large one the
    bandwidth); a and b kept >= 0."""
    w = [1.0 / (y * y) for y in ys]
    suu = sum(k * u * u for k, u in zip(w, us))
    svv = sum(k * v * v for k, v in zip(w, vs))
    suv = sum(k * u * v for k, u, v in zip(w, us, vs))
    suy = sum(k * u * y for k, u, y in zip(w, us, ys))
    svy = sum(k * v * y for k, v, y in zip(w, vs, ys))
    det = suu * svv - suv * suv
    a = (suy * svv - svy * suv) / det
    b = (svy * suu - suy * suv) / det
    if a < 0:  # latency lost in the noise: all of it per byte
        a, b = 0.0, svy / svv
    return a, b


def layout_hosts(layout):
    return [int(x) for x in layout.split("+")]


def fit(raw_dir):
    p = json.loads(json.dumps(DEFAULTS))
    p["session"] = read_lines(os.path.join(raw_dir, "session.json"))[0]
    for r in read_lines(os.path.join(raw_dir, "compute.jsonl")):
        p["models"][r["model"]] = {"step_ms": r["ms_per_step"], "optimizer_ms": r["optimizer_ms"],
                                   "params": r["params"]}
    intra = read_lines(os.path.join(raw_dir, "intra.jsonl"))
    a, b = fit_line([r["mb"] for r in intra], [r["lockstep_ms"] for r in intra])
    p["intra"] = {"alpha_ms": a, "beta_ms_per_mib": b,
                  "from": {str(r["mb"]): r["lockstep_ms"] for r in intra}}
    inter = read_lines(os.path.join(raw_dir, "inter.jsonl"))
    by_rate = {}
    for r in inter:
        by_rate.setdefault(r["rate"], []).append(r)
    p["inter_by_rate"] = {rate: fit_chain(rows) for rate, rows in by_rate.items()}
    p["inter"] = p["inter_by_rate"][p["session"]["rate"]]
    slow = [(rate_gbps(k), v) for k, v in p["inter_by_rate"].items() if rate_gbps(k) < 5]
    if slow:  # a link slow enough to be the limit: how much of it TCP gets
        gbps, f = min(slow)
        p["wire_efficiency"] = link_beta({"wire_efficiency": 1.0}, gbps) / f["beta_ms_per_mib"]
        p["wire_efficiency_from"] = f"{gbps:g} Gb/s tbf link, measured"
    p["measured_steps"] = measured_steps(read_lines(os.path.join(raw_dir, "steps.jsonl")))
    return p


def rate_gbps(rate):
    """'10gbit' -> 10.0, '500mbit' -> 0.5"""
    bits = rate[:-3]
    return float(bits[:-1]) * (1.0 if bits[-1] == "g" else 1e-3)


def fit_chain(rows):
    """alpha, beta of the node chain from bench_allreduce over hosts x 1 rank
    at several sizes: least squares of the relative error, so the smallest
    message pins the latency and the larger ones the bandwidth."""
    nodes = len(layout_hosts(rows[0]["layout"]))
    a, b = fit_ab([nodes + 1.0] * len(rows),
                  [(nodes - 1) * min(1.0, r["mb"]) + (2 - 1 / nodes) * r["mb"] for r in rows],
                  [r["lockstep_ms"] for r in rows])
    return {"alpha_ms": a, "beta_ms_per_mib": b, "gbps": MiB * 8 / b / 1e6 if b else None,
            "from": {str(r["mb"]): r["lockstep_ms"] for r in rows}}


def measured_steps(rows):
    out = {}
    for r in rows:
        out.setdefault((r["model"], r["layout"]), []).append((r["ms_per_step"], r.get("min_cpu_share", 1.0)))
    return [{"model": m, "layout": l, "ms": statistics.median(x for x, _ in v),
             "cpu_share": statistics.median(c for _, c in v), "runs": [x for x, _ in v]}
            for (m, l), v in out.items()]


# ---- check and predict -----------------------------------------------------------

def check(p):
    """Prediction vs measurement for every measured layout. Two predictions:
    'cores' stretches compute by ranks / cores when the machine has fewer
    cores than ranks; 'CPU share' instead by the one-rank layout's CPU
    share over this layout's (the share of wall time each rank was on a
    core, as bench_distributed measured it: it also counts other jobs).
    Compute is taken from the one-rank layout of the same rounds (bench_train
    ran minutes earlier, and on a shared machine the load moves more than
    the communication this checks); bench_train's figure is the '1 x 1 from
    bench_train' line."""
    cores = p["session"]["cores"]
    print(f"prediction vs measurement ({p['session']['date']}, {cores} cores, load {p['session'].get('load', '?')}, "
          f"links {p['session']['rate']}, per-rank batch {p['session']['per_rank_batch']}; medians of the rounds)\n")
    steps = p["measured_steps"]
    solo = {r["model"]: r["cpu_share"] for r in steps if r["layout"] == "1"}
    scale = {r["model"]: r["ms"] / step_ms(p, r["model"], 1, 1) for r in steps if r["layout"] == "1"}
    for m, k in scale.items():
        print(f"{m}: 1 x 1 from bench_train {step_ms(p, m, 1, 1):.2f} ms, in the rounds {k * step_ms(p, m, 1, 1):.2f} ms")
    print()
    print("| model | layout | ranks | measured ms | CPU share | predicted ms (cores) | ratio | "
          "predicted ms (CPU share) | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in sorted(steps, key=lambda r: (r["model"], len(r["layout"]), r["layout"])):
        hosts = layout_hosts(r["layout"])
        world = sum(hosts)
        by_cores = max(1.0, world / cores)
        by_share = max(1.0, solo.get(r["model"], r["cpu_share"]) / r["cpu_share"])
        k = scale.get(r["model"], 1.0)
        a = step_ms(p, r["model"], len(hosts), max(hosts), stretch=by_cores, batch_scale=k)
        b = step_ms(p, r["model"], len(hosts), max(hosts), stretch=by_share, batch_scale=k)
        print(f"| {r['model']} | {r['layout']} | {world} | {r['ms']:.2f} | {r['cpu_share']:.2f} | "
              f"{a:.2f} | {a / r['ms']:.2f} | {b:.2f} | {b / r['ms']:.2f} |")


def powers(limit):
    return [1 << k for k in range(int(math.log2(limit)) + 1)]


def scaling_name(p, global_batch):
    b = p["session"]["per_rank_batch"]
    return f"global batch {global_batch}" if global_batch else f"{b} samples per rank (global batch {b} x ranks)"


def print_tables(p, models, gbps_list, global_batch, max_nodes=256, max_ranks=64):
    for model in models:
        for gbps in gbps_list:
            beta = link_beta(p, gbps)
            print(f"\n{model}, {gbps:g} Gb/s, {scaling_name(p, global_batch)}: efficiency\n")
            print("| nodes \\ ranks per node | " + " | ".join(str(r) for r in powers(max_ranks)) + " |")
            print("|---:|" + "---:|" * len(powers(max_ranks)))
            for n in powers(max_nodes):
                cells = [efficiency(p, model, n, r, global_batch, beta_net=beta) for r in powers(max_ranks)]
                print(f"| {n} | " + " | ".join(f"{e:.2f}" for e in cells) + " |")


def largest(p, model, beta, threshold, global_batch, max_global_batch, max_nodes=256, max_ranks=64):
    """The most ranks (fewest nodes on a tie) with efficiency >= threshold."""
    b = p["session"]["per_rank_batch"]
    jobs = [(n * r, -n, n, r) for n in powers(max_nodes) for r in powers(max_ranks)
            if (global_batch or b * n * r) <= max_global_batch and (global_batch or 0) <= max_global_batch * n * r
            and efficiency(p, model, n, r, global_batch, beta_net=beta) >= threshold]
    return max(jobs, default=None)


def print_largest(p, models, gbps_list, threshold, global_batch, max_global_batch):
    b = p["session"]["per_rank_batch"]
    limit = f", global batch <= {max_global_batch:g}" if max_global_batch < float("inf") else ""
    print(f"\nlargest job with efficiency >= {threshold} ({scaling_name(p, global_batch)}{limit}):\n")
    print("| model | network | nodes x ranks per node | ranks | efficiency | global batch | step ms | samples/s |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for model in models:
        for gbps in gbps_list:
            beta = link_beta(p, gbps)
            best = largest(p, model, beta, threshold, global_batch, max_global_batch)
            if best is None:
                print(f"| {model} | {gbps:g} Gb/s | none | - | - | - | - | - |")
                continue
            _, _, n, r = best
            e = efficiency(p, model, n, r, global_batch, beta_net=beta)
            scale = global_batch / (n * r) / b if global_batch else 1.0
            t = step_ms(p, model, n, r, beta_net=beta, batch_scale=scale)
            gb = global_batch or b * n * r
            print(f"| {model} | {gbps:g} Gb/s | {n} x {r} | {n * r} | {e:.2f} | {gb} | {t:.2f} | {gb / t * 1e3:,.0f} |")


def load(path):
    if path is None:
        return DEFAULTS
    with open(path) as f:
        return json.load(f)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["fit", "check", "predict"])
    ap.add_argument("path", nargs="?")
    ap.add_argument("--gbps", default="10,25,100")
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--bucket-mb", type=float)
    ap.add_argument("--global-batch", type=int)
    ap.add_argument("--max-global-batch", type=float, default=float("inf"))
    ap.add_argument("--no-tables", action="store_true")
    ap.add_argument("--alpha-ms", type=float, help="the chain's latency per hop instead of the fitted one")
    ap.add_argument("--models", default="fashion_mlp,mlp1024,fashion_cnn")
    a = ap.parse_args(argv)
    if a.command == "fit":
        if a.path is None:
            ap.error("fit needs the raw folder of bench/measure_scaling.sh")
        json.dump(fit(a.path), sys.stdout, indent=1)
        print()
        return 0
    p = load(a.path)
    if a.bucket_mb:
        p["bucket_mb"] = a.bucket_mb
    if a.alpha_ms is not None:
        p["inter"] = dict(p["inter"], alpha_ms=a.alpha_ms)
    if a.command == "check":
        check(p)
    else:
        models, gbps = a.models.split(","), [float(x) for x in a.gbps.split(",")]
        if not a.no_tables:
            print_tables(p, models, gbps, a.global_batch)
        print_largest(p, models, gbps, a.threshold, a.global_batch, a.max_global_batch)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
