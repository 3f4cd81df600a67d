"""`sortpool serve`: a real Triton Inference Server (PyTriton's tritonserver) on 127.0.0.1 with the
op in ONNX Runtime, answered over HTTP and gRPC and compared with the numpy reference
(tests/reference.py); bad requests get a clear error and the server keeps answering; the command
stops cleanly on SIGTERM. Runs in .venv-serve (requirements/serve.txt; ./dev.sh test)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

# Plain imports, no importorskip: this suite runs only in .venv-serve, where a missing package is a
# broken install to report.
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from loopback import free_ports
from reference import sorted_weighted_pool_ref
from sortpool.serving import ModelServer, ServeOptions

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "ort"))
from onnx_models import pool_model  # noqa: E402

# 3x3 windows, stride 2, padding 1 left and right, top 4 of each window with per-channel weights: odd sizes and
# padded borders in every request.
CHANNELS, K = 3, 4
_rng = np.random.default_rng(20261202)
WEIGHTS = _rng.dirichlet(np.ones(K), size=CHANNELS).astype(np.float32).reshape(-1).tolist()
ATTRS = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 0, 1], pool_range=K, weights=WEIGHTS)
MODEL_NAME = "pool"


def reference(x: np.ndarray) -> np.ndarray:
    return sorted_weighted_pool_ref(x, ATTRS["kernel_shape"], ATTRS["strides"], ATTRS["pads"], 0, K, WEIGHTS)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("serve") / "pool.onnx"
    path.write_bytes(pool_model(ATTRS, shape=("N", CHANNELS, "H", "W")))
    return path


@pytest.fixture(scope="module")
def server(model_path):
    http, grpc, metrics = free_ports(3)
    options = ServeOptions(name=MODEL_NAME, http_port=http, grpc_port=grpc, metrics_port=metrics,
                           instances=2, max_batch_size=8, max_queue_delay_us=2000)
    with ModelServer(model_path, options) as s:
        yield s
    assert not s.is_alive()


def _http(server):
    return httpclient.InferenceServerClient(f"127.0.0.1:{server.options.http_port}", connection_timeout=30,
                                            network_timeout=30)


def _grpc(server):
    return grpcclient.InferenceServerClient(f"127.0.0.1:{server.options.grpc_port}")


def infer(server, protocol: str, x: np.ndarray, name: str = "x") -> np.ndarray:
    mod, client = (httpclient, _http(server)) if protocol == "http" else (grpcclient, _grpc(server))
    inp = mod.InferInput(name, list(x.shape), {"float32": "FP32", "float64": "FP64", "float16": "FP16"}[x.dtype.name])
    inp.set_data_from_numpy(x)
    try:
        return client.infer(MODEL_NAME, [inp], outputs=[mod.InferRequestedOutput("y")]).as_numpy("y")
    finally:
        client.close()  # an open keep-alive connection holds Triton's shutdown until its exit timeout


PROTOCOLS = ["http", "grpc"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("shape", [(1, CHANNELS, 7, 5), (3, CHANNELS, 16, 16), (2, CHANNELS, 3, 9),
                                   (8, CHANNELS, 13, 4)])
def test_answers_match_reference(server, protocol, shape):
    rng = np.random.default_rng(hash((protocol, shape)) % 2**32)
    x = rng.standard_normal(shape).astype(np.float32)
    x.flat[rng.integers(x.size, size=2)] = np.nan  # NaN wins its windows
    x.flat[rng.integers(x.size)] = np.inf
    y = infer(server, protocol, x)
    expected = reference(x)
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_server_metadata_names_the_model(server):
    meta = _http(server).get_model_metadata(MODEL_NAME)
    assert [i["name"] for i in meta["inputs"]] == ["x"] and meta["inputs"][0]["datatype"] == "FP32"
    assert meta["inputs"][0]["shape"] == [-1, CHANNELS, -1, -1]
    config = _grpc(server).get_model_config(MODEL_NAME).config
    assert config.max_batch_size == 8 and config.dynamic_batching.max_queue_delay_microseconds == 2000
    assert config.instance_group[0].count == 2


def test_concurrent_clients_get_their_own_answers(server):
    """Many clients at once: the dynamic batcher stacks requests of one shape, the handler splits
    the outputs back; every client must get the answer to its own input."""
    rng = np.random.default_rng(7)
    shapes = [(1, CHANNELS, 9, 9), (2, CHANNELS, 9, 9), (1, CHANNELS, 6, 11)]
    jobs = [rng.standard_normal(shapes[i % 3]).astype(np.float32) for i in range(48)]
    results, errors = [None] * len(jobs), []

    def worker(offset: int) -> None:
        try:
            for i in range(offset, len(jobs), 8):
                results[i] = infer(server, PROTOCOLS[i % 2], jobs[i])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(o,)) for o in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for x, y in zip(jobs, results):
        np.testing.assert_allclose(y, reference(x), rtol=1e-5, atol=1e-6)
    token = {"triton-grpc-protocol-triton-access-token": server.access_token}
    stats = _grpc(server).get_inference_statistics(MODEL_NAME, headers=token).model_stats[0]
    assert stats.inference_count >= len(jobs)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bad_requests_get_clear_errors_and_the_server_stays_up(server, protocol):
    good = np.ones((1, CHANNELS, 5, 5), np.float32)
    bad = [
        # (array, input name, words the error must contain); Triton refuses the first five itself
        (good.astype(np.float64), "x", ["FP64", "FP32"]),                                   # wrong dtype
        (np.ones((1, CHANNELS, 5), np.float32), "x", ["shape"]),                            # wrong rank
        (np.ones((1, CHANNELS + 1, 5, 5), np.float32), "x", ["shape"]),                     # wrong channel count
        (good, "not_x", ["not_x"]),                                                         # unknown / missing input
        (np.ones((9, CHANNELS, 5, 5), np.float32), "x", ["batch"]),                         # over max batch size
        # the op refuses it (in our handler): one line with the op's own message
        (np.ones((1, CHANNELS, 2, 5), np.float32), "x",
         ["RequestError: the model cannot run inputs of shape x [1, 3, 2, 5]", "smaller than the window along H"]),
    ]
    for x, name, words in bad:
        with pytest.raises(InferenceServerException) as info:
            infer(server, protocol, x, name=name)
        message = str(info.value)
        assert all(w.lower() in message.lower() for w in words), (x.shape, name, message)
        # no frames of ours (the Python backend stub adds a frame of its own to handler errors)
        assert "sortpool/serving" not in message and "validate_feed" not in message, message
        # still serving, and still right
        np.testing.assert_allclose(infer(server, protocol, good), reference(good), rtol=1e-5, atol=1e-6)
    assert server.is_alive()


def test_empty_tensor_is_refused_and_the_server_stays_up(server):
    """PyTriton 0.7.0 cannot carry zero-size tensors from Triton to our handler (its transport
    fails in the Python-backend stub, docs/deployment.md): the client gets that internal error,
    not an answer, and the server goes on answering."""
    good = np.ones((1, CHANNELS, 5, 5), np.float32)
    with pytest.raises(InferenceServerException) as info:
        infer(server, "http", np.ones((1, CHANNELS, 0, 5), np.float32))
    assert "zeros in shape" in str(info.value)
    np.testing.assert_allclose(infer(server, "grpc", good), reference(good), rtol=1e-5, atol=1e-6)
    assert server.is_alive()


def test_serve_command_stops_cleanly_on_sigterm(model_path, tmp_path):
    http, grpc, metrics = free_ports(3)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "python"), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "sortpool", "serve", str(model_path), "--name", MODEL_NAME,
           "--http-port", str(http), "--grpc-port", str(grpc), "--metrics-port", str(metrics)]
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 120
            while "ready" not in log.read_text():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "server did not become ready in 120 s:\n" + log.read_text()
                time.sleep(0.5)
            x = np.random.default_rng(3).standard_normal((2, CHANNELS, 8, 8)).astype(np.float32)
            client = httpclient.InferenceServerClient(f"127.0.0.1:{http}")
            inp = httpclient.InferInput("x", list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            y = client.infer(MODEL_NAME, [inp]).as_numpy("y")
            np.testing.assert_allclose(y, reference(x), rtol=1e-5, atol=1e-6)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log.read_text()
    assert "stopped in" in text, text
    with pytest.raises(OSError):  # the port is closed again
        socket.create_connection(("127.0.0.1", http), timeout=2).close()
