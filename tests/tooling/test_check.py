"""`sortpool check` on the CPU: ONNX Runtime vs PyTorch through Polygraphy, the report, exit codes,
and the skipped-backend lines when TensorRT or a GPU is missing."""
import json
import math

import numpy as np
import pytest

from tooling_helpers import CONV_B, CONV_W, LOADER, POOL
from sortpool.check import DEFAULT_TOLERANCES, output_stats, parse_tolerances
from sortpool.inputs import TensorSpec
from sortpool.errors import UserInputError


def _no_tensorrt(monkeypatch):
    from sortpool import trt

    real = trt.discovery._try_import
    monkeypatch.setattr(trt.discovery, "_try_import", lambda name: (None, f"{name}: not installed") if name.startswith(
        "tensorrt") else real(name))


def test_output_stats_rule():
    ref = np.array([1.0, 2.0, 0.0, np.inf, 5.0], np.float32)
    got = np.array([1.0, 2.001, 1e-6, np.inf, np.nan], np.float32)
    s = output_stats(got, ref, atol=1e-4, rtol=1e-4)
    assert s["elements"] == 5
    assert s["mismatches"] == 2  # 2.001 (abs 1e-3 and rel 5e-4) and the NaN
    assert s["nan_mismatches"] == 1
    assert math.isclose(s["max_abs_error"], 0.001, rel_tol=1e-3)
    shape = output_stats(np.zeros((2, 2)), np.zeros((2, 3)), 0, 0)
    assert shape["shape_mismatch"] == [[2, 2], [2, 3]] and shape["mismatches"] == 6


def test_parse_tolerances():
    assert parse_tolerances(["1e-3", "y:0.5"], "--atol") == {"": 1e-3, "y": 0.5}
    for bad in (["x"], ["y:-1"], ["nan"]):
        with pytest.raises(UserInputError):
            parse_tolerances(bad, "--atol")


def test_check_ort_only_is_incomplete(cli, model_path, x_npz, tmp_path, monkeypatch):
    _no_tensorrt(monkeypatch)
    report = tmp_path / "r.json"
    code, out, err = cli("check", model_path, "--inputs", x_npz, "--report", report)
    assert code == 3, err
    assert "Traceback" not in err
    tline = [l for l in out.splitlines() if l.startswith("tensorrt")]
    assert len(tline) == 1 and "skipped" in tline[0] and "TensorRT's builder is not available" in tline[0]
    assert "nothing was compared" in out and "INCOMPLETE" in out
    data = json.loads(report.read_text())
    assert data["exit_code"] == 3 and data["passed"] is False
    assert data["backends"]["onnxruntime"]["status"] == "ran"
    assert data["backends"]["tensorrt"]["status"] == "skipped"
    # the user's file plus random inputs at the default profile's min/opt/max shapes
    assert [i["shapes"]["x"] for i in data["iterations"]] == [[2, 3, 16, 16], [1, 3, 32, 32], [1, 3, 64, 64],
                                                               [8, 3, 128, 128]]


def test_check_no_trt_is_incomplete(cli, model_path, monkeypatch):
    code, out, _ = cli("check", model_path, "--no-trt", "--shapes", "x:1x3x8x8")
    assert code == 3 and "disabled (--no-trt)" in out


@pytest.mark.parametrize("args, message", [
    (["--inputs", "MISSING"], "inputs file not found"),
    (["--engine", "MISSING.engine"], "TensorRT engine not found"),
    (["--atol", "abc"], "expected a number"),
    (["--val-range", "1"], "expected LOW HIGH or LOW,HIGH"),
    (["--val-range", "1e-3", "-1e-3"], "--val-range 0.001 -0.001: expected finite LOW <= HIGH"),
    (["--val-range=1,x"], "expected LOW HIGH or LOW,HIGH"),
    (["--val-range", "1", "-1"], "expected finite LOW <= HIGH"),
    (["--val-range", "nan", "1"], "expected finite LOW <= HIGH"),
    (["--iterations", "0"], "must be >= 1"),
    (["--atol", "q:1e-3"], "no output 'q'"),
    (["--seed", "-1"], "must lie in 0 .. 2^32 - 1"),
    (["--report", "DIR"], "report path is a folder"),
    (["--shapes", "q:1x3x8x8"], "no input 'q'"),
    (["--report", "/no/such/dir/r.json"], "report folder does not exist"),
])
def test_check_bad_arguments_exit_2(cli, model_path, tmp_path, args, message):
    args = [str(tmp_path / a) if a.startswith("MISSING") else str(tmp_path) if a == "DIR" else a for a in args]
    code, _, err = cli("check", model_path, "--no-trt", *args)
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_val_range_takes_negative_and_scientific_numbers(cli, model_path, monkeypatch):
    from sortpool.cli import join_val_range

    for form in (["--val-range", "-1e-3", "1e-3"], ["--val-range=-1e-3,1e-3"], ["--val-range", "-2", "-1"]):
        code, out, err = cli("check", model_path, "--no-trt", "--shapes", "x:1x3x8x8", *form)
        assert code == 3 and err == "", err  # parsed; only ONNX Runtime ran, so nothing was compared
    assert join_val_range(["check", "m", "--val-range", "-1e-3", "1e-3", "-v"]) == ["check", "m", "--val-range=-1e-3,1e-3",
                                                                                   "-v"]
    assert join_val_range(["check", "--val-range", "1", "--no-trt"]) == ["check", "--val-range", "1", "--no-trt"]
    assert join_val_range(["check", "--val-range", "-1,1"]) == ["check", "--val-range=-1,1"]
    code, out, err = cli("check", model_path, "--no-trt", "--shapes", "x:1x3x8x8", "--val-range", "-1e-3,1e-3")
    assert code == 3 and err == "", err


def test_check_wrong_npz_exit_2(cli, model_path, tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, x=np.zeros((1, 3, 8, 8), np.float64))
    code, _, err = cli("check", model_path, "--no-trt", "--inputs", p)
    assert code == 2 and "is float64, the model wants float32" in err


# ---- PyTorch comparison (needs torch) -------------------------------------------------------------


@pytest.fixture()
def loader(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sortpool_torch")
    p = tmp_path / "loader.py"
    p.write_text(LOADER.format(w=CONV_W.tolist(), b=CONV_B.tolist(), w0=POOL["weights"][0], w1=POOL["weights"][1]))
    return str(p)


def test_check_ort_vs_pytorch_passes(cli, model_path, x_npz, loader, tmp_path, monkeypatch):
    _no_tensorrt(monkeypatch)
    report = tmp_path / "r.json"
    code, out, err = cli("check", model_path, "--torch-model", f"{loader}:make_model", "--inputs", x_npz,
                         "--shapes", "x:2x3x12x10", "--report", report)
    assert code == 0, out + err
    assert "pytorch vs onnxruntime | y (float32)" in out and "PASS" in out and "PASSED" in out
    data = json.loads(report.read_text())
    (comp,) = data["comparisons"]
    y = comp["outputs"]["y"]
    assert comp["candidate"] == "pytorch" and comp["reference"] == "onnxruntime" and comp["passed"]
    assert y["mismatches"] == 0 and y["max_abs_error"] < 1e-5
    assert (y["atol"], y["rtol"]) == DEFAULT_TOLERANCES["float32"]
    assert y["elements"] == 2 * 4 * 8 * 8 + 2 * 4 * 6 * 5
    assert data["backends"]["tensorrt"]["status"] == "skipped"


def test_check_ort_vs_pytorch_mismatch_exit_1(cli, model_path, loader, tmp_path, monkeypatch):
    _no_tensorrt(monkeypatch)
    report = tmp_path / "r.json"
    code, out, err = cli("check", model_path, "--torch-model", f"{loader}:wrong_model", "--shapes", "x:1x3x8x8",
                         "--report", report)
    assert code == 1, out + err
    assert "FAIL" in out
    y = json.loads(report.read_text())["comparisons"][0]["outputs"]["y"]
    assert y["mismatches"] > 0 and not y["passed"]
    # Loose tolerances make the same comparison pass.
    code, out, _ = cli("check", model_path, "--torch-model", f"{loader}:wrong_model", "--shapes", "x:1x3x8x8",
                       "--atol", "y:10", "--rtol", "10")
    assert code == 0, out


def test_check_torch_loader_errors(cli, model_path, loader, tmp_path):
    code, _, err = cli("check", model_path, "--no-trt", "--torch-model", f"{loader}:nope")
    assert code == 2 and "has no 'nope'" in err
    code, _, err = cli("check", model_path, "--no-trt", "--torch-model", str(tmp_path / "missing.py") + ":f")
    assert code == 2 and "loader file not found" in err
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def make_model(:\n")
    raises = tmp_path / "raises.py"
    raises.write_text("def make_model():\n    raise ValueError('boom')\n")
    failing_import = tmp_path / "failing_import.py"
    failing_import.write_text("import json\njson.loads('{')\n")
    corrupt = tmp_path / "corrupt.pt2"
    corrupt.write_bytes(b"not a zip archive")
    for spec, message in [(f"{syntax}:make_model", f"{syntax} failed to load (SyntaxError: "),
                          (f"{raises}:make_model", f"make_model() of {raises} raised ValueError: boom"),
                          (f"{failing_import}:make_model", f"{failing_import} failed to load (JSONDecodeError: "),
                          (str(corrupt), f"{corrupt} is not an ExportedProgram .pt2 file (not a zip archive)")]:
        code, _, err = cli("check", model_path, "--no-trt", "--torch-model", spec)
        assert code == 2 and message in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


DATACLASS_LOADER = '''
from __future__ import annotations

from dataclasses import dataclass

from {module} import make_model as make_base


@dataclass
class Config:
    w0: float = {w0}
    w1: float = {w1}


def make_model():
    c = Config()
    return make_base(weights=(c.w0, c.w1))
'''


def test_loader_files_run_as_registered_modules(cli, model_path, loader, tmp_path, monkeypatch):
    """A loader with a dataclass under `from __future__ import annotations` needs its module in
    sys.modules (dataclasses looks its annotations up there); it may import its siblings."""
    _no_tensorrt(monkeypatch)
    p = tmp_path / "dc_loader.py"
    p.write_text(DATACLASS_LOADER.format(module="loader", w0=POOL["weights"][0], w1=POOL["weights"][1]))
    code, out, err = cli("check", model_path, "--torch-model", f"{p}:make_model", "--shapes", "x:1x3x8x8")
    assert code == 0, out + err
    assert "pytorch vs onnxruntime | y (float32)" in out and "PASS" in out


def test_nan_agrees_with_nan_at_the_same_place():
    from sortpool.check import _verdict

    ref = np.array([1.0, np.nan, np.inf, np.nan], np.float32)
    same = output_stats(ref.copy(), ref, atol=1e-4, rtol=1e-4)
    assert same["mismatches"] == 0 and same["nan_agreements"] == 2 and same["max_abs_error"] == 0
    # Polygraphy counts NaN against NaN as a mismatch; where NaNs agree, the element count decides.
    assert _verdict(same, False) is True
    moved = output_stats(np.array([np.nan, 1.0, np.inf, np.nan], np.float32), ref, atol=1e-4, rtol=1e-4)
    assert moved["mismatches"] == 2 and moved["nan_mismatches"] == 2 and _verdict(moved, False) is False
    # Without shared NaNs, Polygraphy's verdict stands.
    plain = output_stats(np.ones(3, np.float32), np.ones(3, np.float32), 1e-4, 1e-4)
    assert _verdict(plain, False) is False and _verdict(plain, True) is True


def test_check_with_nan_inputs_can_pass(cli, model_path, loader, tmp_path, monkeypatch):
    _no_tensorrt(monkeypatch)
    x = np.random.default_rng(3).standard_normal((1, 3, 8, 8)).astype(np.float32)
    x[0, 0, 2, 3] = np.nan  # reaches every output channel through the convolution
    p = tmp_path / "nan.npz"
    np.savez(p, x=x)
    report = tmp_path / "r.json"
    code, out, err = cli("check", model_path, "--torch-model", f"{loader}:make_model", "--inputs", p, "--no-random",
                         "--report", report)
    assert code == 0, out + err
    it = json.loads(report.read_text())["comparisons"][0]["outputs"]["y"]["iterations"][0]
    assert it["nan_agreements"] > 0 and it["mismatches"] == 0 and it["passed"]


SHAPE_LOADERS = '''
def identity():
    return lambda x: x

def two_outputs():
    return lambda x: (x, x)
'''


def test_pytorch_output_of_another_shape_and_a_failed_pytorch_are_named(cli, model_path, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    _no_tensorrt(monkeypatch)
    p = tmp_path / "shapes.py"
    p.write_text(SHAPE_LOADERS)
    code, out, err = cli("check", model_path, "--torch-model", f"{p}:identity", "--shapes", "x:1x3x8x8")
    assert code == 1, out + err
    assert ("pytorch vs onnxruntime | y (float32) | shape mismatch: pytorch [1, 3, 8, 8], onnxruntime [1, 4, 4, 4] "
            "| FAIL") in out
    code, out, err = cli("check", model_path, "--torch-model", f"{p}:two_outputs", "--shapes", "x:1x3x8x8")
    assert code == 1, out + err
    assert "nothing was compared: only ONNX Runtime ran (pytorch failed, see above)" in out
    assert "give --torch-model" not in out


def test_integer_outputs_are_compared_exactly():
    # float64 cannot tell 2**53 from 2**53 + 1; the comparison must.
    ref = np.array([2**53, 2**60, -5], np.int64)
    got = np.array([2**53 + 1, 2**60, -5], np.int64)
    s = output_stats(got, ref, atol=0.0, rtol=0.0)
    assert s["mismatches"] == 1
    assert output_stats(ref.copy(), ref, 0.0, 0.0)["mismatches"] == 0


def test_relative_error_off_a_zero_reference_is_a_mismatch_but_not_the_maximum():
    ref = np.array([0.0, 1.0], np.float32)
    got = np.array([1e-3, 1.5], np.float32)
    s = output_stats(got, ref, atol=1e-4, rtol=1e-4)
    assert s["mismatches"] == 2
    assert math.isclose(s["max_rel_error"], 0.5)  # not 1e-3 / tiny


def test_aggregate_error_does_not_depend_on_iteration_order():
    from sortpool.check import _worst

    assert _worst([4.7e-7, float("nan")]) == _worst([float("nan"), 4.7e-7]) == 4.7e-7
    assert math.isnan(_worst([float("nan")])) and _worst([None]) is None and _worst([]) is None


def test_report_is_standard_json(tmp_path):
    from sortpool.check import write_report

    report = {"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": {"d": None}}
    path = tmp_path / "r.json"
    write_report(report, str(path))

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    assert json.loads(path.read_text(), parse_constant=refuse) == {"a": "nan", "b": ["inf", "-inf", 1.5],
                                                                  "c": {"d": None}}


def test_random_inputs_for_integer_and_bfloat16_inputs():
    from sortpool.check import _random_feeds
    from sortpool.inputs import ProfileShapes, bfloat16_dtype

    bf16 = bfloat16_dtype()
    specs = [TensorSpec("u", np.dtype(np.uint8), (2, 3)), TensorSpec("i", np.dtype(np.int8), (4,))]
    if bf16 is not None:
        specs.append(TensorSpec("b", bf16, (5,), "bfloat16"))
    profile = {s.name: ProfileShapes(s.dims, s.dims, s.dims) for s in specs}
    (label, feed), = _random_feeds(specs, profile, seed=7, iterations=1, val_range=(-1.0, 1.0))
    assert feed["u"].dtype == np.uint8 and set(np.unique(feed["u"])) <= {0, 1}  # the range clipped to uint8
    assert feed["i"].dtype == np.int8 and feed["i"].min() >= -1 and feed["i"].max() <= 1
    if bf16 is not None:
        assert feed["b"].dtype == bf16 and np.all(np.abs(feed["b"].astype(np.float32)) <= 1)
    with pytest.raises(UserInputError, match="holds no uint8 value"):
        _random_feeds(specs[:1], profile, seed=0, iterations=1, val_range=(-1.0, -0.5))
    with pytest.raises(UserInputError, match="2\\^32 - 1"):
        _random_feeds(specs[:1], profile, seed=2**32 - 1, iterations=2, val_range=(-1.0, 1.0))


RAISING_LOADER = '''
import torch

class Broken(torch.nn.Module):
    def forward(self, x):
        raise RuntimeError("this model cannot run")

def make_model():
    return Broken()
'''


def test_a_backend_failing_while_running_is_reported_and_the_report_written(cli, model_path, tmp_path,
                                                                             monkeypatch):
    pytest.importorskip("torch")
    _no_tensorrt(monkeypatch)
    loader = tmp_path / "broken.py"
    loader.write_text(RAISING_LOADER)
    report = tmp_path / "r.json"
    code, out, err = cli("check", model_path, "--torch-model", f"{loader}:make_model", "--shapes", "x:1x3x8x8",
                         "--report", report)
    assert code == 1, out + err
    assert "pytorch: FAILED while running: RuntimeError: this model cannot run" in err
    data = json.loads(report.read_text())
    assert data["backends"]["pytorch"]["status"] == "failed" and "cannot run" in data["backends"]["pytorch"]["reason"]
    assert data["backends"]["onnxruntime"]["status"] == "ran" and data["passed"] is False


def test_require_trt_turns_a_passing_check_without_tensorrt_into_exit_3(cli, model_path, loader, tmp_path, monkeypatch):
    _no_tensorrt(monkeypatch)
    args = ("check", model_path, "--torch-model", f"{loader}:make_model", "--shapes", "x:1x3x8x8")
    code, out, err = cli(*args)
    assert code == 0, out + err  # PyTorch vs ONNX Runtime passes
    report = tmp_path / "r.json"
    code, out, err = cli(*args, "--require-trt", "--report", report)
    assert code == 3, out + err
    assert "TensorRT did not run and --require-trt was given" in out
    data = json.loads(report.read_text())
    assert data["exit_code"] == 3 and data["passed"] is False
