"""`sortpool triton-repo`: the model repository for Triton's onnxruntime and tensorrt backends.
Each config.pbtxt is parsed with Triton's ModelConfig message (tritonclient) and its fields are
compared with what the model file says (its dims, written here by hand); Triton 2.51 itself
(PyTriton's tritonserver) reads the repository and stops only at the backend it lacks."""
from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tritonclient.grpc import model_config_pb2

from loopback import free_ports

from sortpool import ort_library_path
from sortpool.errors import UserInputError
from sortpool.serving import RepositoryOptions, parse_config, write_repository

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "ort"))
from onnx_models import pool_model  # noqa: E402

ATTRS = dict(kernel_shape=[2, 2], pool_range=3, weights=[0.5, 0.3, 0.2])


def _model(tmp_path: Path, shape, name="m.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(pool_model(ATTRS, shape=shape))
    return path


def _config(path: Path):
    return parse_config(path.read_text(), str(path))


def _sortpool(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "python"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "sortpool", *args], capture_output=True, text=True, env=env)


def test_onnx_model_with_dynamic_batch(tmp_path):
    model = _model(tmp_path, ("N", 3, "H", "W"))
    repo = write_repository(model, tmp_path / "repo", RepositoryOptions(name="digits", instances=3, threads=2,
                                                                       max_queue_delay_us=250))
    assert repo.models == ["digits_onnx"] and repo.schema_checked
    d = tmp_path / "repo" / "digits_onnx"
    cfg = _config(d / "config.pbtxt")
    assert cfg.name == "digits_onnx" and cfg.backend == "onnxruntime" and cfg.default_model_filename == "model.onnx"
    assert cfg.max_batch_size == 16
    (inp,), (out,) = cfg.input, cfg.output
    assert (inp.name, inp.data_type, list(inp.dims)) == ("x", model_config_pb2.TYPE_FP32, [3, -1, -1])
    # output: N and C kept, spatial extents unknown for symbolic H, W (shape inference of our schema)
    assert (out.name, out.data_type, list(out.dims)) == ("y", model_config_pb2.TYPE_FP32, [3, -1, -1])
    (group,) = cfg.instance_group
    assert group.count == 3 and group.kind == model_config_pb2.ModelInstanceGroup.KIND_CPU
    assert cfg.dynamic_batching.max_queue_delay_microseconds == 250
    assert cfg.parameters["intra_op_thread_count"].string_value == "2"
    (lib,) = cfg.model_operations.op_library_filename
    assert lib == str((d / "libsortpool_ort.so").resolve())
    assert filecmp.cmp(lib, ort_library_path(), shallow=False)
    assert filecmp.cmp(d / "1" / "model.onnx", model, shallow=False)
    assert repo.server_command == f"tritonserver --model-repository={(tmp_path / 'repo').resolve()}"
    assert repo.server_command in (tmp_path / "repo" / "README.md").read_text()


def test_fixed_batch_model_gets_full_dims_and_no_batcher(tmp_path):
    model = _model(tmp_path, (1, 3, 8, 8))
    write_repository(model, tmp_path / "repo")
    cfg = _config(tmp_path / "repo" / "sortpool_onnx" / "config.pbtxt")
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    assert list(cfg.input[0].dims) == [1, 3, 8, 8]
    assert list(cfg.output[0].dims) == [1, 3, 4, 4]  # 2x2 windows, stride 2
    with pytest.raises(UserInputError, match="dynamic leading axis"):
        write_repository(model, tmp_path / "repo2", RepositoryOptions(max_batch_size=4))


def test_engine_and_server_root(tmp_path):
    """A TensorRT model beside the ONNX one. The engine file is copied, never read (no TensorRT
    here that runs it), so a stand-in file serves; so does a stand-in plugin library."""
    model = _model(tmp_path, ("N", 3, "H", "W"))
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"stand-in engine")
    plugin = tmp_path / "libplugin_stand_in.so"
    plugin.write_bytes(b"stand-in plugin")
    repo = write_repository(model, tmp_path / "repo", RepositoryOptions(
        name="pool", engine=str(engine), trt_plugin=str(plugin), server_root="/models", max_batch_size=32,
        dynamic_batching=False))
    assert repo.models == ["pool_onnx", "pool_trt"]
    trt_dir = tmp_path / "repo" / "pool_trt"
    cfg = _config(trt_dir / "config.pbtxt")
    assert cfg.backend == "tensorrt" and cfg.default_model_filename == "model.plan" and cfg.max_batch_size == 32
    assert cfg.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
    assert not cfg.HasField("dynamic_batching") and not cfg.model_operations.op_library_filename
    assert [list(t.dims) for t in (*cfg.input, *cfg.output)] == [[3, -1, -1], [3, -1, -1]]
    assert (trt_dir / "1" / "model.plan").read_bytes() == b"stand-in engine"
    assert (trt_dir / "libsortpool_trt_plugin.so").read_bytes() == b"stand-in plugin"
    onnx_cfg = _config(tmp_path / "repo" / "pool_onnx" / "config.pbtxt")
    assert list(onnx_cfg.model_operations.op_library_filename) == ["/models/pool_onnx/libsortpool_ort.so"]
    assert repo.server_command == ("tritonserver --model-repository=/models "
                                   "--backend-config=tensorrt,plugins=/models/pool_trt/libsortpool_trt_plugin.so")


def test_parse_config_names_the_problem():
    with pytest.raises(UserInputError, match="no field named \"bogus\""):
        parse_config('name: "m"\nbogus: 1\n', "x/config.pbtxt")


def test_command_line(tmp_path):
    model = _model(tmp_path, ("N", 3, "H", "W"))
    out = tmp_path / "repo"
    r = _sortpool("triton-repo", str(model), "--out", str(out), "--instances", "2")
    assert r.returncode == 0, r.stderr
    assert "parsed with Triton's ModelConfig schema" in r.stdout and "not loaded" in r.stdout
    assert _config(out / "sortpool_onnx" / "config.pbtxt").instance_group[0].count == 2
    again = _sortpool("triton-repo", str(model), "--out", str(out))
    assert again.returncode == 2 and "not empty" in again.stderr and "Traceback" not in again.stderr
    assert _sortpool("triton-repo", str(model), "--out", str(out), "--force").returncode == 0
    engine_first = _sortpool("triton-repo", str(tmp_path / "m.engine"), "--out", str(tmp_path / "r2"))
    assert engine_first.returncode == 2 and "--engine" in engine_first.stderr
    missing = _sortpool("triton-repo", str(tmp_path / "absent.onnx"), "--out", str(tmp_path / "r3"))
    assert missing.returncode == 2 and "not found" in missing.stderr
    onto_a_file = _sortpool("triton-repo", str(model), "--out", str(model))
    assert onto_a_file.returncode == 2 and "is a file, not a folder" in onto_a_file.stderr
    assert "Traceback" not in onto_a_file.stderr


def _tritonserver(repo: Path, tmp_path: Path) -> str:
    """Runs PyTriton's tritonserver 2.51 on `repo` (it has the Python backend only) and returns its log."""
    from pytriton.utils.distribution import get_libs_path, get_root_module_path

    server = get_root_module_path() / "tritonserver"
    ports = free_ports(3)
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join([str(server / "external_libs"), str(get_libs_path())]))
    r = subprocess.run([str(server / "bin" / "tritonserver"), f"--model-repository={repo}",
                        f"--backend-directory={server / 'backends'}", "--http-address=127.0.0.1",
                        "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1", f"--http-port={ports[0]}",
                        f"--grpc-port={ports[1]}", f"--metrics-port={ports[2]}", "--exit-on-error=true"],
                       capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert r.returncode != 0  # it cannot load the models: their backends are not in PyTriton's server
    return r.stdout + r.stderr


def test_triton_reads_the_repository(tmp_path):
    """Triton reads each config.pbtxt and stops at the missing backend; the same server refuses a
    config with a field its schema lacks, so reading them is a check that can fail."""
    model = _model(tmp_path, ("N", 3, "H", "W"))
    plugin = tmp_path / "libplugin_stand_in.so"
    plugin.write_bytes(b"stand-in plugin")
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"stand-in engine")
    repo = tmp_path / "repo"
    write_repository(model, repo, RepositoryOptions(engine=str(engine), trt_plugin=str(plugin)))
    log = _tritonserver(repo, tmp_path)
    for name, backend in (("sortpool_onnx", "onnxruntime"), ("sortpool_trt", "tensorrt")):
        assert f"failed to load '{name}' version 1: Invalid argument: unable to find backend library for backend " \
               f"'{backend}'" in log, log
    assert "failed to read text proto" not in log

    broken = repo / "sortpool_onnx" / "config.pbtxt"
    broken.write_text(broken.read_text() + "bogus_field: 1\n")
    log = _tritonserver(repo, tmp_path)
    assert "Poll failed for model directory 'sortpool_onnx': failed to read text proto" in log, log
