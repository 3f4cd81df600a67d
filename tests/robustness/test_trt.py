"""Bad inputs to the TensorRT plugin (docs/robustness.md, "TensorRT plugin").

Two layers:
* through TensorRT's own plugin registry (tensorrt_lean / tensorrt bindings), each scenario in a
  fresh interpreter (tests/robustness/_trt_probe.py, on the helpers of tests/trt_plugin/_probe.py):
  unknown plugin versions, the library loaded twice, oversized weight fields, bad field lengths and
  types, and version "1" blobs that are padded, from a future format or claim 2^32 - 1 weights;
* directly through the plugin interfaces (tests/robustness/trt_plugin_checks.cpp, compiled here
  against the CMake build's libsortpool_trt_plugin_static.a, and once more with AddressSanitizer +
  UndefinedBehaviorSanitizer against build/sanitize's copy when that exists): every field and blob
  row for both creators, and the shape / type / format rows of configurePlugin, getOutputShapes,
  onShapeChange and enqueue, which the Python bindings cannot call on a C++ plugin.
* test_index_beyond_2pow31_on_gpu runs the same program's "large-index" mode on a GPU (skipped
  without one): inputs of more than 2^31 elements, every output checked on the host.

The version "1" rows through the registry run where version "1" is registered (TensorRT 10 and 11
with the pinned 10.x headers); this file also runs under tools/trt_tests_other_runtime.sh's venv.
"""
from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from toolchain import nvcc_present

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROBE = HERE / "_trt_probe.py"
CHECKS_SRC = HERE / "trt_plugin_checks.cpp"


def run_probe(plugin_path: str, scenario: str) -> dict:
    """As tests/trt_plugin/test_trt_plugin.py's run_probe, for this folder's probe script."""
    env = dict(os.environ, SORTPOOL_TRT_PLUGIN=plugin_path)
    proc = subprocess.run([sys.executable, str(PROBE), scenario], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, f"probe {scenario} failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    last = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert last, f"probe {scenario} printed no result:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(last[-1][len("RESULT "):])


# --------------------------------------------------------------------------------------------
# Through TensorRT's plugin registry
# --------------------------------------------------------------------------------------------
def test_unknown_plugin_version_has_no_creator(trt, plugin_path):
    r = run_probe(plugin_path, "unknown_version")
    assert r["found"]["2"], r
    for version in ("0", "3", "99", ""):
        assert r["found"][version] is False, (version, r)
    assert set(r["versions"]) <= {"1", "2"}


def test_load_library_twice(trt, plugin_path):
    r = run_probe(plugin_path, "load_library_twice")
    assert r["first_ok"]
    # The second loadLibrary of the same file is refused (no handle, or an exception), never a
    # crash or a second registration; the creators keep working and leave with the first handle.
    assert r["second"] == "none" or r["second"].startswith("exception"), r
    assert r["after_second"] == r["after_first"] and "2" in r["after_first"]
    assert r["create_after_second"]
    assert r["after_deregister"] == []


def test_oversized_weight_field(trt, plugin_path):
    r = run_probe(plugin_path, "oversized_weights")
    assert r["created"], "10^6 weights with pool_range 1 are per-channel weights for C = 10^6: valid"
    assert r["odd_rejected"] and "'weights' = 1000001 values" in r["message"], r["message"]
    if r["v1_blob_len"] is not None:  # version "1" registered
        assert r["v1_blob_len"] == 4 * 10**6 + 100 and r["v1_blob_back"]


def test_field_lengths_ranges_and_types(trt, plugin_path):
    r = run_probe(plugin_path, "field_lengths")
    for name, res in r["results"].items():
        assert res["created"] is False, name
        assert res["needle"] in res["message"], (name, res["message"])


def test_v1_blobs_padded_future_and_huge_count(trt, plugin_path):
    r = run_probe(plugin_path, "v1_blobs")
    if not r["available"]:
        pytest.skip("version 1 (IPluginV2DynamicExt) is not registered for this TensorRT major version; "
                    "trt_plugin_checks.cpp covers the same blobs without TensorRT (test_plugin_objects[blobs])")
    for name, res in r["results"].items():
        assert res["deserialized"] is False, name
        assert res["needle"] in res["message"], (name, res["message"])


# --------------------------------------------------------------------------------------------
# Directly through the plugin interfaces (no TensorRT library)
# --------------------------------------------------------------------------------------------
_INSTRUMENTED = {"sanitize", "fuzz"}


def _cache_value(build: Path, key: str) -> str | None:
    try:
        text = (build / "CMakeCache.txt").read_text()
    except OSError:
        return None
    m = re.search(rf"^{re.escape(key)}:[A-Z]+=(.*)$", text, re.M)
    return m.group(1) if m else None


def _static_lib(sanitized: bool) -> Path | None:
    libs = [Path(p) for p in glob.glob(str(REPO / "build" / "*" / "plugin" / "tensorrt" /
                                            "libsortpool_trt_plugin_static.a"))]
    libs = [p for p in libs if (p.parents[2].name == "sanitize") == sanitized and
            (sanitized or p.parents[2].name not in _INSTRUMENTED)]
    return max(libs, key=lambda p: p.stat().st_mtime) if libs else None


def _compile(tmp_dir: Path, sanitized: bool) -> Path:
    lib = _static_lib(sanitized)
    if lib is None:
        if sanitized:
            pytest.skip("no build/sanitize (tools/sanitize_and_fuzz.sh makes it)")
        if nvcc_present():
            pytest.fail("libsortpool_trt_plugin_static.a was not found under build/, but nvcc is present")
        pytest.skip("TensorRT plugin not built (no nvcc)")
    build = lib.parents[2]
    cxx = _cache_value(build, "CMAKE_CXX_COMPILER") or shutil.which("g++") or "c++"
    trt_include = _cache_value(build, "SORTPOOL_TRT_INCLUDE_DIR") or str(REPO / ".deps" / "tensorrt" / "include")
    cudart = _cache_value(build, "CUDA_cudart_static_LIBRARY") or "/usr/local/cuda/lib64/libcudart_static.a"
    cuda_include = str(Path(cudart).resolve().parents[1] / "include")
    if not Path(cuda_include, "cuda_runtime_api.h").exists():
        cuda_include = "/usr/local/cuda/include"
    exe = tmp_dir / ("trt_plugin_checks_asan" if sanitized else "trt_plugin_checks")
    cmd = [cxx, "-std=c++17", "-O1", "-g", "-Wno-deprecated-declarations",
           "-I", str(REPO / "plugin" / "tensorrt"), "-I", str(REPO / "plugin" / "tensorrt" / "include"),
           "-I", str(REPO / "plugin" / "core"), "-isystem", trt_include, "-isystem", cuda_include,
           str(CHECKS_SRC), str(lib), cudart, "-ldl", "-lpthread", "-lrt", "-o", str(exe)]
    if sanitized:
        cmd[1:1] = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"compiling {CHECKS_SRC.name} failed:\n{' '.join(cmd)}\n{proc.stderr[-4000:]}"
    return exe


@pytest.fixture(scope="module")
def checks_exe(tmp_path_factory):
    return _compile(tmp_path_factory.mktemp("trt_checks"), sanitized=False)


def _run_checks(exe: Path, group: str, env_extra: dict | None = None) -> str:
    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.run([str(exe), group], capture_output=True, text=True, timeout=600, env=env)
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
    assert proc.returncode == 0 and not failed, (f"rc {proc.returncode}\n" + "\n".join(failed) +
                                                 f"\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


@pytest.mark.parametrize("group", ["fields", "blobs", "shapes"])
def test_plugin_objects(checks_exe, group):
    out = _run_checks(checks_exe, group)
    ran = [line for line in out.splitlines() if line.startswith("ok ")]
    assert len(ran) == {"fields": 39, "blobs": 15, "shapes": 19}[group], out


def test_plugin_objects_under_asan_ubsan(tmp_path):
    exe = _compile(tmp_path, sanitized=True)
    _run_checks(exe, "all", {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
                             "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"})


def _gpu_present() -> bool:
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _gpu_present(), reason="needs a GPU (about 20 GiB of device and host memory)")
def test_index_beyond_2pow31_on_gpu(checks_exe):
    out = _run_checks(checks_exe, "large-index")
    assert out.count("ok large:") == 3, out
