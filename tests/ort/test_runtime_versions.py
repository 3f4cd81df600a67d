"""Which ONNX Runtime releases load the custom-op library.

The library asks for ORT API version 17 (ONNX Runtime 1.17); ./dev.sh test runs the whole ORT suite
on 1.17.3 (requirements/ort-oldest.txt) and on the pinned newest release, and this file checks that a
runtime older than 1.17 refuses the library with a message instead of crashing. That needs a second
interpreter with such a runtime: ./dev.sh test makes one (requirements/ort-too-old.txt) and points
SORTPOOL_TOO_OLD_ORT_PYTHON at it.
"""
from __future__ import annotations

import os
import subprocess

import pytest

import sortpool

PROBE = """
import sys, onnxruntime as ort
opts = ort.SessionOptions()
try:
    opts.register_custom_ops_library(sys.argv[1])
except Exception as e:
    print("ERROR:", e)
    sys.exit(3)
print("LOADED", ort.__version__)
"""


def test_runtime_older_than_1_17_is_refused_with_a_clear_message():
    python = os.environ.get("SORTPOOL_TOO_OLD_ORT_PYTHON")
    if not python:
        pytest.skip("SORTPOOL_TOO_OLD_ORT_PYTHON is not set (./dev.sh test sets it)")
    proc = subprocess.run([python, "-c", PROBE, sortpool.ort_library_path()], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr  # an exception, not a crash (negative code)
    assert "is too old" in proc.stdout and "ONNX Runtime 1.17" in proc.stdout, proc.stdout


def test_current_runtime_loads_the_library():
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.register_custom_ops_library(sortpool.ort_library_path())


def test_registering_twice_into_one_session_options_is_an_error_not_a_crash():
    # ONNX Runtime keeps one custom domain per name: the second registration is refused when the
    # session is created (documented in docs/robustness.md).
    import onnxruntime as ort
    from onnx_models import pool_model

    opts = sortpool.session_options()
    opts.register_custom_ops_library(sortpool.ort_library_path())
    with pytest.raises(Exception, match="Domain already set"):
        ort.InferenceSession(pool_model(dict(kernel_shape=[2, 2], pool_range=1, weights=[1.0])), opts,
                             providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("elem", ["DOUBLE", "INT32", "BFLOAT16"])
def test_unsupported_input_types_are_rejected_at_load(elem):
    from onnx import TensorProto, helper

    node = helper.make_node("SortedWeightedPool", ["x"], ["y"], domain="sortpool", kernel_shape=[2, 2],
                            pool_range=1, weights=[1.0])
    t = getattr(TensorProto, elem)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", t, ("N", 1, 4, 4))],
                              [helper.make_tensor_value_info("y", t, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("sortpool", 1)])
    model.ir_version = 8
    with pytest.raises(Exception, match="SortedWeightedPool"):
        sortpool.make_ort_session(model.SerializeToString())
