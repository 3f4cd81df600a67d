"""ONNX Runtime sessions with the SortedWeightedPool custom op registered."""
from __future__ import annotations

import os
from typing import Any

from ._libs import ort_library_path


def session_options(intra_op_threads: int | None = None) -> Any:
    """onnxruntime.SessionOptions with the sortpool custom-op library registered."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.register_custom_ops_library(ort_library_path())
    if intra_op_threads is not None:
        opts.intra_op_num_threads = int(intra_op_threads)
    return opts


def make_ort_session(model: Any, intra_op_threads: int | None = None, providers: list[str] | None = None) -> Any:
    """An onnxruntime.InferenceSession for `model` (a path, serialized bytes or an onnx.ModelProto)
    with the custom op registered. CPU execution provider unless `providers` says otherwise."""
    import onnxruntime as ort

    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"sortpool: ONNX model not found: {path}")
        model = path
    elif not isinstance(model, (bytes, bytearray)):
        raise TypeError(f"sortpool: expected a model path, bytes or onnx.ModelProto, got {type(model).__name__}")
    return ort.InferenceSession(model, sess_options=session_options(intra_op_threads),
                                providers=providers or ["CPUExecutionProvider"])
