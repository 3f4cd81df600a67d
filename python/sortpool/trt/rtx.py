"""TensorRT for RTX as a build backend: finding it, making its ONNX parser able to import our
plugin, and naming the GPUs an engine is built for.

TensorRT for RTX (PyPI: tensorrt-rtx-cu13-libs + tensorrt-rtx-cu13-bindings, module
``tensorrt_rtx_bindings``; NVIDIA's SDK wheel names it ``tensorrt_rtx``) has TensorRT's Python
API, builds engines ahead of time for chosen compute capabilities without a GPU, and imports
IPluginV3 plugins only (plugin version "2"). Its engines run only with TensorRT for RTX on a GPU
of a compute capability they were built for.
"""
from __future__ import annotations

import ctypes
import re
import threading
from typing import List, Optional, Sequence

from .._libs import trt_rtx_soname_path
from ..errors import BackendUnavailable, UserInputError

MODULES = ("tensorrt_rtx", "tensorrt_rtx_bindings")
BACKEND = "tensorrt-rtx"
PLUGIN_VERSION = "2"  # TensorRT for RTX imports IPluginV3 plugins only
INSTALL_HINT = "pip install tensorrt-rtx-cu13-libs tensorrt-rtx-cu13-bindings (CUDA 12: the -cu12 wheels)"
SONAME = "libtensorrt_rtx.so"

_soname_lock = threading.Lock()
_soname_handle: Optional[ctypes.CDLL] = None


def is_rtx(trt) -> bool:
    """Whether a TensorRT Python module is TensorRT for RTX."""
    return getattr(trt, "__name__", "").split(".")[0] in MODULES


def make_parser_find_library(trt) -> str:
    """Makes ``dlopen("libtensorrt_rtx.so")``, which TensorRT for RTX's parser calls when it imports
    a plugin node, find the TensorRT for RTX already loaded; returns how. The PyPI wheel ships
    only ``libtensorrt_rtx.so.1``, and without the bare name the parser ends the process in
    std::terminate. Raises BackendUnavailable (never lets the parser crash) when it cannot."""
    global _soname_handle
    with _soname_lock:
        if _soname_handle is not None:
            return _soname_handle._name
        path = trt_rtx_soname_path()
        if path is None:
            raise BackendUnavailable(
                f"{trt.__name__} {trt.__version__}: its ONNX parser needs {SONAME}, which this install lacks, and "
                f"sortpool's stand-in for it (sortpool/lib/tensorrt_rtx/{SONAME}, built with the TensorRT plugin) "
                "was not found; reinstall sortpool with the plugin built, or set $SORTPOOL_TRT_RTX_SONAME")
        # Its dependency, libtensorrt_rtx.so.1, resolves by SONAME to the copy the bindings loaded.
        _soname_handle = ctypes.CDLL(path)
        return path


# ------------------------------------------------------------------------------------------------
# Compute capabilities
# ------------------------------------------------------------------------------------------------
_CC_RE = re.compile(r"^(?:sm[_]?)?(\d+)(?:\.(\d))?$", re.IGNORECASE)
_FAMILIES = {75: "Turing", 80: "Ampere", 86: "Ampere", 87: "Ampere (Jetson Orin)", 89: "Ada", 90: "Hopper",
             100: "Blackwell (data centre)", 103: "Blackwell (data centre)", 110: "Blackwell (Jetson Thor)",
             120: "Blackwell", 121: "Blackwell (DGX Spark)"}


def supported_targets(trt) -> List[str]:
    """The compute capabilities this TensorRT for RTX builds for, as its enum names ("SM89", ...)."""
    return [n for n in trt.ComputeCapability.__members__ if n.startswith("SM")]


def _target_number(text: str) -> int:
    m = _CC_RE.match(text.strip())
    if not m:
        raise UserInputError(f"--compute-capability {text!r}: expected e.g. 8.9, 89, SM89 or current")
    major_or_all, minor = m.group(1), m.group(2)
    return int(major_or_all) * 10 + int(minor) if minor is not None else int(major_or_all)


def parse_targets(trt, requested: Optional[Sequence[str]], gpu_visible: bool) -> List[str]:
    """``requested`` ("8.9", "89", "SM89", "current"; None: the GPU of this machine) as enum names
    of ``trt.ComputeCapability``, in order and without repeats. Raises UserInputError naming what
    this TensorRT for RTX can target when a request does not fit."""
    supported = supported_targets(trt)
    if not requested:
        if not gpu_visible:
            raise UserInputError(
                f"no GPU here to build for: name the target GPUs with --compute-capability (TensorRT for RTX "
                f"{trt.__version__} builds for {', '.join(supported)})")
        return ["CURRENT"]
    chosen: List[str] = []
    for text in requested:
        if text.strip().lower() == "current":
            if not gpu_visible:
                raise UserInputError("--compute-capability current: there is no GPU here; name the target, e.g. SM89")
            name = "CURRENT"
        else:
            number = _target_number(text)
            name = f"SM{number}"
            if name not in supported:
                family = _FAMILIES.get(number, "")
                raise UserInputError(
                    f"--compute-capability {text}: TensorRT for RTX {trt.__version__} cannot build for "
                    f"{number // 10}.{number % 10}{f' ({family})' if family else ''}; it builds for "
                    f"{', '.join(supported)} (GeForce RTX / RTX PRO and Ampere-class cards; Hopper and data-centre "
                    "Blackwell GPUs need TensorRT)")
        if name not in chosen:
            chosen.append(name)
    if "CURRENT" in chosen and len(chosen) > 1:
        raise UserInputError("--compute-capability current cannot be combined with named targets")
    return chosen


def set_targets(trt, config, targets: Sequence[str]) -> None:
    config.num_compute_capabilities = len(targets)
    for i, name in enumerate(targets):
        config.set_compute_capability(getattr(trt.ComputeCapability, name), i)


def run_requirement(trt, targets: Sequence[str]) -> str:
    """One line: what running the engine needs."""
    where = "this machine's GPU" if list(targets) == ["CURRENT"] else "a GPU of compute capability " + " or ".join(
        f"{int(t[2:]) // 10}.{int(t[2:]) % 10}" for t in targets)
    return (f"running this engine needs TensorRT for RTX {trt.__version__.rsplit('.', 1)[0]} and {where}; "
            "it does not run on TensorRT")
