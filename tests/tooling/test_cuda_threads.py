"""CUDA's current context and device are per thread: the backends bind theirs around each use, so
that `sortpool serve` can run an engine on PyTriton's handler threads, not only on the thread that
made it. No GPU here: stand-ins for pycuda's driver module, cuda-python's runtime and TensorRT's
execution context record on which thread, and whether inside the binding, each call was made.
What a real GPU does with these calls is checked by tools/gpu_check_tooling.sh, not here."""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from sortpool.cuda import _CudaPython, _PyCuda
from sortpool.inputs import TensorSpec
from sortpool.trt.engine import TrtEngine


def _on_worker(fn):
    result, error = [], []

    def run():
        try:
            result.append(fn())
        except BaseException as e:  # handed to the test's thread
            error.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(10)
    if error:
        raise error[0]
    return result[0], worker.ident


class _Stack:
    """pycuda's per-thread context stack: push on the context, pop on drv.Context."""

    def __init__(self):
        self.local, self.events = threading.local(), []

    def depth(self):
        return getattr(self.local, "depth", 0)

    def push(self):
        self.local.depth = self.depth() + 1
        self.events.append(("push", threading.get_ident()))

    def pop(self):
        assert self.depth() > 0, "pop without a context on this thread"
        self.local.depth -= 1
        self.events.append(("pop", threading.get_ident()))


def test_pycuda_binds_the_primary_context_on_the_calling_thread():
    stack = _Stack()
    backend = object.__new__(_PyCuda)
    backend._ctx = stack
    backend.drv = type("Driver", (), {"Context": stack})

    def use():
        with backend.bound():
            assert stack.depth() == 1
        assert stack.depth() == 0
        try:
            with backend.bound():
                raise RuntimeError("inside")
        except RuntimeError:
            pass
        return stack.depth()

    depth, worker = _on_worker(use)
    assert depth == 0
    assert stack.events == [("push", worker), ("pop", worker)] * 2


def test_cuda_python_sets_its_device_on_the_calling_thread():
    calls = []
    backend = object.__new__(_CudaPython)
    backend.device = 1
    backend.rt = type("Runtime", (), {"cudaSetDevice": staticmethod(
        lambda device: calls.append((device, threading.get_ident())) or (0,))})

    def use():
        with backend.bound():
            return len(calls)

    seen, worker = _on_worker(use)
    assert seen == 1 and calls == [(1, worker)]


class _BindingCuda:
    """A CUDA backend whose every call must come inside bound(), on the thread that bound it."""

    def __init__(self):
        self.local, self.calls = threading.local(), []

    def bound(self):
        backend = self

        class Binding:
            def __enter__(self):
                backend.local.active = True

            def __exit__(self, *exc):
                backend.local.active = False

        return Binding()

    def record(self, what):
        assert getattr(self.local, "active", False), f"{what} outside bound() on thread {threading.get_ident()}"
        self.calls.append((what, threading.get_ident()))

    def alloc(self, nbytes):
        self.record("alloc")
        return 4096 + len(self.calls)

    def free(self, ptr):
        self.record("free")

    def htod(self, ptr, array, stream):
        self.record("htod")

    def dtoh(self, array, ptr, stream):
        self.record("dtoh")
        array.fill(7)

    def handle(self, stream):
        self.record("handle")
        return 0

    def synchronize(self, stream):
        self.record("synchronize")

    def destroy_stream(self, stream):
        self.record("destroy_stream")

    def close(self):
        pass


class _Context:
    def __init__(self, cuda):
        self.cuda = cuda

    def set_input_shape(self, name, shape):
        self.cuda.record("set_input_shape")
        return True

    def set_tensor_address(self, name, ptr):
        self.cuda.record("set_tensor_address")

    def get_tensor_shape(self, name):
        return (1, 2)

    def execute_async_v3(self, stream):
        self.cuda.record("execute_async_v3")
        return True


def test_engine_runs_and_closes_inside_the_binding_on_any_thread():
    cuda = _BindingCuda()
    engine = object.__new__(TrtEngine)
    engine.cuda, engine.context, engine.stream = cuda, _Context(cuda), object()
    engine.inputs = [TensorSpec("x", np.dtype(np.float32), (1, 2))]
    engine.outputs = [TensorSpec("y", np.dtype(np.float32), (1, 2))]
    engine.profile, engine._buffers, engine._closed = OrderedDict(), {}, False

    out, worker = _on_worker(lambda: engine.infer({"x": np.zeros((1, 2), np.float32)}))
    assert np.array_equal(out["y"], np.full((1, 2), 7, np.float32))
    ran = [what for what, _ in cuda.calls]
    assert "execute_async_v3" in ran and "dtoh" in ran and {t for _, t in cuda.calls} == {worker}
    cuda.calls.clear()
    _, closer = _on_worker(engine.close)
    assert [what for what, _ in cuda.calls].count("free") == 2 and {t for _, t in cuda.calls} == {closer}
