#!/usr/bin/python3
"""PyTorch counterpart of bench_train: the same model, batch and data shape.

  /usr/bin/python3 bench/torch_bench.py --config FILE [--batch B] [--threads T]
        [--steps N] [--warmup W] [--repeats R] [--json]

Run it with Debian's interpreter (/usr/bin/python3, which has python3-torch
1.13 and python3-protobuf), not a pyenv/venv python3 that may be first on PATH.

The lockstep config (.pbtxt or .json of lockstep.TrainConfig) is read with
google.protobuf after generating the Python modules of proto/*.proto with
protoc into a temporary folder. The model maps to torch.nn one to one:
Dense -> Linear (+ its activation), BatchNormalization -> BatchNorm1d
(eps as configured, momentum = 1 - Keras momentum), Activation -> the torch
module, Dropout -> Dropout. A final softmax with a cross-entropy loss becomes
nn.CrossEntropyLoss on the logits (PyTorch's idiomatic and fastest
equivalent of lockstep's fused softmax + cross-entropy); a final sigmoid with
binary cross-entropy becomes BCEWithLogitsLoss. The optimizer is the config's
(SGD with momentum/Nesterov, Adam, AdamW, RMSprop); the learning-rate schedule
is left out (a scalar per step in lockstep too). Initialisers do not matter
for speed and are PyTorch's defaults.

Timed: one training step per batch = gather the batch from an in-memory
tensor by the epoch's permutation, zero_grad(set_to_none=True), forward, loss,
backward, optimizer.step() -- what lockstep's Training::train_step() does.
The epoch permutation (torch.randperm) is outside the timed region, as in
bench_train. Each repeat also times PyTorch's own matrix products for the
model's shapes (addmm/mm in the layouts nn.Linear uses), so gemm_gflops and
pct_of_gemm mean the same as in bench_train. Figures are medians over the
repeats; nothing passes or fails on time.

If torch cannot be imported the script prints that PyTorch was skipped and
exits with status 0.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(os.path.dirname(HERE), "proto")


def fail(message):
    """lockstep's convention: 'error: WHERE: WHAT', exit status 2 for bad usage or config."""
    print("error: " + message, file=sys.stderr)
    sys.exit(2)


def load_config(path):
    """Returns the TrainConfig message of `path` (.json or protobuf text)."""
    from google.protobuf import json_format, text_format

    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        fail("%s: cannot open config: %s" % (path, e.strerror))
    with tempfile.TemporaryDirectory(prefix="lockstep_proto_") as out:
        protos = [os.path.join(PROTO_DIR, p) for p in ("model.proto", "train.proto")]
        subprocess.run(["protoc", "--proto_path=" + PROTO_DIR, "--python_out=" + out] + protos, check=True)
        sys.path.insert(0, out)
        import train_pb2  # noqa: E402  (generated above; loaded before the folder goes)
        sys.path.remove(out)

    config = train_pb2.TrainConfig()
    try:
        if path.endswith(".json"):
            json_format.Parse(text, config)
        else:
            text_format.Parse(text, config)
    except (text_format.ParseError, json_format.ParseError) as e:
        fail("%s: %s" % (path, e))
    return config


def build_model(torch, nn, spec, loss_name):
    """Sequential torch model; returns (model, dense shapes [(in, out, bias, layer_index)], loss module)."""
    width = math.prod(spec.input_shape)
    layers, dense = [], []
    n = len(spec.layers)
    fused = False

    def activation(name, alpha=None, last=False):
        nonlocal fused
        name = name or "linear"
        if last and name == "softmax" and loss_name in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
            fused = True
            return None
        if last and name == "sigmoid" and loss_name == "binary_crossentropy":
            fused = True
            return None
        return {
            "linear": lambda: None,
            "relu": nn.ReLU,
            "tanh": nn.Tanh,
            "sigmoid": nn.Sigmoid,
            "softmax": lambda: nn.Softmax(dim=1),
            "elu": lambda: nn.ELU(alpha=1.0 if alpha is None else alpha),
            "leaky_relu": lambda: nn.LeakyReLU(0.2 if alpha is None else alpha),
            "gelu": nn.GELU,
        }[name]()

    for i, layer in enumerate(spec.layers):
        kind = layer.WhichOneof("layer")
        last = i == n - 1
        if kind == "dense":
            d = layer.dense
            layers.append(nn.Linear(width, d.units, bias=d.use_bias))
            dense.append((width, d.units, d.use_bias, i))
            width = d.units
            act = activation(d.activation, last=last)
            if act is not None:
                layers.append(act)
        elif kind == "batch_normalization":
            b = layer.batch_normalization
            layers.append(nn.BatchNorm1d(width, eps=b.epsilon, momentum=1.0 - b.momentum, affine=b.scale or b.center))
        elif kind == "activation":
            a = layer.activation
            act = activation(a.activation, a.alpha if a.HasField("alpha") else None, last=last)
            if act is not None:
                layers.append(act)
        elif kind == "dropout":
            layers.append(nn.Dropout(layer.dropout.rate))
        else:
            fail("model.layers[%d]: layer kind %r not supported by torch_bench" % (i, kind))

    if loss_name in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        loss = nn.CrossEntropyLoss() if fused else nn.NLLLoss()  # NLL of log(softmax) when not fused
        if not fused:
            layers.append(LogOf(nn)())
    elif loss_name == "binary_crossentropy":
        loss = nn.BCEWithLogitsLoss() if fused else nn.BCELoss()
    else:
        loss = nn.MSELoss()
    return nn.Sequential(*layers), dense, width, loss


def LogOf(nn):
    import torch

    class Log(nn.Module):
        def forward(self, x):
            return torch.log(x.clamp_min(1e-7))

    return Log


def make_optimizer(torch, spec, params, foreach):
    """foreach=None is PyTorch 1.13's default (on CPU: one update per parameter tensor)."""
    kind = spec.WhichOneof("kind")
    if kind == "sgd":
        s = spec.sgd
        return torch.optim.SGD(params, lr=s.learning_rate, momentum=s.momentum, nesterov=s.nesterov, foreach=foreach)
    if kind == "adam":
        a = spec.adam
        return torch.optim.Adam(params, lr=a.learning_rate, betas=(a.beta_1, a.beta_2), eps=a.epsilon,
                                foreach=foreach)
    if kind == "adamw":
        a = spec.adamw
        return torch.optim.AdamW(params, lr=a.learning_rate, betas=(a.beta_1, a.beta_2), eps=a.epsilon,
                                 weight_decay=a.weight_decay, foreach=foreach)
    r = spec.rmsprop  # also lockstep's default (Keras compile()): RMSprop
    return torch.optim.RMSprop(params, lr=r.learning_rate, alpha=r.rho, eps=r.epsilon, momentum=r.momentum,
                               centered=r.centered, foreach=foreach)


def product_calls(torch, dense, batch):
    """The matrix products of one step as nn.Linear issues them, on their own buffers."""
    calls = []
    for k, (i, o, bias, _) in enumerate(dense):
        x = torch.rand(batch, i)
        w = torch.rand(o, i) * 0.1  # nn.Linear stores weight [out, in]
        b = torch.rand(o)
        dz = torch.rand(batch, o) * 1e-3
        z = torch.empty(batch, o)
        dw = torch.empty(o, i)
        dx = torch.empty(batch, i)
        flops = 2.0 * batch * i * o
        if bias:
            calls.append((lambda x=x, w=w, b=b, z=z: torch.addmm(b, x, w.t(), out=z), flops + batch * o))
        else:
            calls.append((lambda x=x, w=w, z=z: torch.mm(x, w.t(), out=z), flops))
        calls.append((lambda x=x, dz=dz, dw=dw: torch.mm(dz.t(), x, out=dw), flops))
        if k > 0 or dense[0][3] > 0:  # the model's first layer computes no input gradient
            calls.append((lambda w=w, dz=dz, dx=dx: torch.mm(dz, w, out=dx), flops))
    return calls


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("--batch", type=int, default=0, help="0 = the config's batch_size")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=0, help="0 = calibrate to about 0.25 s per repeat")
    p.add_argument("--warmup", type=int, default=-1, help="-1 = max(20, steps / 10)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--foreach", action="store_true",
                   help="multi-tensor optimizer updates (foreach=True; off = PyTorch 1.13's CPU default)")
    args = p.parse_args()
    name = os.path.basename(args.config).split(".")[0]

    try:
        import torch
        import torch.nn as nn
    except Exception as e:  # ImportError, or a broken installation
        reason = "cannot import torch (%s: %s); install Debian's python3-torch (launch/setup.sh --bench) " \
                 "and run with /usr/bin/python3" % (type(e).__name__, e)
        if args.json:
            print(json.dumps({"bench": "pytorch", "model": name, "skipped": True, "reason": reason}))
        else:
            print("PyTorch skipped: " + reason)
        return 0

    config = load_config(args.config)
    batch = args.batch or config.batch_size
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    model, dense, out_width, loss_fn = build_model(torch, nn, config.model, config.loss)
    model.train()
    optimizer = make_optimizer(torch, config.optimizer, model.parameters(), True if args.foreach else None)

    want = max(8192, 4 * batch)
    samples = (want + batch - 1) // batch * batch
    in_width = math.prod(config.model.input_shape)
    classes = max(2, out_width)
    x_all = torch.randn(samples, in_width)
    if config.loss == "sparse_categorical_crossentropy":
        y_all = torch.randint(0, classes, (samples,))
    elif config.loss == "categorical_crossentropy":
        y_all = torch.nn.functional.one_hot(torch.randint(0, classes, (samples,)), classes).float()
    else:
        y_all = torch.randint(0, 2, (samples, out_width)).float()
    steps_per_epoch = samples // batch

    state = {"perm": torch.randperm(samples), "step": 0}

    def run(steps):
        """Seconds spent in `steps` training steps (epoch permutations excluded)."""
        total = 0.0
        t0 = time.perf_counter()
        for _ in range(steps):
            if state["step"] == steps_per_epoch:
                total += time.perf_counter() - t0
                state["perm"] = torch.randperm(samples)
                state["step"] = 0
                t0 = time.perf_counter()
            s = state["step"]
            idx = state["perm"][s * batch:(s + 1) * batch]
            xb = x_all.index_select(0, idx)
            yb = y_all.index_select(0, idx)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            state["step"] = s + 1
        return total + (time.perf_counter() - t0)

    steps = args.steps
    warmup = args.warmup if args.warmup >= 0 else max(20, steps // 10)
    run(warmup)
    if steps == 0:
        n = 8
        t = run(n)
        while t < 0.05:
            n *= 2
            t = run(n)
        steps = max(8, int(0.25 * n / t))

    calls = product_calls(torch, dense, batch)
    flops_per_step = sum(f for _, f in calls)
    for fn, _ in calls:
        for _ in range(3):
            fn()

    step_s, gemm_s = [], []
    for _ in range(args.repeats):
        step_s.append(run(steps) / steps)
        g = 0.0
        with torch.no_grad():
            for fn, _ in calls:
                t0 = time.perf_counter()
                for _ in range(steps):
                    fn()
                g += (time.perf_counter() - t0) / steps
        gemm_s.append(g)

    s = statistics.median(step_s)
    g = statistics.median(gemm_s)
    result = {
        "bench": "pytorch",
        "model": name,
        "config": args.config,
        "batch": batch,
        "threads": args.threads,
        "steps": steps,
        "repeats": args.repeats,
        "samples_per_s": round(batch / s, 1),
        "ms_per_step": round(s * 1e3, 6),
        "flops_per_sample": flops_per_step / batch,
        "gflops": round(flops_per_step / s * 1e-9, 3),
        "gemm_gflops": round(flops_per_step / g * 1e-9, 3),
        "pct_of_gemm": round(100.0 * g / s, 1),
        "params": sum(p.numel() for p in model.parameters()),
        "samples_per_s_runs": [round(batch / t, 1) for t in step_s],
        "torch_version": torch.__version__,
        "foreach": args.foreach,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print("pytorch %s  batch %d  threads %d  (%d steps x %d repeats, medians; torch %s)"
              % (name, batch, args.threads, steps, args.repeats, torch.__version__))
        print("  %.0f samples/s   %.4f ms/step   %.3f GFLOP/s   (%.0f FLOP/sample in products)"
              % (result["samples_per_s"], s * 1e3, result["gflops"], result["flops_per_sample"]))
        print("  torch addmm/mm on the same shapes: %.3f GFLOP/s, %.4f ms/step -> the step reaches %.1f%%"
              % (result["gemm_gflops"], g * 1e3, result["pct_of_gemm"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
