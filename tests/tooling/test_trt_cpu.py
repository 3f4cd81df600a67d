"""The TensorRT module's parts that need no GPU: plugin registration (with tensorrt_lean or
tensorrt where installed), plugin-version selection and the ONNX rewrite, the progress bar."""
import io
import os

import onnx
import pytest

import sortpool
from tooling_helpers import conv_pool_model
from toolchain import require_trt_bindings
from sortpool import trt as sp_trt
from sortpool.errors import BackendFailure


def _trt_module():
    try:
        return sp_trt.import_tensorrt(builder=False)
    except Exception as e:
        if require_trt_bindings():
            pytest.fail(f"SORTPOOL_REQUIRE_TRT_BINDINGS=1 but no TensorRT Python module: {e}")
        pytest.skip(f"no TensorRT Python module: {e}")


def test_choose_plugin_version():
    assert sp_trt.choose_plugin_version(["1", "2"], "auto") == "2"
    assert sp_trt.choose_plugin_version(["1"], "auto") == "1"
    assert sp_trt.choose_plugin_version(["1", "2"], "1") == "1"
    with pytest.raises(BackendFailure, match='version "1"'):
        sp_trt.choose_plugin_version(["2"], "1")
    with pytest.raises(BackendFailure):
        sp_trt.choose_plugin_version([], "auto")


def test_set_plugin_version_rewrites_only_sortpool_nodes():
    model = onnx.load_from_string(conv_pool_model())
    assert sp_trt.set_plugin_version(model, "2") == 1
    assert sp_trt.set_plugin_version(model, "1") == 1  # replaced, not duplicated
    pool = [n for n in model.graph.node if n.domain == "sortpool"][0]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in pool.attribute}
    assert attrs["plugin_version"] == b"1" and attrs["plugin_namespace"] == b""
    assert list(attrs["kernel_shape"]) == [2, 2] and attrs["pool_range"] == 2
    conv = [n for n in model.graph.node if n.op_type == "Conv"][0]
    assert "plugin_version" not in {a.name for a in conv.attribute}


def test_plugin_registers_with_tensorrt():
    trt = _trt_module()
    if sortpool.trt_plugin_path() is None:
        pytest.skip("libsortpool_trt_plugin.so was not built (needs nvcc)")
    if sp_trt.discovery._asan_linked(sortpool.trt_plugin_path()):
        pytest.skip(f"{sortpool.trt_plugin_path()} is a sanitizer build (set $SORTPOOL_TRT_PLUGIN)")
    path = sp_trt.load_plugin(trt)
    assert path.endswith("libsortpool_trt_plugin.so")
    assert sp_trt.load_plugin(trt) == path  # idempotent
    versions = sp_trt.our_plugin_versions(trt)
    assert "2" in versions, sp_trt.plugin_creators(trt)


def test_missing_plugin_library_is_a_clear_error(tmp_path):
    trt = _trt_module()
    from sortpool.errors import UserInputError

    with pytest.raises(UserInputError, match="TensorRT plugin library not found"):
        sp_trt.load_plugin(trt, str(tmp_path / "libnope.so"))


def test_progress_monitor_reports_phases():
    trt = _trt_module()
    stream = io.StringIO()  # not a terminal: one line per top-level phase
    monitor = sp_trt.make_progress_monitor(trt, stream=stream)
    assert isinstance(monitor, trt.IProgressMonitor)
    monitor.phase_start("Building engine", None, 3)
    monitor.phase_start("Tactic selection", "Building engine", 10)
    assert monitor.step_complete("Tactic selection", 0) is True
    monitor.phase_finish("Tactic selection")
    assert monitor.step_complete("Building engine", 2) is True
    monitor.phase_finish("Building engine")
    assert stream.getvalue() == "[build] Building engine (3 steps)\n"
    monitor.cancelled = True
    assert monitor.step_complete("Building engine", 3) is False


def test_logger_prints_warnings_and_counts_errors(capsys):
    trt = _trt_module()
    severity = trt.ILogger.Severity
    logger = sp_trt.make_logger(trt)
    logger.log(severity.INFO, "an info line")
    logger.log(severity.WARNING, "a warning line")
    assert logger.error_count == 0
    logger.log(severity.ERROR, "an error line")
    logger.log(severity.INTERNAL_ERROR, "an internal error")
    assert logger.error_count == 2 and list(logger.recent_errors) == ["an error line", "an internal error"]
    err = capsys.readouterr().err
    assert "a warning line" in err and "an error line" in err and "an info line" not in err
    sp_trt.make_logger(trt, verbose=True).log(severity.VERBOSE, "a verbose line")
    assert "a verbose line" in capsys.readouterr().err


def test_tensorrt_type_labels_are_numpy_names():
    trt = _trt_module()
    labels = {t: sp_trt.engine._dtype_label(trt, getattr(trt.DataType, t)) for t in ("FLOAT", "HALF", "BF16", "INT32", "INT64")}
    assert labels == {"FLOAT": "float32", "HALF": "float16", "BF16": "bfloat16", "INT32": "int32", "INT64": "int64"}


# Run in a child process: before the check, the runtime that TensorRT returns after a failed CUDA
# initialisation crashed the interpreter (segmentation fault) on first use.
_RUNTIME_PROBE = """
import sortpool.cuda, sortpool.trt as sp_trt
from sortpool.errors import BackendFailure, BackendUnavailable

class NoDevice:  # a CUDA binding that says yes, so that TensorRT's own CUDA check is what decides
    def stream(self): return 0
    def destroy_stream(self, s): pass
    def close(self): pass

sortpool.cuda.cuda_backend = lambda prefer=None: NoDevice()
try:
    sp_trt.TrtEngine(b"not an engine", plugin_path=None, allow_host_code=True)
except (BackendFailure, BackendUnavailable) as e:
    print(type(e).__name__, e)
"""


def test_runtime_that_cannot_use_cuda_is_an_error_not_a_crash():
    import os
    import shutil
    import subprocess
    import sys

    _trt_module()
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    r = subprocess.run([sys.executable, "-c", _RUNTIME_PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-2000:]}"
    gpu = shutil.which("nvidia-smi") is not None and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0
    if gpu:  # TensorRT refuses the bytes, or (a driver too old for this TensorRT) CUDA itself
        assert ("could not deserialize" in r.stdout or "could not create a runtime" in r.stdout), r.stdout
    else:
        assert r.stdout.startswith("BackendUnavailable") and "could not create a runtime" in r.stdout, r.stdout
        assert "CUDA initialization failure" in r.stdout, r.stdout  # TensorRT's first message: the cause


def test_checked_reports_the_first_error_logged_while_making():
    trt = _trt_module()
    from sortpool.errors import BackendUnavailable

    logger = sp_trt.make_logger(trt)
    error = trt.ILogger.Severity.ERROR
    made = object()
    assert sp_trt.discovery._checked(trt, logger, "a thing", lambda: made) is made
    logger.log(error, "an error before the call")  # not the call's
    assert sp_trt.discovery._checked(trt, logger, "a thing", lambda: made) is made

    def noisy():
        for i in range(20):
            logger.log(error, f"error {i}")
        return object()

    with pytest.raises(BackendUnavailable, match=r"could not create a thing: error 0$"):
        sp_trt.discovery._checked(trt, logger, "a thing", noisy)
    with pytest.raises(BackendUnavailable, match="it returned None"):
        sp_trt.discovery._checked(trt, logger, "a thing", lambda: None)

    def raises():
        raise TypeError("Unable to convert function return value to a Python type")

    with pytest.raises(BackendUnavailable, match="TypeError: Unable to convert"):
        sp_trt.discovery._checked(trt, logger, "a thing", raises)
    assert logger.capture is None  # not left watching


def _rtx_build_tools():
    """TensorRT for RTX and the plugin library, for real builds in child processes (the plugin
    serves one TensorRT per process, and this one may hold tensorrt_lean)."""
    import importlib.util

    missing = [m for m in ("tensorrt_rtx_libs", "tensorrt_rtx_bindings") if importlib.util.find_spec(m) is None]
    if missing:
        if require_trt_bindings():
            pytest.fail(f"TensorRT for RTX is pinned in requirements/dev.txt but {', '.join(missing)} is missing")
        pytest.skip("TensorRT for RTX is not installed")
    if sortpool.trt_plugin_path() is None:
        pytest.skip("libsortpool_trt_plugin.so was not built (needs nvcc)")


def _sortpool_child(*args):
    import subprocess
    import sys

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(sortpool.__file__)))  # the sortpool under test
    env = dict(os.environ, PYTHONPATH=package_root)
    done = subprocess.run([sys.executable, "-m", "sortpool", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)
    return done.returncode, done.stdout, done.stderr


def test_timing_cache_that_tensorrt_cannot_read_is_left_unchanged(tmp_path):
    """A real TensorRT for RTX build (no GPU needed): a --timing-cache file TensorRT cannot
    deserialize is warned about and never written over; a new one is written."""
    import json

    _rtx_build_tools()
    model = tmp_path / "m.onnx"
    model.write_bytes(conv_pool_model())
    notes = tmp_path / "notes.txt"
    notes.write_text("not a timing cache\n")
    common = ["--backend", "tensorrt-rtx", "--compute-capability", "8.9", "--shapes", "x:1x3x8x8", "--no-progress"]
    code, out, err = _sortpool_child("build", model, "-o", tmp_path / "a.engine", "--timing-cache", notes,
                                     "--summary-json", tmp_path / "a.json", *common)
    assert code == 0, out + err
    assert f"warning: TensorRT could not read the timing cache {notes}; building without it and leaving the file " \
           "unchanged" in err
    assert notes.read_text() == "not a timing cache\n"
    assert json.loads((tmp_path / "a.json").read_text())["timing_cache"] is None
    fresh = tmp_path / "new.cache"
    code, out, err = _sortpool_child("build", model, "-o", tmp_path / "b.engine", "--timing-cache", fresh, *common)
    assert code == 0, out + err
    assert fresh.stat().st_size > 0 and f"timing cache: {fresh}" in out
