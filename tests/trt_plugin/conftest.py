"""Fixtures for the TensorRT plugin tests (lean runtime, CPU only).

The library is found through $SORTPOOL_TRT_PLUGIN, then sortpool.trt_plugin_path(), then the CMake
build folders build/*/plugin/tensorrt/. A missing library is a skip only when there is no nvcc
(the plugin is then legitimately not built); with nvcc on the machine it is a failure.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from toolchain import nvcc_present, require_trt_bindings

REPO = Path(__file__).resolve().parents[2]
LIB_NAME = "libsortpool_trt_plugin.so"


def find_plugin_library() -> str | None:
    env = os.environ.get("SORTPOOL_TRT_PLUGIN")
    if env:
        return env
    try:
        import sortpool  # the lead's package; optional here

        path = sortpool.trt_plugin_path()
        if path:
            return str(path)
    except Exception:
        pass
    hits = sorted(glob.glob(str(REPO / "build" / "*" / "plugin" / "tensorrt" / LIB_NAME)), key=os.path.getmtime)
    return hits[-1] if hits else None


@pytest.fixture(scope="session")
def v2_abi_checker() -> str:
    """sortpool_trt_v2_abi_check from the plugin's CMake build (build/*/plugin/tensorrt/, newest; not the
    sanitizer or fuzzer builds). Missing is a skip without nvcc and a failure with it, as for the library."""
    name = "sortpool_trt_v2_abi_check"
    hits = [p for p in glob.glob(str(REPO / "build" / "*" / "plugin" / "tensorrt" / name))
            if Path(p).parts[-4] not in ("sanitize", "fuzz")]
    if hits:
        return max(hits, key=os.path.getmtime)
    if nvcc_present():
        pytest.fail(f"{name} was not found under build/*/plugin/tensorrt/, but nvcc is present, so it should "
                    "have been built")
    pytest.skip(f"{name} not built: no nvcc on this machine")


@pytest.fixture(scope="session")
def trt():
    try:
        import tensorrt_lean as trt_mod
    except ImportError as lean_error:
        try:
            import tensorrt as trt_mod
        except ImportError:
            if require_trt_bindings():
                pytest.fail(f"SORTPOOL_REQUIRE_TRT_BINDINGS=1 but tensorrt_lean cannot be imported: {lean_error}")
            pytest.skip("no TensorRT Python bindings (tensorrt_lean / tensorrt) in this environment")
    return trt_mod


@pytest.fixture(scope="session")
def plugin_path():
    path = find_plugin_library()
    if path is None or not Path(path).exists():
        if nvcc_present():
            pytest.fail(f"{LIB_NAME} was not found (SORTPOOL_TRT_PLUGIN={os.environ.get('SORTPOOL_TRT_PLUGIN')!r}), "
                        "but nvcc is present, so it should have been built: cmake --build <build dir>")
        pytest.skip(f"{LIB_NAME} not built: no nvcc on this machine")
    return str(Path(path).resolve())
