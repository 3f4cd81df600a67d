"""Fixtures of the tooling tests (helpers live in tooling_helpers.py): an ONNX model file, an
inputs file, and `cli`, which runs the `sortpool` command in-process -> (exit status, stdout, stderr)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs TensorRT's builder, a CUDA binding and a GPU (tools/gpu_check_tooling.sh)")


@pytest.fixture()
def model_path(tmp_path):
    p = tmp_path / "conv_pool.onnx"
    from tooling_helpers import conv_pool_model

    p.write_bytes(conv_pool_model())
    return str(p)


@pytest.fixture()
def x_npz(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, x=np.random.default_rng(1).standard_normal((2, 3, 16, 16)).astype(np.float32))
    return str(p)


@pytest.fixture()
def cli():
    from tooling_helpers import run_cli

    return run_cli
