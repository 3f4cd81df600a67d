"""Finding TensorRT and registering our plugin with it: which Python module (TensorRT, its lean or
dispatch runtime, TensorRT for RTX), a logger that counts errors, and loading
libsortpool_trt_plugin.so into the registry.

``import tensorrt`` is optional: building needs a builder (the full ``tensorrt`` package or
TensorRT for RTX); running an engine also works with ``tensorrt_lean`` or ``tensorrt_dispatch``.
"""
from __future__ import annotations

import ctypes
import importlib
import os
import sys
import threading
from collections import deque
from typing import Dict, List, Optional

from .. import OP_TYPE
from .._libs import TRT_PLUGIN_NAME, trt_plugin_path
from ..errors import BackendFailure, BackendUnavailable, UserInputError
from ..inputs import require_file
from . import rtx as trt_rtx

PLUGIN_NAME = OP_TYPE  # "SortedWeightedPool", namespace ""
PLUGIN_NAMESPACE = ""
RUNTIME_MODULES = ("tensorrt", "tensorrt_lean", "tensorrt_dispatch")

# ------------------------------------------------------------------------------------------------
# Finding TensorRT
# ------------------------------------------------------------------------------------------------
_TRT_INSTALL_HINT = "pip install tensorrt (CUDA 12: tensorrt-cu12, CUDA 13: tensorrt-cu13)"


def _try_import(name: str):
    try:
        module = importlib.import_module(name)
        if not hasattr(module, "Runtime"):  # e.g. a folder named tensorrt/ on sys.path (namespace package)
            sys.modules.pop(name, None)
            if getattr(module, "__file__", None) is None:
                return None, f"{name}: not installed"
            return None, f"{name}: not installed ({module.__file__} is not TensorRT)"
        return module, None
    except ImportError as e:
        return None, f"{name}: not installed" if getattr(e, "name", None) == name else f"{name}: {e}"
    except Exception as e:  # a broken install: missing libnvinfer, CUDA mismatch...
        return None, f"{name}: {type(e).__name__}: {e}"


BACKENDS = ("auto", "tensorrt", trt_rtx.BACKEND)


def import_tensorrt(builder: bool = False, backend: str = "tensorrt"):
    """The TensorRT Python module. ``builder=True`` needs a builder and ONNX parser: ``backend``
    "tensorrt" (the full ``tensorrt`` package), "tensorrt-rtx" (TensorRT for RTX) or "auto" (the
    first of the two installed). Otherwise ``tensorrt_lean`` or ``tensorrt_dispatch`` serve as
    well ($SORTPOOL_TRT_MODULE picks one, e.g. tensorrt_rtx for its engines). Raises
    BackendUnavailable in one line."""
    if backend not in BACKENDS:
        raise UserInputError(f"unknown TensorRT backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if builder:
        names = {"tensorrt": ("tensorrt",), trt_rtx.BACKEND: trt_rtx.MODULES}.get(backend, ("tensorrt",) + trt_rtx.MODULES)
    else:
        names = RUNTIME_MODULES
    forced = os.environ.get("SORTPOOL_TRT_MODULE")
    if forced and not builder:
        names = (forced,)
    problems = []
    for name in names:
        module, why = _try_import(name)
        if module is not None:
            return module
        problems.append(why)
    if builder:
        hint = trt_rtx.INSTALL_HINT if backend == trt_rtx.BACKEND else _TRT_INSTALL_HINT
        if backend == "auto":
            hint += f"; or, for RTX GPUs, {trt_rtx.INSTALL_HINT}"
        lean = [n for n in RUNTIME_MODULES[1:] if _try_import(n)[0] is not None]
        extra = f"; only {', '.join(lean)} is installed, which runs engines but cannot build them" if lean else ""
        raise BackendUnavailable(f"TensorRT's builder is not available ({'; '.join(problems)}{extra}): {hint}")
    raise BackendUnavailable(f"TensorRT is not available ({'; '.join(problems)}): {_TRT_INSTALL_HINT}")


def trt_major(trt) -> int:
    try:
        return int(str(trt.__version__).split(".")[0])
    except (AttributeError, ValueError):
        return 0


def make_logger(trt, verbose: bool = False):
    """A TensorRT logger that prints warnings and errors (everything with ``verbose``) to stderr
    and counts the errors: ``trt.Runtime`` and ``trt.Builder`` report a failure (no usable CUDA, a
    driver too old for the TensorRT build) only through the logger and return an object that
    crashes the process when used, so _checked watches the errors logged while it makes one."""
    severity = trt.ILogger.Severity
    letters = {int(severity.INTERNAL_ERROR): "F", int(severity.ERROR): "E", int(severity.WARNING): "W",
               int(severity.INFO): "I", int(severity.VERBOSE): "V"}
    shown = int(severity.VERBOSE if verbose else severity.WARNING)
    worst_error, worst_warning = int(severity.ERROR), int(severity.WARNING)

    class CountingLogger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.error_count = 0
            self.warning_count = 0  # warnings and errors: a timing cache TensorRT cannot read is only a warning
            self.recent_errors = deque(maxlen=16)
            self.capture = None  # a list while _checked watches a call: that call's first errors

        def log(self, level, msg):
            level = int(level)
            if level <= worst_warning:
                self.warning_count += 1
            if level <= worst_error:
                self.error_count += 1
                self.recent_errors.append(msg)
                if self.capture is not None and len(self.capture) < 4:
                    self.capture.append(msg)
            if level <= shown:
                print(f"[TensorRT] [{letters.get(level, '?')}] {msg}", file=sys.stderr, flush=True)

    return CountingLogger()


def _checked(trt, logger, what: str, make):
    """``make()`` (trt.Runtime / trt.Builder / load_runtime), refused when it returned None or
    TensorRT logged an error while making it."""
    logger.capture = errors = []
    try:
        made = make()
    except Exception as e:  # pybind11 raises (TypeError) where the C++ factory returned null
        made = None
        errors.append(f"{type(e).__name__}: {e}")
    finally:
        logger.capture = None
    if made is None or errors:
        if made is not None:
            # What TensorRT hands back after such a failure crashes the process when it is used or
            # even destroyed (seen with the TensorRT 10.16 and 11.4 lean runtimes without a usable
            # CUDA): it is given an extra reference and so never freed, to report instead of crash.
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(made))
        why = errors[0] if errors else "it returned None"  # the first message says why
        raise BackendUnavailable(f"TensorRT {trt.__version__} ({trt.__name__}) could not create {what}: {why}")
    return made


# ------------------------------------------------------------------------------------------------
# Our plugin
# ------------------------------------------------------------------------------------------------
_loaded: Dict[str, object] = {}  # plugin path -> handle (load_library) or CDLL
_load_lock = threading.Lock()


def plugin_creators(trt) -> List[tuple]:
    """(name, version, namespace) of every plugin creator TensorRT's registry knows."""
    reg = trt.get_plugin_registry()
    return sorted((c.name, str(c.plugin_version), c.plugin_namespace) for c in reg.all_creators)


def our_plugin_versions(trt) -> List[str]:
    return sorted(v for n, v, ns in plugin_creators(trt) if n == PLUGIN_NAME and ns == PLUGIN_NAMESPACE)


def _asan_linked(path: str) -> bool:
    """Whether the library links AddressSanitizer's runtime (loading it with dlopen aborts the process)."""
    try:
        with open(path, "rb") as f:
            return b"libasan.so" in f.read()
    except OSError:
        return False


def _library_last_error(handle, path: str) -> str:
    """The plugin library's own last error message (sortpoolTrtLastError), or a hint where it has none."""
    try:
        lib = handle if isinstance(handle, ctypes.CDLL) else ctypes.CDLL(path)
        lib.sortpoolTrtLastError.restype = ctypes.c_char_p
        message = (lib.sortpoolTrtLastError() or b"").decode(errors="replace")
    except (OSError, AttributeError):
        message = ""
    return message or "the library reported no error; see TensorRT's log"


def load_plugin(trt, path: Optional[str] = None, required: bool = True) -> Optional[str]:
    """Registers libsortpool_trt_plugin.so with TensorRT's plugin registry (once per process) and
    returns its path. ``path`` defaults to :func:`sortpool.trt_plugin_path`.

    Uses ``IPluginRegistry.load_library`` (the library's getCreators entry point); where that is
    refused (e.g. the creators are already registered) the library is opened with ctypes, which
    registers the creators through its static initialiser. ``required=False`` returns None when
    the library is missing instead of raising BackendUnavailable."""
    if path is None:
        path = trt_plugin_path()
        if path is None:
            if not required:
                return None
            raise BackendUnavailable(f"the TensorRT plugin {TRT_PLUGIN_NAME} was not built (it needs nvcc and the "
                                     "TensorRT headers; set $SORTPOOL_TRT_PLUGIN to its path if it lives elsewhere)")
    else:
        path = str(require_file(path, "TensorRT plugin library"))
    path = os.path.abspath(path)
    if _asan_linked(path):
        raise BackendFailure(f"{path} was built with AddressSanitizer and would abort this Python process "
                             "(it needs libasan preloaded): set $SORTPOOL_TRT_PLUGIN to a regular build")
    with _load_lock:
        if path in _loaded:
            return path
        if our_plugin_versions(trt):  # registered already (another copy loaded by the caller)
            _loaded[path] = None
            return path
        handle = None
        try:
            handle = trt.get_plugin_registry().load_library(path)
        except Exception:
            handle = None
        if not handle or not our_plugin_versions(trt):
            try:
                handle = ctypes.CDLL(path)
            except OSError as e:
                raise BackendFailure(f"could not load the TensorRT plugin {path}: {e}") from None
        if not our_plugin_versions(trt):
            raise BackendFailure(f"{path} was loaded but TensorRT's registry has no {PLUGIN_NAME} creator "
                                 f"(this is TensorRT {trt.__version__}): {_library_last_error(handle, path)}")
        _loaded[path] = handle
        return path
