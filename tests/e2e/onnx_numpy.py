#!/usr/bin/env python3
"""A small ONNX interpreter in NumPy, independent of lockstep and of any ONNX
runtime: it evaluates the operators `trainer export ... .onnx` writes, from
the ONNX specification (opset 13), in float64, so the test compares
lockstep's float32 predictions with a reference that shares none of its code.

    python3 tests/e2e/onnx_numpy.py MODEL.onnx INPUT.npy OUTPUT.npy
"""
import math
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _attributes(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _window_geometry(x, a, dilations=None):
    """(kernel, strides, dilations, pads) of Conv/MaxPool/AveragePool; only
    explicit pads (the exporter never writes auto_pad)."""
    assert a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"), "auto_pad is not supported"
    assert not a.get("ceil_mode", 0), "ceil_mode is not supported"
    kernel = list(a["kernel_shape"])
    strides = list(a.get("strides", [1, 1]))
    dil = list(a.get("dilations", dilations or [1, 1]))
    pads = list(a.get("pads", [0, 0, 0, 0]))
    return kernel, strides, dil, pads


def _windows(x, kernel, strides, dil, pads, fill):
    """Yields (i, j, view): for each kernel offset, the [N, C, OH, OW] input
    cells it meets, from x padded with `fill`."""
    top, left, bottom, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    h, w = xp.shape[2], xp.shape[3]
    oh = (h - ((kernel[0] - 1) * dil[0] + 1)) // strides[0] + 1
    ow = (w - ((kernel[1] - 1) * dil[1] + 1)) // strides[1] + 1
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            r, c = i * dil[0], j * dil[1]
            yield i, j, xp[:, :, r:r + (oh - 1) * strides[0] + 1:strides[0], c:c + (ow - 1) * strides[1] + 1:strides[1]]


def conv(x, w, b=None, **a):
    assert a.get("group", 1) == 1, "grouped convolution is not supported"
    kernel, strides, dil, pads = _window_geometry(x, a)
    assert kernel == list(w.shape[2:])
    out = None
    for i, j, view in _windows(x, kernel, strides, dil, pads, 0.0):
        term = np.einsum("nchw,fc->nfhw", view, w[:, :, i, j])
        out = term if out is None else out + term
    return out if b is None else out + b[None, :, None, None]


def max_pool(x, **a):
    kernel, strides, dil, pads = _window_geometry(x, a)
    # Padded cells never win (the ONNX reference pads with NaN and ignores it).
    return np.max(np.stack([v for _, _, v in _windows(x, kernel, strides, dil, pads, -np.inf)]), axis=0)


def average_pool(x, **a):
    kernel, strides, dil, pads = _window_geometry(x, a)
    total = sum(v for _, _, v in _windows(x, kernel, strides, dil, pads, 0.0))
    if a.get("count_include_pad", 0):
        return total / (kernel[0] * kernel[1])
    ones = np.ones((1, 1) + x.shape[2:])
    count = sum(v for _, _, v in _windows(ones, kernel, strides, dil, pads, 0.0))
    return total / count


def gemm(a, b, c=None, alpha=1.0, beta=1.0, transA=0, transB=0):
    y = alpha * ((a.T if transA else a) @ (b.T if transB else b))
    return y if c is None else y + beta * c


def batch_normalization(x, scale, bias, mean, var, epsilon=1e-5, training_mode=0, momentum=None):
    assert not training_mode, "training-mode BatchNormalization is not supported"
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + epsilon) * scale.reshape(shape) + bias.reshape(shape)


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def flatten(x, axis=1):
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def reshape(x, shape, allowzero=0):
    dims = [x.shape[i] if d == 0 and not allowzero else int(d) for i, d in enumerate(shape)]
    return x.reshape(dims)


_erf = np.vectorize(math.erf, otypes=[np.float64])

OPERATORS = {
    "Identity": lambda x: x,
    "Transpose": lambda x, perm=None: np.transpose(x, perm),
    "Gemm": gemm,
    "MatMul": lambda a, b: a @ b,
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    "Div": lambda a, b: a / b,
    "Relu": lambda x: np.maximum(x, 0.0),
    "Tanh": np.tanh,
    "Sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "Elu": lambda x, alpha=1.0: np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0.0)) - 1.0)),
    "LeakyRelu": lambda x, alpha=0.01: np.where(x > 0, x, alpha * x),
    "Erf": _erf,
    "Softmax": softmax,
    "Flatten": flatten,
    "Reshape": reshape,
    "BatchNormalization": batch_normalization,
    "Conv": conv,
    "MaxPool": max_pool,
    "AveragePool": average_pool,
    "GlobalAveragePool": lambda x: np.mean(x, axis=(2, 3), keepdims=True),
}


def run(model, inputs):
    """inputs: {name: array}; returns {name: array} of the graph's outputs."""
    values = {t.name: numpy_helper.to_array(t).astype(np.float64) if t.data_type == onnx.TensorProto.FLOAT
              else numpy_helper.to_array(t) for t in model.graph.initializer}
    values.update({k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()})
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx") or node.op_type not in OPERATORS:
            raise NotImplementedError(f"operator {node.domain}:{node.op_type}")
        args = [values[i] if i else None for i in node.input]
        result = OPERATORS[node.op_type](*args, **_attributes(node))
        values[node.output[0]] = result
    return {o.name: values[o.name] for o in model.graph.output}


def main():
    model = onnx.load(sys.argv[1])
    x = np.load(sys.argv[2])
    (y,) = run(model, {model.graph.input[0].name: x}).values()
    np.save(sys.argv[3], y)


if __name__ == "__main__":
    main()
