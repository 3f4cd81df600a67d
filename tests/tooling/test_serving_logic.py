"""The serving logic that needs no server: the Triton view of a model (batch axis, dims) and the
handler that stacks a batch's requests, validates them and splits the answers back (the same code
serves ONNX Runtime and TensorRT engines; a stand-in runner with an engine-like profile stands in
for TensorRT here). The server itself: tests/serving (real Triton, .venv-serve)."""
from __future__ import annotations

import traceback
from collections import OrderedDict

import numpy as np
import pytest

from reference import sorted_weighted_pool_ref
from sortpool.errors import UserInputError
from sortpool.inputs import ProfileShapes, TensorSpec
from sortpool.serving.model import triton_spec
from sortpool.serving.server import BatchHandler, RequestError

X = TensorSpec("x", np.dtype(np.float32), ("N", 2, "H", "W"))
Y = TensorSpec("y", np.dtype(np.float32), ("N", 2, None, None))


def pool(x):
    return sorted_weighted_pool_ref(x, [2, 2], None, None, 0, 2, [0.7, 0.3])


class StandInRunner:
    def __init__(self, profile=None):
        self.profile, self.calls = profile, []

    def __call__(self, feed):
        self.calls.append({k: v.shape for k, v in feed.items()})
        return {"y": pool(feed["x"])}


def test_triton_spec_batch_axis_rule():
    spec = triton_spec([X], [Y], "m.onnx")
    assert spec.max_batch_size == 16 and [t.dims for t in spec.inputs + spec.outputs] == [(2, -1, -1), (2, -1, -1)]
    assert spec.inputs[0].triton_type == "TYPE_FP32"
    off = triton_spec([X], [Y], "m.onnx", max_batch_size=0)
    assert off.max_batch_size == 0 and off.inputs[0].dims == (-1, 2, -1, -1)
    fixed = TensorSpec("x", np.dtype(np.float32), (1, 2, 8, 8))
    assert triton_spec([fixed], [Y], "m.onnx").max_batch_size == 0
    with pytest.raises(UserInputError, match="fixed one: x: float32\\[1, 2, 8, 8\\]"):
        triton_spec([fixed], [Y], "m.onnx", max_batch_size=4)
    with pytest.raises(UserInputError, match="cannot carry"):
        triton_spec([TensorSpec("s", np.dtype("U4"), ("N",))], [Y], "m.onnx")


def test_handler_stacks_equal_shapes_and_splits_answers():
    rng = np.random.default_rng(5)
    runner = StandInRunner()
    handler = BatchHandler(runner, [X], triton_spec([X], [Y], "m.onnx"))
    shapes = [(1, 2, 6, 6), (3, 2, 6, 6), (2, 2, 5, 7), (1, 2, 6, 6)]
    requests = [{"x": rng.standard_normal(s).astype(np.float32)} for s in shapes]
    answers = handler(requests)
    for r, a in zip(requests, answers):
        np.testing.assert_allclose(a["y"], pool(r["x"]), rtol=1e-6)
    # one run per shape: the three 6x6 requests together (5 rows), the 5x7 one alone
    assert runner.calls == [{"x": (5, 2, 6, 6)}, {"x": (2, 2, 5, 7)}]


def test_handler_without_batch_axis_runs_each_request():
    runner = StandInRunner()
    handler = BatchHandler(runner, [X], triton_spec([X], [Y], "m.onnx", max_batch_size=0))
    answers = handler([{"x": np.ones((1, 2, 4, 4), np.float32)}, {"x": np.ones((1, 2, 4, 4), np.float32)}])
    assert len(runner.calls) == 2 and all(a["y"].shape == (1, 2, 2, 2) for a in answers)


def test_handler_refuses_with_one_line():
    profile = OrderedDict(x=ProfileShapes((1, 2, 4, 4), (4, 2, 8, 8), (8, 2, 16, 16)))
    handler = BatchHandler(StandInRunner(profile), [X], triton_spec([X], [Y], "m.engine"))
    with pytest.raises(RequestError, match="outside the engine's profile") as info:
        handler([{"x": np.ones((1, 2, 32, 32), np.float32)}])
    assert info.value.__traceback__ is None
    text = "".join(traceback.format_exception(None, info.value, info.value.__traceback__))
    assert text.startswith("sortpool.serving.server.RequestError: the request: input 'x' has shape [1, 2, 32, 32]")
    assert len(text.strip().splitlines()) == 1, text
    with pytest.raises(RequestError, match="request 2 of 2 in the batch: input 'x' is float64"):
        handler([{"x": np.ones((1, 2, 4, 4), np.float32)}, {"x": np.ones((1, 2, 4, 4), np.float64)}])
