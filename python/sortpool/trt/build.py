"""Building engines: TensorRT or TensorRT for RTX parses the ONNX model with our plugin registered,
builds it with the options of ``sortpool build`` and reports what it built.

Written to the TensorRT 10/11 Python API (TensorRT for RTX shares it): ``trt.Builder``,
``builder.create_network``, ``trt.OnnxParser``, ``IBuilderConfig`` (``set_memory_pool_limit``,
timing caches, ``BuilderFlag.VERSION_COMPATIBLE``/``EXCLUDE_LEAN_RUNTIME``,
``plugins_to_serialize``, ``progress_monitor``, TensorRT for RTX's compute capabilities),
``build_serialized_network``.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from ..errors import BackendFailure, BackendUnavailable, UserInputError
from ..inputs import ProfileShapes, check_output_path, load_onnx
from ..contract import set_plugin_version
from . import rtx as trt_rtx
from .discovery import PLUGIN_NAME, _checked, import_tensorrt, load_plugin, make_logger, our_plugin_versions, trt_major

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
    timing_cache: Optional[str]  # the timing cache file written, if any
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


def check_build_paths(onnx_path, engine_path=None, timing_cache=None) -> None:
    """Refuses, before any work, an engine or timing-cache path that cannot be written or that
    names the model (or each other): a build must never replace the model or the engine."""
    if engine_path is not None:
        check_output_path(engine_path, "engine", {"the ONNX model": onnx_path})
    if timing_cache is not None:
        check_output_path(timing_cache, "timing cache", {"the ONNX model": onnx_path, "the engine": engine_path})


def build_engine(onnx_path: Union[str, os.PathLike], engine_path: Union[str, os.PathLike],
                 options: BuildOptions, log=print) -> BuildSummary:
    """Parses ``onnx_path`` with our plugin registered and writes a serialized engine, with
    TensorRT or (``options.backend``) TensorRT for RTX, which builds ahead of time for
    ``options.compute_capabilities`` and needs no GPU to do so."""
    check_build_paths(onnx_path, engine_path, options.timing_cache)
    engine_path = Path(os.fspath(engine_path))
    model = load_onnx(onnx_path)  # checks every SortedWeightedPool node: TensorRT's parser would narrow its ints
    trt = import_tensorrt(builder=True, backend=options.backend)
    rtx = trt_rtx.is_rtx(trt)
    targets = _targets(trt, rtx, options)
    plugin_path = load_plugin(trt, options.plugin_path)
    if rtx:
        trt_rtx.make_parser_find_library(trt)
    version = choose_plugin_version(our_plugin_versions(trt), options.plugin_version, rtx)
    n_nodes = set_plugin_version(model, version)
    log(f"{'TensorRT for RTX' if rtx else 'TensorRT'} {trt.__version__}: plugin {plugin_path} registered; {n_nodes} "
        f"{PLUGIN_NAME} node(s) use plugin version \"{version}\" ({_INTERFACES.get(version, '?')})")

    logger = make_logger(trt, options.verbose)
    builder = _checked(trt, logger, "a builder", lambda: trt.Builder(logger))
    network, parser = _parse(trt, builder, logger, model, onnx_path, rtx)  # the parser owns the network's weights
    plugin_layers, interfaces = _plugin_layers(network)
    config = builder.create_builder_config()
    if rtx:
        trt_rtx.set_targets(trt, config, targets)
    serialize_plugin, cache_path = _configure(trt, builder, network, config, options, plugin_path, logger, log)
    data, seconds = _serialize(trt, builder, network, config, options, cache_path)
    try:
        engine_path.write_bytes(data)
    except OSError as e:
        raise UserInputError(f"cannot write the engine {engine_path}: {e.strerror or e}") from None
    # Deserializing (for the engine's layer count) needs a GPU the engine was built for.
    layers = _engine_layers(trt, logger, data) if not rtx or targets == ["CURRENT"] else None
    del parser
    return BuildSummary(
        engine_path=str(engine_path), seconds=seconds, engine_bytes=len(data), layers=layers, plugin_version=version,
        plugin_interface=", ".join(sorted(interfaces)) or _INTERFACES.get(version, "?"), plugin_layers=plugin_layers,
        tensorrt_version=str(trt.__version__), version_compatible=options.version_compatible,
        lean_runtime_excluded=options.exclude_lean_runtime, plugin_serialized=serialize_plugin,
        timing_cache=str(cache_path) if cache_path else None,
        profile={k: v.as_dict() for k, v in options.profile.items()},
        io=[network.get_input(i).name for i in range(network.num_inputs)],
        backend=trt_rtx.BACKEND if rtx else "tensorrt", network_layers=int(network.num_layers),
        compute_capabilities=targets, run_requirement=trt_rtx.run_requirement(trt, targets) if rtx else None)


def _targets(trt, rtx: bool, options: BuildOptions) -> List[str]:
    """TensorRT for RTX's compute capabilities to build for; none for TensorRT."""
    if rtx:
        from ..cuda import driver_gpus

        return trt_rtx.parse_targets(trt, options.compute_capabilities, bool(driver_gpus()[0]))
    if options.compute_capabilities:
        raise UserInputError("--compute-capability is for TensorRT for RTX (--backend tensorrt-rtx); TensorRT builds "
                             "for the GPU it runs on")
    return []


def _parse(trt, builder, logger, model, onnx_path, rtx: bool):
    flags = 0
    creation = getattr(trt, "NetworkDefinitionCreationFlag", None)
    if (rtx or trt_major(trt) < 11) and creation is not None and hasattr(creation, "STRONGLY_TYPED"):
        flags |= 1 << int(creation.STRONGLY_TYPED)  # TensorRT 10, for RTX: opt in; 11: always strongly typed
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    # The path lets the parser find external data files next to the model.
    if not parser.parse(model.SerializeToString(), str(Path(os.fspath(onnx_path)).resolve())):
        raise BackendFailure(f"TensorRT could not parse {onnx_path}: {_parser_errors(parser)}")
    return network, parser


def _plugin_layers(network):
    """(number of plugin layers, their interfaces)."""
    count, interfaces = 0, set()
    for i in range(network.num_layers):
        kind = str(network.get_layer(i).type)
        if "PLUGIN" in kind:
            count += 1
            interfaces.add("IPluginV3" if "V3" in kind else "IPluginV2DynamicExt")
    return count, interfaces


def _configure(trt, builder, network, config, options: BuildOptions, plugin_path: str, logger, log):
    """Fills the builder config from ``options``; returns (whether the plugin library is
    serialized, the timing cache file to write back after the build or None)."""
    if options.workspace_bytes is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_bytes))
    profile = builder.create_optimization_profile()
    for name in (network.get_input(i).name for i in range(network.num_inputs)):
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
    cache_path = _timing_cache(config, options.timing_cache, logger, log) if options.timing_cache else None
    return bool(serialize_plugin), cache_path


def _timing_cache(config, path: str, logger, log) -> Optional[Path]:
    """Sets the builder's timing cache from ``path`` (new when the file is missing or empty) and
    returns the file to write it back to, or None. A file TensorRT could not read is left as it
    is and not written back: it may be something else under a wrong name (TensorRT logs an error
    or a warning for it and hands back an empty cache), and TensorRT for RTX without a GPU
    cannot even read back the caches it writes."""
    cache_path = Path(path)
    blob = cache_path.read_bytes() if cache_path.is_file() else b""
    logged = logger.warning_count  # counts errors too
    cache = config.create_timing_cache(blob)
    if blob and (cache is None or logger.warning_count > logged):
        log(f"warning: TensorRT could not read the timing cache {cache_path}; building without it and leaving "
            "the file unchanged (delete it, or give another path, to start a new cache)")
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=True)
        return None
    if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False):
        log(f"warning: timing cache {cache_path} does not fit this TensorRT/GPU; starting a new one")
        config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=True)
    return cache_path


def _serialize(trt, builder, network, config, options: BuildOptions, cache_path: Optional[Path]):
    """(the serialized engine, build seconds); writes the timing cache back to ``cache_path``."""
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
    if cache_path is not None:
        blob = config.get_timing_cache().serialize()
        try:
            cache_path.write_bytes(bytes(memoryview(blob)))
        except OSError as e:
            raise UserInputError(f"cannot write the timing cache {cache_path}: {e.strerror or e}") from None
    return bytes(memoryview(serialized)), seconds


def _engine_layers(trt, logger, data: bytes) -> Optional[int]:
    try:
        runtime = _checked(trt, logger, "a runtime", lambda: trt.Runtime(logger))
        runtime.engine_host_code_allowed = True
        engine = runtime.deserialize_cuda_engine(data)
        return int(engine.num_layers) if engine is not None else None
    except Exception:
        return None
