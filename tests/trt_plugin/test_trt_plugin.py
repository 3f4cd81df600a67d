"""SortedWeightedPool TensorRT plugin, checked through the TensorRT (lean) runtime on the CPU.

Each test runs in a fresh interpreter where it matters (loading a library and registering creators
is process-wide state), via tests/trt_plugin/_probe.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("_probe.py")


def run_probe(plugin_path: str, scenario: str, env_extra: dict | None = None) -> dict:
    env = dict(os.environ, SORTPOOL_TRT_PLUGIN=plugin_path)
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, str(PROBE), scenario], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, f"probe {scenario} failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    last = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert last, f"probe {scenario} printed no result:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(last[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def info(trt, plugin_path):
    return run_probe(plugin_path, "info")


def expected_versions(info):
    # Version "2" (IPluginV3) always. Version "1" (IPluginV2DynamicExt) when the library knows the
    # loaded TensorRT's V2 vtable layout: the headers' major version, and TensorRT 11 when the
    # headers are 10 (common/trtV2Abi11.h).
    runtime, compiled = info["runtime_major"], info["compiled_major"]
    return {"1", "2"} if runtime == compiled or (compiled == 10 and runtime == 11) else {"2"}


def test_ctypes_self_registration(trt, plugin_path, info):
    r = run_probe(plugin_path, "ctypes")
    assert set(r["versions"]) == expected_versions(info)
    assert r["count"] == len(expected_versions(info)), "each creator registered exactly once"


def test_registry_load_library(trt, plugin_path, info):
    r = run_probe(plugin_path, "load_library")
    assert set(r["versions"]) == expected_versions(info)
    assert r["after_deregister"] == []


def test_ctypes_then_load_library_no_conflict(trt, plugin_path, info):
    r = run_probe(plugin_path, "both")
    assert set(r["versions_ctypes"]) == expected_versions(info)
    assert set(r["versions_loaded"]) == expected_versions(info)
    assert r["count_loaded"] == len(expected_versions(info)), "no duplicate registration"
    assert r["handle_ok"]


def test_explicit_init_after_opt_out(trt, plugin_path, info):
    r = run_probe(plugin_path, "explicit", {"SORTPOOL_TRT_NO_SELF_REGISTER": "1"})
    assert r["before"] == []
    assert r["init_rc"] == len(expected_versions(info))
    assert set(r["after"]) == expected_versions(info)
    assert r["init_again_rc"] == len(expected_versions(info)), "a second registration is not an error"


def test_v2_field_names_and_create(trt, plugin_path):
    r = run_probe(plugin_path, "v3_create")
    assert r["field_names"] == ["kernel_shape", "strides", "pads", "ceil_mode", "pool_range", "weights"]
    assert r["created"]
    assert r["core"] == ["SortedWeightedPool", "2", ""]
    assert r["num_outputs"] == 1


def test_v3_runtime_phase_create(trt, plugin_path):
    r = run_probe(plugin_path, "v3_roundtrip")
    assert r["runtime_plugin_created"]
    assert r["version"] == "2"


@pytest.mark.parametrize("case", ["missing_pool_range", "missing_weights", "bad_pool_range", "weights_len",
                                  "nonfinite_weight", "bad_pads", "big_kernel", "unknown_field", "float_strides",
                                  "ceil_mode_2", "strides_len"])
def test_bad_fields_rejected_with_message(trt, plugin_path, case):
    r = run_probe(plugin_path, "bad:" + case)
    assert r["v3_created"] is False
    assert r["needle"] in r["message"], r["message"]
    if r["v1_available"]:
        assert r["v1_created"] is False


def test_int64_fields_accepted(trt, plugin_path):
    r = run_probe(plugin_path, "int64_fields")
    assert r["created"]


# Output types and supportsFormatCombination are not checked through these bindings: they hand a C++
# version "1" plugin back as IPluginV2 (no IPluginV2DynamicExt methods), and IPluginV3OneBuild's
# get_output_data_types / supports_format_combination only reach Python plugins. Both versions' tables
# are checked in plugin/tensorrt/tests/cpu_test.cpp (testV1TypesAndFormats, testShapesAndFormats), and
# version "1" through a loaded runtime by sortpool_trt_v2_abi_check (test_v1_abi_through_runtime_headers,
# tools/check_v2_abi.sh).
def test_v1_serialization(trt, plugin_path, info):
    if "1" not in expected_versions(info):
        pytest.skip(f"version 1 (IPluginV2DynamicExt) is not offered to TensorRT {info['runtime_major']} by a "
                    f"build with TensorRT {info['compiled_major']} headers")
    r = run_probe(plugin_path, "v1_serialization")
    # getTensorRTVersion: upper byte kV2_DYNAMICEXT (3), lower bytes a version of the loaded major.
    assert r["tensorrt_version"] >> 24 == 3
    assert (r["tensorrt_version"] & 0xFFFFFF) // 10000 == info["runtime_major"]
    assert r["roundtrip_equal"]
    assert r["truncated_rejected"] == r["truncated_tried"]
    assert r["corrupted_rejected"] == r["corrupted_tried"]
    assert "checksum" in r["corrupt_message"] or "magic" in r["corrupt_message"]
    assert "truncated" in r["truncated_message"] or "shorter" in r["truncated_message"]


def _loaded_trt_library(trt) -> str | None:
    """Path of the TensorRT runtime library the bindings loaded (lean or full)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            name = os.path.basename(path)
            if name.startswith(("libnvinfer_lean.so.", "libnvinfer.so.")):
                return path
    return None


def test_v1_abi_through_runtime_headers(trt, plugin_path, info, v2_abi_checker):
    """sortpool_trt_v2_abi_check: every IPluginV2DynamicExt method of version "1" called through the
    compiled headers' vtable layout, with the runtime library of this environment loaded."""
    if "1" not in expected_versions(info):
        pytest.skip(f"version 1 is not offered to TensorRT {info['runtime_major']} by a build with TensorRT "
                    f"{info['compiled_major']} headers")
    lib = _loaded_trt_library(trt)
    assert lib, "the TensorRT bindings are imported but no libnvinfer(_lean) is mapped"
    proc = subprocess.run([v2_abi_checker, lib, plugin_path], capture_output=True, text=True, timeout=120)
    if proc.returncode == 77:
        pytest.skip(f"the check is compiled against TensorRT {info['compiled_major']} headers and this runtime is "
                    f"{info['runtime_major']}; tools/check_v2_abi.sh runs it against other headers")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 failures" in proc.stdout
