"""Bad inputs to the ONNX Runtime custom op (docs/robustness.md, "ONNX Runtime op") that
tests/ort does not already cover: attributes of the wrong type (strings above all), out-of-range
values missing from tests/ort's INVALID list, optional attributes left out, bad shapes in a model
with static dims, ONNX Runtime's own input checks, the spatial-extent limit, the 64-bit index
arithmetic on an input of more than 2^31 elements (SORTPOOL_SLOW_TESTS=1), pathological but valid
windows, and MaxPool attributes the op does not support.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

import sortpool
from onnx_models import pool_model
from reference import sorted_weighted_pool_ref

BASE = dict(kernel_shape=[2, 2], pool_range=1, weights=[1.0])


def session(attrs: dict, dtype: str = "float32", shape=("N", "C", "H", "W"), threads: int | None = None):
    return sortpool.make_ort_session(pool_model(attrs, dtype, shape=shape), intra_op_threads=threads)


def session_error(attrs: dict) -> str:
    with pytest.raises(Exception) as info:
        session(attrs)
    return str(info.value)


# --------------------------------------------------------------------------------------------
# Attributes
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,value,kind", [
    ("kernel_shape", "2x2", "ints"),
    ("strides", "1", "ints"),
    ("pads", "0", "ints"),
    ("ceil_mode", "0", "int"),
    ("pool_range", "1", "int"),
    ("weights", "1.0", "floats"),
])
def test_string_attribute_is_named_at_session_creation(name, value, kind):
    msg = session_error(dict(BASE, **{name: value}))
    assert f"SortedWeightedPool: attribute '{name}' must be of type {kind}, got string" in msg, msg


@pytest.mark.parametrize("attrs,needle", [
    (dict(BASE, kernel_shape=[2.0, 2.0]), "attribute 'kernel_shape' must be of type ints, got floats"),
    (dict(BASE, strides=2), "attribute 'strides' must be of type ints, got int"),
    (dict(BASE, pads=[0.0, 0.0, 0.0, 0.0]), "attribute 'pads' must be of type ints, got floats"),
    (dict(BASE, ceil_mode=1.0), "attribute 'ceil_mode' must be of type int, got float"),
    (dict(BASE, weights=[1]), "attribute 'weights' must be of type floats, got ints"),
    (dict(BASE, weights=1.0), "attribute 'weights' must be of type floats, got float"),
], ids=["kernel_floats", "strides_int", "pads_floats", "ceil_mode_float", "weights_ints", "weights_float"])
def test_other_wrong_attribute_types(attrs, needle):
    msg = session_error(attrs)
    assert needle in msg, msg


@pytest.mark.parametrize("attrs,needle", [
    (dict(BASE, kernel_shape=[-1, 2]), "attribute 'kernel_shape' = [-1, 2] is invalid: each kernel dimension must be >= 1"),
    (dict(BASE, kernel_shape=[2, 0]), "attribute 'kernel_shape' = [2, 0] is invalid"),
    (dict(BASE, kernel_shape=[1, 65]), "the window may hold at most 64 cells"),
    (dict(BASE, kernel_shape=[2**40, 2**40]), "the window may hold at most 64 cells"),
    (dict(BASE, strides=[1, 2**31]), "attribute 'strides' = [1, 2147483648] is invalid"),
    (dict(BASE, strides=[-2, 1]), "attribute 'strides' = [-2, 1] is invalid"),
    (dict(BASE, pads=[0, 2, 0, 0]), "each pad must satisfy 0 <= pad < kernel size along its axis (kernel_w = 2)"),
    (dict(BASE, ceil_mode=-1), "attribute 'ceil_mode' = -1 is invalid"),
    (dict(kernel_shape=[8, 8], pool_range=65, weights=[0.0] * 65), "'pool_range' = 65 is invalid"),
    (dict(BASE, pool_range=-3), "'pool_range' = -3 is invalid"),
    (dict(BASE, weights=[1.0, float("-inf")]), "weights[1] = -inf is invalid: weights must be finite"),
], ids=["kernel_negative", "kernel_zero_w", "kernel_65_cells", "kernel_2pow40", "stride_2pow31", "stride_negative",
        "pad_eq_kernel_w", "ceil_mode_negative", "pool_range_65", "pool_range_negative", "weights_minus_inf"])
def test_out_of_range_attributes_are_named(attrs, needle):
    msg = session_error(attrs)
    assert needle in msg, msg


@pytest.mark.parametrize("name,attr_type,needle", [
    ("weights", "FLOATS", "attribute 'weights' = 0 values is invalid"),
    ("kernel_shape", "INTS", "attribute 'kernel_shape' = [] is invalid: expected 2 values"),
    ("pads", "INTS", "attribute 'pads' = [] is invalid: expected 4 values"),
])
def test_empty_list_attributes_are_named(name, attr_type, needle):
    import onnx
    from onnx import AttributeProto, helper

    model = onnx.load_from_string(pool_model(BASE))
    node = model.graph.node[0]
    kept = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(kept + [helper.make_attribute(name, [], attr_type=getattr(AttributeProto, attr_type))])
    with pytest.raises(Exception) as info:
        sortpool.make_ort_session(model.SerializeToString())
    assert needle in str(info.value), str(info.value)


def test_optional_attributes_missing_take_the_defaults():
    # kernel_shape [2, 2], strides = kernel_shape, pads 0, ceil_mode 0.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    y = session(dict(pool_range=2, weights=[0.75, 0.25])).run(None, {"x": x})[0]
    want = sorted_weighted_pool_ref(x, (2, 2), None, None, 0, 2, [0.75, 0.25])
    assert y.shape == (2, 3, 3, 4)
    np.testing.assert_array_equal(y, want)
    y3 = session(dict(kernel_shape=[3, 1], pool_range=1, weights=[1.0])).run(None, {"x": x})[0]
    np.testing.assert_array_equal(y3, sorted_weighted_pool_ref(x, (3, 1), (3, 1), None, 0, 1, [1.0]))


@pytest.mark.parametrize("extra", [dict(dilations=[2, 2]), dict(auto_pad="SAME_UPPER"), dict(storage_order=1)],
                         ids=["dilations", "auto_pad", "storage_order"])
def test_unsupported_maxpool_attributes_are_rejected(extra):
    name = next(iter(extra))
    msg = session_error(dict(BASE, **extra))
    assert f"'{name}'" in msg, msg


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attrs,shape,x_shape,needle", [
    (dict(BASE, kernel_shape=[3, 3]), [1, 1, 2, 5], (1, 1, 2, 5), "is smaller than the window along H"),
    (dict(BASE, kernel_shape=[3, 3]), [1, 1, 5, 2], (1, 1, 5, 2), "is smaller than the window along W"),
    (BASE, [1, 1, 1, 4, 4], (1, 1, 1, 4, 4), "must have rank 4 (N, C, H, W), got rank 5"),
    (BASE, [4, 4], (4, 4), "must have rank 4 (N, C, H, W), got rank 2"),
    (dict(BASE, weights=[1.0, 1.0]), [1, 3, 4, 4], (1, 3, 4, 4), "per-channel weights were given for 2 channels"),
], ids=["window_gt_input_h", "window_gt_input_w", "rank5", "rank2", "per_channel_c"])
def test_static_shape_errors_are_reported_at_run(attrs, shape, x_shape, needle):
    # ONNX Runtime only logs a failed custom-op shape inference; the op reports it when it runs.
    sess = session(attrs, shape=shape)
    with pytest.raises(Exception) as info:
        sess.run(None, {"x": np.zeros(x_shape, np.float32)})
    assert "Status Message: SortedWeightedPool: " in str(info.value) and needle in str(info.value), str(info.value)


@pytest.mark.parametrize("x,needle", [
    (np.zeros((1, 1, 4, 4), np.float64), "Unexpected input data type. Actual: (tensor(double))"),
    (np.zeros((1, 1, 4, 4), np.int32), "Unexpected input data type. Actual: (tensor(int32))"),
    (np.zeros((1, 1, 4, 4), np.float16), "Unexpected input data type. Actual: (tensor(float16))"),
    (np.zeros((1, 1, 1, 4, 4), np.float32), "Invalid rank for input: x Got: 5 Expected: 4"),
    (np.zeros((), np.float32), "Invalid rank for input: x Got: 0 Expected: 4"),
], ids=["float64", "int32", "float16_into_float32_model", "rank5", "scalar"])
def test_feeds_of_the_wrong_dtype_or_rank_are_refused_by_onnxruntime(x, needle):
    sess = session(BASE)  # declared input (N, C, H, W) float32
    with pytest.raises(Exception) as info:
        sess.run(None, {"x": x})
    assert needle in str(info.value), str(info.value)


@pytest.mark.parametrize("shape,want", [
    ((1, 1, 2**31 - 1, 0), (1, 1, 2**30 - 1, 0)),
    ((0, 3, 2**31 - 1, 2**20), (0, 3, 2**30 - 1, 2**19)),
    ((2**40, 0, 4, 4), (2**40, 0, 2, 2)),
])
def test_largest_extents_with_an_empty_axis(shape, want):
    # Shapes at the contract's limits, allocated empty: the shape rule in int64, nothing computed.
    y = session(BASE).run(None, {"x": np.zeros(shape, np.float32)})[0]
    assert y.shape == want


@pytest.mark.parametrize("shape", [(1, 1, 2**31, 0), (0, 1, 4, 2**33)])
def test_spatial_extent_beyond_2pow31_minus_1_is_refused(shape):
    sess = session(BASE)
    with pytest.raises(Exception) as info:
        sess.run(None, {"x": np.zeros(shape, np.float32)})
    assert "exceeds the supported maximum 2147483647" in str(info.value), str(info.value)


def _available_memory_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


@pytest.mark.skipif(not os.environ.get("SORTPOOL_SLOW_TESTS"),
                    reason="one float16 input of 2^31 + 4k elements (4 GiB, ~10 s on 2 cores); set SORTPOOL_SLOW_TESTS=1")
@pytest.mark.skipif(_available_memory_gib() < 10, reason="needs about 10 GiB of free memory")
def test_index_arithmetic_beyond_2pow31_elements():
    # One 46341 x 46341 plane holds 2^31 + 4633 elements: the last row crosses element 2^31, so a
    # 32-bit index anywhere (h * W + w, plane offsets, task split) would read or write the wrong
    # place. The input is zero except three bands of random rows (top, middle, the last rows);
    # each band's output must equal the op run on that band alone, and every other output is 0.
    side = 46341
    assert side * side > 2**31
    x = np.zeros((1, 1, side, side), np.float16)  # untouched pages stay unallocated
    rng = np.random.default_rng(7)
    bands = [(0, 6), (23166, 23172), (46332, side)]  # multiples of 6: aligned with strides 2 and 3
    for a, b in bands:
        x[0, 0, a:b] = rng.standard_normal((b - a, side)).astype(np.float16)
    x[0, 0, side - 1, side - 1] = np.inf  # the very last element, past 2^31
    geometries = [
        (dict(kernel_shape=[2, 2], ceil_mode=1, pool_range=3, weights=[0.5, 0.25, 0.125]), 2),  # clipped edges
        (dict(kernel_shape=[3, 3], strides=[3, 3], pool_range=5, weights=[0.3, 0.25, 0.2, 0.15, 0.1]), 3),
    ]
    for attrs, stride in geometries:
        sess = session(attrs, "float16")
        y = sess.run(None, {"x": x})[0]
        expected_nonzero = 0
        for a, b in bands:
            band = sess.run(None, {"x": np.ascontiguousarray(x[:, :, a:b])})[0]
            got = y[:, :, a // stride: a // stride + band.shape[2]]
            np.testing.assert_array_equal(got, band, err_msg=f"{attrs} rows {a}:{b}")
            expected_nonzero += np.count_nonzero(band)
        assert np.count_nonzero(y) == expected_nonzero, attrs
        del y


# --------------------------------------------------------------------------------------------
# Work is bounded: pathological but valid inputs finish
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_pathological_valid_windows_finish_quickly(pathological_input, dtype, threads):
    # float16 goes through its own rows (input rows converted in a per-thread buffer): the largest
    # stride once sized that buffer at terabytes (std::bad_alloc, or a crash with 2 threads).
    x = pathological_input.astype(dtype)
    cases = [
        # the largest window, every rank kept, stride 1, maximal pads, ceil mode: 64 x 64 x 64 cells per plane
        dict(kernel_shape=[8, 8], strides=[1, 1], pads=[7, 7, 7, 7], ceil_mode=1, pool_range=64,
             weights=[1.0 / 64] * 64),
        dict(kernel_shape=[1, 64], strides=[1, 1], pads=[0, 63, 0, 63], pool_range=64, weights=[0.5] * 64),
        dict(kernel_shape=[64, 1], strides=[2**31 - 1, 1], pool_range=7, weights=[1.0] * 7),  # one output row
        dict(kernel_shape=[2, 2], strides=[2**31 - 1, 2**31 - 1], pads=[1, 1, 0, 0], pool_range=1,
             weights=[1.0]),  # one output, from a corner
    ]
    for attrs in cases:
        start = time.perf_counter()
        y = session(attrs, dtype, threads=threads).run(None, {"x": x})[0]
        elapsed = time.perf_counter() - start
        assert elapsed < 30, (attrs, elapsed)
        want = sorted_weighted_pool_ref(x[:1, :2], attrs["kernel_shape"], attrs.get("strides"), attrs.get("pads"),
                                        attrs.get("ceil_mode", 0), attrs["pool_range"], attrs["weights"])
        np.testing.assert_array_equal(y[:1, :2], want.astype(dtype))
        if dtype == "float16":  # all of it: the float32 op on the same values, rounded
            y32 = session(attrs, threads=threads).run(None, {"x": x.astype(np.float32)})[0]
            np.testing.assert_array_equal(y, y32.astype(np.float16))


# Child process: a regression could crash or hang, and maxrss is a per-process high-water mark.
_FLOAT16_MEMORY_PROBE = """
import resource, sys
import numpy as np
import sortpool
from onnx_models import pool_model

def maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

cases = [  # (input shape, attributes)
    ((1, 4, 4, 500), dict(kernel_shape=[2, 2], strides=[100000, 1], pool_range=1, weights=[1.0])),
    ((2, 3, 64, 64), dict(kernel_shape=[64, 1], strides=[2**31 - 1, 1], pool_range=7, weights=[1.0] * 7)),
]
sessions = [(np.ones(shape, np.float16), sortpool.make_ort_session(pool_model(attrs, "float16"),
                                                                     intra_op_threads=int(sys.argv[1])))
            for shape, attrs in cases]
before = maxrss_mb()
for x, sess in sessions:
    for _ in range(3):
        sess.run(None, {"x": x})
print(round(maxrss_mb() - before))
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_float16_large_strides_allocate_little(threads):
    # The float16 conversion buffer holds the input rows a chunk of output rows reads, clipped to
    # the input: a stride of 100000 over 4 rows once took 1.4 GB per pool thread (kept for the
    # thread's life), the largest stride std::bad_alloc or a crash.
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tests / "ort"), str(tests),
                                                       str(Path(sortpool.__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", _FLOAT16_MEMORY_PROBE, str(threads)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.strip()) < 64, f"maxrss grew by {r.stdout.strip()} MB"
