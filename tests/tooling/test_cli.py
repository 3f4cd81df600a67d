"""The `sortpool` command on the CPU: info, run with ONNX Runtime, bad input, and the clear
one-line messages (never a traceback) when TensorRT, a CUDA binding or a GPU is missing."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import sortpool
from sortpool import cli as cli_module
from sortpool.errors import UserInputError
from toolchain import require_trt_bindings

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _one_line_error(err, code, expected_code):
    assert code == expected_code, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_demo_subcommand_still_there():
    args = cli_module.build_parser().parse_args(["demo", "--steps", "3"])
    assert args.steps == 3 and args.func is cli_module._cmd_demo


def test_info(cli):
    code, out, err = cli("info")
    assert code == 0, err
    assert "onnxruntime" in out and "GPU:" in out and "TensorRT plugin library" in out
    code, out, _ = cli("info", "--json")
    data = json.loads(out)
    assert data["packages"]["onnxruntime"]
    assert set(data["tensorrt"]) == {"tensorrt", "tensorrt_lean", "tensorrt_dispatch"}
    assert "visible" in data["gpu"] and "plugin_registry" in data


def test_info_reports_a_library_variable_naming_no_file_and_survives_the_registry(cli, tmp_path, monkeypatch):
    from sortpool import trt

    monkeypatch.setenv("SORTPOOL_ORT_LIBRARY", str(tmp_path / "libgone.so"))

    def broken_registry(module):
        raise RuntimeError("registry unavailable")

    monkeypatch.setattr(trt.discovery, "plugin_creators", broken_registry)
    code, out, err = cli("info")
    assert code == 0, err
    assert f"ONNX Runtime op library: NOT FOUND: $SORTPOOL_ORT_LIBRARY names {tmp_path / 'libgone.so'}, which is not a " \
           "file" in out
    import importlib.util

    if any(importlib.util.find_spec(m) for m in ("tensorrt", "tensorrt_lean", "tensorrt_dispatch")):
        assert "could not list its creators: RuntimeError: registry unavailable" in out, out
    else:
        assert "plugin creators: n/a" in out, out


def test_run_onnx_matches_session(cli, model_path, x_npz, tmp_path):
    y_path = tmp_path / "y.npz"
    code, out, err = cli("run", model_path, "--inputs", x_npz, "--out", y_path)
    assert code == 0, err
    assert "y: float32[2, 4, 8, 8]" in out
    x = np.load(x_npz)["x"]
    want = sortpool.make_ort_session(model_path).run(None, {"x": x})[0]
    np.testing.assert_array_equal(np.load(y_path)["y"], want)


def test_run_accepts_npy_for_one_input(cli, model_path, tmp_path):
    p = tmp_path / "x.npy"
    np.save(p, np.ones((1, 3, 4, 4), np.float32))
    code, out, err = cli("run", model_path, "--inputs", p)
    assert code == 0, err
    assert "y: float32[1, 4, 2, 2]" in out


@pytest.mark.parametrize("arrays, message", [
    ({"z": np.zeros((1, 3, 8, 8), np.float32)}, "lacks the input(s) ['x']"),
    ({"x": np.zeros((1, 3, 8, 8), np.float16)}, "is float16, the model wants float32"),
    ({"x": np.zeros((3, 8, 8), np.float32)}, "has rank 3"),
    ({"x": np.zeros((1, 5, 8, 8), np.float32)}, "axis 1 must be 3"),
])
def test_run_bad_inputs_exit_2(cli, model_path, tmp_path, arrays, message):
    p = tmp_path / "in.npz"
    np.savez(p, **arrays)
    code, _, err = cli("run", model_path, "--inputs", p)
    _one_line_error(err, code, 2)
    assert message in err


def test_run_missing_files_exit_2(cli, model_path, x_npz, tmp_path):
    code, _, err = cli("run", tmp_path / "nope.onnx", "--inputs", x_npz)
    _one_line_error(err, code, 2)
    assert "model not found" in err
    code, _, err = cli("run", model_path, "--inputs", tmp_path / "nope.npz")
    _one_line_error(err, code, 2)
    assert "inputs file not found" in err
    code, _, err = cli("run", model_path, "--inputs", x_npz, "--out", tmp_path / "no" / "dir" / "y.npz")
    _one_line_error(err, code, 2)
    assert "output folder does not exist" in err


def test_run_backend_mismatch_exit_2(cli, model_path, x_npz, tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    code, _, err = cli("run", engine, "--inputs", x_npz, "--backend", "ort")
    _one_line_error(err, code, 2)
    assert "is a TensorRT engine: ONNX Runtime runs .onnx models" in err
    code, _, err = cli("run", model_path, "--inputs", x_npz, "--backend", "trt")
    _one_line_error(err, code, 2)
    assert "--backend trt runs an engine" in err
    assert "sortpool build" in err


def test_argparse_usage_errors_exit_2(cli):
    code, _, err = cli("run")
    assert code == 2 and "required" in err
    code, _, err = cli("build", "m.onnx")  # no -o
    assert code == 2 and "-o" in err


def _no_tensorrt(monkeypatch):
    from sortpool import trt

    real = trt.discovery._try_import
    monkeypatch.setattr(trt.discovery, "_try_import", lambda name: (None, f"{name}: not installed") if name.startswith(
        "tensorrt") else real(name))


def _no_gpu(monkeypatch):
    from sortpool import cuda

    monkeypatch.setattr(cuda, "available_bindings", lambda: {"pycuda": None, "cuda-python": None})
    monkeypatch.setattr(cuda, "driver_gpus", lambda: ([], "no NVIDIA driver (libcuda.so.1 could not be loaded)"))


def test_build_without_tensorrt_exit_3(cli, model_path, tmp_path, monkeypatch):
    _no_tensorrt(monkeypatch)
    code, _, err = cli("build", model_path, "-o", tmp_path / "m.engine")
    _one_line_error(err, code, 3)
    assert "TensorRT's builder is not available" in err and "pip install tensorrt" in err


def test_build_bad_input_exit_2_before_tensorrt(cli, tmp_path, model_path):
    code, _, err = cli("build", tmp_path / "missing.onnx", "-o", tmp_path / "m.engine")
    _one_line_error(err, code, 2)
    code, _, err = cli("build", model_path, "-o", tmp_path / "m.engine", "--opt-shapes", "x:1x4x8x8")
    _one_line_error(err, code, 2)
    assert "fixes it to 3" in err
    code, _, err = cli("build", model_path, "-o", tmp_path / "m.engine", "--workspace", "lots")
    _one_line_error(err, code, 2)


def test_run_engine_without_tensorrt_exit_3(cli, x_npz, tmp_path, monkeypatch):
    _no_tensorrt(monkeypatch)
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not an engine")
    code, _, err = cli("run", engine, "--inputs", x_npz)
    _one_line_error(err, code, 3)
    assert "TensorRT is not available" in err


def test_run_engine_without_gpu_exit_3(cli, x_npz, tmp_path, monkeypatch):
    name = "tensorrt_lean" if not _has("tensorrt") else "tensorrt"
    if require_trt_bindings():
        __import__(name)
    else:
        pytest.importorskip(name)
    _no_gpu(monkeypatch)
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not an engine")
    code, _, err = cli("run", engine, "--inputs", x_npz)
    _one_line_error(err, code, 3)
    assert "no CUDA Python binding" in err and "no NVIDIA driver" in err


def _has(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_parse_size():
    assert cli_module.parse_size("4GiB") == 4 << 30
    assert cli_module.parse_size("512M") == 512 << 20
    assert cli_module.parse_size("1024") == 1024 << 20
    assert cli_module.parse_size("1.5g") == int(1.5 * (1 << 30))


def test_subprocess_no_traceback_and_no_torch(tmp_path, model_path, x_npz):
    """The installed-style entry point in a fresh interpreter where torch cannot be imported."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "python"), os.path.join(ROOT, "export")]))
    code = ("import sys; sys.modules['torch'] = None\n"
            "import sortpool, sortpool.cli, sortpool.trt, sortpool.cuda, sortpool.check, sortpool.info, sortpool.inputs\n"
            "from sortpool.cli import main\n"
            f"rc = main(['run', {model_path!r}, '--inputs', {x_npz!r}])\n"
            "assert sys.modules['torch'] is None, 'torch was imported'\n"
            "loaded = [m for m in sys.modules if m.startswith('torch.') or m == 'sortpool_torch']\n"
            "assert not loaded, loaded\n"
            "sys.exit(rc)\n")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "sortpool", "run", str(tmp_path / "missing.onnx"), "--inputs", x_npz],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "model not found" in r.stderr


def test_serve_without_pytriton_says_how_to_get_it(model_path):
    """The main venv has no PyTriton (it needs numpy < 2): `sortpool serve` exits 3 with one line
    that says where the serving environment comes from. PyTriton is hidden from the child
    process, so this holds wherever the test runs."""
    code = ("import sys; sys.modules['pytriton'] = None; sys.argv = ['sortpool'] + sys.argv[1:]; "
            "from sortpool.cli import main; sys.exit(main())")
    r = subprocess.run([sys.executable, "-c", code, "serve", str(model_path), "--http-port", "18000"],
                       capture_output=True, text=True)
    _one_line_error(r.stderr, r.returncode, 3)
    assert "sortpool serve: unavailable: sortpool serve needs PyTriton" in r.stderr
    assert "./dev.sh serve" in r.stderr and "numpy < 2" in r.stderr


def test_serve_and_triton_repo_refuse_bad_options(cli, model_path, tmp_path):
    code, _, err = cli("serve", str(model_path), "--http-port", "8000", "--grpc-port", "8000")
    _one_line_error(err, code, 2)
    assert "must differ" in err
    code, _, err = cli("serve", str(model_path), "--instances", "0")
    _one_line_error(err, code, 2)
    assert "instances must be >= 1" in err
    code, _, err = cli("serve", str(tmp_path / "absent.onnx"))
    _one_line_error(err, code, 2)
    assert "not found" in err
    code, _, err = cli("serve", str(model_path), "--backend", "tensorrt")  # an ONNX file is not an engine
    _one_line_error(err, code, 2)
    assert "--backend tensorrt serves an engine" in err and "sortpool build" in err
    out = tmp_path / "repo"
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"stand-in engine")
    for args, message in [(["--instances", "0"], "instances must be >= 1"),
                          (["--threads", "0"], "threads must be >= 1"),
                          (["--name", "a/b"], "model name 'a/b'"),
                          (["--max-batch-size", "-1"], "max batch size must be >= 0")]:
        code, _, err = cli("triton-repo", str(model_path), "--out", str(out), *args)
        _one_line_error(err, code, 2)
        assert message in err
    code, _, err = cli("triton-repo", str(tmp_path / "absent.onnx"), "--out", str(out))
    _one_line_error(err, code, 2)
    assert "ONNX model not found" in err
    code, _, err = cli("triton-repo", str(engine), "--out", str(out))
    _one_line_error(err, code, 2)
    assert "--engine" in err
    assert not out.exists()  # refused before anything was written


def test_build_refuses_outputs_that_would_replace_the_model_or_cannot_be_written(cli, model_path, tmp_path,
                                                                                  monkeypatch):
    """Every output path is checked before TensorRT is even looked for (TensorRT is hidden here, so
    a path checked only after the build would give exit status 3, not 2)."""
    _no_tensorrt(monkeypatch)
    model_bytes = open(model_path, "rb").read()
    engine = tmp_path / "m.engine"
    cases = [
        (["-o", model_path], "the engine", "is the same file as the ONNX model"),
        (["-o", os.path.join(tmp_path, ".", os.path.basename(model_path))], "the engine", "same file as the ONNX model"),
        (["-o", tmp_path], "", "engine path is a folder"),
        (["-o", tmp_path / "no" / "m.engine"], "", "engine folder does not exist"),
        (["-o", engine, "--timing-cache", tmp_path], "", "timing cache path is a folder"),
        (["-o", engine, "--timing-cache", tmp_path / "nodir" / "c.cache"], "", "timing cache folder does not exist"),
        (["-o", engine, "--timing-cache", model_path], "the timing cache", "same file as the ONNX model"),
        (["-o", engine, "--timing-cache", engine], "the timing cache", "same file as the engine"),
        (["-o", engine, "--summary-json", engine], "the build summary", "same file as the engine"),
        (["-o", engine, "--summary-json", model_path], "the build summary", "same file as the ONNX model"),
        (["-o", "/sys/sortpool-test.engine"], "cannot write the engine", ""),
    ]
    for args, *needles in cases:
        code, _, err = cli("build", model_path, *args)
        _one_line_error(err, code, 2)
        assert all(n in err for n in needles), (args, err)
    assert open(model_path, "rb").read() == model_bytes and not engine.exists()


def test_workspace_size_must_be_positive(cli, model_path, tmp_path, monkeypatch):
    _no_tensorrt(monkeypatch)
    for text in ("0", "0KiB", "0.0001k"):
        with pytest.raises(UserInputError, match="must be at least 1 byte"):
            cli_module.parse_size(text)
    code, _, err = cli("build", model_path, "-o", tmp_path / "m.engine", "--workspace", "0")
    _one_line_error(err, code, 2)
    assert "invalid size '0'" in err


def test_run_checks_the_output_path_before_running(cli, model_path, x_npz, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    for out, message in [(folder, "output path is a folder"), (x_npz, "is the same file as the inputs file"),
                         ("/sys/sortpool-test-y.npz", "cannot write the output /sys/sortpool-test-y.npz")]:
        code, stdout, err = cli("run", model_path, "--inputs", x_npz, "--out", out)
        _one_line_error(err, code, 2)
        assert message in err and stdout == ""  # refused before the model ran
    assert not (tmp_path / "out.npz").exists()
    code, _, err = cli("run", model_path, "--inputs", x_npz, "--out", tmp_path / "y")  # numpy's suffix rule
    assert code == 0 and (tmp_path / "y.npz").is_file() and f"wrote {tmp_path / 'y.npz'}" in err


def test_a_library_variable_naming_no_file_is_an_error(cli, model_path, x_npz, tmp_path, monkeypatch):
    monkeypatch.setenv("SORTPOOL_ORT_LIBRARY", str(tmp_path / "libgone.so"))
    code, _, err = cli("run", model_path, "--inputs", x_npz)
    _one_line_error(err, code, 2)
    assert f"$SORTPOOL_ORT_LIBRARY names {tmp_path / 'libgone.so'}, which is not a file" in err
    monkeypatch.delenv("SORTPOOL_ORT_LIBRARY")
    monkeypatch.setenv("SORTPOOL_TRT_PLUGIN", str(tmp_path / "libgone_plugin.so"))
    with pytest.raises(UserInputError, match="SORTPOOL_TRT_PLUGIN names .*libgone_plugin.so, which is not a file"):
        sortpool.trt_plugin_path()
    # The training kernels' variable is read when sortpool_torch is imported: a warning there.
    from sortpool import _libs

    monkeypatch.setenv("SORTPOOL_TRAINING_LIBRARY", str(tmp_path / "libgone_training.so"))
    with pytest.warns(UserWarning, match="SORTPOOL_TRAINING_LIBRARY names .*libgone_training.so, which is not a file"):
        found = _libs.training_library_path()
    assert found is None or not found.endswith("libgone_training.so")


def test_demo_without_torch_is_exit_3_on_stderr():
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(sortpool.__file__)))  # the sortpool under test
    env = dict(os.environ, PYTHONPATH=package_root)
    code = "import sys; sys.modules['torch'] = None; from sortpool.cli import main; sys.exit(main(['demo']))"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    _one_line_error(r.stderr, r.returncode, 3)
    assert r.stdout == "" and "sortpool demo: unavailable: the demo needs PyTorch" in r.stderr


def test_demo_out_dir_that_is_a_file_exit_2(cli, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    code, out, err = cli("demo", "--out-dir", afile, "--steps", "1")
    _one_line_error(err, code, 2)
    assert f"--out-dir {afile} is a file, not a folder" in err and out == ""


def test_demo_removes_its_temporary_folder(cli, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("sortpool_torch")
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, out, err = cli("demo", "--steps", "1")
    assert code == 0, out + err
    assert "removed on exit (--out-dir DIR keeps them)" in out
    assert out.count("sortpool-demo-") >= 2 and not list(tmp_path.glob("sortpool-demo-*"))
