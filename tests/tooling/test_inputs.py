"""Shapes, profiles and user-input validation (sortpool.inputs): pure Python, no backend."""
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from sortpool.errors import UserInputError
from sortpool.inputs import (DEFAULT_BATCH, DEFAULT_EXTENT, TensorSpec, derive_profile, load_npz, onnx_io,
                             parse_named_shapes, parse_shape, validate_feed)

X = TensorSpec("x", np.dtype(np.float32), ("batch", 3, "h", "w"))


def test_parse_shape_forms():
    assert parse_shape("1x3x32x32") == (1, 3, 32, 32)
    assert parse_shape("1,3,32,32") == (1, 3, 32, 32)
    assert parse_shape("[2, 3, 8, 8]") == (2, 3, 8, 8)
    for bad in ("", "1x-3", "axb", "1xx2"):
        with pytest.raises(UserInputError, match="invalid shape"):
            parse_shape(bad)


def test_named_shapes_and_single_input_shorthand():
    assert parse_named_shapes(["x:1x3x8x8"], ["x"], "--shapes") == {"x": (1, 3, 8, 8)}
    assert parse_named_shapes(["1x3x8x8"], ["x"], "--shapes") == {"x": (1, 3, 8, 8)}
    assert parse_named_shapes(["a:1x2 b:3x4"], ["a", "b"], "--shapes") == {"a": (1, 2), "b": (3, 4)}
    with pytest.raises(UserInputError, match="no input 'y'"):
        parse_named_shapes(["y:1x3x8x8"], ["x"], "--shapes")
    with pytest.raises(UserInputError, match="name the input"):
        parse_named_shapes(["1x2"], ["a", "b"], "--shapes")


def test_profile_defaults_from_static_dims():
    p = derive_profile([X])["x"]
    assert p.min == (DEFAULT_BATCH[0], 3, DEFAULT_EXTENT[0], DEFAULT_EXTENT[0])
    assert p.opt == (DEFAULT_BATCH[1], 3, DEFAULT_EXTENT[1], DEFAULT_EXTENT[1])
    assert p.max == (DEFAULT_BATCH[2], 3, DEFAULT_EXTENT[2], DEFAULT_EXTENT[2])
    static = TensorSpec("x", np.dtype(np.float32), (2, 3, 16, 16))
    q = derive_profile([static])["x"]
    assert q.min == q.opt == q.max == (2, 3, 16, 16)


def test_profile_overrides_move_defaults_around_them():
    p = derive_profile([X], opt_shapes={"x": (4, 3, 300, 20)})["x"]
    assert p.opt == (4, 3, 300, 20)
    assert p.min == (1, 3, 32, 20) and p.max == (8, 3, 300, 128)
    q = derive_profile([X], shapes={"x": (1, 3, 8, 8)})["x"]
    assert q.min == q.opt == q.max == (1, 3, 8, 8)
    r = derive_profile([X], max_shapes={"x": (2, 3, 16, 16)})["x"]
    assert r.min == (1, 3, 16, 16) and r.opt == (1, 3, 16, 16) and r.max == (2, 3, 16, 16)


def test_profile_errors():
    with pytest.raises(UserInputError, match="fixes it to 3"):
        derive_profile([X], opt_shapes={"x": (1, 4, 8, 8)})
    with pytest.raises(UserInputError, match="rank 3"):
        derive_profile([X], shapes={"x": (1, 3, 8)})
    with pytest.raises(UserInputError, match="min <= opt <= max"):
        derive_profile([X], min_shapes={"x": (4, 3, 8, 8)}, max_shapes={"x": (2, 3, 8, 8)})


def test_validate_feed_accepts_and_orders():
    x = np.zeros((2, 3, 5, 7), np.float32)
    out = validate_feed({"x": x}, [X], "t.npz")
    assert list(out) == ["x"] and out["x"].shape == (2, 3, 5, 7)
    assert list(validate_feed({"": x}, [X], "t.npy")) == ["x"]  # a single .npy


@pytest.mark.parametrize("feed, message", [
    ({"z": np.zeros((1, 3, 4, 4), np.float32)}, r"lacks the input\(s\) \['x'\]"),
    ({"x": np.zeros((1, 3, 4, 4), np.float64)}, "is float64, the model wants float32"),
    ({"x": np.zeros((3, 4, 4), np.float32)}, "has rank 3"),
    ({"x": np.zeros((1, 2, 4, 4), np.float32)}, "axis 1 must be 3"),
    ({"x": np.zeros((1, 3, 4, 4), np.float32), "extra": np.zeros(1)}, "not inputs of the model"),
])
def test_validate_feed_rejects(feed, message):
    with pytest.raises(UserInputError, match=message):
        validate_feed(feed, [X], "t.npz")


def test_validate_feed_profile_range():
    profile = derive_profile([X], shapes={"x": (1, 3, 8, 8)})
    with pytest.raises(UserInputError, match="outside the engine's profile"):
        validate_feed({"x": np.zeros((2, 3, 8, 8), np.float32)}, [X], "t.npz", profile)


def test_load_npz_errors(tmp_path):
    with pytest.raises(UserInputError, match="not found"):
        load_npz(tmp_path / "missing.npz")
    with pytest.raises(UserInputError, match="not a file"):
        load_npz(tmp_path)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UserInputError, match="not a readable .npz"):
        load_npz(bad)


def test_onnx_io(model_path, tmp_path):
    inputs, outputs = onnx_io(model_path)
    assert [(s.name, s.dtype_label, s.dims) for s in inputs] == [("x", "float32", ("batch", 3, "h", "w"))]
    assert [o.name for o in outputs] == ["y"]
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00garbage\xff" * 10)
    with pytest.raises(UserInputError, match="not a readable ONNX model"):
        onnx_io(str(junk))


def test_save_npz_keeps_any_output_name(tmp_path):
    from sortpool.inputs import save_npz

    arrays = {"file": np.arange(3, dtype=np.float32), "allow_pickle": np.ones((2, 2), np.float16), "y": np.zeros(0)}
    path = save_npz(tmp_path / "out", arrays)
    assert path.name == "out.npz"
    loaded = load_npz(path)
    assert list(loaded) == list(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(loaded[name], value)
        assert loaded[name].dtype == value.dtype


def test_validate_feed_takes_other_byte_order_and_bfloat16_from_npz(tmp_path):
    from sortpool.inputs import bfloat16_dtype

    spec = TensorSpec("x", np.dtype(np.float32), (2,))
    (arr,) = validate_feed({"x": np.array([1.5, -2.0], ">f4")}, [spec], "t").values()
    assert arr.dtype == np.float32 and arr.tolist() == [1.5, -2.0]
    bf16 = bfloat16_dtype()
    if bf16 is None:
        pytest.skip("ml_dtypes not installed")
    p = tmp_path / "b.npz"
    np.savez(p, x=np.array([1.0, -3.0], np.float32).astype(bf16))  # stored as 2-byte voids
    (arr,) = validate_feed(load_npz(p), [TensorSpec("x", bf16, (2,), "bfloat16")], str(p)).values()
    assert arr.dtype == bf16 and arr.astype(np.float32).tolist() == [1.0, -3.0]


def test_load_npy_whatever_its_suffix(tmp_path):
    p = tmp_path / "UP.NPY"
    with open(p, "wb") as f:  # np.save(path) would append ".npy"
        np.save(f, np.arange(4, dtype=np.float32))
    (arr,) = load_npz(p).values()
    assert arr.tolist() == [0.0, 1.0, 2.0, 3.0]


def _graph_model(path, nodes, inputs, outputs):
    import onnx
    from onnx import helper

    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs),
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("sortpool", 1)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return str(path)


def test_an_empty_or_graphless_file_is_not_a_model(cli, tmp_path, x_npz):
    from onnx import TensorProto, helper

    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    no_nodes = _graph_model(tmp_path / "no_nodes.onnx", [], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])])
    for path, why in [(empty, "its graph has no nodes, no inputs, no outputs"), (no_nodes, "its graph has no nodes")]:
        with pytest.raises(UserInputError, match=f"is not a readable ONNX model \\({why}\\)"):
            onnx_io(path)
        for args in (["run", path, "--inputs", x_npz], ["build", path, "-o", tmp_path / "m.engine"]):
            code, _, err = cli(*args)
            assert code == 2 and f"{path} is not a readable ONNX model ({why})" in err, err


def test_a_model_without_the_sortpool_opset_import_is_run_as_onnx_runtime_runs_it(cli, tmp_path, x_npz):
    """ONNX Runtime runs a sortpool node whose domain the model does not import; the node check
    judges it by the schema's version instead of refusing it."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("SortedWeightedPool", ["x"], ["y"], domain="sortpool", kernel_shape=[2, 2], pool_range=2,
                            weights=[0.75, 0.25])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "no_import.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code, out, err = cli("run", path, "--inputs", x_npz)
    assert code == 0 and "y: float32[2, 3, 8, 8]" in out, err
    bad = helper.make_node("SortedWeightedPool", ["x"], ["y"], domain="sortpool", kernel_shape=[2, 2], pool_range=5,
                           weights=[1.0] * 5)
    graph = helper.make_graph([bad], "g", graph.input, graph.output)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code, _, err = cli("run", path, "--inputs", x_npz)
    assert code == 2 and "attribute 'pool_range' = 5 is invalid" in err, err


def test_unhandled_types_are_named(tmp_path):
    from onnx import TensorProto, helper

    u16 = _graph_model(tmp_path / "u16.onnx", [helper.make_node("Identity", ["x"], ["y"])],
                       [helper.make_tensor_value_info("x", TensorProto.UINT16, [2])],
                       [helper.make_tensor_value_info("y", TensorProto.UINT16, [2])])
    with pytest.raises(UserInputError, match="tensor 'x' is of type uint16, which this tool does not handle"):
        onnx_io(u16)
    seq = _graph_model(tmp_path / "seq.onnx", [helper.make_node("SequenceConstruct", ["x"], ["s"])],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                       [helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, [2])])
    with pytest.raises(UserInputError, match="tensor 's' is of type sequence, which this tool does not handle"):
        onnx_io(seq)


def test_output_path_rule(tmp_path, model_path):
    from sortpool.inputs import check_output_path

    fresh = tmp_path / "new.bin"
    assert check_output_path(fresh, "output") == fresh and not fresh.exists()  # the probe leaves nothing behind
    kept = tmp_path / "kept.bin"
    kept.write_bytes(b"old content")
    check_output_path(kept, "output")
    assert kept.read_bytes() == b"old content"  # an existing file is probed without being truncated
    link = tmp_path / "link.onnx"
    link.symlink_to(model_path)
    with pytest.raises(UserInputError, match="is the same file as the ONNX model"):
        check_output_path(link, "engine", {"the ONNX model": model_path})
    # A dangling link is judged by where it points: the link stays, no empty file is left there.
    (tmp_path / "store").mkdir()
    dangling = tmp_path / "report.json"
    dangling.symlink_to(tmp_path / "store" / "report.json")
    check_output_path(dangling, "report")
    assert dangling.is_symlink() and not (tmp_path / "store" / "report.json").exists()
    # Not regular files: taken as they are, never opened (a named pipe would wait for a reader).
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    done = []
    probe = threading.Thread(target=lambda: done.append(check_output_path(fifo, "output")), daemon=True)
    probe.start()
    probe.join(5)
    assert done == [fifo]
    assert check_output_path(os.devnull, "engine", {"the summary": os.devnull}) == Path(os.devnull)
    read_end, write_end = os.pipe()  # /dev/fd/N onto a pipe, as `--report /dev/stdout | cat` or `>(...)` give
    try:
        assert check_output_path(f"/dev/fd/{write_end}", "report") == Path(f"/dev/fd/{write_end}")
    finally:
        os.close(read_end)
        os.close(write_end)
