"""TensorRT registry scenarios of tests/robustness/test_trt.py, each in a fresh interpreter (loading a
library and registering creators is process-wide state). Prints "RESULT <json>".

Usage: python _trt_probe.py SCENARIO  (the library path comes from $SORTPOOL_TRT_PLUGIN)
Reuses the helpers of tests/trt_plugin/_probe.py.
"""
from __future__ import annotations

import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "trt_plugin"))
import _probe as P  # noqa: E402  (imports tensorrt_lean / tensorrt, reads $SORTPOOL_TRT_PLUGIN)

trt, reg, NAME, out = P.trt, P.reg, P.NAME, P.out


def main(scenario: str) -> None:
    if scenario == "unknown_version":
        lib = P.c_api()
        found = {v: reg.get_creator(NAME, v, "") is not None for v in ("0", "1", "2", "3", "99", "")}
        out(found=found, versions=P.versions(), last_error=lib.sortpoolTrtLastError().decode())
    elif scenario == "load_library_twice":
        h1 = reg.load_library(P.LIB)
        after_first = P.versions()
        try:
            h2 = reg.load_library(P.LIB)
            second = "handle" if h2 is not None else "none"
        except Exception as e:  # an error is an acceptable answer too, a crash is not
            h2, second = None, f"exception: {e}"
        after_second = P.versions()
        p = P.v3_creator().create_plugin("swp", P.good_fields(), trt.TensorRTPhase.BUILD)
        reg.deregister_library(h1)
        out(first_ok=h1 is not None, after_first=after_first, second=second, after_second=after_second,
            create_after_second=p is not None, after_deregister=P.versions())
    elif scenario == "oversized_weights":
        lib = P.c_api()
        w = np.arange(10**6, dtype=np.float32) / 10**6
        p = P.v3_creator().create_plugin("swp", P.fc(P.ints("pool_range", [1]), P.floats("weights", w)),
                                         trt.TensorRTPhase.BUILD)
        created = p is not None
        # pool_range 2 with 10^6 + 1 weights: not a multiple of k
        q = P.v3_creator().create_plugin(
            "swp", P.fc(P.ints("pool_range", [2]), P.floats("weights", np.ones(10**6 + 1, np.float32))),
            trt.TensorRTPhase.BUILD)
        msg = lib.sortpoolTrtLastError().decode()
        v1 = reg.get_creator(NAME, "1", "")
        blob_len = blob_back = None
        if v1 is not None:
            p1 = v1.create_plugin("swp", P.fc(P.ints("pool_range", [1]), P.floats("weights", w)))
            blob = bytes(p1.serialize())
            blob_len = len(blob)
            blob_back = v1.deserialize_plugin("swp", blob) is not None
        out(created=created, odd_rejected=q is None, message=msg, v1_blob_len=blob_len, v1_blob_back=blob_back)
    elif scenario == "field_lengths":
        lib = P.c_api()
        pr, w1 = P.ints("pool_range", [1]), P.floats("weights", [1.0])
        cases = {
            "kernel_len_1": (P.fc(P.ints("kernel_shape", [2]), pr, w1), "expected 2 values"),
            "pads_len_2": (P.fc(P.ints("pads", [1, 1]), pr, w1), "expected 4 values"),
            "pool_range_len_2": (P.fc(P.ints("pool_range", [1, 1]), w1), "must hold exactly 1 value, got 2"),
            "ceil_mode_len_0": (P.fc(P.ints("ceil_mode", []), pr, w1), "must hold exactly 1 value, got 0"),
            "weights_len_0": (P.fc(pr, P.floats("weights", [])), "'weights' = 0 values"),
            "kernel_zero": (P.fc(P.ints("kernel_shape", [0, 2]), pr, w1), "'kernel_shape' = [0, 2]"),
            "kernel_negative": (P.fc(P.ints("kernel_shape", [2, -1]), pr, w1), "must be >= 1"),
            "stride_zero": (P.fc(P.ints("strides", [1, 0]), pr, w1), "'strides' = [1, 0]"),
            "weights_int32": (P.fc(pr, P.ints("weights", [1])), "'weights' has type kINT32"),
            "pool_range_float": (P.fc(P.floats("pool_range", [1.0]), w1), "'pool_range' has type kFLOAT32"),
            "weights_inf": (P.fc(pr, P.floats("weights", [float("-inf")])), "must be finite"),
        }
        results = {}
        for name, (fields, needle) in cases.items():
            p = P.v3_creator().create_plugin("swp", fields, trt.TensorRTPhase.BUILD)
            results[name] = dict(created=p is not None, message=lib.sortpoolTrtLastError().decode(), needle=needle)
        out(results=results)
    elif scenario == "v1_blobs":
        lib = P.c_api()
        v1 = reg.get_creator(NAME, "1", "")
        if v1 is None:
            out(available=False)
            return
        blob = bytearray(v1.create_plugin("swp", P.good_fields()).serialize())

        def fnv1a(data: bytes) -> int:
            h = 2166136261
            for b in data:
                h = ((h ^ b) * 16777619) & 0xFFFFFFFF
            return h

        def sealed(b: bytearray) -> bytes:
            b[-4:] = struct.pack("<I", fnv1a(bytes(b[:-4])))
            return bytes(b)

        future = bytearray(blob)
        future[4:8] = struct.pack("<I", 2)
        huge = bytearray(blob)
        huge[12 + 80:12 + 84] = struct.pack("<I", 0xFFFFFFFF)
        cases = {
            "appended_byte": (bytes(blob) + b"\0", "truncated or padded"),
            "appended_1MiB": (bytes(blob) + b"\xab" * (1 << 20), "truncated or padded"),
            "unknown_format_version": (sealed(future), "unsupported format version 2"),
            "huge_weight_count": (sealed(huge), "weight count 4294967295 does not match"),
            "not_a_blob": (b"\x00" * 64, "bad magic number"),
            "empty": (b"", "shorter than its header"),
        }
        results = {}
        for name, (data, needle) in cases.items():
            p = v1.deserialize_plugin("swp", data)
            results[name] = dict(deserialized=p is not None, message=lib.sortpoolTrtLastError().decode(), needle=needle)
        out(available=True, results=results)
    else:
        raise SystemExit(f"unknown scenario {scenario}")


if __name__ == "__main__":
    main(sys.argv[1])
