"""Fixtures for the TensorRT for RTX tests: its bindings (requirements/dev.txt pins them, so under
./dev.sh a failed import fails instead of skipping) and the plugin library."""
from __future__ import annotations

import importlib.util

import pytest

from toolchain import nvcc_present, require_trt_bindings


@pytest.fixture(scope="session")
def trt_plugin_library() -> str:
    # Found, not imported: importing loads libtensorrt_rtx into this process, whose plugin library
    # serves the TensorRT loaded first (the tests use TensorRT for RTX in child processes).
    missing = [m for m in ("tensorrt_rtx_libs", "tensorrt_rtx_bindings") if importlib.util.find_spec(m) is None]
    if missing:
        if require_trt_bindings():
            pytest.fail(f"TensorRT for RTX is pinned in requirements/dev.txt but {', '.join(missing)} is missing")
        pytest.skip("TensorRT for RTX is not installed (pip install tensorrt-rtx-cu13-libs tensorrt-rtx-cu13-bindings)")
    import sortpool

    path = sortpool.trt_plugin_path()
    if path is None:
        if nvcc_present():
            pytest.fail("libsortpool_trt_plugin.so was not found, but nvcc is present, so it should have been built")
        pytest.skip("libsortpool_trt_plugin.so not built: no nvcc on this machine")
    return path
