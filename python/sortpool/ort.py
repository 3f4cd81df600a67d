"""ONNX Runtime sessions with the SortedWeightedPool custom op registered."""
from __future__ import annotations

import ctypes
import os
from typing import Any

from ._libs import ort_library_path


# ONNX Runtime's log levels (SessionOptions.log_severity_level): 0 verbose ... 2 warning (its
# default), 3 error, 4 fatal.
ORT_LOG_WARNING = 2
ORT_LOG_FATAL = 4


def ort_log_severity(verbose: bool) -> int:
    """The log level of the `sortpool` command's sessions. ONNX Runtime prints every error it
    raises to file descriptor 2 as well ("[E:onnxruntime:, inference_session.cc ...]"), where
    the command reports it itself in one line, so only fatal messages are left to it; --verbose
    brings back its warnings and errors."""
    return ORT_LOG_WARNING if verbose else ORT_LOG_FATAL


def session_options(intra_op_threads: int | None = None, log_severity: int | None = None) -> Any:
    """onnxruntime.SessionOptions with the sortpool custom-op library registered; ``log_severity``
    sets ONNX Runtime's log level (None: its default, warnings)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.register_custom_ops_library(ort_library_path())
    if intra_op_threads is not None:
        opts.intra_op_num_threads = int(intra_op_threads)
    if log_severity is not None:
        opts.log_severity_level = int(log_severity)
    return opts


def make_ort_session(model: Any, intra_op_threads: int | None = None, providers: list[str] | None = None,
                     log_severity: int | None = None) -> Any:
    """An onnxruntime.InferenceSession for `model` (a path, serialized bytes or an onnx.ModelProto)
    with the custom op registered. CPU execution provider unless `providers` says otherwise;
    ``log_severity`` as in :func:`session_options`."""
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
    return ort.InferenceSession(model, sess_options=session_options(intra_op_threads, log_severity),
                                providers=providers or ["CPUExecutionProvider"])


CPU_PATH_ENV = "SORTPOOL_ORT_CPU_PATH"  # plugin/ort/sortpool_ort_rows.h: forces a path (a testing aid)


def ort_cpu_paths(library: str | None = None) -> dict:
    """Which build of its rows the ONNX Runtime op library runs on this CPU: {"chosen": name,
    "supported": [names], "error": text or None}. The library picks the widest build the CPU
    supports (baseline, x86-64-v3 with F16C/AVX2/FMA, x86-64-v4 with AVX-512) once per process;
    $SORTPOOL_ORT_CPU_PATH forces one, and names that are unknown or unsupported make the library
    refuse to register (``error`` says so)."""
    lib = ctypes.CDLL(library or ort_library_path())
    lib.SortpoolOrtCpuPath.restype = lib.SortpoolOrtSupportedCpuPaths.restype = ctypes.c_char_p
    supported = lib.SortpoolOrtSupportedCpuPaths().decode().split(",")
    forced = os.environ.get(CPU_PATH_ENV)
    error = None
    if forced and forced not in supported:
        error = f"${CPU_PATH_ENV}={forced} is not one of this CPU's paths ({', '.join(supported)})"
    return {"chosen": lib.SortpoolOrtCpuPath().decode(), "supported": supported, "forced": forced or None,
            "error": error}
