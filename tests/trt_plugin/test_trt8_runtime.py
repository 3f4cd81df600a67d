"""The plugin library in a process where TensorRT 8.6 or 9.x (or an older 8.x) is loaded.

No TensorRT 8 or 9 runtime can be installed here, so plugin/tensorrt/tests/trt8_stand_in.cpp is built
as libnvinfer.so.8 (or .9): it reports getInferLibVersion() as those releases do (8601 for 8.6.1; they
have no getInferLibMajorVersion) and has a plugin registry and logger with TensorRT 8.6's vtables.
These tests check what the library does with such a runtime: recognise it, register version "1" in
TensorRT 8.6's layout (and no IPluginV3 creator, which those releases do not have), hand the same
creator to loadLibrary's getPluginCreators, and offer TensorRT 8.5 nothing, with a message. That the
plugin object itself matches the real TensorRT 8.6 and 9.x headers is checked by
tools/check_v2_abi.sh with those headers (docs/tensorrt.md); they cannot be fetched here.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STAND_IN_SRC = REPO / "plugin" / "tensorrt" / "tests" / "trt8_stand_in.cpp"

PROBE = textwrap.dedent("""
    import ctypes, json, sys
    trt = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)  # the stand-in TensorRT
    for name in ("standInRegisteredCreators", "standInLastLogMessage"):
        getattr(trt, name).restype = ctypes.c_char_p
    trt.standInCreatorTensorRTVersion.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib = ctypes.CDLL(sys.argv[2])  # self-registers with the stand-in's registry
    lib.sortpoolTrtLastError.restype = ctypes.c_char_p
    lib.sortpoolInitPlugins.argtypes = [ctypes.c_void_p]
    r = dict(runtime_major=lib.sortpoolTrtRuntimeMajor(),
             self_registered=trt.standInRegisteredCreators().decode(),
             creator_trt_version=trt.standInCreatorTensorRTVersion(b"SortedWeightedPool", b"1"))
    n = ctypes.c_int32(-1)
    lib.getCreators.restype = ctypes.c_void_p
    lib.getCreators(ctypes.byref(n))
    r["v3_entry_count"] = n.value
    n.value = -1
    lib.getPluginCreators.restype = ctypes.POINTER(ctypes.c_void_p)
    creators = lib.getPluginCreators(ctypes.byref(n))
    r["v2_entry_count"] = n.value
    r["after_v2_entry"] = trt.standInRegisteredCreators().decode()  # withdrawn, handed to loadLibrary
    r["deregistered"] = trt.standInDeregisteredCount()
    r["init_rc"] = lib.sortpoolInitPlugins(None)
    r["after_init"] = trt.standInRegisteredCreators().decode()
    r["init_again_rc"] = lib.sortpoolInitPlugins(None)
    r["message"] = lib.sortpoolTrtLastError().decode()
    r["logged"] = trt.standInLastLogMessage().decode()
    print("RESULT " + json.dumps(r))
""")


def _build_stand_in(folder: Path, version: int) -> str:
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.fail("no C++ compiler to build the stand-in TensorRT library")
    lib = folder / f"libnvinfer.so.{version // 1000}"  # the file name the plugin library looks for
    subprocess.run([cxx, "-std=c++17", "-shared", "-fPIC", f"-DSTAND_IN_VERSION={version}", "-o", str(lib),
                    str(STAND_IN_SRC)], check=True, capture_output=True)
    return str(lib)


def _probe(stand_in: str, plugin: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, stand_in, plugin], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])


@pytest.mark.parametrize("version", [8601, 9300])
def test_tensorrt86_and_9_get_version1_in_their_layout(plugin_path, tmp_path, version):
    r = _probe(_build_stand_in(tmp_path, version), plugin_path)
    assert r["runtime_major"] == version // 1000, "getInferLibVersion is major * 1000 + ... before TensorRT 10"
    # Self-registration on load: version "1" only, through TensorRT 8.6's registry slots; the
    # creator answers getPluginName/getPluginVersion/getTensorRTVersion in 8.6's slots.
    assert r["self_registered"] == "SortedWeightedPool/1"
    assert r["creator_trt_version"] == version
    assert r["v3_entry_count"] == 0, "no IPluginV3 before TensorRT 10: getCreators offers nothing"
    # loadLibrary's entry point takes the self-registered creator back and hands it over.
    assert r["v2_entry_count"] == 1
    assert r["after_v2_entry"] == "" and r["deregistered"] == 1
    assert r["init_rc"] == 1 and r["after_init"] == "SortedWeightedPool/1"
    assert r["init_again_rc"] == 1, "a second registration is not an error"


def test_tensorrt85_is_offered_nothing(plugin_path, tmp_path):
    r = _probe(_build_stand_in(tmp_path, 8503), plugin_path)
    assert r["runtime_major"] == 8
    assert r["self_registered"] == "" and r["v3_entry_count"] == 0 and r["v2_entry_count"] == 0
    assert r["init_rc"] == -1
    assert "TensorRT 8 is loaded" in r["message"] and "8.6" in r["message"], r["message"]
    assert r["logged"] == r["message"], "errors go to the loaded TensorRT's logger"


TOOLING_PROBE = textwrap.dedent("""
    import ctypes, sys, types
    ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)  # the stand-in TensorRT
    from sortpool import trt as sp_trt
    from sortpool.errors import BackendFailure

    class Registry:  # what the Python bindings of such a TensorRT would show: nothing registered
        all_creators = []
        def load_library(self, path):
            return None

    fake = types.SimpleNamespace(__version__="8.5.3", get_plugin_registry=Registry)
    try:
        sp_trt.load_plugin(fake, sys.argv[2])
        print("RESULT loaded")
    except BackendFailure as e:
        print("RESULT " + str(e))
""")


def test_tooling_names_the_reason_when_nothing_registers(plugin_path, tmp_path):
    """sortpool.trt.load_plugin passes the library's own message on when no creator appears."""
    # The repository's python/ first: the side environment of tools/trt_tests_other_runtime.sh does
    # not install the package (sortpool.trt needs only the standard library and numpy).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "python"),
                                                                    os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", TOOLING_PROBE, _build_stand_in(tmp_path, 8503), plugin_path],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    assert "registry has no SortedWeightedPool creator" in line and "TensorRT 8 is loaded" in line, line
