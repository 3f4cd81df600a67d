"""The plugin library in a process where a TensorRT older than 10 is loaded (TensorRT 8.6/9.x).

No TensorRT 8/9 runtime can be installed here, so a stand-in libnvinfer.so.8 that exports only what
the library reads to tell the version (getInferLibVersion = 8601, as TensorRT 8.6.1 reports it, no
getInferLibMajorVersion) and a registry pointer that must never be used is compiled for the test.
The library must recognise the old runtime and offer it nothing, with a message, instead of handing
it creators laid out for TensorRT 10 (which such a runtime would call through the wrong vtable).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

STAND_IN = r"""
extern "C" {
// getInferLibVersion as TensorRT 8.x defines it: major * 1000 + minor * 100 + patch.
int getInferLibVersion() noexcept { return 8601; }
// A registry the plugin library must not call into for TensorRT 8: a null vtable pointer makes any
// call crash the test process.
static void* gNotARegistry[4] = {nullptr, nullptr, nullptr, nullptr};
void* getPluginRegistry() noexcept { return gNotARegistry; }
}
"""

PROBE = textwrap.dedent("""
    import ctypes, json, sys
    ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)  # the stand-in TensorRT 8.6
    lib = ctypes.CDLL(sys.argv[2])
    lib.sortpoolTrtLastError.restype = ctypes.c_char_p
    lib.sortpoolInitPlugins.argtypes = [ctypes.c_void_p]
    n = ctypes.c_int32(-1)
    lib.getPluginCreators.restype = ctypes.c_void_p
    lib.getPluginCreators(ctypes.byref(n))
    v1 = n.value
    message = lib.sortpoolTrtLastError().decode()
    n.value = -1
    lib.getCreators.restype = ctypes.c_void_p
    lib.getCreators(ctypes.byref(n))
    print("RESULT " + json.dumps(dict(runtime_major=lib.sortpoolTrtRuntimeMajor(), v1_creators=v1, creators=n.value,
                                      message=message, init_rc=lib.sortpoolInitPlugins(None))))
""")


@pytest.fixture(scope="module")
def stand_in_trt8(tmp_path_factory):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.fail("no C++ compiler to build the stand-in libnvinfer.so.8")
    folder = tmp_path_factory.mktemp("trt8")
    src = folder / "stand_in.cpp"
    src.write_text(STAND_IN)
    lib = folder / "libnvinfer.so.8"  # the file name the plugin library looks for
    subprocess.run([cxx, "-shared", "-fPIC", "-o", str(lib), str(src)], check=True, capture_output=True)
    return str(lib)


def test_tensorrt8_is_offered_nothing(plugin_path, stand_in_trt8):
    proc = subprocess.run([sys.executable, "-c", PROBE, stand_in_trt8, plugin_path], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert r["runtime_major"] == 8, "getInferLibVersion 8601 is TensorRT 8"
    assert r["v1_creators"] == 0 and r["creators"] == 0
    assert "TensorRT 8 is loaded" in r["message"] and "TensorRT 10" in r["message"], r["message"]
    assert r["init_rc"] == -1
