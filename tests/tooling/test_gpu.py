"""TensorRT end to end: build, run and check on a real GPU. Skipped, with the reason, where the
full TensorRT package (builder), a CUDA binding (pycuda or cuda-python), a GPU or the plugin
library is missing. tools/gpu_check_tooling.sh runs these on a machine with a GPU."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto

import sortpool
from tooling_helpers import conv_pool_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHAPES = ["--min-shapes", "x:1x3x8x8", "--opt-shapes", "x:2x3x16x16", "--max-shapes", "x:4x3x32x32"]


def _gpu_reason():
    from sortpool.cuda import cuda_backend
    from sortpool.errors import SortpoolError
    from sortpool.trt import import_tensorrt

    try:
        import_tensorrt(builder=True)
        cuda_backend().close()
    except SortpoolError as e:
        return str(e)
    if sortpool.trt_plugin_path() is None:
        return "libsortpool_trt_plugin.so was not built"
    return None


_REASON = _gpu_reason()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_REASON is not None, reason=f"TensorRT GPU path: {_REASON}")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """conv_pool.onnx (float32) and its engine, built once through the CLI."""
    from tooling_helpers import run_cli

    d = tmp_path_factory.mktemp("gpu")
    onnx_path = d / "conv_pool.onnx"
    onnx_path.write_bytes(conv_pool_model())
    engine = d / "conv_pool.engine"
    cache = d / "timing.cache"
    code, out, err = run_cli("build", onnx_path, "-o", engine, *SHAPES, "--timing-cache", cache,
                             "--workspace", "1GiB", "--no-tf32", "--summary-json", d / "summary.json")
    assert code == 0, out + err
    return {"dir": d, "onnx": str(onnx_path), "engine": str(engine), "cache": cache, "out": out,
            "summary": json.loads((d / "summary.json").read_text())}


def test_build_summary(built):
    s = built["summary"]
    assert os.path.getsize(built["engine"]) == s["engine_bytes"] > 0
    assert s["plugin_layers"] == 1 and s["plugin_version"] == "2" and "IPluginV3" in s["plugin_interface"]
    assert s["profile"]["x"] == {"min": [1, 3, 8, 8], "opt": [2, 3, 16, 16], "max": [4, 3, 32, 32]}
    assert built["cache"].stat().st_size > 0
    assert "plugin version \"2\"" in built["out"]


def test_run_engine_matches_ort(cli, built, tmp_path):
    x = np.random.default_rng(3).standard_normal((3, 3, 20, 12)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    code, out, err = cli("run", built["engine"], "--inputs", tmp_path / "x.npz", "--out", tmp_path / "y.npz")
    assert code == 0, out + err
    got = np.load(tmp_path / "y.npz")["y"]
    want = sortpool.make_ort_session(built["onnx"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_run_engine_rejects_shape_outside_profile(cli, built, tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((8, 3, 16, 16), np.float32))
    code, _, err = cli("run", built["engine"], "--inputs", tmp_path / "x.npz")
    assert code == 2 and "outside the engine's profile" in err


def test_check_prebuilt_engine(cli, built, tmp_path):
    report = tmp_path / "r.json"
    code, out, err = cli("check", built["onnx"], "--engine", built["engine"], "--report", report, "--iterations", "2")
    assert code == 0, out + err
    data = json.loads(report.read_text())
    (comp,) = data["comparisons"]
    assert comp["candidate"] == "tensorrt" and comp["passed"]
    # random inputs at the engine's own profile shapes
    assert {tuple(i["shapes"]["x"]) for i in data["iterations"]} == {(1, 3, 8, 8), (2, 3, 16, 16), (4, 3, 32, 32)}


def test_check_builds_and_compares_three_ways(cli, built, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sortpool_torch")
    from tooling_helpers import CONV_B, CONV_W, LOADER, POOL

    loader = tmp_path / "loader.py"
    loader.write_text(LOADER.format(w=CONV_W.tolist(), b=CONV_B.tolist(), w0=POOL["weights"][0], w1=POOL["weights"][1]))
    report = tmp_path / "r.json"
    code, out, err = cli("check", built["onnx"], *SHAPES, "--torch-model", f"{loader}:make_model", "--report", report,
                         "--require-trt")
    assert code == 0, out + err
    data = json.loads(report.read_text())
    assert [c["candidate"] for c in data["comparisons"]] == ["tensorrt", "pytorch"]
    assert all(c["passed"] for c in data["comparisons"])


def test_float16_engine(cli, tmp_path):
    onnx_path = tmp_path / "conv_pool_fp16.onnx"
    onnx_path.write_bytes(conv_pool_model(TensorProto.FLOAT16))
    engine = tmp_path / "fp16.engine"
    code, out, err = cli("build", onnx_path, "-o", engine, *SHAPES, "--no-progress")
    assert code == 0, out + err
    code, out, err = cli("check", onnx_path, "--engine", engine)
    assert code == 0, out + err
    assert "(float16)" in out


def test_version_compatible_engine_runs_in_lean_runtime(cli, built, tmp_path):
    """--version-compatible ships the plugin in the engine; tensorrt_lean (no builder) runs it."""
    import importlib.util

    engine = tmp_path / "vc.engine"
    code, out, err = cli("build", built["onnx"], "-o", engine, *SHAPES, "--version-compatible", "--no-progress")
    assert code == 0, out + err
    assert "plugin library serialized into the engine" in out
    if importlib.util.find_spec("tensorrt_lean") is None:
        pytest.skip("tensorrt_lean is not installed")
    np.savez(tmp_path / "x.npz", x=np.ones((1, 3, 8, 8), np.float32))
    env = dict(os.environ, SORTPOOL_TRT_MODULE="tensorrt_lean",
               PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "python"), os.path.join(ROOT, "export")]))
    r = subprocess.run([sys.executable, "-m", "sortpool", "run", str(engine), "--inputs", str(tmp_path / "x.npz"),
                        "--out", str(tmp_path / "y.npz")], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tensorrt_lean" in r.stderr
