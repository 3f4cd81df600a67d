"""Running engines: a deserialized engine with one execution context, fed from numpy through the
tensor-address API (``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``), with
device memory from :mod:`sortpool.cuda` (pycuda or cuda-python)."""
from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Union

import numpy as np

from .._libs import TRT_PLUGIN_NAME
from ..errors import BackendFailure, BackendUnavailable, UserInputError
from ..inputs import ProfileShapes, TensorSpec, bfloat16_dtype, require_file, validate_feed
from . import rtx as trt_rtx
from .discovery import _checked, import_tensorrt, load_plugin, make_logger

def _np_dtype(trt, dt) -> Optional[np.dtype]:
    if dt == trt.DataType.BF16:
        return bfloat16_dtype()
    try:
        return np.dtype(trt.nptype(dt))
    except TypeError:
        return None


def _dtype_label(trt, dt) -> str:
    """The numpy / ONNX Runtime name of a TensorRT type ("float32", "float16", "bfloat16"), or
    TensorRT's own name for a type numpy lacks (e.g. "fp8")."""
    if dt == trt.DataType.BF16:
        return "bfloat16"
    np_dt = _np_dtype(trt, dt)
    return np_dt.name if np_dt is not None else str(dt).split(".")[-1].lower()


def _dims(d) -> tuple:
    return tuple(int(v) for v in d)


class TrtEngine:
    """A deserialized engine with one execution context and device buffers, fed from numpy.

    ``TrtEngine(path)`` registers our plugin (when the library is found: an engine that carries
    the plugin, built with ``--version-compatible``, also runs without it), deserializes the engine
    and creates a context; :meth:`infer` takes and returns numpy arrays. ``lean_runtime`` loads a
    lean runtime library for engines built with ``--exclude-lean-runtime``; ``backend="tensorrt-rtx"``
    runs an engine built by TensorRT for RTX."""

    def __init__(self, engine: Union[str, os.PathLike, bytes], plugin_path: Optional[str] = None,
                 lean_runtime: Optional[str] = None, cuda: Optional[str] = None, verbose: bool = False,
                 allow_host_code: bool = True, backend: Optional[str] = None):
        from ..cuda import cuda_backend

        if isinstance(engine, (bytes, bytearray, memoryview)):
            data, self.path = bytes(engine), "<bytes>"
        else:
            p = require_file(engine, "TensorRT engine")
            data, self.path = p.read_bytes(), str(p)
        # TensorRT for RTX's engines run only with TensorRT for RTX; others with any TensorRT runtime.
        rtx = backend == trt_rtx.BACKEND
        trt = self.trt = import_tensorrt(builder=rtx, backend=trt_rtx.BACKEND if rtx else "tensorrt")
        self.cuda = cuda_backend(cuda)  # before TensorRT touches the device: a clear line if no GPU
        self._closed, self.stream = False, None  # what close() needs from here on
        self._buffers: Dict[str, tuple] = {}  # name -> (ptr, nbytes)
        self.plugin_path = load_plugin(trt, plugin_path, required=plugin_path is not None)
        self._logger = make_logger(trt, verbose)
        # Only attributes hold the runtimes, no locals, so that close() (also run on collection, and
        # so when __init__ fails) releases the lean runtime before the runtime it was loaded from.
        self._parent_runtime = _checked(trt, self._logger, "a runtime", lambda: trt.Runtime(self._logger))
        self._runtime = self._parent_runtime
        if lean_runtime:
            path = str(require_file(lean_runtime, "lean runtime library"))
            self._runtime = _checked(trt, self._logger, f"a runtime from {path}",
                                     lambda: self._parent_runtime.load_runtime(path))
        if allow_host_code:
            self._runtime.engine_host_code_allowed = True  # engines that carry the plugin library
        self.engine = self._runtime.deserialize_cuda_engine(data)
        if self.engine is None:
            raise BackendFailure(
                f"TensorRT {trt.__version__} ({trt.__name__}) could not deserialize {self.path}: an engine runs only "
                "with the TensorRT version that built it unless built with --version-compatible"
                + ("" if rtx else "; one built by TensorRT for RTX runs with --backend trt-rtx")
                + ("" if self.plugin_path else f"; {TRT_PLUGIN_NAME} was not found and the engine may need it"))
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise BackendFailure("TensorRT could not create an execution context (out of device memory?)")
        self.inputs: List[TensorSpec] = []
        self.outputs: List[TensorSpec] = []
        self.profile: "OrderedDict[str, ProfileShapes]" = OrderedDict()
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            dt = self.engine.get_tensor_dtype(name)
            dims = tuple(None if v < 0 else v for v in _dims(self.engine.get_tensor_shape(name)))
            spec = TensorSpec(name, _np_dtype(trt, dt), dims, _dtype_label(trt, dt))
            if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.inputs.append(spec)
                lo, mid, hi = self.engine.get_tensor_profile_shape(name, 0)
                self.profile[name] = ProfileShapes(_dims(lo), _dims(mid), _dims(hi))
            else:
                self.outputs.append(spec)
        self.stream = self.cuda.stream()

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self._buffers.get(name, (None, 0))
        if ptr is None or size < nbytes:
            if ptr is not None:
                self.cuda.free(ptr)
            ptr = self.cuda.alloc(nbytes)
            self._buffers[name] = (ptr, nbytes)
        return ptr

    def infer(self, feed: Mapping[str, np.ndarray], source: str = "inputs") -> "OrderedDict[str, np.ndarray]":
        """The outputs for ``feed``; callable from any thread (not from two at once: one context)."""
        feed = validate_feed(feed, self.inputs, source, self.profile)
        with self.cuda.bound():
            return self._run(feed)

    def _run(self, feed: Mapping[str, np.ndarray]) -> "OrderedDict[str, np.ndarray]":
        ctx = self.context
        for spec in self.inputs:
            arr = feed[spec.name]
            if not ctx.set_input_shape(spec.name, tuple(arr.shape)):
                raise UserInputError(f"TensorRT refused shape {list(arr.shape)} for input {spec.name!r}")
            ptr = self._buffer(spec.name, arr.nbytes)
            self.cuda.htod(ptr, arr, self.stream)
            ctx.set_tensor_address(spec.name, ptr)
        results: "OrderedDict[str, np.ndarray]" = OrderedDict()
        for spec in self.outputs:
            shape = _dims(ctx.get_tensor_shape(spec.name))
            if any(v < 0 for v in shape):
                raise BackendFailure(f"output {spec.name!r} has a data-dependent shape {list(shape)}: not supported")
            if spec.dtype is None:
                raise BackendUnavailable(f"output {spec.name!r} is {spec.dtype_label}: install ml_dtypes to read it")
            host = np.empty(shape, dtype=spec.dtype)
            ptr = self._buffer(spec.name, host.nbytes)
            ctx.set_tensor_address(spec.name, ptr)
            results[spec.name] = host
        if not ctx.execute_async_v3(self.cuda.handle(self.stream)):
            raise BackendFailure("TensorRT execute_async_v3 failed (see TensorRT's messages above)")
        for name, host in results.items():
            self.cuda.dtoh(host, self._buffers[name][0], self.stream)
        self.cuda.synchronize(self.stream)
        return results

    def close(self) -> None:
        """Frees the device buffers, then the context, the engine and the runtimes in dependency
        order, then the stream. Runs once; also when the object is collected."""
        if getattr(self, "_closed", True):  # closed already, or __init__ stopped before any of it
            return
        self._closed = True
        with contextlib.ExitStack() as bound:
            try:
                bound.enter_context(self.cuda.bound())  # frees need the device current on this thread
            except Exception:
                pass
            for ptr, _ in self._buffers.values():
                try:
                    self.cuda.free(ptr)
                except Exception:
                    pass
            self._buffers.clear()
            for attr in ("context", "engine", "_runtime", "_parent_runtime"):  # in dependency order
                if getattr(self, attr, None) is not None:
                    setattr(self, attr, None)
            try:
                if self.stream is not None:
                    self.cuda.destroy_stream(self.stream)
            except Exception:
                pass
        try:
            self.cuda.close()
        except Exception:
            pass

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
