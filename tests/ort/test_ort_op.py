"""The ONNX Runtime CPU custom op against the independent NumPy reference (tests/reference.py).

Models are written with onnx.helper, so these tests need neither torch nor the exporter and also
run on the oldest supported onnxruntime (./dev.sh test runs them there too). float32 results
must equal the reference bit for bit (same rank order, same rounding); float16 results must equal
the float32 reference rounded to float16.
"""
from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

import sortpool
from onnx_models import pool_model
from reference import output_shape, sorted_weighted_pool_ref


def run(attrs: dict, x: np.ndarray, threads: int | None = None) -> np.ndarray:
    sess = sortpool.make_ort_session(pool_model(attrs, str(x.dtype)), intra_op_threads=threads)
    return sess.run(None, {"x": x})[0]


def reference(attrs: dict, x: np.ndarray) -> np.ndarray:
    kernel = attrs.get("kernel_shape", [2, 2])
    return sorted_weighted_pool_ref(x, kernel, attrs.get("strides", kernel), attrs.get("pads", [0, 0, 0, 0]),
                                    attrs.get("ceil_mode", 0), attrs["pool_range"], attrs["weights"])


def assert_matches_reference(attrs: dict, x: np.ndarray, threads: int | None = None) -> None:
    got = run(attrs, x, threads)
    want = reference(attrs, x).astype(x.dtype)
    assert got.dtype == x.dtype
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # NaN == NaN here; exact values otherwise


def random_weights(rng, k: int, channels: int | None = None) -> list[float]:
    n = k * (channels or 1)
    return [float(v) for v in rng.standard_normal(n).astype(np.float32)]


def softmax_weights(rng, k: int) -> list[float]:
    z = rng.standard_normal(k)
    e = np.exp(z - z.max())
    return [float(v) for v in (e / e.sum()).astype(np.float32)]


# Windows 1x1 .. 3x3 and non-square, with strides, pads and ceil mode.
GEOMETRIES = [
    dict(kernel_shape=[1, 1]),
    dict(kernel_shape=[2, 2]),
    dict(kernel_shape=[2, 2], strides=[1, 1]),
    dict(kernel_shape=[2, 2], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[2, 2], ceil_mode=1),
    dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 0, 2, 1]),
    dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[2, 3], strides=[1, 2], pads=[0, 2, 1, 0]),
    dict(kernel_shape=[3, 1], strides=[2, 1], ceil_mode=1),
    dict(kernel_shape=[1, 4], strides=[1, 3], pads=[0, 1, 0, 3], ceil_mode=1),
    dict(kernel_shape=[4, 4], strides=[3, 3], pads=[2, 2, 1, 1]),
    dict(kernel_shape=[8, 8], strides=[4, 4]),
]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: "-".join(f"{k}{v}" for k, v in g.items()))
@pytest.mark.parametrize("per_channel", [False, True], ids=["shared", "per_channel"])
def test_every_pool_range_matches_reference(geometry, per_channel):
    # A fixed seed per case (Python's str hash changes from process to process).
    rng = np.random.default_rng(zlib.crc32(repr((sorted(geometry.items()), per_channel)).encode()))
    kh, kw = geometry["kernel_shape"]
    ks = range(1, kh * kw + 1) if kh * kw <= 9 else [1, 2, kh * kw // 2, kh * kw]
    for k in ks:
        n, c = 2, 3
        h, w = rng.integers(kh, kh + 9), rng.integers(kw, kw + 9)  # odd sizes included
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        attrs = dict(geometry, pool_range=k, weights=random_weights(rng, k, c if per_channel else None))
        assert_matches_reference(attrs, x)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_2x2_stride2_fast_path_at_benchmark_like_sizes(k):
    # The vectorised interior path of the CPU op, with borders from an odd width and pads.
    rng = np.random.default_rng(k)
    x = rng.standard_normal((2, 5, 37, 41)).astype(np.float32)
    for pads in ([0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]):
        assert_matches_reference(dict(kernel_shape=[2, 2], pool_range=k, pads=pads, weights=softmax_weights(rng, k)), x)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kernel", [2, 3, 4])
def test_inputs_narrower_than_the_window_padded_to_fit(kernel, stride, dtype):
    # Every input extent from 1 to kernel + 1 along one axis, with every head and tail pad below
    # the kernel that makes the padded extent hold a window; the other axis holds whole windows.
    # Narrow W: the op's 2x2/3x3 fast path runs on the unclipped rows and must leave the clipped
    # columns alone (the bug this guards against). Narrow H: the clipped rows' generic path.
    rng = np.random.default_rng(100 * kernel + stride)
    cases = 0
    for size, head, tail, ceil_mode in itertools.product(range(1, kernel + 2), range(kernel), range(kernel), (0, 1)):
        if size + head + tail < kernel:
            continue
        for axis in (2, 3):
            shape = [2, 3, kernel + 1, kernel + 1]
            shape[axis] = size
            pads = [0, head, 0, tail] if axis == 3 else [head, 0, tail, 0]
            k = int(rng.integers(1, kernel * kernel + 1))
            attrs = dict(kernel_shape=[kernel, kernel], strides=[stride, stride], pads=pads, ceil_mode=ceil_mode,
                         pool_range=k, weights=random_weights(rng, k))
            assert_matches_reference(attrs, rng.standard_normal(shape).astype(dtype))
            cases += 1
    assert cases > 0


@pytest.mark.parametrize("routing", [dict(plugin_version="2", plugin_namespace=""), dict(plugin_version="1")])
def test_tensorrt_routing_attributes_are_accepted_and_ignored(routing):
    """export_onnx writes plugin_version for TensorRT's parser (docs/operator.md); ONNX Runtime's op
    must load such a model and compute the same values."""
    rng = np.random.default_rng(zlib.crc32(repr(routing).encode()))
    attrs = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], pool_range=4, weights=random_weights(rng, 4))
    x = rng.standard_normal((2, 3, 11, 10)).astype(np.float32)
    assert_matches_reference(dict(attrs, **routing), x)


def test_nan_and_inf():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 9, 11)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    x[0, 0, 4, 4] = np.inf
    x[0, 1, 2, 3] = -np.inf
    x[0, 1, 6:8, 6:8] = np.inf  # +inf everywhere in one window
    x[0, 1, 8, :] = np.nan  # a whole bottom row, reached only through padding / ceil mode
    for geometry in GEOMETRIES:
        kh, kw = geometry["kernel_shape"]
        if kh > 9 or kw > 11:
            continue
        for k in sorted({1, min(3, kh * kw), kh * kw}):
            assert_matches_reference(dict(geometry, pool_range=k, weights=softmax_weights(rng, k)), x)
    y = run(dict(kernel_shape=[2, 2], ceil_mode=1, pool_range=2, weights=[0.5, 0.5]), x)
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 2, 2] == np.inf and y[0, 1, 3, 3] == np.inf
    assert np.isnan(y[0, 1, 4]).all()  # the one-row windows of ceil mode see the NaN row


def test_pool_range_one_equals_max_pool():
    import onnxruntime as ort
    from onnx import TensorProto, helper

    rng = np.random.default_rng(3)
    # NaN-free: ONNX Runtime's MaxPool may skip a NaN depending on its position, while the
    # contract makes it win (as PyTorch's max_pool2d does); test_nan_and_inf covers NaN.
    x = rng.standard_normal((2, 3, 13, 10)).astype(np.float32)
    x[0, 0, 5, 5] = np.inf
    x[1, 1, 2, 2] = -np.inf
    for geometry in [dict(kernel_shape=[2, 2]), dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1),
                     dict(kernel_shape=[2, 3], strides=[1, 2], ceil_mode=1)]:
        # ONNX MaxPool's strides default to 1; ours default to the kernel, so spell them out.
        node = helper.make_node("MaxPool", ["x"], ["y"], **dict(dict(strides=geometry["kernel_shape"]), **geometry))
        graph = helper.make_graph([node], "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        got = run(dict(geometry, pool_range=1, weights=[1.0]), x)
        np.testing.assert_array_equal(got, want)


def test_float16_equals_rounded_float32_reference():
    rng = np.random.default_rng(8)
    for geometry in GEOMETRIES[:8]:
        kh, kw = geometry["kernel_shape"]
        k = min(4, kh * kw)
        x = rng.standard_normal((2, 4, 11, 12)).astype(np.float16)
        x[1, 2, 3, 3] = np.nan
        x[1, 3, 0, 0] = -np.inf
        assert_matches_reference(dict(geometry, pool_range=k, weights=softmax_weights(rng, k)), x)


@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[1, 1], pool_range=1, weights=[1.0]),
    dict(kernel_shape=[1, 1], pool_range=1, weights=[0.5]),  # subnormal results, rounding ties
    dict(kernel_shape=[1, 1], pool_range=1, weights=[3.0]),  # overflow to inf
    dict(kernel_shape=[2, 2], pool_range=4, weights=[0.4, 0.3, 0.2, 0.1]),  # the 2x2 fast path
], ids=["1x1-w1", "1x1-w0.5", "1x1-w3", "2x2-k4"])
def test_every_float16_value_bit_for_bit(attrs):
    """All 65,536 binary16 bit patterns (subnormals, infinities, NaNs of both signs) through the
    op: the output's bits equal the float32 reference rounded to nearest even (NaN: any NaN).
    Runs on the CPU path this process chose; tests/ort/test_cpu_paths.py runs it on every path."""
    x = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).reshape(1, 1, 256, 256)
    got = run(attrs, x)
    want = reference(attrs, x).astype(np.float16)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got.view(np.uint16)[~nan], want.view(np.uint16)[~nan])


def test_dynamic_shapes_one_session():
    rng = np.random.default_rng(9)
    attrs = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, pool_range=3,
                 weights=softmax_weights(rng, 3))
    sess = sortpool.make_ort_session(pool_model(attrs))
    out = sess.get_outputs()[0]
    assert out.shape[0] == "N" and out.shape[1] == "C" and isinstance(out.shape[2], str)
    for shape in [(1, 1, 3, 3), (3, 2, 17, 9), (2, 5, 4, 31), (1, 3, 64, 48)]:
        x = rng.standard_normal(shape).astype(np.float32)
        y = sess.run(None, {"x": x})[0]
        np.testing.assert_array_equal(y, reference(attrs, x))


def test_static_output_shape_is_inferred():
    attrs = dict(kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1], pool_range=2, weights=[0.6, 0.4])
    sess = sortpool.make_ort_session(pool_model(attrs, shape=[2, 3, 7, 5]))
    assert sess.get_outputs()[0].shape == list(output_shape((2, 3, 7, 5), [3, 2], [2, 1], [1, 0, 1, 1], 0))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_input_without_a_shape_runs(dtype):
    # A graph input declared without a shape (unknown rank: legal ONNX). Shape inference cannot
    # tell it from a scalar, so it leaves the output's shape unknown instead of taking its error
    # path; the output keeps the input's element type and the run checks the real shape.
    rng = np.random.default_rng(14)
    attrs = dict(kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1], pool_range=2, weights=[0.6, 0.4])
    sess = sortpool.make_ort_session(pool_model(attrs, dtype, shape=None))
    assert sess.get_outputs()[0].type == f"tensor({'float' if dtype == 'float32' else dtype})"
    for shape in [(1, 1, 3, 2), (2, 3, 9, 7)]:
        x = rng.standard_normal(shape).astype(dtype)
        y = sess.run(None, {"x": x})[0]
        assert y.dtype == x.dtype
        np.testing.assert_array_equal(y, reference(attrs, x).astype(dtype))
    with pytest.raises(Exception, match="input X must have rank 4"):
        sess.run(None, {"x": np.ones((4, 4), dtype)})


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("threads", [1, 2, 4])
def test_thread_count_does_not_change_results(threads, dtype):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 7, 45, 33)).astype(dtype)
    attrs = dict(kernel_shape=[2, 2], pool_range=3, pads=[1, 0, 0, 1], weights=softmax_weights(rng, 3))
    assert_matches_reference(attrs, x, threads=threads)


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_float16_huge_row_stride_any_thread_count(threads):
    # The float16 rows convert the input rows a chunk of output rows reads into a per-thread
    # buffer. It was sized for 8 strides of rows, not clipped to the input: with the largest
    # stride it asked for terabytes (std::bad_alloc on one thread; a crash or hang on more, the
    # exception escaping a pool thread's task). Now: the input rows actually read.
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float16)
    for attrs in [dict(kernel_shape=[64, 1], strides=[2**31 - 1, 1], pool_range=7, weights=[1.0] * 7),
                  dict(kernel_shape=[2, 2], strides=[2**31 - 1, 1], pads=[1, 0, 0, 0], pool_range=2,
                       weights=[0.75, 0.25])]:
        got = run(attrs, x, threads=threads)
        np.testing.assert_array_equal(got, reference(attrs, x).astype(np.float16))
        np.testing.assert_array_equal(got, run(attrs, x.astype(np.float32), threads=threads).astype(np.float16))


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_large_plane_split_across_tasks(dtype):
    # One plane larger than a task (16384 outputs): rows are split between tasks.
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 1, 301, 517)).astype(dtype)
    attrs = dict(kernel_shape=[2, 2], strides=[1, 1], pool_range=2, weights=[0.75, 0.25])
    assert_matches_reference(attrs, x, threads=2)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape,attrs", [
    # 8 output rows per task whose input rows (8 strides of them) exceed the float16 conversion
    # buffer (4 Mi floats): the task converts fewer output rows at a time.
    ((1, 2, 2400, 2048), dict(kernel_shape=[3, 3], strides=[300, 1], pool_range=4, weights=[0.4, 0.3, 0.2, 0.1])),
    # Rows so long that one output row's input rows exceed the buffer: float16 read in place,
    # the 2x2 and 3x3 compile-time paths included; one output row per task.
    ((1, 1, 3, 2**21 + 5), dict(kernel_shape=[2, 2], strides=[1, 1], pool_range=3, weights=[0.5, 0.3, 0.2])),
    ((1, 1, 4, 1_500_001), dict(kernel_shape=[3, 3], strides=[1, 2], pads=[1, 1, 1, 1], pool_range=5,
                                weights=[0.3, 0.25, 0.2, 0.15, 0.1])),
], ids=["fewer_rows_per_chunk", "in_place_2x2", "in_place_3x3_padded"])
def test_float16_rows_larger_than_the_conversion_buffer(shape, attrs, threads):
    # float16 equals the float32 op on the same values, rounded (tests/reference.py is too slow
    # for millions of windows; the float32 rows never use the float16 buffer).
    rng = np.random.default_rng(13)
    x = rng.standard_normal(shape).astype(np.float16)
    x.reshape(-1)[::97] = np.inf  # and some special values
    x.reshape(-1)[5::89] = np.nan
    got = run(attrs, x, threads=threads)
    np.testing.assert_array_equal(got, run(attrs, x.astype(np.float32), threads=threads).astype(np.float16))


@pytest.mark.parametrize("shape", [(0, 3, 4, 4), (2, 0, 4, 4), (2, 3, 0, 4), (2, 3, 4, 0)])
def test_empty_inputs_give_empty_outputs(shape):
    x = np.zeros(shape, dtype=np.float32)
    y = run(dict(kernel_shape=[2, 2], pool_range=2, weights=[0.5, 0.5]), x)
    want = tuple(0 if d == 0 else 2 for d in shape[2:])
    assert y.shape == shape[:2] + want


INVALID = [
    (dict(kernel_shape=[2, 2], pool_range=5, weights=[0.2] * 5), "pool_range"),
    (dict(kernel_shape=[2, 2], pool_range=0, weights=[1.0]), "pool_range"),
    (dict(kernel_shape=[2, 2], weights=[1.0]), "pool_range"),
    (dict(kernel_shape=[2, 2], pool_range=1.0, weights=[1.0]), "pool_range"),
    (dict(kernel_shape=[2, 2], pool_range=2), "weights"),
    (dict(kernel_shape=[2, 2], pool_range=2, weights=[1.0, 2.0, 3.0]), "weights"),
    (dict(kernel_shape=[2, 2], pool_range=1, weights=[float("nan")]), "weights"),
    (dict(kernel_shape=[2, 2], pool_range=1, weights=[float("inf")]), "weights"),
    (dict(kernel_shape=[2, 2], pool_range=1, weights=[1, 2]), "weights"),
    (dict(kernel_shape=[2], pool_range=1, weights=[1.0]), "kernel_shape"),
    (dict(kernel_shape=2, pool_range=1, weights=[1.0]), "kernel_shape"),
    (dict(kernel_shape=[0, 2], pool_range=1, weights=[1.0]), "kernel_shape"),
    (dict(kernel_shape=[9, 9], pool_range=1, weights=[1.0]), "kernel_shape"),
    (dict(kernel_shape=[2, 2], strides=[0, 1], pool_range=1, weights=[1.0]), "strides"),
    (dict(kernel_shape=[2, 2], strides=[2, 2, 2], pool_range=1, weights=[1.0]), "strides"),
    (dict(kernel_shape=[2, 2], pads=[2, 0, 0, 0], pool_range=1, weights=[1.0]), "pads"),
    (dict(kernel_shape=[2, 2], pads=[0, 0, -1, 0], pool_range=1, weights=[1.0]), "pads"),
    (dict(kernel_shape=[2, 2], pads=[1, 1], pool_range=1, weights=[1.0]), "pads"),
    (dict(kernel_shape=[2, 2], ceil_mode=3, pool_range=1, weights=[1.0]), "ceil_mode"),
    (dict(kernel_shape=[2, 2], ceil_mode=[1], pool_range=1, weights=[1.0]), "ceil_mode"),
    (dict(kernel_shape=[2, 2], pool_range=1, weights="abc"), "weights"),
]


@pytest.mark.parametrize("attrs,name", INVALID, ids=[f"{n}-{i}" for i, (_, n) in enumerate(INVALID)])
def test_invalid_attributes_are_named_at_session_creation(attrs, name):
    with pytest.raises(Exception) as info:
        sortpool.make_ort_session(pool_model(attrs))
    assert f"'{name}'" in str(info.value)
    assert "SortedWeightedPool" in str(info.value)


def test_bad_inputs_are_reported_at_run():
    sess = sortpool.make_ort_session(pool_model(dict(kernel_shape=[3, 3], pool_range=1, weights=[1.0])))
    with pytest.raises(Exception, match="smaller than the window"):
        sess.run(None, {"x": np.zeros((1, 1, 2, 5), np.float32)})
    per_channel = sortpool.make_ort_session(pool_model(dict(kernel_shape=[2, 2], pool_range=1, weights=[1.0, 1.0])))
    with pytest.raises(Exception, match="C = 3"):
        per_channel.run(None, {"x": np.zeros((1, 3, 4, 4), np.float32)})
    rank3 = sortpool.make_ort_session(pool_model(dict(kernel_shape=[2, 2], pool_range=1, weights=[1.0]),
                                                 shape=["A", "B", "C"]))
    with pytest.raises(Exception, match="rank 4"):
        rank3.run(None, {"x": np.zeros((1, 4, 4), np.float32)})


def test_library_registers_into_many_sessions():
    attrs = dict(kernel_shape=[2, 2], pool_range=2, weights=[0.5, 0.5])
    sessions = [sortpool.make_ort_session(pool_model(attrs)) for _ in range(5)]
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    outs = [s.run(None, {"x": x})[0] for s in sessions]
    for y in outs:
        np.testing.assert_array_equal(y, outs[0])
    assert outs[0][0, 0, 0, 0] == 0.5 * 5 + 0.5 * 4


# Run in a child process: session.set_denormal_as_zero also switches the creating thread to
# denormals-are-zero / flush-to-zero for good, which would change every later test's NumPy math.
_DENORMALS_AS_ZERO_PROBE = """
import sys
import numpy as np
import onnxruntime as ort
import sortpool
from onnx_models import pool_model
from reference import sorted_weighted_pool_ref

dtype, threads = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(11)
tiny = np.finfo(np.float16).smallest_subnormal if dtype == "float16" else np.float32(1e-40)
x = (rng.integers(1, 200, size=(2, 16, 64, 64)) * tiny).astype(dtype)
x[0, 0, 0, 0] = 1.0
want = sorted_weighted_pool_ref(x, [2, 2], [2, 2], [0, 0, 0, 0], 0, 2, [0.75, 0.25]).astype(dtype)  # before ORT
assert np.count_nonzero(want) == want.size  # no expected zero: a flushed value cannot pass unseen
opts = ort.SessionOptions()
opts.intra_op_num_threads = threads
opts.add_session_config_entry("session.set_denormal_as_zero", "1")
opts.register_custom_ops_library(sortpool.ort_library_path())
model = pool_model(dict(kernel_shape=[2, 2], pool_range=2, weights=[0.75, 0.25]), dtype)
got = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
print(int(np.count_nonzero(got != want)))
"""


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_subnormals_survive_a_session_that_sets_denormals_as_zero(dtype, threads):
    # session.set_denormal_as_zero puts the threads that run ONNX Runtime's kernels in
    # denormals-are-zero / flush-to-zero mode. The op keeps the contract's IEEE arithmetic there:
    # float16 subnormals (normal floats once converted) and float32 subnormals pool exactly.
    import os
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(here), str(here.parent), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", _DENORMALS_AS_ZERO_PROBE, dtype, str(threads)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "0", f"{r.stdout.strip()} outputs differ from the reference"


# Child process: before the fix, ONNX Runtime segfaulted at run, so a crash must not take pytest along.
_OMITTED_IO_PROBE = """
import sys
import numpy as np
from onnx import TensorProto, helper
import sortpool

which = sys.argv[1]
pool_in, pool_out = ("", "y") if which == "input" else ("x", "")
nodes = [helper.make_node("SortedWeightedPool", [pool_in], [pool_out], domain="sortpool", pool_range=1, weights=[1.0])]
if which == "output":
    nodes.append(helper.make_node("Identity", ["x"], ["y"]))
graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("sortpool", 1)],
                          ir_version=8)
try:
    sess = sortpool.make_ort_session(model.SerializeToString())
    sess.run(None, {"x": np.zeros((1, 1, 4, 4), np.float32)})
    print("accepted")
except Exception as e:
    print("refused:", str(e).replace("\\n", " ")[:300])
"""


@pytest.mark.parametrize("which", ["input", "output"])
def test_a_node_with_its_input_or_output_left_out_is_refused(which):
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _OMITTED_IO_PROBE, which], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ))
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-1500:]}"
    assert r.stdout.startswith("refused:"), r.stdout
