"""Fixtures of the robustness tests (docs/robustness.md): the TensorRT fixtures of tests/trt_plugin
(`trt`, `plugin_path`) re-exported, and the other test folders' helpers made importable
(tests/ort/onnx_models.py, tests/tooling/tooling_helpers.py). Imports nothing heavy, so the TensorRT
rows also run in a venv that has only tensorrt_lean, numpy and pytest."""
from __future__ import annotations

import importlib.util
import os
import sys

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
