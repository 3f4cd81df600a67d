"""TensorRT side of the tooling: find TensorRT, register our plugin, build engines, run them.

Written to the TensorRT 10/11 Python API: ``trt.Builder``, ``builder.create_network`` (explicit
batch is the default since 10; TensorRT 11 networks are always strongly typed), ``trt.OnnxParser``,
``IBuilderConfig`` (``set_memory_pool_limit``, ``create_timing_cache``/``set_timing_cache``,
``BuilderFlag.VERSION_COMPATIBLE``/``EXCLUDE_LEAN_RUNTIME``, ``plugins_to_serialize``,
``progress_monitor``), ``build_serialized_network``; at run time ``trt.Runtime``,
``deserialize_cuda_engine`` and the tensor-address API (``num_io_tensors``, ``get_tensor_name``,
``get_tensor_mode``, ``get_tensor_dtype``, ``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``). Nothing of the bindings API removed in TensorRT 10.

``import tensorrt`` is optional: building needs the full ``tensorrt`` package; running an engine
also works with ``tensorrt_lean`` or ``tensorrt_dispatch`` (version-compatible / lean engines).
Device memory comes from :mod:`sortpool.cuda` (pycuda or cuda-python). numpy is the only other
requirement: no torch, no onnxruntime, no polygraphy.
"""
from __future__ import annotations

import ctypes
import importlib
import os
import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from . import OP_TYPE, trt_rtx
from ._libs import TRT_PLUGIN_NAME, trt_plugin_path
from .errors import BackendFailure, BackendUnavailable, UserInputError
from .inputs import ProfileShapes, TensorSpec, bfloat16_dtype, load_onnx, require_file, validate_feed
from .onnx_schema import set_plugin_version

PLUGIN_NAME = OP_TYPE  # "SortedWeightedPool", namespace ""
PLUGIN_NAMESPACE = ""
RUNTIME_MODULES = ("tensorrt", "tensorrt_lean", "tensorrt_dispatch")
GiB = 1 << 30

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
    worst_error = int(severity.ERROR)

    class CountingLogger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.error_count = 0
            self.recent_errors = deque(maxlen=16)
            self.capture = None  # a list while _checked watches a call: that call's first errors

        def log(self, level, msg):
            level = int(level)
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


# ------------------------------------------------------------------------------------------------
# Progress bar (IProgressMonitor)
# ------------------------------------------------------------------------------------------------
def make_progress_monitor(trt, stream=None, enabled: bool = True):
    """A trt.IProgressMonitor that draws a progress bar of TensorRT's build phases on ``stream``
    (stderr). On a terminal: one line redrawn in place; otherwise one line per top-level phase.
    Ctrl-C during the build cancels it (step_complete returns False)."""
    stream = stream or sys.stderr

    class ProgressBar(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self._lock = threading.Lock()
            self._phases: "OrderedDict[str, list]" = OrderedDict()  # name -> [parent, steps, done]
            self._tty = enabled and hasattr(stream, "isatty") and stream.isatty()
            self._enabled = enabled
            self.cancelled = False
            self._last_draw = 0.0

        def phase_start(self, phase_name, parent_phase, num_steps):
            try:
                with self._lock:
                    self._phases[phase_name] = [parent_phase, max(int(num_steps), 1), 0]
                    if self._enabled and not self._tty and parent_phase is None:
                        print(f"[build] {phase_name} ({num_steps} steps)", file=stream, flush=True)
                    self._draw(force=True)
            except BaseException:
                self.cancelled = True

        def step_complete(self, phase_name, step):
            try:
                with self._lock:
                    if phase_name in self._phases:
                        self._phases[phase_name][2] = int(step) + 1
                    self._draw()
                return not self.cancelled
            except BaseException:  # KeyboardInterrupt while TensorRT calls back: cancel the build
                self.cancelled = True
                return False

        def phase_finish(self, phase_name):
            try:
                with self._lock:
                    self._phases.pop(phase_name, None)
                    self._draw(force=True)
                    if self._tty and not self._phases:
                        stream.write("\r\033[K")
                        stream.flush()
            except BaseException:
                self.cancelled = True

        def _draw(self, force=False):
            if not self._tty or not self._phases:
                return
            now = time.monotonic()
            if not force and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            parts = []
            for name, (_, steps, done) in self._phases.items():
                width = 20
                filled = int(width * min(done, steps) / steps)
                parts.append(f"{name[:28]} [{'#' * filled}{'.' * (width - filled)}] {done}/{steps}")
            line = " > ".join(parts[-2:])
            columns = 120
            try:
                columns = os.get_terminal_size(stream.fileno()).columns
            except (OSError, AttributeError, ValueError):
                pass
            stream.write("\r\033[K" + line[: columns - 1])
            stream.flush()

    return ProgressBar()


# ------------------------------------------------------------------------------------------------
# Building
# ------------------------------------------------------------------------------------------------
@dataclass
class BuildOptions:
    profile: "OrderedDict[str, ProfileShapes]"
    workspace_bytes: Optional[int] = None
    timing_cache: Optional[str] = None
    version_compatible: bool = False
    exclude_lean_runtime: bool = False
    serialize_plugin: Optional[bool] = None  # None: with version-compatible engines
    plugin_version: str = "auto"  # "1" (IPluginV2DynamicExt), "2" (IPluginV3) or "auto"
    plugin_path: Optional[str] = None
    backend: str = "auto"  # "tensorrt", "tensorrt-rtx" or "auto" (the first installed)
    compute_capabilities: Optional[List[str]] = None  # TensorRT for RTX targets ("8.9", "SM120"; None: this GPU)
    tf32: bool = True
    optimization_level: Optional[int] = None
    progress: bool = True
    verbose: bool = False


@dataclass
class BuildSummary:
    engine_path: str
    seconds: float
    engine_bytes: int
    layers: Optional[int]
    plugin_version: str
    plugin_interface: str
    plugin_layers: int
    tensorrt_version: str
    version_compatible: bool
    lean_runtime_excluded: bool
    plugin_serialized: bool
    timing_cache: Optional[str]
    profile: Dict[str, dict] = field(default_factory=dict)
    io: List[str] = field(default_factory=list)
    backend: str = "tensorrt"
    network_layers: Optional[int] = None  # as parsed, before the builder's fusions
    compute_capabilities: List[str] = field(default_factory=list)  # TensorRT for RTX targets
    run_requirement: Optional[str] = None  # one line: what running the engine needs

    def lines(self) -> List[str]:
        mib = self.engine_bytes / (1 << 20)
        product = "TensorRT for RTX" if self.backend == trt_rtx.BACKEND else "TensorRT"
        layers = f"{self.layers} in the engine" if self.layers is not None else "engine layers unknown without a GPU"
        out = [f"engine: {self.engine_path} ({mib:.2f} MiB) built in {self.seconds:.1f} s with {product} "
               f"{self.tensorrt_version}",
               f"layers: {self.network_layers} in the network, {layers}; {self.plugin_layers} "
               f"{PLUGIN_NAME} layer(s), plugin version \"{self.plugin_version}\" ({self.plugin_interface})"]
        if self.compute_capabilities:
            out.append(f"built for: {', '.join(self.compute_capabilities)}")
        for name, p in self.profile.items():
            out.append(f"profile {name}: min {'x'.join(map(str, p['min']))}, opt {'x'.join(map(str, p['opt']))}, "
                       f"max {'x'.join(map(str, p['max']))}")
        flags = []
        if self.version_compatible:
            flags.append("version-compatible")
        if self.lean_runtime_excluded:
            flags.append("lean runtime excluded (run it with --lean-runtime)")
        if self.plugin_serialized:
            flags.append("plugin library serialized into the engine")
        if flags:
            out.append("flags: " + ", ".join(flags))
        if self.timing_cache:
            out.append(f"timing cache: {self.timing_cache}")
        if self.run_requirement:
            out.append(self.run_requirement)
        return out

    def as_dict(self) -> dict:
        return dict(self.__dict__)


_INTERFACES = {"1": "IPluginV2DynamicExt", "2": "IPluginV3"}


def choose_plugin_version(available: Sequence[str], requested: str, rtx: bool = False) -> str:
    """"auto": "2" (IPluginV3) when registered, else "1"; an explicit version must be registered.
    TensorRT for RTX (``rtx``) imports version "2" only."""
    if rtx and requested not in ("auto", trt_rtx.PLUGIN_VERSION):
        raise UserInputError(f"--plugin-version {requested}: TensorRT for RTX imports IPluginV3 plugins only, "
                             f"plugin version \"{trt_rtx.PLUGIN_VERSION}\"")
    if requested == "auto":
        for v in ("2", "1"):
            if v in available:
                return v
        raise BackendFailure(f"TensorRT's registry has no {PLUGIN_NAME} plugin creator")
    if requested not in available:
        raise BackendFailure(f"plugin version \"{requested}\" of {PLUGIN_NAME} is not registered with this TensorRT "
                             f"(registered: {', '.join(available) or 'none'}); version \"1\" (IPluginV2DynamicExt) is "
                             "offered only to the TensorRT major versions whose V2 layout the library knows "
                             "(its headers' and, with TensorRT 10 headers, 11)")
    return requested


def _parser_errors(parser) -> str:
    msgs = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        try:
            node = f"node {err.node_name()} ({err.node_operator()}): " if err.node() >= 0 else ""
            msgs.append(f"{node}{err.desc()}")
        except Exception:
            msgs.append(str(err))
    return "; ".join(msgs) or "no details (run with --verbose)"


def build_engine(onnx_path: Union[str, os.PathLike], engine_path: Union[str, os.PathLike],
                 options: BuildOptions, log=print) -> BuildSummary:
    """Parses ``onnx_path`` with our plugin registered and writes a serialized engine, with
    TensorRT or (``options.backend``) TensorRT for RTX, which builds ahead of time for
    ``options.compute_capabilities`` and needs no GPU to do so."""
    trt = import_tensorrt(builder=True, backend=options.backend)
    rtx = trt_rtx.is_rtx(trt)
    targets: List[str] = []
    if rtx:
        from .cuda import driver_gpus

        targets = trt_rtx.parse_targets(trt, options.compute_capabilities, bool(driver_gpus()[0]))
    elif options.compute_capabilities:
        raise UserInputError("--compute-capability is for TensorRT for RTX (--backend tensorrt-rtx); TensorRT builds "
                             "for the GPU it runs on")
    plugin_path = load_plugin(trt, options.plugin_path)
    if rtx:
        trt_rtx.make_parser_find_library(trt)
    major = trt_major(trt)
    logger = make_logger(trt, options.verbose)
    engine_path = Path(os.fspath(engine_path))
    if not engine_path.parent.exists():
        raise UserInputError(f"output folder does not exist: {engine_path.parent}")
    model = load_onnx(onnx_path)
    version = choose_plugin_version(our_plugin_versions(trt), options.plugin_version, rtx)
    n_nodes = set_plugin_version(model, version)
    log(f"{'TensorRT for RTX' if rtx else 'TensorRT'} {trt.__version__}: plugin {plugin_path} registered; {n_nodes} "
        f"{PLUGIN_NAME} node(s) use plugin version \"{version}\" ({_INTERFACES.get(version, '?')})")

    builder = _checked(trt, logger, "a builder", lambda: trt.Builder(logger))
    flags = 0
    creation = getattr(trt, "NetworkDefinitionCreationFlag", None)
    if (rtx or major < 11) and creation is not None and hasattr(creation, "STRONGLY_TYPED"):
        flags |= 1 << int(creation.STRONGLY_TYPED)  # TensorRT 10, for RTX: opt in; 11: always strongly typed
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    # The path lets the parser find external data files next to the model.
    if not parser.parse(model.SerializeToString(), str(Path(os.fspath(onnx_path)).resolve())):
        raise BackendFailure(f"TensorRT could not parse {onnx_path}: {_parser_errors(parser)}")

    plugin_layers, interfaces = 0, set()
    network_layers = int(network.num_layers)
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        kind = str(layer.type)
        if "PLUGIN" in kind:
            plugin_layers += 1
            interfaces.add("IPluginV3" if "V3" in kind else "IPluginV2DynamicExt")

    config = builder.create_builder_config()
    if rtx:
        trt_rtx.set_targets(trt, config, targets)
    if options.workspace_bytes is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_bytes))
    profile = builder.create_optimization_profile()
    network_inputs = [network.get_input(i).name for i in range(network.num_inputs)]
    for name in network_inputs:
        if name not in options.profile:
            raise UserInputError(f"no profile shapes for network input {name!r}")
        p = options.profile[name]
        profile.set_shape(name, p.min, p.opt, p.max)
    config.add_optimization_profile(profile)
    if not options.tf32 and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    if options.optimization_level is not None:
        config.builder_optimization_level = int(options.optimization_level)
    if hasattr(trt, "ProfilingVerbosity"):
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED  # layer names/types for the summary
    if options.exclude_lean_runtime and not options.version_compatible:
        raise UserInputError("--exclude-lean-runtime needs --version-compatible")
    if options.version_compatible:
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
        if options.exclude_lean_runtime:
            config.set_flag(trt.BuilderFlag.EXCLUDE_LEAN_RUNTIME)
    serialize_plugin = options.version_compatible if options.serialize_plugin is None else options.serialize_plugin
    if serialize_plugin:
        if not hasattr(config, "plugins_to_serialize"):
            raise BackendUnavailable(f"TensorRT {trt.__version__} cannot ship plugin libraries in the engine "
                                     "(IBuilderConfig.plugins_to_serialize)")
        config.plugins_to_serialize = [plugin_path]

    cache = None
    if options.timing_cache:
        cache_path = Path(options.timing_cache)
        data = cache_path.read_bytes() if cache_path.is_file() else b""
        cache = config.create_timing_cache(data)
        if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False):
            log(f"warning: timing cache {cache_path} does not fit this TensorRT/GPU; starting a new one")
            cache = config.create_timing_cache(b"")
            config.set_timing_cache(cache, ignore_mismatch=True)

    monitor = None
    if options.progress and hasattr(config, "progress_monitor"):
        monitor = make_progress_monitor(trt)
        config.progress_monitor = monitor

    t0 = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - t0
    if monitor is not None and monitor.cancelled:
        raise BackendFailure("build cancelled")
    if serialized is None:
        raise BackendFailure("TensorRT could not build the engine (see TensorRT's messages above; --verbose shows more)")
    data = bytes(memoryview(serialized))
    engine_path.write_bytes(data)
    if options.timing_cache:
        blob = config.get_timing_cache().serialize()
        Path(options.timing_cache).write_bytes(bytes(memoryview(blob)))

    layers = None
    if not rtx or targets == ["CURRENT"]:  # deserializing needs a GPU the engine was built for
        try:
            runtime = _checked(trt, logger, "a runtime", lambda: trt.Runtime(logger))
            runtime.engine_host_code_allowed = True
            engine = runtime.deserialize_cuda_engine(data)
            layers = int(engine.num_layers) if engine is not None else None
        except Exception:
            pass
    return BuildSummary(
        engine_path=str(engine_path), seconds=seconds, engine_bytes=len(data), layers=layers, plugin_version=version,
        plugin_interface=", ".join(sorted(interfaces)) or _INTERFACES.get(version, "?"), plugin_layers=plugin_layers,
        tensorrt_version=str(trt.__version__), version_compatible=options.version_compatible,
        lean_runtime_excluded=options.exclude_lean_runtime, plugin_serialized=bool(serialize_plugin),
        timing_cache=options.timing_cache, profile={k: v.as_dict() for k, v in options.profile.items()},
        io=network_inputs, backend=trt_rtx.BACKEND if rtx else "tensorrt", network_layers=network_layers,
        compute_capabilities=targets, run_requirement=trt_rtx.run_requirement(trt, targets) if rtx else None)


# ------------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------------
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
        from .cuda import cuda_backend

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
        feed = validate_feed(feed, self.inputs, source, self.profile)
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
            self.cuda.close()
        except Exception:
            pass

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
