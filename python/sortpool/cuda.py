"""Device memory and streams for TensorRT, through pycuda or, where pycuda is not installed,
cuda-python (``cuda.bindings.runtime`` in cuda-python 12.8+/13, ``cuda.cudart`` before).

:func:`cuda_backend` returns one object with the few calls TensorRT's runtime needs: ``alloc``,
``free``, ``stream``, ``htod``/``dtoh`` (async on the stream), ``synchronize``. Device pointers and
stream handles are plain ints, as ``IExecutionContext.set_tensor_address`` and
``execute_async_v3`` take them.

:func:`driver_gpus` asks the NVIDIA driver (libcuda.so.1, through ctypes) which GPUs it sees; it
needs no binding, so ``sortpool info`` can tell "no GPU" from "no binding".

CUDA's current context and device belong to a thread: every call on a backend, and TensorRT's own
calls between them, run inside ``with backend.bound():``, which makes the backend's device
current on the calling thread (a server runs requests on threads other than the one that made the
backend).
"""
from __future__ import annotations

import contextlib
import ctypes
import os
from typing import List, Optional, Tuple

import numpy as np

from .errors import BackendFailure, BackendUnavailable


def driver_gpus() -> Tuple[List[str], Optional[str]]:
    """(names of the GPUs the driver sees, None) or ([], why none is visible)."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return [], "no NVIDIA driver (libcuda.so.1 could not be loaded)"
    rc = lib.cuInit(0)
    if rc != 0:
        return [], f"the NVIDIA driver did not initialise (cuInit error {rc}: no usable GPU)"
    count = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return [], "the NVIDIA driver sees no GPU"
    names = []
    for i in range(count.value):
        dev = ctypes.c_int(0)
        buf = ctypes.create_string_buffer(256)
        if lib.cuDeviceGet(ctypes.byref(dev), i) == 0 and lib.cuDeviceGetName(buf, 256, dev) == 0:
            names.append(buf.value.decode(errors="replace"))
        else:
            names.append(f"GPU {i}")
    return names, None


class _PyCuda:
    name = "pycuda"

    def __init__(self):
        import pycuda.driver as drv  # noqa: F401  (ImportError: not installed)

        self.drv = drv
        drv.init()
        if drv.Device.count() == 0:
            raise BackendUnavailable("pycuda sees no GPU")
        # The primary context: the one the CUDA runtime (TensorRT, the plugin) uses too.
        self._ctx = drv.Device(int(os.environ.get("SORTPOOL_CUDA_DEVICE", "0"))).retain_primary_context()
        self._ctx.push()
        self.version = ".".join(str(v) for v in drv.get_version())
        self._keep = {}

    @contextlib.contextmanager
    def bound(self):
        """The primary context current on this thread for the block (pushed, then popped)."""
        self._ctx.push()
        try:
            yield self
        finally:
            self.drv.Context.pop()

    def alloc(self, nbytes: int) -> int:
        mem = self.drv.mem_alloc(max(int(nbytes), 1))
        ptr = int(mem)
        self._keep[ptr] = mem
        return ptr

    def free(self, ptr: int) -> None:
        mem = self._keep.pop(ptr, None)
        if mem is not None:
            mem.free()

    def stream(self):
        s = self.drv.Stream()
        self._keep[("stream", id(s))] = s
        return s

    @staticmethod
    def handle(stream) -> int:
        return int(stream.handle)

    def htod(self, ptr: int, array: np.ndarray, stream) -> None:
        self.drv.memcpy_htod_async(ptr, np.ascontiguousarray(array), stream)

    def dtoh(self, array: np.ndarray, ptr: int, stream) -> None:
        self.drv.memcpy_dtoh_async(array, ptr, stream)

    def synchronize(self, stream) -> None:
        stream.synchronize()

    def destroy_stream(self, stream) -> None:
        self._keep.pop(("stream", id(stream)), None)

    def close(self) -> None:
        for key in [k for k in self._keep if not isinstance(k, tuple)]:
            self.free(key)
        self._keep.clear()
        try:
            self._ctx.pop()
        except Exception:
            pass


def _import_cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python 12.8+ / 13

        return cudart
    except ImportError:
        from cuda import cudart  # older cuda-python

        return cudart


class _CudaPython:
    name = "cuda-python"

    def __init__(self):
        self.rt = _import_cudart()
        count = self._call(self.rt.cudaGetDeviceCount(), "cudaGetDeviceCount")
        if int(count) == 0:
            raise BackendUnavailable("cuda-python sees no GPU")
        self.device = int(os.environ.get("SORTPOOL_CUDA_DEVICE", "0"))
        self._call(self.rt.cudaSetDevice(self.device), "cudaSetDevice")
        version = int(self._call(self.rt.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"))
        self.version = f"{version // 1000}.{(version % 1000) // 10}"
        self._ptrs: set = set()

    @contextlib.contextmanager
    def bound(self):
        """The backend's device current on this thread (the runtime's current device is per thread
        and starts at 0)."""
        self._call(self.rt.cudaSetDevice(self.device), "cudaSetDevice")
        yield self

    def _call(self, result, what: str):
        err, rest = result[0], result[1:]
        if int(err) != 0:  # cudaSuccess
            raise BackendFailure(f"CUDA error in {what}: {err}")
        if not rest:
            return None
        return rest[0] if len(rest) == 1 else rest

    def alloc(self, nbytes: int) -> int:
        ptr = int(self._call(self.rt.cudaMalloc(max(int(nbytes), 1)), "cudaMalloc"))
        self._ptrs.add(ptr)
        return ptr

    def free(self, ptr: int) -> None:
        if ptr in self._ptrs:
            self._ptrs.discard(ptr)
            self._call(self.rt.cudaFree(ptr), "cudaFree")

    def stream(self):
        return self._call(self.rt.cudaStreamCreate(), "cudaStreamCreate")

    @staticmethod
    def handle(stream) -> int:
        return int(stream)

    def htod(self, ptr: int, array: np.ndarray, stream) -> None:
        array = np.ascontiguousarray(array)
        self._call(self.rt.cudaMemcpyAsync(ptr, array.ctypes.data, array.nbytes,
                                           self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync")

    def dtoh(self, array: np.ndarray, ptr: int, stream) -> None:
        self._call(self.rt.cudaMemcpyAsync(array.ctypes.data, ptr, array.nbytes,
                                           self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync")

    def synchronize(self, stream) -> None:
        self._call(self.rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def destroy_stream(self, stream) -> None:
        self._call(self.rt.cudaStreamDestroy(stream), "cudaStreamDestroy")

    def close(self) -> None:
        for ptr in list(self._ptrs):
            self.free(ptr)


def available_bindings() -> dict:
    """{'pycuda': version or None, 'cuda-python': version or None}: what is importable (no GPU needed)."""
    found = {}
    try:
        import pycuda  # noqa: F401

        found["pycuda"] = getattr(pycuda, "VERSION_TEXT", "installed")
    except ImportError:
        found["pycuda"] = None
    try:
        _import_cudart()
        try:
            from importlib.metadata import version

            found["cuda-python"] = version("cuda-python")
        except Exception:
            found["cuda-python"] = "installed"
    except ImportError:
        found["cuda-python"] = None
    return found


def cuda_backend(prefer: Optional[str] = None):
    """A CUDA binding ready for TensorRT: pycuda, else cuda-python (``prefer`` picks one).

    Raises BackendUnavailable with one line saying what is missing: no binding installed, no
    driver, no GPU."""
    order = ["pycuda", "cuda-python"]
    if prefer:
        if prefer not in order:
            raise BackendUnavailable(f"unknown CUDA binding {prefer!r} (pycuda or cuda-python)")
        order = [prefer]
    installed = available_bindings()
    if not any(installed[n] for n in order):
        gpus, why = driver_gpus()
        gpu = f"GPU: {', '.join(gpus)}" if gpus else why
        raise BackendUnavailable(f"no CUDA Python binding: install pycuda or cuda-python ({gpu})")
    problems = []
    for name in order:
        if not installed[name]:
            continue
        try:
            return _PyCuda() if name == "pycuda" else _CudaPython()
        except BackendUnavailable as e:
            problems.append(str(e))
        except Exception as e:  # e.g. pycuda.driver.Error: cuInit failed: no CUDA-capable device
            problems.append(f"{name}: {type(e).__name__}: {e}".strip())
    gpus, why = driver_gpus()
    raise BackendUnavailable(f"no usable GPU ({why or 'driver sees ' + ', '.join(gpus)}; {'; '.join(problems)})")
