#!/usr/bin/python3
"""PyTorch counterpart of bench_train: the same model, batch and data shape.

  /usr/bin/python3 bench/torch_bench.py --config FILE [--batch B] [--threads T]
        [--steps N] [--warmup W] [--repeats R] [--json] [--foreach]
        [--ranks N [--nocomm] [--no-broadcast-buffers]]

Run it with Debian's interpreter (/usr/bin/python3, which has python3-torch
1.13 and python3-protobuf), not a pyenv/venv python3 that may be first on PATH.

--threads T (default 1) is the number of compute threads (per rank with
--ranks): torch.set_num_threads(T), and OMP_NUM_THREADS, MKL_NUM_THREADS and
OPENBLAS_NUM_THREADS are set to T before torch is imported (whatever the
environment says), because Debian's torch does its matrix products in
OpenBLAS, whose thread pool follows those variables and not
torch.set_num_threads(): without them "--threads 1" ran the products on
every core.

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

Images: lockstep's data is NHWC, flat per sample, and PyTorch convolves
NCHW, so a model with input_shape [H, W, C] starts with a reshape to
[N, H, W, C] and a permute to a contiguous NCHW batch (part of the timed
step, as lockstep's gather is). Conv2D -> Conv2d (+ its activation),
MaxPooling2D -> MaxPool2d, AveragePooling2D -> AvgPool2d, both with Keras'
"same" padding (core/layers/window.h: floor(total / 2) before, the rest
after): symmetric pads (odd kernels at stride 1: k // 2) use the layer's own
padding, asymmetric ones an explicit pad in front (zeros for Conv2d, -inf for
max pooling; average pooling divides by the cells inside the input, as Keras
does); GlobalAveragePooling2D -> the mean over H and W; Flatten -> a permute
back to NHWC before flattening, so that the values come in lockstep's (H, W,
C) order and the Dense layers after it match; BatchNormalization on images ->
BatchNorm2d. Checked against `trainer predict` with a checkpoint's weights
loaded (asymmetric pads, strides, dilation, both flatten paths): the outputs
agree to 1e-7. Convolutions run on PyTorch's defaults, i.e. oneDNN
(aten::mkldnn_convolution) when torch.backends.mkldnn is enabled: the JSON
reports the switch (mkldnn_enabled) and the kernel one forward ran
(conv_kernel, read with torch.autograd.profiler outside the timed region).

Timed: one training step per batch = gather the batch from an in-memory
tensor by the epoch's permutation, zero_grad(set_to_none=True), forward, loss,
backward, optimizer.step() -- what lockstep's Training::train_step() does.
The epoch permutation (torch.randperm) is outside the timed region, as in
bench_train. flops_per_sample counts the Dense and Conv2D products exactly as
bench_train does (Conv2D: the im2col products, 2 * positions * patch width *
filters per sample each for forward, kernel gradient and input gradient, none
of the last for layer 0), so gflops compare. For a model of Dense layers each
repeat also times PyTorch's own matrix products for the model's shapes
(addmm/mm in the layouts nn.Linear uses), so gemm_gflops and pct_of_gemm mean
the same as in bench_train; with Conv2D layers they are null (oneDNN runs the
convolutions directly, there are no PyTorch products to time). Figures are
medians over the repeats; nothing passes or fails on time.

Memory (as bench_train reports it): rss_start_mb is the resident set size
(/proc/self/statm) once torch is imported, the config loaded (protoc runs as a
child process; the protobuf modules and the parsed config are in), the
threads set (and in --ranks mode the process group joined) and one 256x256
matmul plus a tiny nn.Linear forward/backward have run, so the libraries and
the BLAS buffers are in -- before the data set and the model exist.
rss_peak_mb is getrusage(RUSAGE_SELF).ru_maxrss, the peak over the whole
process (so it includes everything rss_start_mb does), read after warm-up and
calibration, before the buffers of the matrix-product timing are allocated
(steady training allocates nothing new, so that is the training run's peak;
the same point as bench_train). data_mb = bytes of the in-memory data set
(features + labels, int64 labels for sparse losses) / 2**20; params = the
trainable parameter count. peak - start - data is what the model, its
gradients, optimizer state, activations and PyTorch's allocator caching take.

Data parallel (--ranks N, N > 1): the script starts N copies of itself
(subprocesses, --threads compute threads each, 1 by default) that join a gloo
process group on 127.0.0.1 (a free port, 60 s timeout on the group's set-up
and collectives). --batch is the GLOBAL batch and must be divisible by N;
every rank holds the whole data set, draws the same epoch permutation, and at
each step takes its slice (batch / N samples) of the same global batch. The model is wrapped in
torch.nn.parallel.DistributedDataParallel (stock settings: gradient buckets
all-reduced during backward, BatchNorm buffers broadcast from rank 0 at each
forward unless --no-broadcast-buffers). BatchNorm stays per rank: PyTorch
has no SyncBatchNorm on CPU (it raises for non-CUDA input). With --nocomm the
N processes each train alone on the per-rank batch (no DDP wrapper, no
gradient communication): the "N independent processes" upper bound.
Warm-up and calibration as in one process, with the calibration time taken as
the maximum over ranks so that every rank runs the same number of steps.
Timing: a barrier, then --steps steps on every rank; a repeat's time is the
maximum over ranks (all_reduce MAX), i.e. the job's; samples/s = global batch
* steps / time; medians over the repeats. The matrix-product timing is left
out (gemm_gflops and pct_of_gemm are null). Rank 0 prints the result;
rss_start_mb and rss_peak_mb are the maximum over ranks, rss_peak_mb_ranks
each rank's peak. A failing rank makes the whole run fail with its message
and exit status; the other ranks are stopped (also when one is still running
30 s after another finished, or when this process dies). The ranks end with
os._exit: PyTorch 1.13 can deadlock in interpreter shutdown after DDP/gloo.

JSON fields: bench, model, config, batch (global), threads (per rank),
steps, repeats, samples_per_s, ms_per_step, flops_per_sample, gflops,
gemm_gflops, pct_of_gemm, params, samples_per_s_runs, torch_version,
foreach, ranks, per_rank_batch, mode ("single", "ddp" or "nocomm"),
rss_start_mb, rss_peak_mb, data_mb, mkldnn_enabled; with Conv2D layers
conv_kernel; with --ranks N > 1 also
rss_peak_mb_ranks, broadcast_buffers and sync_batchnorm (false).

If torch cannot be imported the script prints that PyTorch was skipped and
exits with status 0.
"""

import argparse
import datetime
import importlib.util
import json
import math
import os
import resource
import signal
import socket
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


def pair(values, fallback):
    """Keras' "an integer or a tuple of 2 integers" as lockstep reads it (layer_factory.cpp's pair_of)."""
    values = list(values)
    return (values[0], values[-1]) if values else (fallback, fallback)


def window(size, kernel, stride, dilation, same):
    """(output, pad_before, pad_after) along one axis with Keras' rules (core/layers/window.h)."""
    span = (kernel - 1) * dilation + 1
    if not same:
        return (size - span) // stride + 1, 0, 0
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + span - size, 0)
    return out, total // 2, total - total // 2


def spatial_modules(torch, nn, kind, layer, chw):
    """Modules of a conv2d / pooling layer on NCHW input of (C, H, W); returns (modules, out (C, H, W), conv).

    Keras' "same" pads floor(total / 2) before and the rest after: when both
    sides are equal the layer's own symmetric padding does it (odd kernels at
    stride 1: k // 2); otherwise an explicit asymmetric pad goes first (zeros
    for Conv2d, -inf for max pooling, so that padding never wins; average
    pooling divides by the cells inside the input, as Keras does)."""
    c, h, w = chw
    if kind == "conv2d":
        d = layer.conv2d
        k, st, dil = pair(d.kernel_size, 1), pair(d.strides, 1), pair(d.dilation_rate, 1)
    else:
        d = getattr(layer, kind)
        k = pair(d.pool_size, 2)
        st, dil = (pair(d.strides, 1) if len(d.strides) else k), (1, 1)
    same = d.padding == "same"
    oh, top, bottom = window(h, k[0], st[0], dil[0], same)
    ow, left, right = window(w, k[1], st[1], dil[1], same)
    pads = (left, right, top, bottom)  # F.pad's order
    symmetric = top == bottom and left == right
    pad = (top, left) if symmetric else (0, 0)
    if kind == "average_pooling2d":
        if symmetric:
            return [nn.AvgPool2d(k, stride=st, padding=pad, count_include_pad=False)], (c, oh, ow), None
        return [AvgPoolInside(torch, nn, (h, w), k, st, pads)], (c, oh, ow), None
    mods = [] if symmetric else [nn.ConstantPad2d(pads, float("-inf") if kind == "max_pooling2d" else 0.0)]
    if kind == "max_pooling2d":
        return mods + [nn.MaxPool2d(k, stride=st, padding=pad)], (c, oh, ow), None
    conv = nn.Conv2d(c, d.filters, k, stride=st, padding=pad, dilation=dil, bias=d.use_bias)
    return mods + [conv], (d.filters, oh, ow), conv


def AvgPoolInside(torch, nn, hw, k, st, pads):
    """Average pooling over an asymmetric zero pad that divides by the cells inside the input only."""
    F = torch.nn.functional

    class Pool(nn.Module):
        def __init__(self):
            super().__init__()
            ones = F.pad(torch.ones(1, 1, hw[0], hw[1]), pads)
            self.register_buffer("cells", F.avg_pool2d(ones, k, st, divisor_override=1))

        def forward(self, x):
            return F.avg_pool2d(F.pad(x, pads), k, st, divisor_override=1) / self.cells

    return Pool()


SPATIAL = ("conv2d", "max_pooling2d", "average_pooling2d", "global_average_pooling2d", "flatten")


def Lambda(nn, fn):
    class L(nn.Module):
        def forward(self, x):
            return fn(x)

    return L()


def build_model(torch, nn, spec, loss_name):
    """Sequential torch model; returns (model, products, width, loss module).

    products: the Dense and Conv2D layers' matrix-product shapes, for the FLOP
    count: ("dense", in, out, bias, layer_index) and ("conv", positions,
    patch_width, filters, bias, layer_index), as bench_train counts them."""
    width = math.prod(spec.input_shape)
    chw = None  # (C, H, W) while the activations are images
    layers, products = [], []
    if len(spec.input_shape) == 3:  # lockstep's data is NHWC, flat per sample; PyTorch convolves NCHW
        hh, ww, cc = spec.input_shape
        chw = (cc, hh, ww)
        layers.append(Lambda(nn, lambda x: x.view(-1, hh, ww, cc).permute(0, 3, 1, 2).contiguous()))
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
            "softmax": lambda: nn.Softmax(dim=1),  # NCHW: dim 1 is lockstep's last (channel) axis
            "elu": lambda: nn.ELU(alpha=1.0 if alpha is None else alpha),
            "leaky_relu": lambda: nn.LeakyReLU(0.2 if alpha is None else alpha),
            "gelu": nn.GELU,
        }[name]()

    for i, layer in enumerate(spec.layers):
        kind = layer.WhichOneof("layer")
        last = i == n - 1
        if kind in SPATIAL and chw is None:
            fail("model.layers[%d]: %s needs an image input ([H, W, C])" % (i, kind))
        if kind == "dense" and chw is not None:
            fail("model.layers[%d]: dense on an image is not supported by torch_bench (add a flatten)" % i)
        if kind == "dense":
            d = layer.dense
            layers.append(nn.Linear(width, d.units, bias=d.use_bias))
            products.append(("dense", width, d.units, d.use_bias, i))
            width = d.units
            act = activation(d.activation, last=last)
            if act is not None:
                layers.append(act)
        elif kind in ("conv2d", "max_pooling2d", "average_pooling2d"):
            mods, out, conv = spatial_modules(torch, nn, kind, layer, chw)
            layers += mods
            if conv is not None:
                k = conv.kernel_size
                products.append(("conv", out[1] * out[2], k[0] * k[1] * chw[0], out[0], layer.conv2d.use_bias, i))
                act = activation(layer.conv2d.activation, last=last)
                if act is not None:
                    layers.append(act)
            chw = out
            width = math.prod(chw)
        elif kind == "flatten":  # lockstep's order is (H, W, C): back to NHWC before flattening
            layers.append(Lambda(nn, lambda x: x.permute(0, 2, 3, 1).flatten(1)))
            chw = None
        elif kind == "global_average_pooling2d":
            layers.append(Lambda(nn, lambda x: x.mean((2, 3))))
            width, chw = chw[0], None
        elif kind == "batch_normalization":
            b = layer.batch_normalization
            bn = nn.BatchNorm2d if chw is not None else nn.BatchNorm1d
            channels = chw[0] if chw is not None else width
            layers.append(bn(channels, eps=b.epsilon, momentum=1.0 - b.momentum, affine=b.scale or b.center))
        elif kind == "activation":
            a = layer.activation
            act = activation(a.activation, a.alpha if a.HasField("alpha") else None, last=last)
            if act is not None:
                layers.append(act)
        elif kind == "dropout":
            layers.append(nn.Dropout(layer.dropout.rate))
        else:
            fail("model.layers[%d]: layer kind %r not supported by torch_bench" % (i, kind))
    if chw is not None:  # an image output: lockstep's is flat (H, W, C)
        layers.append(Lambda(nn, lambda x: x.permute(0, 2, 3, 1).flatten(1)))

    if loss_name in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        loss = nn.CrossEntropyLoss() if fused else nn.NLLLoss()  # NLL of log(softmax) when not fused
        if not fused:
            layers.append(LogOf(nn)())
    elif loss_name == "binary_crossentropy":
        loss = nn.BCEWithLogitsLoss() if fused else nn.BCELoss()
    else:
        loss = nn.MSELoss()
    return nn.Sequential(*layers), products, width, loss


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


def product_calls(torch, products, batch):
    """The Dense layers' matrix products of one step as nn.Linear issues them, on their own buffers.

    None when the model has Conv2D layers: PyTorch runs those as oneDNN
    convolutions, not as matrix products, so there is no PyTorch product to
    time for them and no PyTorch "% of the products" (bench_train's bound is
    lockstep's own)."""
    if any(p[0] == "conv" for p in products):
        return None
    calls = []
    for k, (_, i, o, bias, index) in enumerate(products):
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
        if index > 0:  # the model's first layer computes no input gradient
            calls.append((lambda w=w, dz=dz, dx=dx: torch.mm(dz, w, out=dx), flops))
    return calls


def step_flops(products, batch):
    """FLOP of one step's matrix products, counted as bench_train counts them: forward, weight gradient
    and input gradient (none for the model's layer 0) of each Dense and Conv2D layer; a bias adds one
    per output value."""
    total = 0.0
    for p in products:
        if p[0] == "dense":
            _, i, o, bias, index = p
            rows, inner = batch, i * o
        else:  # conv: the im2col products over positions x patch width x filters
            _, positions, patch, filters, bias, index = p
            rows, inner, o = batch * positions, patch * filters, filters
        flops = 2.0 * rows * inner
        total += flops + (rows * o if bias else 0) + flops + (flops if index > 0 else 0)
    return total


def mkldnn_enabled(torch):
    """PyTorch's switch for oneDNN (mkldnn) kernels; 1.13 has the flag, later versions is_enabled()."""
    fn = getattr(torch.backends.mkldnn, "is_enabled", None)
    return bool(fn() if fn else torch.backends.mkldnn.enabled)


def conv_backend(torch, model, x):
    """The aten convolution kernels one forward of `model` on `x` runs (e.g. aten::mkldnn_convolution):
    which implementation PyTorch picked with its defaults. Eval mode and no_grad so that neither the
    BatchNorm statistics nor DDP see this forward; the kernel choice does not depend on either."""
    inner = getattr(model, "module", model)
    generic = {"aten::conv2d", "aten::convolution", "aten::_convolution"}
    inner.eval()
    with torch.no_grad(), torch.autograd.profiler.profile() as prof:
        inner(x)
    inner.train()
    names = sorted({e.name for e in prof.function_events if "conv" in e.name and e.name not in generic})
    return ",".join(names) or "?"


def resident_mb():
    """Current resident set size of this process in MiB (/proc/self/statm)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2.0 ** 20


def peak_resident_mb():
    """Peak resident set size of this process so far in MiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_ranks(args, argv):
    """--ranks N > 1: runs N copies of this script as ranks 0..N-1 and waits for them.

    This process does not import torch (a forked child inherits its parent's
    peak RSS in ru_maxrss until exec); it only loads the config to check it.

    Returns the exit status: 0 when every rank succeeded, else the first failing
    rank's (its stderr is shown; the other ranks are stopped)."""
    config = load_config(args.config)  # early errors (config, batch) before any process starts
    batch = args.batch or config.batch_size
    if batch % args.ranks != 0:
        fail("torch_bench.py: --batch must be divisible by --ranks")
    port = free_port()
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(args.ranks))
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)

        def die_with_parent():  # PR_SET_PDEATHSIG: no rank outlives this process
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)
    except OSError:
        die_with_parent = None

    procs, errs = [], []
    try:
        for rank in range(args.ranks):
            err = tempfile.TemporaryFile(mode="w+", prefix="torch_bench_rank%d_" % rank)
            errs.append(err)
            procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__)] + argv
                                          + ["--rank", str(rank)],
                                          env=dict(env, RANK=str(rank)), stderr=err,
                                          preexec_fn=die_with_parent))
        failed, hung, first_done = None, None, None
        while failed is None and hung is None and any(q.returncode is None for q in procs):
            time.sleep(0.02)
            for rank, q in enumerate(procs):
                if q.poll() is not None and q.returncode != 0:
                    failed = rank
                    break
            if first_done is None and any(q.returncode == 0 for q in procs):
                first_done = time.monotonic()
            if first_done is not None and time.monotonic() - first_done > 30:
                # the ranks finish together (their last act is a collective): one still running hangs
                hung = next(r for r, q in enumerate(procs) if q.returncode is None)
    finally:
        for q in procs:
            if q.poll() is None:
                q.terminate()
        deadline = time.monotonic() + 5
        for q in procs:
            try:
                q.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                q.kill()
                q.wait()

    def text(rank):
        errs[rank].seek(0)
        return errs[rank].read()

    if hung is not None:
        sys.stderr.write(text(hung))
        print("error: torch_bench.py: rank %d of %d did not exit 30 s after another rank finished; stopped"
              % (hung, args.ranks), file=sys.stderr)
        return 1
    if failed is not None:
        sys.stderr.write(text(failed))
        code = procs[failed].returncode
        how = "exit status %d" % code if code > 0 else "signal %d" % -code
        print("error: torch_bench.py: rank %d of %d failed (%s); the other ranks were stopped"
              % (failed, args.ranks, how), file=sys.stderr)
        return code if code > 0 else 1
    seen = set()
    for rank in range(args.ranks):  # warnings: each distinct text once
        t = text(rank)
        if t and t not in seen:
            seen.add(t)
            sys.stderr.write(t)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("--batch", type=int, default=0,
                   help="0 = the config's batch_size; with --ranks the global batch")
    p.add_argument("--threads", type=int, default=1, help="compute threads (per rank with --ranks)")
    p.add_argument("--steps", type=int, default=0, help="0 = calibrate to about 0.25 s per repeat")
    p.add_argument("--warmup", type=int, default=-1, help="-1 = max(20, steps / 10)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--foreach", action="store_true",
                   help="multi-tensor optimizer updates (foreach=True; off = PyTorch 1.13's CPU default)")
    p.add_argument("--ranks", type=int, default=1,
                   help="data-parallel processes (DistributedDataParallel over gloo on localhost)")
    p.add_argument("--nocomm", action="store_true",
                   help="with --ranks: each process trains alone on the per-rank batch, no DDP")
    p.add_argument("--no-broadcast-buffers", action="store_true",
                   help="with --ranks: DDP(broadcast_buffers=False), no per-step BatchNorm buffer broadcast")
    p.add_argument("--rank", type=int, default=-1, help=argparse.SUPPRESS)  # set by launch_ranks() only
    argv = sys.argv[1:]
    args = p.parse_args(argv)
    name = os.path.basename(args.config).split(".")[0]
    if args.ranks < 1:
        fail("torch_bench.py: --ranks must be >= 1")
    if args.batch < 0:
        fail("torch_bench.py: --batch must be >= 0")
    ranks, rank = args.ranks, max(args.rank, 0)
    multi = ranks > 1
    if multi and args.rank < 0 and importlib.util.find_spec("torch") is not None:
        return launch_ranks(args, argv)  # (no torch: reported as skipped below, without starting ranks)
    mode = "nocomm" if multi and args.nocomm else "ddp" if multi else "single"

    # Before torch loads: its BLAS sizes its thread pool from these, not from torch.set_num_threads().
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    try:
        import torch
        import torch.nn as nn
    except Exception as e:  # ImportError, or a broken installation
        reason = "cannot import torch (%s: %s); install Debian's python3-torch (launch/setup.sh --bench) " \
                 "and run with /usr/bin/python3" % (type(e).__name__, e)
        if rank != 0:
            return 0
        if args.json:
            print(json.dumps({"bench": "pytorch", "model": name, "skipped": True, "reason": reason}))
        else:
            print("PyTorch skipped: " + reason)
        return 0

    config = load_config(args.config)
    batch = args.batch or config.batch_size
    if batch % ranks != 0:
        fail("torch_bench.py: --batch must be divisible by --ranks")
    local_batch = batch // ranks
    torch.set_num_threads(args.threads)

    if multi:
        import torch.distributed as dist
        dist.init_process_group("gloo", init_method="env://", world_size=ranks, rank=rank,
                                timeout=datetime.timedelta(seconds=60))

        def all_max(values):
            t = torch.tensor(values, dtype=torch.float64)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            return t.tolist()

        def all_each(value):
            """[value of rank 0, value of rank 1, ...] on every rank."""
            t = torch.zeros(ranks, dtype=torch.float64)
            t[rank] = value
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            return t.tolist()

        barrier = dist.barrier
    else:
        def all_max(values):
            return list(values)

        def all_each(value):
            return [value]

        def barrier():
            pass

    # Start-up size: libraries loaded, BLAS buffers and autograd touched once.
    a = torch.ones(256, 256)
    (a @ a).sum().item()
    tiny = nn.Linear(16, 8)
    tiny(torch.ones(4, 16)).sum().backward()
    del a, tiny
    rss_start = resident_mb()

    torch.manual_seed(1)
    model, products, out_width, loss_fn = build_model(torch, nn, config.model, config.loss)
    model.train()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    has_bn = any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in model.modules())
    has_conv = any(p[0] == "conv" for p in products)
    if mode == "ddp":
        # oneDNN returns the gradient of a kernel with one input channel (the first Conv2d on grey
        # images) with strides [9, 1, 3, 1] where DDP's bucket view has [9, 9, 3, 1]: the same memory
        # order (the stride of a size-1 dimension is never used), so DDP's warning that it copies
        # instead of aliasing concerns a few hundred floats; kept out of the output.
        import warnings
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        model = torch.nn.parallel.DistributedDataParallel(model, broadcast_buffers=not args.no_broadcast_buffers)
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
    data_mb = sum(t.numel() * t.element_size() for t in (x_all, y_all)) / 2.0 ** 20
    steps_per_epoch = samples // batch

    perm_gen = torch.Generator()  # the same epoch permutations on every rank
    perm_gen.manual_seed(2)
    state = {"perm": torch.randperm(samples, generator=perm_gen), "step": 0}
    lo, hi = rank * local_batch, (rank + 1) * local_batch  # this rank's slice of each global batch

    def run(steps):
        """Seconds spent in `steps` training steps (epoch permutations excluded)."""
        total = 0.0
        t0 = time.perf_counter()
        for _ in range(steps):
            if state["step"] == steps_per_epoch:
                total += time.perf_counter() - t0
                state["perm"] = torch.randperm(samples, generator=perm_gen)
                state["step"] = 0
                t0 = time.perf_counter()
            s = state["step"]
            idx = state["perm"][s * batch + lo:s * batch + hi]
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
    if steps == 0:  # every rank must run the same number of steps: the slowest rank's time decides
        n = 8
        t = all_max([run(n)])[0]
        while t < 0.05:
            n *= 2
            t = all_max([run(n)])[0]
        steps = max(8, int(0.25 * n / t))

    # Peak before the products below allocate their own buffers: the training run's.
    rss_peak = peak_resident_mb()
    rss_start_max, rss_peak_max = all_max([rss_start, rss_peak])
    rss_peak_ranks = all_each(rss_peak)

    calls = product_calls(torch, products, batch) if not multi else None
    flops_per_step = step_flops(products, batch)  # the global batch's
    conv_op = conv_backend(torch, model, x_all[:local_batch]) if has_conv else None
    calls = calls or []
    for fn, _ in calls:
        for _ in range(3):
            fn()

    step_s, gemm_s = [], []
    for _ in range(args.repeats):
        barrier()
        step_s.append(all_max([run(steps)])[0] / steps)
        g = 0.0
        with torch.no_grad():
            for fn, _ in calls:
                t0 = time.perf_counter()
                for _ in range(steps):
                    fn()
                g += (time.perf_counter() - t0) / steps
        gemm_s.append(g)

    # No dist.destroy_process_group(): with DDP it can deadlock as described in main_of_rank(), which
    # ends the ranks instead (the collectives are complete: the last all_max above waited for them).
    if rank != 0:
        return 0

    s = statistics.median(step_s)
    g = statistics.median(gemm_s) if calls else None
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
        "gemm_gflops": round(flops_per_step / g * 1e-9, 3) if g else None,
        "pct_of_gemm": round(100.0 * g / s, 1) if g else None,
        "params": params,
        "samples_per_s_runs": [round(batch / t, 1) for t in step_s],
        "torch_version": torch.__version__,
        "foreach": args.foreach,
        "ranks": ranks,
        "per_rank_batch": local_batch,
        "mode": mode,
        "rss_start_mb": round(rss_start_max, 1),
        "rss_peak_mb": round(rss_peak_max, 1),
        "data_mb": round(data_mb, 1),
        "mkldnn_enabled": mkldnn_enabled(torch),
    }
    if conv_op:
        result["conv_kernel"] = conv_op
    if multi:
        result["rss_peak_mb_ranks"] = [round(x, 1) for x in rss_peak_ranks]
        result["broadcast_buffers"] = mode == "ddp" and not args.no_broadcast_buffers
        result["sync_batchnorm"] = False
    if args.json:
        print(json.dumps(result))
        return 0
    if multi:
        how = ("DDP over gloo, %d ranks" % ranks if mode == "ddp"
               else "%d independent processes (--nocomm: no DDP, no gradient all-reduce)" % ranks)
        print("pytorch %s  global batch %d = %d ranks x %d  threads %d per rank  %s  (%d steps x %d repeats, "
              "medians, time = max over ranks; torch %s)"
              % (name, batch, ranks, local_batch, args.threads, how, steps, args.repeats, torch.__version__))
        print("  %.0f samples/s   %.4f ms/step   %.3f GFLOP/s   (%.0f FLOP/sample in products)"
              % (result["samples_per_s"], s * 1e3, result["gflops"], result["flops_per_sample"]))
        if has_bn:
            print("  BatchNorm is per rank (%d samples): PyTorch has no SyncBatchNorm on CPU%s"
                  % (local_batch, "; DDP broadcasts rank 0's running statistics every step"
                     if result["broadcast_buffers"] else ""))
        print("  peak RSS %.1f MB (max over ranks; each: %s) = start-up %.1f + data set %.1f (on every rank) "
              "+ %.1f for the model%s, optimizer, activations and their scratch"
              % (rss_peak_max, ", ".join("%.1f" % x for x in rss_peak_ranks), rss_start_max, data_mb,
                 rss_peak_max - rss_start_max - data_mb, ", DDP's buckets" if mode == "ddp" else ""))
        return 0
    print("pytorch %s  batch %d  threads %d  (%d steps x %d repeats, medians; torch %s)"
          % (name, batch, args.threads, steps, args.repeats, torch.__version__))
    print("  %.0f samples/s   %.4f ms/step   %.3f GFLOP/s   (%.0f FLOP/sample in products)"
          % (result["samples_per_s"], s * 1e3, result["gflops"], result["flops_per_sample"]))
    print("  peak RSS %.1f MB = start-up %.1f + data set %.1f + %.1f for the model, its gradients, optimizer "
          "state, activations and the allocator's caching"
          % (rss_peak_max, rss_start_max, data_mb, rss_peak_max - rss_start_max - data_mb))
    if conv_op:
        print("  convolutions: %s (oneDNN enabled: %s; PyTorch's defaults)" % (conv_op, result["mkldnn_enabled"]))
    if g:
        print("  torch addmm/mm on the same shapes: %.3f GFLOP/s, %.4f ms/step -> the step reaches %.1f%%"
              % (result["gemm_gflops"], g * 1e3, result["pct_of_gemm"]))
    return 0


def main_of_rank():
    """main() of a spawned rank, left with os._exit once the output is flushed.

    PyTorch 1.13 can deadlock in interpreter shutdown after DDP over gloo
    (DDP's Reducer destroys the process group, which joins a gloo worker that
    waits for the GIL the exiting main thread holds), so the interpreter's
    teardown is skipped; errors are printed first (SystemExit keeps its status,
    any other exception prints its traceback and gives status 1)."""
    import traceback

    try:
        code = main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if e.code is not None and not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
    except BaseException:  # noqa: B902  (KeyboardInterrupt included: the rank must not linger)
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    if "--rank" in sys.argv[1:]:
        main_of_rank()
    sys.exit(main())
