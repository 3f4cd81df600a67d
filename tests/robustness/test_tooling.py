"""Bad user inputs to the `sortpool` tooling (docs/robustness.md, "Python tooling") that tests/tooling
does not already cover: unreadable .npz/.npy files (pickled objects, cut short, not a zip), a
directory or a garbage file as the model, a single .npy for a two-input model, a model whose
SortedWeightedPool attributes break the contract, a plugin library that is not a library, and the
documented results for NaN / inf / empty / non-contiguous inputs. Every error is one line on stderr
(file descriptor 2, where ONNX Runtime's own log would go too) with exit status 2 (bad input) or 1
(backend failure), never a traceback.
"""
from __future__ import annotations

import io
import os

import numpy as np
import pytest

from sortpool.errors import UserInputError
from sortpool.inputs import TensorSpec, load_npz, validate_feed
from tooling_helpers import conv_pool_model, run_cli


def one_line_error(err: str, code: int, expected: int, capfd=None) -> None:
    """``err`` is what run_cli caught from sys.stderr; ``capfd`` adds what native code wrote to
    file descriptor 2 meanwhile (ONNX Runtime logs there directly)."""
    if capfd is not None:
        err += capfd.readouterr().err
    assert code == expected, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.fixture()
def model_path(tmp_path):
    p = tmp_path / "conv_pool.onnx"
    p.write_bytes(conv_pool_model())
    return p


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("name,content", [
    ("pickled.npz", _npz_bytes(x=np.array([{"a": 1}], dtype=object))),  # allow_pickle=False
    ("cut.npz", _npz_bytes(x=np.zeros((1, 3, 8, 8), np.float32))[:200]),
    ("text.npz", b"x = [1, 2, 3]\n"),
    ("empty.npz", b""),
    ("cut.npy", np.lib.format.magic(1, 0) + b"\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 8, 8), }"),
    ("pickled.npy", None),
])
def test_unreadable_inputs_file_exit_2(model_path, tmp_path, name, content):
    p = tmp_path / name
    if content is None:
        np.save(p, np.array([object()], dtype=object), allow_pickle=True)
    else:
        p.write_bytes(content)
    with pytest.raises(UserInputError, match="is not a readable .npz file"):
        load_npz(p)
    code, _, err = run_cli("run", model_path, "--inputs", p)
    one_line_error(err, code, 2)
    assert "is not a readable .npz file" in err


def test_model_path_that_is_a_directory_or_garbage_exit_2(tmp_path):
    x = tmp_path / "x.npz"
    np.savez(x, x=np.zeros((1, 3, 8, 8), np.float32))
    code, _, err = run_cli("run", tmp_path, "--inputs", x)
    one_line_error(err, code, 2)
    assert "model is not a file" in err
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage\xff\xfe" * 50)
    code, _, err = run_cli("run", junk, "--inputs", x)
    one_line_error(err, code, 2)
    assert "is not a readable ONNX model" in err


def test_single_npy_for_a_two_input_model():
    specs = [TensorSpec("a", np.dtype(np.float32), (1, 3, 4, 4)), TensorSpec("b", np.dtype(np.float32), (1, 3, 4, 4))]
    with pytest.raises(UserInputError, match="a single .npy array can feed a model with one input"):
        validate_feed({"": np.zeros((1, 3, 4, 4), np.float32)}, specs, "x.npy")


@pytest.mark.parametrize("attr,value,needle", [
    ("pool_range", 5, "attribute 'pool_range' = 5 is invalid"),
    ("weights", [float("nan"), 0.5], "weights must be finite"),
    ("pads", [0, 0, 2, 0], "attribute 'pads' = [0, 0, 2, 0] is invalid"),
    # TensorRT's ONNX parser would narrow these to 32 bits (2, 2, 1) and build them
    ("strides", [2**32 + 2, 2**32 + 2], "attribute 'strides' = [4294967298, 4294967298] is invalid"),
    ("kernel_shape", [2**32 + 2, 2], "attribute 'kernel_shape' = [4294967298, 2] is invalid"),
    ("pool_range", 2**32 + 1, "attribute 'pool_range' = 4294967297 is invalid"),
    # and drop these, which its creator does not list
    ("dilations", [2, 2], "Unrecognized attribute: dilations for operator SortedWeightedPool"),
    ("pool_range", "2", "Mismatched attribute type in 'pool : pool_range'. Expected: 'INT', actual: 'STRING'"),
])
def test_model_with_attributes_outside_the_contract_exit_2(tmp_path, capfd, attr, value, needle):
    """Refused by every command before a backend sees the model, naming the node, the attribute and
    the rule; `build` needs no TensorRT for that."""
    import onnx
    from onnx import helper

    model = onnx.load_from_string(conv_pool_model())
    node = [n for n in model.graph.node if n.domain == "sortpool"][0]
    node.name = "pool"
    kept = [a for a in node.attribute if a.name != attr]
    del node.attribute[:]
    node.attribute.extend(kept + [helper.make_attribute(attr, value)])
    path = tmp_path / "bad.onnx"
    path.write_bytes(model.SerializeToString())
    x = tmp_path / "x.npz"
    np.savez(x, x=np.zeros((1, 3, 8, 8), np.float32))
    for args in (["run", path, "--inputs", x], ["build", path, "-o", tmp_path / "bad.engine"],
                 ["check", path, "--no-trt"], ["triton-repo", path, "--out", tmp_path / "repo"]):
        code, _, err = run_cli(*args)
        one_line_error(err, code, 2, capfd)
        assert f"{path}: node 'pool': " in err and needle in err, err
    assert not (tmp_path / "bad.engine").exists() and not (tmp_path / "repo").exists()


def test_onnx_runtime_errors_are_one_line_on_file_descriptor_2(model_path, tmp_path, capfd):
    """ONNX Runtime logs its errors to file descriptor 2 itself, besides raising them: the command
    reports them in one line and leaves its log at fatal, unless --verbose."""
    x = tmp_path / "x.npz"
    np.savez(x, x=np.zeros((1, 3, 1, 1), np.float32))  # the 2x2 window does not fit: an error at Run
    code, _, err = run_cli("run", model_path, "--inputs", x)
    one_line_error(err, code, 1, capfd)
    assert "ONNX Runtime failed to run" in err and "is smaller than the window along H" in err
    code, _, err = run_cli("run", model_path, "--inputs", x, "--verbose")
    native = capfd.readouterr().err
    assert code == 1 and "[E:onnxruntime:" in native, native


def test_nan_inf_empty_and_noncontiguous_inputs_are_computed(model_path, tmp_path):
    # Documented results: NaN and +-inf follow the contract's rules (a NaN in a window gives NaN),
    # an empty batch gives an empty output, a Fortran-ordered array is made C-contiguous (what
    # TensorRT's buffers need; ONNX Runtime would take it either way).
    import sortpool
    from sortpool.inputs import onnx_io

    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    x[1, 2, 4, 4] = np.inf
    cases = {"nan_inf": x, "empty": np.zeros((0, 3, 8, 8), np.float32), "fortran": np.asfortranarray(x)}
    session = sortpool.make_ort_session(str(model_path))
    for name, arr in cases.items():
        p = tmp_path / f"{name}.npz"
        np.savez(p, x=arr)
        out = tmp_path / f"{name}_y.npz"
        code, stdout, err = run_cli("run", model_path, "--inputs", p, "--out", out)
        assert code == 0, err
        y = np.load(out)["y"]
        want = session.run(None, {"x": np.ascontiguousarray(arr)})[0]
        np.testing.assert_array_equal(y, want)
    y = np.load(tmp_path / "nan_inf_y.npz")["y"]
    assert np.isnan(y[0]).any() and np.load(tmp_path / "empty_y.npz")["y"].shape == (0, 4, 4, 4)
    loaded = load_npz(tmp_path / "fortran.npz")["x"]
    assert not loaded.flags.c_contiguous  # np.load keeps the file's Fortran order
    (fed,) = validate_feed({"x": loaded}, onnx_io(str(model_path))[0], "fortran.npz").values()
    assert fed.flags.c_contiguous and np.array_equal(fed, x, equal_nan=True)


_LOAD_PLUGIN = """
import sys
from sortpool import trt as sp_trt
from sortpool.errors import SortpoolError
try:
    trt = sp_trt.import_tensorrt(builder=False)
except Exception as e:
    print("NO_TENSORRT", e)
    sys.exit(0)
try:
    sp_trt.load_plugin(trt, sys.argv[1])
    print("LOADED")
except SortpoolError as e:
    print(type(e).__name__ + ":", e)
"""


def _load_plugin_in_fresh_process(path) -> str:
    # A fresh interpreter: once any copy of the plugin is registered in a process, load_plugin
    # returns early without opening the file it is given (sortpool/trt.py).
    import subprocess
    import sys
    from pathlib import Path

    import sortpool

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(sortpool.__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", _LOAD_PLUGIN, str(path)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # an exception, never a crash
    if proc.stdout.startswith("NO_TENSORRT"):
        pytest.skip(proc.stdout.strip())
    return proc.stdout.strip()


def test_plugin_library_that_is_not_a_library(tmp_path):
    fake = tmp_path / "libfake_plugin.so"
    fake.write_bytes(b"\x7fELF but not really" + b"\0" * 64)
    out = _load_plugin_in_fresh_process(fake)
    assert out.startswith("BackendFailure: could not load the TensorRT plugin"), out
    out = _load_plugin_in_fresh_process(tmp_path)
    assert out.startswith("UserInputError: TensorRT plugin library is not a file"), out


def test_sanitizer_build_of_the_plugin_is_refused_before_loading(tmp_path):
    fake = tmp_path / "libsortpool_trt_plugin.so"
    fake.write_bytes(b"\x7fELF...NEEDED libasan.so.8\0...")  # what sortpool.trt.discovery._asan_linked looks for
    out = _load_plugin_in_fresh_process(fake)
    assert out.startswith("BackendFailure:") and "built with AddressSanitizer" in out, out
