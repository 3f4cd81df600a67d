"""One scenario of test_trt_plugin.py in a fresh interpreter: prints "RESULT <json>".

Usage: python _probe.py SCENARIO  (the library path comes from $SORTPOOL_TRT_PLUGIN)
"""
from __future__ import annotations

import ctypes
import json
import os
import sys

import numpy as np

try:
    import tensorrt_lean as trt
except ImportError:  # full TensorRT works the same way
    import tensorrt as trt

LIB = os.environ["SORTPOOL_TRT_PLUGIN"]
NAME = "SortedWeightedPool"
reg = trt.get_plugin_registry()


def out(**kw):
    print("RESULT " + json.dumps(kw), flush=True)


def versions():
    return sorted(c.plugin_version for c in reg.all_creators if c.name == NAME)


def c_api():
    lib = ctypes.CDLL(LIB)
    lib.sortpoolTrtLastError.restype = ctypes.c_char_p
    lib.sortpoolTrtRuntimeMajor.restype = ctypes.c_int32
    lib.sortpoolTrtCompiledMajor.restype = ctypes.c_int32
    lib.sortpoolInitPlugins.restype = ctypes.c_int32
    lib.sortpoolInitPlugins.argtypes = [ctypes.c_void_p]
    return lib


# trt.PluginField does not keep its numpy array alive: keep every array here for the process.
_KEEP = []


def _keep(array):
    _KEEP.append(array)
    return array


def ints(name, values, dtype=np.int32):
    kind = trt.PluginFieldType.INT32 if dtype == np.int32 else trt.PluginFieldType.INT64
    return trt.PluginField(name, _keep(np.array(values, dtype=dtype)), kind)


def floats(name, values):
    return trt.PluginField(name, _keep(np.array(values, dtype=np.float32)), trt.PluginFieldType.FLOAT32)


def fc(*fields):
    return trt.PluginFieldCollection(list(fields))


def good_fields():
    return fc(ints("kernel_shape", [3, 2]), ints("strides", [1, 2]), ints("pads", [1, 0, 2, 1]),
              ints("ceil_mode", [1]), ints("pool_range", [3]), floats("weights", [0.5, 0.25, 0.25, 1.0, 2.0, 3.0]))


def fields_to_dict(collection):
    result = {}
    for f in collection:
        data = np.asarray(f.data)
        if f.type == trt.PluginFieldType.INT32:
            vals = data.view(np.int32) if data.dtype != np.int32 else data
        elif f.type == trt.PluginFieldType.FLOAT32:
            vals = data.view(np.float32) if data.dtype != np.float32 else data
        else:
            vals = data
        result[f.name] = [v.item() for v in np.asarray(vals).ravel()[: f.size if hasattr(f, "size") else None]]
    return result


def v3_creator():
    return reg.get_creator(NAME, "2", "")


def main(scenario):
    if scenario == "info":
        lib = c_api()
        out(runtime_major=lib.sortpoolTrtRuntimeMajor(), compiled_major=lib.sortpoolTrtCompiledMajor(),
            trt_version=trt.__version__)
    elif scenario == "ctypes":
        c_api()
        out(versions=versions(), count=len(versions()))
    elif scenario == "load_library":
        h = reg.load_library(LIB)
        v = versions()
        reg.deregister_library(h)
        out(versions=v, after_deregister=versions())
    elif scenario == "both":
        c_api()
        v1 = versions()
        h = reg.load_library(LIB)
        v2 = versions()
        out(versions_ctypes=v1, versions_loaded=v2, count_loaded=len(v2), handle_ok=h is not None)
    elif scenario == "explicit":
        lib = c_api()
        before = versions()
        rc = lib.sortpoolInitPlugins(None)
        after = versions()
        rc2 = lib.sortpoolInitPlugins(None)
        out(before=before, init_rc=rc, after=after, init_again_rc=rc2)
    elif scenario == "v3_create":
        c_api()
        cr = v3_creator()
        names = [f.name for f in cr.field_names]
        p = cr.create_plugin("swp", good_fields(), trt.TensorRTPhase.BUILD)
        core = p.get_capability_interface(trt.PluginCapabilityType.CORE)
        build = p.get_capability_interface(trt.PluginCapabilityType.BUILD)
        out(field_names=names, created=p is not None,
            core=[core.plugin_name, core.plugin_version, core.plugin_namespace], num_outputs=build.num_outputs)
    elif scenario == "v3_roundtrip":
        # What TensorRT does with version 2 at engine load: createPlugin(..., kRUNTIME) with the fields
        # getFieldsToSerialize wrote (the same names/types as the build fields). The Python bindings
        # cannot call getFieldsToSerialize on a C++ plugin; the C++ test checks that half.
        c_api()
        cr = v3_creator()
        q = cr.create_plugin("swp", good_fields(), trt.TensorRTPhase.RUNTIME)
        core = q.get_capability_interface(trt.PluginCapabilityType.CORE) if q is not None else None
        out(runtime_plugin_created=q is not None, version=core.plugin_version if core else None)
    elif scenario.startswith("bad:"):
        lib = c_api()
        case = scenario[4:]
        pr, w1 = ints("pool_range", [1]), floats("weights", [1.0])
        cases = {
            "missing_pool_range": (fc(w1), "pool_range"),
            "missing_weights": (fc(pr), "weights"),
            "bad_pool_range": (fc(ints("pool_range", [5]), floats("weights", [1] * 5)), "pool_range"),
            "weights_len": (fc(ints("pool_range", [2]), floats("weights", [1, 2, 3])), "weights"),
            "nonfinite_weight": (fc(pr, floats("weights", [float("nan")])), "finite"),
            "bad_pads": (fc(ints("pads", [0, 0, 2, 0]), pr, w1), "pads"),
            "big_kernel": (fc(ints("kernel_shape", [9, 8]), pr, w1), "kernel_shape"),
            "unknown_field": (fc(ints("dilations", [1, 1]), pr, w1), "dilations"),
            "float_strides": (fc(floats("strides", [1, 1]), pr, w1), "strides"),
            "ceil_mode_2": (fc(ints("ceil_mode", [2]), pr, w1), "ceil_mode"),
            "strides_len": (fc(ints("strides", [1, 1, 1]), pr, w1), "strides"),
        }
        fields, needle = cases[case]
        p = v3_creator().create_plugin("swp", fields, trt.TensorRTPhase.BUILD)
        message = lib.sortpoolTrtLastError().decode()
        v1 = reg.get_creator(NAME, "1", "")
        v1_created = None
        if v1 is not None:
            v1_created = v1.create_plugin("swp", fields) is not None
        out(v3_created=p is not None, message=message, needle=needle, v1_available=v1 is not None,
            v1_created=v1_created)
    elif scenario == "int64_fields":
        c_api()
        p = v3_creator().create_plugin(
            "swp", fc(ints("kernel_shape", [2, 2], np.int64), ints("pool_range", [2], np.int64),
                      floats("weights", [0.7, 0.3])), trt.TensorRTPhase.BUILD)
        out(created=p is not None)
    elif scenario == "v1_serialization":
        lib = c_api()
        cr = reg.get_creator(NAME, "1", "")
        p = cr.create_plugin("swp", good_fields())
        blob = bytes(p.serialize())
        q = cr.deserialize_plugin("swp", blob)
        equal = q is not None and bytes(q.serialize()) == blob
        trunc_tried = trunc_rejected = 0
        for n in range(0, len(blob)):
            trunc_tried += 1
            trunc_rejected += cr.deserialize_plugin("swp", blob[:n]) is None
        trunc_msg = lib.sortpoolTrtLastError().decode()
        corr_tried = corr_rejected = 0
        for i in range(len(blob)):
            b = bytearray(blob)
            b[i] ^= 0xA5
            corr_tried += 1
            corr_rejected += cr.deserialize_plugin("swp", bytes(b)) is None
        corr_msg = lib.sortpoolTrtLastError().decode()
        out(roundtrip_equal=equal, truncated_tried=trunc_tried, truncated_rejected=trunc_rejected,
            truncated_message=trunc_msg, corrupted_tried=corr_tried, corrupted_rejected=corr_rejected,
            corrupt_message=corr_msg, tensorrt_version=p.tensorrt_version)
    else:
        raise SystemExit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    main(sys.argv[1])
