"""`sortpool serve`: a model with our op behind Triton Inference Server, through PyTriton.

PyTriton starts a real ``tritonserver`` (HTTP, gRPC, Prometheus metrics, the dynamic batcher) and
hands each batch Triton forms to a Python callable of ours: ONNX Runtime with the custom-op library
on the CPU, or a TensorRT engine with the plugin on a GPU. Each model instance has its own session
or engine, so instances run in parallel.

Errors: Triton itself refuses a request whose inputs are missing, of another dtype or of a rank or
fixed dim that the model config does not allow, per request and before batching. What only the
model can judge (a spatial size the pooling cannot take, an engine's profile) is checked here,
and reported to the client as one line naming the input and what is wrong. PyTriton reports
errors per batch; Triton's dynamic batcher puts together only requests of equal shapes, so a
request of a shape the model cannot take shares its batch only with requests of that same shape.

PyTriton needs numpy < 2 (a venv of its own: docs/deployment.md, "Serving"), and its Triton
Python-backend stub must load the libpython of the interpreter whose standard library it runs
with: :func:`stub_library_path_env` sees to that for interpreters with a shared libpython.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sysconfig
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from ..errors import BackendFailure, BackendUnavailable, UserInputError
from ..inputs import ENGINE_SUFFIXES, TensorSpec, is_engine_path, require_file, validate_feed
from .model import ModelOptions, TritonModelSpec, onnx_io_with_shapes, request_shapes_key, split_rows, triton_spec

@dataclass
class ServeOptions(ModelOptions):
    """How `sortpool serve` runs. Ports are Triton's defaults; ``address`` is loopback unless told
    otherwise (0.0.0.0 to serve other machines, e.g. inside a container)."""

    address: str = "127.0.0.1"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    backend: str = "auto"                  # auto (by suffix), onnxruntime, tensorrt
    plugin_path: Optional[str] = None      # TensorRT: libsortpool_trt_plugin.so (default: the built one)
    log_verbose: int = 0
    extra: dict = field(default_factory=dict)  # further pytriton.triton.TritonConfig fields

    def check(self) -> None:
        super().check()
        for name in ("http_port", "grpc_port", "metrics_port"):
            port = getattr(self, name)
            if not 0 < port < 65536:
                raise UserInputError(f"{name.replace('_', ' ')} {port} is not a TCP port (1-65535)")
        if len({self.http_port, self.grpc_port, self.metrics_port}) != 3:
            raise UserInputError("the HTTP, gRPC and metrics ports must differ")
        if self.backend not in ("auto", "onnxruntime", "tensorrt"):
            raise UserInputError(f"backend {self.backend!r}: expected auto, onnxruntime or tensorrt")


def import_pytriton():
    try:
        import pytriton.triton  # noqa: F401
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor  # noqa: F401
        return pytriton
    except ImportError as e:
        raise BackendUnavailable(
            f"sortpool serve needs PyTriton ({e}); it wants numpy < 2 and a venv made from the system Python: "
            "./dev.sh serve MODEL sets one up (requirements/serve.txt), docs/deployment.md says how") from None


def stub_library_path_env(environ=os.environ) -> dict:
    """The LD_LIBRARY_PATH Triton needs, or {}. PyTriton's Python-backend stub links libpython by
    name and finds the system's (/usr/lib); it then runs with this venv's standard library. An
    interpreter with a libpython of its own (pyenv, conda, a self-built one) differs from the
    system's, and the stub fails at model load (`'_thread.RLock' object has no attribute
    '_recursion_count'`, or a time-out waiting for the model). Putting the interpreter's library
    folder first makes the stub load the interpreter's own libpython. An interpreter whose
    libpython is the system's (Debian's /usr/bin/python3) needs nothing."""
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return {}
    libdir = sysconfig.get_config_var("LIBDIR")
    name = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY")
    if not libdir or not name or not os.path.exists(os.path.join(libdir, name)):
        return {}
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    system = {"/lib", "/usr/lib", "/lib64", "/usr/lib64"} | ({f"/lib/{multiarch}", f"/usr/lib/{multiarch}"}
                                                            if multiarch else set())
    if os.path.realpath(libdir) in {os.path.realpath(d) for d in system}:
        return {}  # the loader's own default: the stub finds this libpython anyway
    current = [p for p in environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    if current[:1] == [libdir]:
        return {}
    return {"LD_LIBRARY_PATH": os.pathsep.join([libdir] + current)}


@contextlib.contextmanager
def _environment(changes: dict):
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def model_backend(path: Path, backend: str) -> str:
    if backend != "auto":
        return backend
    return "tensorrt" if is_engine_path(path) else "onnxruntime"


class RequestError(UserInputError):
    """A request the model cannot run. PyTriton sends the client the formatted traceback of what
    the handler raised; this error has none to show, so the client reads one line (Triton's log
    keeps the whole traceback, which PyTriton logs separately)."""

    @property
    def __traceback__(self):
        return None

    @__traceback__.setter
    def __traceback__(self, _value):
        pass


# ------------------------------------------------------------------------------------------------
# runners: one per model instance
# ------------------------------------------------------------------------------------------------
class _OrtRunner:
    def __init__(self, path: Path, threads: int):
        from ..ort import make_ort_session

        self.session = make_ort_session(str(path), intra_op_threads=threads)
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.profile = None

    def __call__(self, feed: "OrderedDict[str, np.ndarray]") -> dict:
        try:
            return dict(zip(self.output_names, self.session.run(self.output_names, dict(feed))))
        except Exception as e:  # onnxruntime's errors carry the op's message (which input, what is wrong)
            shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in feed.items())
            raise RequestError(f"the model cannot run inputs of shape {shapes}: {_ort_message(e)}") from None


def _ort_message(e: Exception) -> str:
    """onnxruntime's error text without its wrapping ("[ONNXRuntimeError] : 2 : ... Status Message:")."""
    text = str(e).strip()
    marker = "Status Message: "
    return text.split(marker, 1)[1].strip() if marker in text else text


class _TrtRunner:
    def __init__(self, path: Path, plugin_path: Optional[str]):
        from ..trt import TrtEngine

        self.engine = TrtEngine(path, plugin_path=plugin_path)
        self.profile = self.engine.profile

    def __call__(self, feed: "OrderedDict[str, np.ndarray]") -> dict:
        try:
            return dict(self.engine.infer(feed, source="the request"))
        except UserInputError as e:
            raise RequestError(str(e)) from None


# ------------------------------------------------------------------------------------------------
# the callable Triton hands each batch to
# ------------------------------------------------------------------------------------------------
class BatchHandler:
    """Runs one model instance on the requests of one Triton batch: requests of equal input shapes
    are stacked into one run (the dynamic batcher forms only such batches), each is validated
    against the model first, and the outputs are split back per request."""

    def __init__(self, runner: Callable, inputs: List[TensorSpec], spec: TritonModelSpec):
        self.runner, self.inputs, self.spec = runner, inputs, spec
        self.lock = threading.Lock()  # one session or engine context: one run at a time

    def __call__(self, requests) -> List[dict]:
        responses: List[Optional[dict]] = [None] * len(requests)
        groups: "OrderedDict[tuple, List[int]]" = OrderedDict()
        for i, request in enumerate(requests):
            groups.setdefault(request_shapes_key(request, self.spec.batching), []).append(i)
        for indices in groups.values():
            feeds = [self._feed(requests[i], i, len(requests)) for i in indices]
            if self.spec.batching and len(feeds) > 1:
                stacked = OrderedDict((name, np.concatenate([f[name] for f in feeds])) for name in feeds[0])
                counts = [next(iter(f.values())).shape[0] for f in feeds]
            else:
                stacked, counts = None, None
            with self.lock:
                if stacked is not None:
                    for i, out in zip(indices, split_rows(self.runner(stacked), counts)):
                        responses[i] = out
                else:
                    for i, feed in zip(indices, feeds):
                        responses[i] = self.runner(feed)
        return responses

    def _feed(self, request, index: int, count: int) -> "OrderedDict[str, np.ndarray]":
        source = "the request" if count == 1 else f"request {index + 1} of {count} in the batch"
        profile = getattr(self.runner, "profile", None)
        try:
            return validate_feed({k: v for k, v in request.items()}, self.inputs, source, profile)
        except UserInputError as e:
            raise RequestError(str(e)) from None


# ------------------------------------------------------------------------------------------------
# the server
# ------------------------------------------------------------------------------------------------
STARTS = 3  # tries at starting Triton when PyTriton's instance handshake races (below)


def is_instance_handshake_race(error: Exception) -> bool:
    """PyTriton 0.7.0 with several model instances: each instance's stub but the first connects to
    the first one's handshake socket as soon as the socket file exists, which is before that
    server listens, so on a busy machine it can be refused and the model fails to load
    (`ConnectionRefusedError` in `get_config_from_handshake_server`). A new start succeeds."""
    text = str(error)
    return "get_config_from_handshake_server" in text and "ConnectionRefusedError" in text


class ModelServer:
    """A running Triton server with one model. ``with ModelServer(path, options) as server:``
    starts it and waits until the model is ready; leaving the block stops it."""

    def __init__(self, model: os.PathLike, options: Optional[ServeOptions] = None):
        self.options = options or ServeOptions()
        self.options.check()
        self.path = require_file(model, "model")
        self.backend = model_backend(self.path, self.options.backend)
        # The same pairing rule as `sortpool run`, before PyTriton or a backend is touched.
        if self.backend == "onnxruntime" and is_engine_path(self.path):
            raise UserInputError(f"{self.path} looks like a TensorRT engine; ONNX Runtime serves .onnx models")
        if self.backend == "tensorrt" and not is_engine_path(self.path):
            raise UserInputError(f"--backend tensorrt serves an engine ({', '.join(ENGINE_SUFFIXES)}); build one with "
                                 f"`sortpool build {self.path} -o MODEL.engine`")
        self._triton = None

    # what the server is serving
    def _runners_and_io(self):
        opts = self.options
        if self.backend == "onnxruntime":
            inputs, outputs = onnx_io_with_shapes(self.path)
            runners = [_OrtRunner(self.path, opts.threads) for _ in range(opts.instances)]
        else:
            runners = [_TrtRunner(self.path, opts.plugin_path) for _ in range(opts.instances)]
            inputs, outputs = runners[0].engine.inputs, runners[0].engine.outputs
        spec = triton_spec(inputs, outputs, str(self.path), opts.max_batch_size)
        if runners and runners[0].profile is not None and spec.batching:
            profile_max = min(p.max[0] for p in runners[0].profile.values())
            if opts.max_batch_size is None:
                spec = triton_spec(inputs, outputs, str(self.path), min(spec.max_batch_size, profile_max))
            elif spec.max_batch_size > profile_max:
                raise UserInputError(f"max batch size {spec.max_batch_size} exceeds the engine profile's largest batch "
                                     f"({profile_max})")
        return runners, inputs, spec

    def start(self) -> "ModelServer":
        import_pytriton()
        from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
        from pytriton.triton import Triton, TritonConfig

        opts = self.options
        runners, inputs, spec = self._runners_and_io()
        self.spec = spec
        config = TritonConfig(http_address=opts.address, http_port=opts.http_port, grpc_address=opts.address,
                              grpc_port=opts.grpc_port, metrics_address=opts.address, metrics_port=opts.metrics_port,
                              log_verbose=opts.log_verbose, exit_timeout_secs=10, **opts.extra)
        batcher = (DynamicBatcher(max_queue_delay_microseconds=opts.max_queue_delay_us)
                   if spec.batching and opts.dynamic_batching else None)
        model_config = ModelConfig(batching=spec.batching, max_batch_size=max(spec.max_batch_size, 1),
                                   batcher=batcher)
        handlers = [BatchHandler(r, inputs, spec) for r in runners]
        for attempt in range(1, STARTS + 1):
            self._triton = Triton(config=config)
            try:
                self._triton.bind(
                    model_name=opts.name,
                    infer_func=handlers if len(handlers) > 1 else handlers[0],
                    inputs=[Tensor(name=t.name, dtype=np.dtype(t.dtype), shape=t.dims) for t in spec.inputs],
                    outputs=[Tensor(name=t.name, dtype=np.dtype(t.dtype), shape=t.dims) for t in spec.outputs],
                    config=model_config,
                    strict=True,
                )
                with _environment(stub_library_path_env()):  # tritonserver and its stubs inherit it
                    self._triton.run()
                return self
            except Exception as e:
                self.stop()
                if attempt == STARTS or not is_instance_handshake_race(e):
                    raise
                logging.getLogger("sortpool.serve").warning(
                    "PyTriton's instance handshake raced at start (try %d of %d); starting Triton again", attempt, STARTS)
        raise AssertionError("unreachable")

    @property
    def http_url(self) -> str:
        return f"http://{self.options.address}:{self.options.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"grpc://{self.options.address}:{self.options.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.options.address}:{self.options.metrics_port}/metrics"

    @property
    def access_token(self) -> str:
        """PyTriton guards Triton's admin endpoints (statistics, model repository, shared memory,
        trace, logging) with this token; inference and health need none."""
        return self._triton.get_access_token()

    def is_alive(self) -> bool:
        return self._triton is not None and self._triton.is_alive()

    def stop(self) -> None:
        triton, self._triton = self._triton, None
        if triton is not None:
            triton.stop()

    def wait(self, stop: threading.Event, poll_s: float = 1.0) -> None:
        """Blocks until `stop` is set; raises BackendFailure if Triton dies first."""
        while not stop.wait(poll_s):
            if not self.is_alive():
                raise BackendFailure("Triton Inference Server stopped unexpectedly (its log is above)")

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def describe(server: ModelServer) -> List[str]:
    spec, opts = server.spec, server.options
    lines = [f"serving {server.path} as model {opts.name!r} with {server.backend} "
             f"({opts.instances} instance(s), {opts.threads} thread(s) each)"]
    for t in spec.inputs:
        lines.append(f"  input  {t.name}: {t.dtype}{list(t.dims)}")
    for t in spec.outputs:
        lines.append(f"  output {t.name}: {t.dtype}{list(t.dims)}")
    if spec.batching:
        batcher = (f"dynamic batching, queue delay {opts.max_queue_delay_us} us" if opts.dynamic_batching
                   else "no dynamic batching")
        lines.append(f"  batch axis 0, max batch size {spec.max_batch_size}, {batcher}")
    else:
        lines.append("  no batch axis (max batch size 0)")
    lines.append(f"  HTTP {server.http_url}  gRPC {server.grpc_url}  metrics {server.metrics_url}")
    return lines


def serve(model: os.PathLike, options: Optional[ServeOptions] = None, say: Callable[[str], None] = print) -> int:
    """Serves until SIGINT or SIGTERM, then stops Triton cleanly (in-flight requests finish)."""
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ModelServer(model, options) as server:
            for line in describe(server):
                say(line)
            say("ready; Ctrl-C or SIGTERM stops it")
            server.wait(stop)
            say("stopping")
            t0 = time.perf_counter()
        say(f"stopped in {time.perf_counter() - t0:.1f} s")
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
