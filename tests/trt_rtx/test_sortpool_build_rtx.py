"""`sortpool build --backend tensorrt-rtx` end to end on the demo's exported models, and the exported
model parsed by TensorRT for RTX as it is (the exporter's plugin_version "2", no rewriting)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

WORKER = Path(__file__).with_name("_worker.py")


def sortpool(*args, cwd=None):
    done = subprocess.run([sys.executable, "-m", "sortpool", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def demo_models(tmp_path_factory, trt_plugin_library):
    pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("demo")
    code, out, err = sortpool("demo", "--out-dir", folder, "--steps", "2")
    assert code == 0, out + err
    return {name: folder / f"demo_{name}.onnx" for name in ("dynamo", "torchscript")}


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
def test_sortpool_build_with_tensorrt_for_rtx(demo_models, exporter, tmp_path):
    model = demo_models[exporter]
    n_pools = sum(n.domain == "sortpool" for n in onnx.load(model).graph.node)
    engine, summary = tmp_path / "demo.engine", tmp_path / "summary.json"
    code, out, err = sortpool("build", model, "-o", engine, "--backend", "tensorrt-rtx", "--compute-capability",
                              "8.9", "SM120", "--min-shapes", "1x3x8x8", "--opt-shapes", "4x3x24x24",
                              "--max-shapes", "16x3x64x64", "--summary-json", summary, "--no-progress")
    assert code == 0, out + err
    s = json.loads(summary.read_text())
    assert s["backend"] == "tensorrt-rtx" and s["compute_capabilities"] == ["SM89", "SM120"]
    assert s["plugin_layers"] == n_pools == 2 and s["plugin_version"] == "2" and s["plugin_interface"] == "IPluginV3"
    assert s["engine_bytes"] == engine.stat().st_size > 0
    assert s["profile"]["input"] == {"min": [1, 3, 8, 8], "opt": [4, 3, 24, 24], "max": [16, 3, 64, 64]}
    assert s["layers"] is None and s["network_layers"] > n_pools
    assert "needs TensorRT for RTX 1.7.1 and a GPU of compute capability 8.9 or 12.0" in out
    assert "Traceback" not in err


def test_the_exported_model_parses_as_it_is(demo_models, tmp_path, trt_plugin_library):
    """No tooling in between: the worker hands the exported file to TensorRT for RTX's parser."""
    model = demo_models["dynamo"]
    cases = [{"id": "exported", "model": str(model), "profile": {"input": [[1, 3, 8, 8], [2, 3, 24, 24],
                                                                           [8, 3, 48, 48]]}}]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    done = subprocess.run([sys.executable, str(WORKER), trt_plugin_library, str(tmp_path / "cases.json"),
                           str(tmp_path / "results.json")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "results.json").read_text())["results"][0]
    assert result["parsed"], result["parser_errors"]
    assert result["layers"].count("PLUGIN_V3") == 2 and result["engine_bytes"] > 0


@pytest.mark.parametrize("args,message", [
    (["--compute-capability", "9.0"], "cannot build for 9.0 (Hopper)"),
    (["--compute-capability", "8.9", "--plugin-version", "1"], "imports IPluginV3 plugins only"),
    (["--compute-capability", "banana"], "expected e.g. 8.9, 89, SM89 or current"),
    ([], "no GPU here to build for: name the target GPUs with --compute-capability"),
])
def test_build_refuses_what_tensorrt_for_rtx_cannot_do(demo_models, tmp_path, args, message):
    from sortpool.cuda import driver_gpus

    if not args and driver_gpus()[0]:
        pytest.skip("this machine has a GPU: the default target is that GPU")
    code, out, err = sortpool("build", demo_models["dynamo"], "-o", tmp_path / "x.engine", "--backend",
                              "tensorrt-rtx", *args)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "x.engine").exists()


def test_build_help_documents_the_backend():
    code, out, _ = sortpool("build", "--help")
    assert code == 0
    assert "--backend {auto,tensorrt,tensorrt-rtx}" in out and "--compute-capability" in out
    assert "TensorRT for RTX" in out


def test_info_reports_tensorrt_for_rtx(trt_plugin_library):
    code, out, err = sortpool("info", "--json")
    assert code == 0, err
    rtx = json.loads(out)["tensorrt_rtx"]
    assert "error" not in rtx, rtx
    assert rtx["version"].startswith("1.7.") and "SM89" in rtx["targets"] and "SM90" not in rtx["targets"]
    assert rtx["sortpool_versions"] == ["2"] and rtx["parser_library"].endswith("libtensorrt_rtx.so")
