"""The CUDA kernels the plugin selects are, instruction for instruction, the ones that last ran on a
GPU (plugin/tensorrt/gpu_verified.txt): a change to them must go through tools/gpu_check.sh on a
GPU before the record moves. Experimental kernels that are new since then are allowed (listed)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from toolchain import nvcc_present

REPO = Path(__file__).resolve().parents[2]


def test_production_kernels_match_the_gpu_verified_revision():
    if not nvcc_present():
        pytest.skip("no nvcc: the TensorRT plugin and its kernels are not built on this machine")
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "kernel_sass.py")], capture_output=True, text=True,
                          timeout=600)
    if proc.returncode == 2 and "not in this repository's history" in proc.stdout:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, (
        "a kernel that ran on a GPU changed (or a tool is missing); run tools/gpu_check.sh on a GPU, then record "
        f"the revision in plugin/tensorrt/gpu_verified.txt:\n{proc.stdout}\n{proc.stderr}")
    assert "changed: 0, gone: 0" in proc.stdout
