"""Fixtures of the robustness tests (docs/robustness.md): the TensorRT fixtures of tests/trt_plugin
(`trt`, `plugin_path`) re-exported, and the other test folders' helpers made importable
(tests/ort/onnx_models.py, tests/tooling/tooling_helpers.py), and the input the "work is bounded"
rows of the ONNX Runtime op and the PyTorch layer share. Imports nothing heavy, so the TensorRT rows
also run in a venv that has only tensorrt_lean, numpy and pytest."""
from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _folder in ("ort", "tooling", "trt_plugin"):
    _path = os.path.join(_TESTS, _folder)
    if _path not in sys.path:
        sys.path.append(_path)

# tests/trt_plugin/conftest.py under a name of its own (every tests/ folder has a conftest.py).
_spec = importlib.util.spec_from_file_location("_sortpool_trt_plugin_conftest",
                                               os.path.join(_TESTS, "trt_plugin", "conftest.py"))
_trt_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_trt_conftest)

trt = _trt_conftest.trt
plugin_path = _trt_conftest.plugin_path
find_plugin_library = _trt_conftest.find_plugin_library


@pytest.fixture
def pathological_input():
    """2x3x64x64 float32: a plane of ties, one sprinkled with NaN, one of alternating +inf/-inf rows."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    x[0, 0] = 1.0  # all ties
    x[0, 1, ::3, ::5] = np.nan
    x[1, 2, ::2] = np.inf
    x[1, 2, 1::2] = -np.inf
    return x
