"""What the build machine has, for tests that decide between "not built here" (a skip) and "should
have been built" (a failure). Importable from every test folder (tests/conftest.py puts tests/ on
sys.path)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def nvcc_present() -> bool:
    """Whether a CUDA compiler is on this machine: then the TensorRT plugin and its kernels are built."""
    return shutil.which("nvcc") is not None or Path("/usr/local/cuda/bin/nvcc").exists()


def require_trt_bindings() -> bool:
    """./dev.sh sets SORTPOOL_REQUIRE_TRT_BINDINGS=1: its environments install tensorrt_lean, so a
    failed import there is a broken install to report, not a reason to skip."""
    return os.environ.get("SORTPOOL_REQUIRE_TRT_BINDINGS") == "1"
