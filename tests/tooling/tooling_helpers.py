"""Helpers of the tooling tests (a uniquely named module: every tests/ folder has a conftest.py):
small ONNX models written with onnx.helper (no torch) and a PyTorch loader file template."""
from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
from onnx import TensorProto, helper, numpy_helper

CONV_W = (np.random.default_rng(0).standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32)
CONV_B = np.linspace(-0.1, 0.1, 4).astype(np.float32)
POOL = dict(kernel_shape=[2, 2], pool_range=2, weights=[0.7, 0.3])


def conv_pool_model(dtype=TensorProto.FLOAT, dims=("batch", 3, "h", "w")) -> bytes:
    """x -> Conv(3->4, 3x3, pad 1) -> SortedWeightedPool(2x2, k=2, weights [0.7, 0.3]) -> y."""
    np_dtype = np.float16 if dtype == TensorProto.FLOAT16 else np.float32
    w = numpy_helper.from_array(CONV_W.astype(np_dtype), "w")
    b = numpy_helper.from_array(CONV_B.astype(np_dtype), "b")
    conv = helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1])
    pool = helper.make_node("SortedWeightedPool", ["c"], ["y"], domain="sortpool", **POOL)
    graph = helper.make_graph([conv, pool], "conv_pool", [helper.make_tensor_value_info("x", dtype, list(dims))],
                              [helper.make_tensor_value_info("y", dtype, None)], initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("sortpool", 1)])
    model.ir_version = 8
    return model.SerializeToString()


# A loader file for --torch-model: the same conv + pool in PyTorch (format with CONV_W, CONV_B, weights).
LOADER = '''
import torch
from sortpool_torch import SortedWeightedPool2d

CONV_W = {w!r}
CONV_B = {b!r}

def make_model(weights=({w0}, {w1})):
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(CONV_W))
        conv.bias.copy_(torch.tensor(CONV_B))
    pool = SortedWeightedPool2d(pool_range=2, kernel_size=2, normalize=False)
    with torch.no_grad():
        pool.logits.copy_(torch.tensor(weights))
    return torch.nn.Sequential(conv, pool).eval()

def wrong_model():
    return make_model(weights=(0.3, 0.7))
'''


def run_cli(*argv):
    from sortpool.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:  # argparse's own usage errors (exit 2)
            code = e.code
    return code, out.getvalue(), err.getvalue()
