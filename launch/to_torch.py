#!/usr/bin/env python3
"""Rebuilds a lockstep model in PyTorch (torch.nn) from a checkpoint.

    python3 launch/to_torch.py runs/x/final/model.pb model.pt [--module model.py]

writes model.pt, the state_dict, and model.py (or --module), the code that
builds the matching torch.nn.Sequential. A PyTorch user needs only torch:

    import torch, model
    net = model.build()
    net.load_state_dict(torch.load("model.pt"))
    net.eval()
    y = net(x)  # x channels last, as in lockstep: [N, features] or [N, H, W, C]

The module takes and gives lockstep's layouts; inside, the convolutional part
runs in PyTorch's NCHW. What PyTorch does differently from Keras is written
out: "same" padding is an explicit ZeroPad2d (Keras puts the odd row/column
at the bottom/right), average pooling counts only cells inside the image,
Normalization is a small module with the adapted mean and variance as
buffers. The checkpoint is read with the lockstep package beside this
script (launch/python/: every checksum verified, its protobuf modules
generated with protoc when missing).
"""
import argparse
import collections
import math
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def fail(where, what, status=2):
    """lockstep's error line; status 2 for bad input, 1 for failures at run time."""
    print(f"error: {where}: {what}", file=sys.stderr)
    sys.exit(status)

# Shared by the generated module and by this script (which executes it).
MODULE_PRELUDE = '''import collections

import torch
from torch import nn
import torch.nn.functional as F


class Permute(nn.Module):
    """Between lockstep's channels-last tensors and PyTorch's NCHW."""

    def __init__(self, *dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


class Normalize(nn.Module):
    """Keras' Normalization: (x - mean) / max(sqrt(variance), 1e-7) per channel."""

    def __init__(self, channels, channels_first=False):
        super().__init__()
        self.channels_first = channels_first
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("variance", torch.ones(channels))

    def forward(self, x):
        shape = (-1, 1, 1) if self.channels_first else (-1,)
        scale = 1.0 / torch.clamp(torch.sqrt(self.variance), min=1e-7)
        return (x - self.mean.reshape(shape)) * scale.reshape(shape)


class KerasAvgPool2d(nn.Module):
    """Average over the window's cells inside the image (Keras "same" padding;
    PyTorch's padding is symmetric and counts padded cells by default)."""

    def __init__(self, kernel_size, stride, pads):
        super().__init__()
        self.kernel_size, self.stride, self.pads = kernel_size, stride, pads  # pads: left, right, top, bottom

    def forward(self, x):
        total = F.avg_pool2d(F.pad(x, self.pads), self.kernel_size, self.stride)
        ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
        return total / F.avg_pool2d(F.pad(ones, self.pads), self.kernel_size, self.stride)


class SoftmaxOverSample(nn.Module):
    """lockstep's softmax spans every value of a sample."""

    def forward(self, x):
        return torch.softmax(x.flatten(1), dim=-1).reshape(x.shape)
'''


def _f(value):
    """The shortest text of a float32 (proto floats arrive as the nearest double: 0.30000001192092896)."""
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.pack("<f", float(text)) == struct.pack("<f", value):
            return text
    return repr(value)


def _pair(values, default):
    """Keras' "an integer or a tuple of 2": one number (both axes) or two."""
    values = list(values)
    return (values[0], values[-1]) if values else (default, default)


def _window(size, kernel, stride, dilation, same):
    """(output size, padding before, padding after) along one axis, Keras' rules."""
    span = (kernel - 1) * dilation + 1
    if not same:
        return (size - span) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return out, total // 2, total - total // 2


def _activation(name, alpha=None):
    """Module source for lockstep's activation (parse_activation's defaults), None for linear."""
    if name in ("", "linear"):
        return None
    simple = {"relu": "nn.ReLU()", "tanh": "nn.Tanh()", "sigmoid": "nn.Sigmoid()", "gelu": "nn.GELU()"}
    if name in simple:
        return simple[name]
    if name == "elu":
        return f"nn.ELU(alpha={1.0 if alpha is None else _f(alpha)})"
    if name == "leaky_relu":
        return f"nn.LeakyReLU(negative_slope={0.2 if alpha is None else _f(alpha)})"
    if name == "softmax":
        return "softmax"  # placed by the caller: over the last axis or the whole sample
    fail("to_torch.py", f"unknown activation '{name}'")


class Builder:
    """Lines of the generated build() and the tensors of the state_dict, in
    lockstep's layer order; images are NCHW between Permutes."""

    def __init__(self, input_shape, tensors):
        self.shape = list(input_shape)  # per sample, channels last
        self.channels_first = False
        self.tensors = tensors
        self.lines = []
        self.state = {}

    def module(self, name, source, **state):
        self.lines.append(f"        ({name!r}, {source}),")
        for key, value in state.items():
            self.state[f"{name}.{key}"] = value

    def image(self):
        return len(self.shape) == 3

    def to_channels_first(self, name):
        if self.image() and not self.channels_first:
            self.module(f"{name}_to_nchw", "Permute(0, 3, 1, 2)")
            self.channels_first = True

    def to_channels_last(self, name):
        if self.image() and self.channels_first:
            self.module(f"{name}_to_nhwc", "Permute(0, 2, 3, 1)")
            self.channels_first = False

    def set_shape(self, shape):
        self.shape = list(shape)
        if not self.image():
            self.channels_first = False

    def activation(self, name, kind, alpha=None, own=False):
        """own: an Activation layer (the module takes its name); else a layer's `activation` field."""
        source = _activation(kind, alpha)
        if source is None:
            return
        if source == "softmax":
            if len(self.shape) == 1:
                source = "nn.Softmax(dim=-1)"
            else:
                source = "SoftmaxOverSample()"  # the order of the values does not matter to it
        self.module(name if own else f"{name}_{kind}", source)


def _dense(b, name, d):
    kernel = b.tensors[f"{name}/kernel"]
    b.to_channels_last(name)
    state = {"weight": kernel.T.copy()}
    if d.use_bias:
        state["bias"] = b.tensors[f"{name}/bias"]
    b.module(name, f"nn.Linear({kernel.shape[0]}, {kernel.shape[1]}, bias={d.use_bias})", **state)
    b.set_shape([kernel.shape[1]])
    b.activation(name, d.activation)


def _conv2d(b, name, c):
    kernel = b.tensors[f"{name}/kernel"]  # [kh, kw, in, filters]
    kh, kw, cin, filters = kernel.shape
    sh, sw = _pair(c.strides, 1)
    dh, dw = _pair(c.dilation_rate, 1)
    same = c.padding == "same"
    oh, top, bottom = _window(b.shape[0], kh, sh, dh, same)
    ow, left, right = _window(b.shape[1], kw, sw, dw, same)
    b.to_channels_first(name)
    if top or bottom or left or right:
        b.module(f"{name}_pad", f"nn.ZeroPad2d(({left}, {right}, {top}, {bottom}))")
    state = {"weight": kernel.transpose(3, 2, 0, 1).copy()}
    if c.use_bias:
        state["bias"] = b.tensors[f"{name}/bias"]
    b.module(name, f"nn.Conv2d({cin}, {filters}, ({kh}, {kw}), stride=({sh}, {sw}), dilation=({dh}, {dw}), "
                   f"bias={c.use_bias})", **state)
    b.set_shape([oh, ow, filters])
    b.activation(name, c.activation)


def _pooling(b, name, p, kind):
    ph, pw = _pair(p.pool_size, 2)
    sh, sw = _pair(p.strides, ph) if len(p.strides) else (ph, pw)
    same = p.padding == "same"
    oh, top, bottom = _window(b.shape[0], ph, sh, 1, same)
    ow, left, right = _window(b.shape[1], pw, sw, 1, same)
    b.to_channels_first(name)
    padded = top or bottom or left or right
    if kind == "max":
        if padded:  # padded cells never win
            b.module(f"{name}_pad", f"nn.ConstantPad2d(({left}, {right}, {top}, {bottom}), float('-inf'))")
        b.module(name, f"nn.MaxPool2d(({ph}, {pw}), stride=({sh}, {sw}))")
    elif padded:
        b.module(name, f"KerasAvgPool2d(({ph}, {pw}), ({sh}, {sw}), ({left}, {right}, {top}, {bottom}))")
    else:
        b.module(name, f"nn.AvgPool2d(({ph}, {pw}), stride=({sh}, {sw}))")
    b.set_shape([oh, ow, b.shape[2]])


def _batch_norm(b, name, bn):
    mean, var = b.tensors[f"{name}/moving_mean"], b.tensors[f"{name}/moving_variance"]
    channels = mean.shape[0]
    b.to_channels_first(name)
    ones = mean * 0 + 1
    state = {"weight": b.tensors.get(f"{name}/gamma", ones), "bias": b.tensors.get(f"{name}/beta", ones * 0),
             "running_mean": mean, "running_var": var}
    kind = "BatchNorm2d" if b.image() else "BatchNorm1d"
    # PyTorch's momentum weighs the new batch; Keras' the moving average.
    momentum = _f(1.0 - float(_f(bn.momentum)))
    b.module(name, f"nn.{kind}({channels}, eps={_f(bn.epsilon)}, momentum={momentum})", **state)


def _layer(b, name, spec):
    kind = spec.WhichOneof("layer")
    if kind == "dense":
        _dense(b, name, spec.dense)
    elif kind == "conv2d":
        _conv2d(b, name, spec.conv2d)
    elif kind == "batch_normalization":
        _batch_norm(b, name, spec.batch_normalization)
    elif kind == "activation":
        a = spec.activation
        b.activation(name, a.activation, a.alpha if a.HasField("alpha") else None, own=True)
    elif kind == "dropout":
        b.module(name, f"nn.Dropout({_f(spec.dropout.rate)})")  # identity in eval()
    elif kind in ("max_pooling2d", "average_pooling2d"):
        _pooling(b, name, getattr(spec, kind), kind[:3])
    elif kind == "global_average_pooling2d":
        b.to_channels_first(name)
        b.module(name, "nn.AdaptiveAvgPool2d(1)")
        b.module(f"{name}_flatten", "nn.Flatten()")
        b.set_shape([b.shape[2]])
    elif kind == "flatten":
        b.to_channels_last(name)  # lockstep flattens in (H, W, C) order
        b.module(name, "nn.Flatten()")
        b.set_shape([math.prod(b.shape)])
    elif kind == "normalization":
        mean = b.tensors[f"{name}/mean"]
        b.module(name, f"Normalize({mean.shape[0]}, channels_first={b.channels_first})",
                 mean=mean, variance=b.tensors[f"{name}/variance"])
    else:
        fail(name, f"to_torch.py has no PyTorch equivalent for {kind} layers")


def layer_names(model_spec):
    """lockstep's names: the given one, or Keras numbering per type (dense_1, dense_2, ...)."""
    counts = collections.Counter()
    names = []
    for spec in model_spec.layers:
        kind = spec.WhichOneof("layer")
        counts[kind] += 1
        names.append(spec.name if spec.HasField("name") else f"{kind}_{counts[kind]}")
    return names


def module_source(header, tensors, origin):
    """(source of the module, state_dict as numpy arrays)."""
    model = header.model
    b = Builder(model.input_shape, tensors)
    for name, spec in zip(layer_names(model), model.layers):
        _layer(b, "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name), spec)
    b.to_channels_last("output")
    shape = ", ".join(str(d) for d in model.input_shape)
    doc = (f'"""lockstep model {model.name!r} rebuilt in torch.nn by launch/to_torch.py from {origin}.\n\n'
           f"Input [N, {shape}] and output channels last, as in lockstep.\n"
           '    net = build(); net.load_state_dict(torch.load("model.pt")); net.eval()\n"""\n')
    body = "\n\ndef build():\n    return nn.Sequential(collections.OrderedDict([\n" + "\n".join(b.lines) + "\n    ]))\n"
    return doc + MODULE_PRELUDE + body, b.state


def main():
    parser = argparse.ArgumentParser(description="lockstep checkpoint -> PyTorch state_dict + module code")
    parser.add_argument("checkpoint")
    parser.add_argument("output", help="state_dict file (.pt)")
    parser.add_argument("--module", help="module code file (default: OUTPUT with .py)")
    args = parser.parse_args()
    module_path = args.module or os.path.splitext(args.output)[0] + ".py"
    sys.path.insert(0, os.path.join(HERE, "python"))
    import lockstep
    import torch

    try:
        header, tensors = lockstep.load_checkpoint(args.checkpoint)
    except lockstep.Error as e:  # one line naming the file (or protoc), its exit status
        fail(e.where, e.what, e.status)
    source, state = module_source(header, tensors, os.path.basename(args.checkpoint))
    namespace = {}
    exec(compile(source, module_path, "exec"), namespace)  # the very code the user gets
    net = namespace["build"]()
    # Every parameter and buffer takes the checkpoint's value (PyTorch's own
    # counter num_batches_tracked aside): none keeps its initial value silently.
    net.load_state_dict({k: torch.as_tensor(v, dtype=torch.float32).reshape(net.state_dict()[k].shape)
                         for k, v in state.items()}, strict=False)
    missing = [k for k in net.state_dict() if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        fail(args.checkpoint, f"no values for {', '.join(missing)}")
    try:
        with open(module_path, "w") as f:
            f.write(source)
        torch.save(net.state_dict(), args.output)
    except OSError as e:
        fail(e.filename or args.output, f"cannot write: {e.strerror}", 1)
    print(f"wrote {args.output} (state_dict, {len(state)} tensors) and {module_path} (build())")


if __name__ == "__main__":
    main()
