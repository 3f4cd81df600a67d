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


# What PyTriton 0.7.0 raised when a second instance's stub lost the handshake race (seen in CI).
HANDSHAKE_RACE = ("[400] load failed for model 'pool': version 1 is at UNAVAILABLE state: Internal: TritonModelException: "
                  "Model initialize error: Traceback (most recent call last):\n  File \"/tmp/f/1/model.py\", line 425, in "
                  "initialize\n    inference_handler_config = get_config_from_handshake_server(handshake_socket)\n  File "
                  "\"/tmp/f/1/communication.py\", line 550, in get_config_from_handshake_server\n    "
                  "sock.connect(socket_path.as_posix())\nConnectionRefusedError: [Errno 111] Connection refused\n")


@pytest.fixture()
def stand_in_pytriton(monkeypatch):
    """pytriton modules whose Triton fails to start as scripted (`outcomes`, one per start)."""
    import sys
    import types

    outcomes, started = [], []

    class Triton:
        def __init__(self, config):
            self.stopped = False

        def bind(self, **kwargs):
            self.bound = kwargs

        def run(self):
            started.append(self)
            outcome = outcomes.pop(0)
            if outcome is not None:
                raise RuntimeError(outcome)

        def stop(self):
            self.stopped = True

        def is_alive(self):
            return not self.stopped

    triton = types.ModuleType("pytriton.triton")
    triton.Triton, triton.TritonConfig = Triton, lambda **kw: kw
    model_config = types.ModuleType("pytriton.model_config")
    model_config.DynamicBatcher = model_config.ModelConfig = model_config.Tensor = lambda **kw: kw
    package = types.ModuleType("pytriton")
    package.triton, package.model_config = triton, model_config
    for name, module in (("pytriton", package), ("pytriton.triton", triton), ("pytriton.model_config", model_config)):
        monkeypatch.setitem(sys.modules, name, module)
    return outcomes, started


def _pool_model(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ort"))
    from onnx_models import pool_model

    path = tmp_path / "m.onnx"
    path.write_bytes(pool_model(dict(kernel_shape=[2, 2], pool_range=2, weights=[0.7, 0.3]), shape=("N", 2, "H", "W")))
    return path


def test_start_retries_the_instance_handshake_race_only(stand_in_pytriton, tmp_path):
    from sortpool.serving.server import STARTS, ModelServer, ServeOptions, is_instance_handshake_race

    assert is_instance_handshake_race(RuntimeError(HANDSHAKE_RACE))
    assert not is_instance_handshake_race(RuntimeError("load failed for model 'pool': ConnectionRefusedError"))
    outcomes, started = stand_in_pytriton
    model = _pool_model(tmp_path)
    options = ServeOptions(instances=2)

    outcomes[:] = [HANDSHAKE_RACE, None]  # lost once, then started
    server = ModelServer(model, options).start()
    assert len(started) == 2 and started[0].stopped and server.is_alive()
    server.stop()

    started.clear()
    outcomes[:] = [HANDSHAKE_RACE] * STARTS  # lost every time: the last error is raised
    with pytest.raises(RuntimeError, match="ConnectionRefusedError"):
        ModelServer(model, options).start()
    assert len(started) == STARTS and all(t.stopped for t in started)

    started.clear()
    outcomes[:] = ["some other failure"]  # not retried
    with pytest.raises(RuntimeError, match="some other failure"):
        ModelServer(model, options).start()
    assert len(started) == 1


# ---- triton-repo: what it writes and when (Triton's schema check needs tritonclient: tests/serving) ----
def _repo_inputs(tmp_path):
    from tooling_helpers import conv_pool_model

    model = tmp_path / "m.onnx"
    model.write_bytes(conv_pool_model())
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"stand-in engine")  # copied, never read
    plugin = tmp_path / "libplugin_stand_in.so"
    plugin.write_bytes(b"stand-in plugin")
    return model, engine, plugin


def test_triton_repo_writes_nothing_when_its_configs_cannot_be_checked(tmp_path, monkeypatch):
    import sys

    from sortpool.errors import BackendUnavailable
    from sortpool.serving import RepositoryOptions, write_repository

    model, engine, plugin = _repo_inputs(tmp_path)
    monkeypatch.setitem(sys.modules, "tritonclient", None)  # no Triton schema to check against
    out = tmp_path / "repo"
    with pytest.raises(BackendUnavailable, match="needs tritonclient"):
        write_repository(model, out, RepositoryOptions(engine=str(engine), trt_plugin=str(plugin)))
    assert not out.exists()


def test_triton_repo_force_replaces_what_an_earlier_run_wrote_and_nothing_else(tmp_path):
    from sortpool.serving import RepositoryOptions, write_repository

    model, engine, plugin = _repo_inputs(tmp_path)
    out = tmp_path / "repo"
    (out / "resnet" / "1").mkdir(parents=True)  # another model already in the repository
    (out / "resnet" / "config.pbtxt").write_text("name: \"resnet\"\n")
    with pytest.raises(UserInputError, match="exists and is not empty"):
        write_repository(model, out, RepositoryOptions(), check_schema=False)
    write_repository(model, out, RepositoryOptions(engine=str(engine), trt_plugin=str(plugin), overwrite=True),
                     check_schema=False)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "resnet", "sortpool_onnx", "sortpool_trt"]
    repo = write_repository(model, out, RepositoryOptions(overwrite=True), check_schema=False)
    # the earlier engine's folder is gone: Triton would load it without the plugin
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "resnet", "sortpool_onnx"]
    assert "plugins=" not in repo.server_command and "sortpool_trt" not in (out / "README.md").read_text()
    assert (out / "resnet" / "config.pbtxt").read_text() == "name: \"resnet\"\n"  # other models stay
    (out / "README.md").write_text("# our models\n")  # a README.md the tool did not write is not replaced
    with pytest.raises(UserInputError, match="README.md was not written by triton-repo and would be replaced"):
        write_repository(model, out, RepositoryOptions(overwrite=True), check_schema=False)
    assert (out / "README.md").read_text() == "# our models\n" and (out / "sortpool_onnx").is_dir()