#!/usr/bin/python3
"""Golden values for lockstep's layer tests, from PyTorch in float64.

Run with Debian's interpreter (python3-torch 1.13, python3-numpy):
    /usr/bin/python3 tests/unit/layers/golden/make_golden.py
It rewrites golden.txt next to this script; the C++ tests
(tests/unit/layers/test_*.cpp, via golden.h) feed the same inputs,
parameters and upstream gradient dy into lockstep's layers and compare.

Every tensor in golden.txt is in lockstep's layout: activations NHWC,
Conv2D kernels [kh, kw, in, filters] (Keras). PyTorch wants NCHW and
weights [filters, in, kh, kw]; the permutations are part of the autograd
graph below, so the gradients come back in lockstep's layout by themselves.

Where Keras and PyTorch differ, Keras is emulated:
  * "same" padding follows TensorFlow: the output is ceil(in / stride) and
    the padding total (out - 1) * stride + span - in is split with the odd
    cell at the bottom/right. PyTorch's padding=k is symmetric, so every
    "same" case pads explicitly with F.pad.
  * max pooling pads with -inf (a padded cell never wins);
  * average pooling does not count padded cells: sum / count of real cells.
A naive loop over windows (numpy) re-derives every forward output as a check
of the emulation itself.

Inputs are rounded to float32 first, so lockstep sees exactly the values
PyTorch used.

File format (whitespace separated, one item per line):
    case NAME
    attr KEY VALUE...           layer configuration (ints or a word)
    tensor NAME RANK DIM...     followed by one line of the values, row-major
    end
"""

import math
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
# PyTorch's own "same" (the cross-check below) warns about its copy of the input.
warnings.filterwarnings("ignore", message="Using padding='same'")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.txt")


# ---------------------------------------------------------------------------
# Inputs

def floats(shape, seed, lo=-1.0, hi=1.0):
    """Uniform values that float32 represents exactly."""
    v = np.random.RandomState(seed).uniform(lo, hi, size=shape)
    return v.astype(np.float32).astype(np.float64)


def distinct(shape, seed):
    """A shuffled grid, 0.01 apart: max pooling never sees a tie."""
    n = int(np.prod(shape))
    grid = (np.arange(n) - n / 2.0) * 0.01
    v = np.random.RandomState(seed).permutation(grid).reshape(shape)
    return v.astype(np.float32).astype(np.float64)


# ---------------------------------------------------------------------------
# TensorFlow's window geometry (core/layers/window.h says the same)

def axis_geometry(size, kernel, stride, dilation, padding):
    """(output size, padding before, padding after) along one axis."""
    span = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (size - span) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return out, total // 2, total - total // 2


def pad_nchw(t, geometry_h, geometry_w, value=0.0):
    (_, top, bottom), (_, left, right) = geometry_h, geometry_w
    return F.pad(t, (left, right, top, bottom), value=value)


def nchw(t):
    return t.permute(0, 3, 1, 2)


def nhwc(t):
    return t.permute(0, 2, 3, 1)


# ---------------------------------------------------------------------------
# Naive references (forward only): loops over output cells and windows

def naive_windows(x, k, s, d, padding):
    """Yields (n, oh, ow, [(ih, iw) inside the input]) for NHWC x."""
    N, H, W, _ = x.shape
    oh_n, top, _ = axis_geometry(H, k[0], s[0], d[0], padding)
    ow_n, left, _ = axis_geometry(W, k[1], s[1], d[1], padding)
    for n in range(N):
        for oh in range(oh_n):
            for ow in range(ow_n):
                cells = []
                for kh in range(k[0]):
                    for kw in range(k[1]):
                        ih, iw = oh * s[0] - top + kh * d[0], ow * s[1] - left + kw * d[1]
                        cells.append((kh, kw, ih, iw) if 0 <= ih < H and 0 <= iw < W else None)
                yield n, oh, ow, cells


def naive_conv(x, kernel, bias, s, d, padding, activation):
    k = kernel.shape[:2]
    out = {}
    for n, oh, ow, cells in naive_windows(x, k, s, d, padding):
        z = bias.copy() if bias is not None else np.zeros(kernel.shape[3])
        for c in cells:
            if c is not None:
                kh, kw, ih, iw = c
                z += x[n, ih, iw, :] @ kernel[kh, kw]
        out[n, oh, ow] = np.tanh(z) if activation == "tanh" else z
    return dense_grid(out)


def naive_pool(x, k, s, padding, kind):
    out = {}
    for n, oh, ow, cells in naive_windows(x, k, s, (1, 1), padding):
        inside = np.array([x[n, c[2], c[3], :] for c in cells if c is not None])
        out[n, oh, ow] = inside.max(axis=0) if kind == "max" else inside.mean(axis=0)
    return dense_grid(out)


def dense_grid(cells):
    n, h, w = (max(key[i] for key in cells) + 1 for i in range(3))
    return np.array([[[cells[a, b, c] for c in range(w)] for b in range(h)] for a in range(n)])


# ---------------------------------------------------------------------------
# Output

class Writer:
    def __init__(self):
        self.lines = ["# Generated by make_golden.py (PyTorch %s, float64); do not edit." % torch.__version__]

    def case(self, name, attrs, tensors):
        self.lines.append("case " + name)
        for key, value in attrs.items():
            words = value if isinstance(value, (list, tuple)) else [value]
            self.lines.append("attr %s %s" % (key, " ".join(str(int(w)) if isinstance(w, bool) else str(w)
                                                          for w in words)))
        for tname, t in tensors.items():
            a = t.detach().numpy() if torch.is_tensor(t) else np.asarray(t)
            self.lines.append("tensor %s %d %s" % (tname, a.ndim, " ".join(str(d) for d in a.shape)))
            self.lines.append(" ".join(repr(float(v)) for v in a.reshape(-1)))
        self.lines.append("end")

    def save(self):
        with open(OUT, "w") as f:
            f.write("\n".join(self.lines) + "\n")


def check_forward(name, got, reference):
    assert got.shape == reference.shape, (name, got.shape, reference.shape)
    err = np.max(np.abs(got - reference))
    assert err < 1e-12, "%s: PyTorch emulation and naive loop differ by %g" % (name, err)


def backward(y_nhwc, dy, *leaves):
    (y_nhwc * torch.tensor(dy)).sum().backward()
    return [leaf.grad for leaf in leaves]


# ---------------------------------------------------------------------------
# Cases

def conv_case(w, name, x_shape, filters, kernel, strides=(1, 1), dilation=(1, 1), padding="valid",
              use_bias=True, activation="linear", seed=0):
    N, H, W, C = x_shape
    x_np = floats(x_shape, seed + 1)
    kernel_np = floats((kernel[0], kernel[1], C, filters), seed + 2, -0.5, 0.5)
    bias_np = floats((filters,), seed + 3) if use_bias else None
    gh = axis_geometry(H, kernel[0], strides[0], dilation[0], padding)
    gw = axis_geometry(W, kernel[1], strides[1], dilation[1], padding)
    dy = floats((N, gh[0], gw[0], filters), seed + 4)

    x = torch.tensor(x_np, requires_grad=True)
    k = torch.tensor(kernel_np, requires_grad=True)
    b = torch.tensor(bias_np, requires_grad=True) if use_bias else None
    weight = k.permute(3, 2, 0, 1)  # [kh, kw, in, out] -> [out, in, kh, kw]
    z = F.conv2d(pad_nchw(nchw(x), gh, gw), weight, b, stride=strides, dilation=dilation)
    if padding == "same" and strides == (1, 1):  # PyTorch's own "same" agrees here
        same = F.conv2d(nchw(x), weight, b, padding="same", dilation=dilation)
        assert torch.allclose(z, same, rtol=0, atol=1e-12), name
    y = nhwc(torch.tanh(z) if activation == "tanh" else z)
    check_forward(name, y.detach().numpy(), naive_conv(x_np, kernel_np, bias_np, strides, dilation, padding,
                                                       activation))
    grads = backward(y, dy, x, k, *([b] if use_bias else []))

    attrs = {"filters": filters, "kernel_size": kernel, "strides": strides, "dilation_rate": dilation,
             "padding": padding, "use_bias": use_bias, "activation": activation}
    tensors = {"x": x, "kernel": k}
    if use_bias:
        tensors["bias"] = b
    tensors.update({"dy": dy, "y": y, "dx": grads[0], "dkernel": grads[1]})
    if use_bias:
        tensors["dbias"] = grads[2]
    w.case(name, attrs, tensors)


def pool_case(w, kind, name, x_shape, pool, strides=None, padding="valid", seed=0):
    N, H, W, C = x_shape
    s = strides or pool  # Keras: strides=None means the pool size
    gh = axis_geometry(H, pool[0], s[0], 1, padding)
    gw = axis_geometry(W, pool[1], s[1], 1, padding)
    x_np = distinct(x_shape, seed + 1) if kind == "max" else floats(x_shape, seed + 1)
    dy = floats((N, gh[0], gw[0], C), seed + 2)

    x = torch.tensor(x_np, requires_grad=True)
    if kind == "max":
        z = F.max_pool2d(pad_nchw(nchw(x), gh, gw, value=-math.inf), pool, s)
    else:
        # Padded cells are not counted: the window's sum over the count of
        # its real cells (an average pool of ones counts them).
        area = pool[0] * pool[1]
        total = F.avg_pool2d(pad_nchw(nchw(x), gh, gw), pool, s) * area
        real = F.avg_pool2d(pad_nchw(torch.ones(1, 1, H, W), gh, gw), pool, s) * area
        z = total / real
    y = nhwc(z)
    check_forward(name, y.detach().numpy(), naive_pool(x_np, pool, s, padding, kind))
    (dx,) = backward(y, dy, x)

    attrs = {"pool_size": pool, "padding": padding}
    if strides:
        attrs["strides"] = strides
    w.case(name, attrs, {"x": x, "dy": dy, "y": y, "dx": dx})


def global_average_pooling_case(w, name, x_shape, seed=0):
    x = torch.tensor(floats(x_shape, seed + 1), requires_grad=True)
    dy = floats((x_shape[0], x_shape[3]), seed + 2)
    y = nchw(x).mean(dim=(2, 3))
    assert np.allclose(y.detach().numpy(), x.detach().numpy().mean(axis=(1, 2)), rtol=0, atol=1e-15)
    (dx,) = backward(y, dy, x)
    w.case(name, {}, {"x": x, "dy": dy, "y": y, "dx": dx})


def flatten_case(w, name, x_shape, seed=0):
    x = torch.tensor(floats(x_shape, seed + 1), requires_grad=True)
    dy = floats((x_shape[0], int(np.prod(x_shape[1:]))), seed + 2)
    y = torch.flatten(x, start_dim=1)  # NHWC order: channels vary fastest
    (dx,) = backward(y, dy, x)
    w.case(name, {}, {"x": x, "dy": dy, "y": y, "dx": dx})


def batch_norm_nhwc_case(w, name, x_shape, seed=0):
    """BatchNormalization on [N, H, W, C]: per-channel statistics over N, H, W.

    torch's BatchNorm2d normalises with the biased variance too, but its
    running_var blends the UNBIASED one: Keras' moving variance is
    0.99 + (running_var - 0.99) * (m - 1) / m with m = N * H * W.
    """
    N, H, W, C = x_shape
    offsets = np.arange(C) * 1.5 - 1.0
    x_np = (floats(x_shape, seed + 1) * (0.5 + np.arange(C)) + offsets).astype(np.float32).astype(np.float64)
    gamma_np, beta_np = floats((C,), seed + 2, 0.5, 1.5), floats((C,), seed + 3)
    dy = floats(x_shape, seed + 4)

    bn = torch.nn.BatchNorm2d(C, eps=1e-3, momentum=0.01)  # Keras momentum 0.99
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(gamma_np))
        bn.bias.copy_(torch.tensor(beta_np))
    bn.train()
    x = torch.tensor(x_np, requires_grad=True)
    y = nhwc(bn(nchw(x)))
    dx, dgamma, dbeta = backward(y, dy, x, bn.weight, bn.bias)
    m = N * H * W
    moving_variance = 0.99 + (bn.running_var - 0.99) * (m - 1) / m
    w.case(name, {"epsilon": "0.001", "momentum": "0.99"},
           {"x": x, "gamma": gamma_np, "beta": beta_np, "dy": dy, "y": y, "dx": dx, "dgamma": dgamma,
            "dbeta": dbeta, "moving_mean": bn.running_mean, "moving_variance": moving_variance})


def main():
    w = Writer()
    # Conv2D. Inputs are higher than wide (or the reverse) so that swapped
    # axes show; "same" with an even kernel or a stride > 1 pads
    # asymmetrically, where PyTorch's symmetric padding would differ.
    conv_case(w, "conv_3x3_same_s1", (2, 5, 6, 3), 4, (3, 3), padding="same", seed=10)
    conv_case(w, "conv_2x2_same_s1", (2, 5, 4, 2), 3, (2, 2), padding="same", seed=20)
    conv_case(w, "conv_4x4_same_s2", (2, 7, 6, 2), 3, (4, 4), strides=(2, 2), padding="same", seed=30)
    conv_case(w, "conv_3x3_valid_s2_tanh", (2, 7, 8, 3), 2, (3, 3), strides=(2, 2), activation="tanh",
              seed=40)
    conv_case(w, "conv_3x3_dilation2_same", (2, 6, 7, 2), 3, (3, 3), dilation=(2, 2), padding="same",
              seed=50)
    conv_case(w, "conv_1x1_nobias", (3, 3, 4, 3), 2, (1, 1), use_bias=False, seed=60)
    conv_case(w, "conv_2x3_strides_2x1_same", (2, 5, 6, 2), 3, (2, 3), strides=(2, 1), padding="same",
              seed=70)
    # Pooling.
    pool_case(w, "max", "maxpool_2_valid", (2, 4, 6, 3), (2, 2), seed=100)
    pool_case(w, "max", "maxpool_3_s2_same", (2, 6, 7, 2), (3, 3), strides=(2, 2), padding="same", seed=110)
    pool_case(w, "max", "maxpool_2_same_odd", (2, 5, 5, 2), (2, 2), padding="same", seed=120)
    pool_case(w, "avg", "avgpool_2_valid", (2, 4, 6, 3), (2, 2), seed=200)
    pool_case(w, "avg", "avgpool_3_s2_same", (2, 6, 7, 2), (3, 3), strides=(2, 2), padding="same", seed=210)
    pool_case(w, "avg", "avgpool_2_same_odd", (2, 5, 5, 2), (2, 2), padding="same", seed=220)
    global_average_pooling_case(w, "global_average_pooling", (3, 4, 5, 3), seed=300)
    flatten_case(w, "flatten", (2, 3, 4, 2), seed=400)
    batch_norm_nhwc_case(w, "batch_norm_nhwc", (3, 4, 5, 3), seed=500)
    w.save()
    print("wrote", OUT)


if __name__ == "__main__":
    main()
