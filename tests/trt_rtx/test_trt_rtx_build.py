"""Real engine builds: TensorRT for RTX's ONNX parser imports our IPluginV3 and its builder compiles
engines ahead of time for SM89 (no GPU needed). Engines cannot run here.

What each class of case would catch in the plugin's build-phase methods:
- output dims after parsing, on static shapes and at every profile point, against the contract's
  shape rule (tests/reference.py): getOutputShapes;
- float32, float16 and bfloat16 networks that build, the output keeping the input's type:
  getOutputDataTypes and supportsFormatCombination (a type refused there fails the build);
- dynamic profiles that build: getOutputShapes' expressions and configurePlugin;
- bad attributes refused at parse with our own message in TensorRT's log: the creator's checks and
  the library's logger link to TensorRT for RTX;
- the plugin library serialized into the engine: the library's bytes inside the plan.
All cases run in one child process (_worker.py); each test reads its case's result.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from reference import output_shape

WORKER = Path(__file__).with_name("_worker.py")
ELEM = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16, "bfloat16": TensorProto.BFLOAT16}
RNG = np.random.default_rng(20261202)


def _weights(k: int, channels: int = 0) -> list:
    n = k * channels if channels else k
    w = RNG.random(n).astype(np.float32) + 0.05
    return [float(v) for v in w]


def _pool_node(inp: str, out: str, **attrs):
    attrs.setdefault("plugin_version", "2")
    return helper.make_node("SortedWeightedPool", [inp], [out], domain="sortpool", name=out, **attrs)


def _model(nodes, x_shape, dtype="float32", initializers=()):
    elem = ELEM[dtype]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, list(x_shape))],
                              [helper.make_tensor_value_info(nodes[-1].output[0], elem, None)],
                              initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("sortpool", 1)])


# -- attribute classes: (kernel, strides, pads, ceil_mode, k, per-channel, input shape) --------------
ATTRIBUTE_CASES = [
    ((1, 1), (1, 1), (0, 0, 0, 0), 0, 1, False, (2, 3, 5, 7)),
    ((2, 2), (2, 2), (0, 0, 1, 1), 1, 2, False, (1, 3, 8, 10)),  # ceil mode: the last window would start in the pad
    ((3, 3), (2, 2), (0, 1, 2, 2), 1, 3, True, (1, 2, 4, 7)),
    ((1, 1), (2, 3), (0, 0, 0, 0), 0, 1, True, (1, 3, 9, 10)),
    ((2, 2), (2, 2), (0, 0, 0, 0), 0, 1, False, (2, 4, 8, 8)),
    ((2, 2), (2, 2), (0, 0, 0, 0), 0, 2, True, (2, 4, 9, 11)),
    ((2, 2), (2, 2), (0, 0, 0, 0), 1, 3, False, (1, 3, 9, 11)),
    ((2, 2), (1, 1), (1, 1, 0, 0), 0, 4, False, (1, 2, 6, 6)),
    ((3, 3), (2, 2), (1, 1, 1, 1), 0, 4, False, (2, 3, 12, 12)),
    ((3, 3), (2, 2), (1, 1, 1, 1), 1, 9, True, (1, 5, 13, 14)),
    ((3, 3), (1, 1), (1, 0, 0, 2), 1, 5, False, (1, 3, 7, 9)),
    ((2, 3), (1, 2), (0, 1, 1, 0), 0, 6, False, (1, 3, 10, 11)),
    ((3, 2), (3, 1), (2, 0, 0, 1), 1, 2, True, (2, 2, 11, 6)),
    ((4, 4), (4, 4), (0, 0, 0, 0), 1, 16, False, (1, 3, 17, 18)),
    ((5, 5), (3, 3), (2, 1, 0, 2), 1, 7, False, (1, 2, 16, 15)),
    ((5, 3), (2, 1), (4, 0, 4, 2), 0, 15, True, (1, 3, 9, 8)),
    ((7, 7), (1, 1), (3, 3, 3, 3), 0, 49, False, (1, 2, 9, 9)),
    ((7, 7), (7, 7), (6, 0, 0, 6), 1, 3, True, (1, 3, 15, 22)),
    ((7, 1), (1, 1), (0, 0, 0, 0), 0, 7, False, (1, 3, 10, 4)),
    ((1, 7), (1, 2), (0, 3, 0, 3), 1, 4, False, (1, 3, 4, 12)),
    ((4, 16), (4, 16), (0, 0, 0, 0), 0, 64, False, (1, 1, 8, 32)),
]


def _attribute_case(i, case, dtype="float32"):
    kernel, strides, pads, ceil_mode, k, per_channel, shape = case
    node = _pool_node("x", "y", kernel_shape=list(kernel), strides=list(strides), pads=list(pads), ceil_mode=ceil_mode,
                      pool_range=k, weights=_weights(k, shape[1] if per_channel else 0))
    expected = output_shape(shape, kernel, strides, pads, ceil_mode)
    return {"id": f"attrs{i}-{dtype}", "onnx": _model([node], shape, dtype), "expect_dims": list(expected),
            "expect_dtype": {"float32": "FLOAT", "float16": "HALF", "bfloat16": "BF16"}[dtype],
            "expect_io": {"float32": "Float", "float16": "Half", "bfloat16": "BFloat16"}[dtype]}


def _cases():
    cases = [_attribute_case(i, c) for i, c in enumerate(ATTRIBUTE_CASES)]
    for dtype in ("float16", "bfloat16"):
        cases += [_attribute_case(i, ATTRIBUTE_CASES[i], dtype) for i in (5, 9, 15)]

    # Dynamic batch and spatial dimensions: the dynamic build, and each profile point as its own
    # static network (the parser evaluates getOutputShapes there and reports concrete dims).
    dynamic = [
        (dict(kernel_shape=[2, 2], pool_range=3), (1, 3, 6, 7), (4, 3, 32, 33), (16, 3, 97, 64)),
        (dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1, pool_range=4),
         (1, 4, 3, 3), (8, 4, 56, 56), (32, 4, 225, 224)),
        (dict(kernel_shape=[5, 2], strides=[1, 3], pads=[0, 1, 4, 0], pool_range=2), (2, 2, 1, 2), (2, 2, 20, 31),
         (2, 2, 40, 101)),
    ]
    for i, (attrs, lo, opt, hi) in enumerate(dynamic):
        node_attrs = dict(attrs, weights=_weights(attrs["pool_range"]))
        cases.append({"id": f"dynamic{i}", "onnx": _model([_pool_node("x", "y", **node_attrs)], ["N", lo[1], "H", "W"]),
                      "profile": {"x": [list(lo), list(opt), list(hi)]}, "expect_dims": [-1, lo[1], -1, -1],
                      "expect_dtype": "FLOAT"})
        full = dict(dict(strides=attrs["kernel_shape"], pads=[0, 0, 0, 0], ceil_mode=0), **attrs)
        for point, shape in zip(("min", "opt", "max"), (lo, opt, hi)):
            expected = output_shape(shape, full["kernel_shape"], full["strides"], full["pads"], full["ceil_mode"])
            cases.append({"id": f"dynamic{i}-{point}", "onnx": _model([_pool_node("x", "y", **node_attrs)], shape),
                          "expect_dims": list(expected), "expect_dtype": "FLOAT"})

    # Several plugin nodes between standard layers, dynamic batch: Conv, pool, Relu, pool
    # (per-channel), Conv, pool (k = 1).
    conv1 = numpy_helper.from_array(RNG.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1")
    conv2 = numpy_helper.from_array(RNG.standard_normal((4, 8, 1, 1)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             _pool_node("c1", "p1", kernel_shape=[2, 2], pool_range=4, weights=_weights(4)),
             helper.make_node("Relu", ["p1"], ["r1"]),
             _pool_node("r1", "p2", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], pool_range=3,
                        weights=_weights(3, 8)),
             helper.make_node("Conv", ["p2", "w2"], ["c2"]),
             _pool_node("c2", "y", kernel_shape=[2, 2], ceil_mode=1, pool_range=1, weights=[1.0])]
    cases.append({"id": "mixed-network", "onnx": _model(nodes, ["N", 3, 40, 40], initializers=[conv1, conv2]),
                  "profile": {"x": [[1, 3, 40, 40], [4, 3, 40, 40], [16, 3, 40, 40]]},
                  "expect_dims": [-1, 4, 5, 5], "expect_plugin_layers": 3, "expect_dtype": "FLOAT"})

    # The plugin library shipped inside the engine.
    cases.append({"id": "serialized-plugin", "serialize_plugin": True, "expect_dtype": "FLOAT",
                  "onnx": _model([_pool_node("x", "y", kernel_shape=[2, 2], pool_range=2, weights=[0.7, 0.3])],
                                 (1, 3, 8, 8)), "expect_dims": [1, 3, 4, 4]})
    # Two targets in one engine.
    cases.append({"id": "two-targets", "targets": ["SM86", "SM120"], "expect_dtype": "FLOAT",
                  "onnx": _model([_pool_node("x", "y", kernel_shape=[2, 2], pool_range=2, weights=[0.7, 0.3])],
                                 (1, 3, 8, 8)), "expect_dims": [1, 3, 4, 4]})
    return cases


# Bad attributes: (attributes, what our message must say). The parser must fail, the process live.
BAD = [
    (dict(kernel_shape=[2, 2], pool_range=5, weights=[1.0] * 5), "attribute 'pool_range' = 5 is invalid"),
    (dict(kernel_shape=[2, 2], pool_range=2, weights=[1.0] * 3), "'weights'"),
    (dict(kernel_shape=[3, 3], pads=[3, 0, 0, 0], pool_range=1, weights=[1.0]), "'pads'"),
    (dict(kernel_shape=[9, 8], pool_range=1, weights=[1.0]), "'kernel_shape'"),
    (dict(kernel_shape=[2, 2], pool_range=1, weights=[float("nan")]), "finite"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory, trt_plugin_library):
    folder = tmp_path_factory.mktemp("trt_rtx")
    cases = _cases() + [{"id": f"bad{i}", "onnx": _model([_pool_node("x", "y", **attrs)], (1, 3, 8, 8)),
                         "expect_message": message} for i, (attrs, message) in enumerate(BAD)]
    for case in cases:
        case["model"] = str(folder / f"{case['id']}.onnx")
        Path(case["model"]).write_bytes(case.pop("onnx").SerializeToString())
    cases_path, results_path = folder / "cases.json", folder / "results.json"
    cases_path.write_text(json.dumps(cases))
    done = subprocess.run([sys.executable, str(WORKER), trt_plugin_library, str(cases_path), str(results_path)],
                          capture_output=True, text=True, timeout=900)
    ran = json.loads(results_path.read_text()) if results_path.exists() else {"results": [], "creators": []}
    assert done.returncode == 0 and len(ran["results"]) == len(cases), (
        f"the worker stopped (exit {done.returncode}) after {len(ran['results'])} of {len(cases)} cases:\n"
        f"{done.stderr[-3000:]}")
    return {"creators": ran["creators"], "cases": {c["id"]: c for c in cases},
            "results": {r["id"]: r for r in ran["results"]}}


GOOD_IDS = [c["id"] for c in _cases()]


def test_only_version_2_is_offered_to_tensorrt_for_rtx(built):
    assert built["creators"] == [["SortedWeightedPool", "2"]]


def test_at_least_30_engines_are_built(built):
    engines = [r for r in built["results"].values() if r.get("engine_bytes")]
    assert len(engines) >= 30, len(engines)


@pytest.mark.parametrize("case_id", GOOD_IDS)
def test_parse_and_build(built, case_id):
    case, result = built["cases"][case_id], built["results"][case_id]
    assert result["parsed"], result["parser_errors"]
    layers = result["layers"]
    assert layers.count("PLUGIN_V3") == case.get("expect_plugin_layers", 1), layers
    name, dims, dtype = result["outputs"][0]
    assert dims == case["expect_dims"], f"output dims {dims}, the contract's shape rule gives {case['expect_dims']}"
    assert dtype == case["expect_dtype"]
    assert result["engine_bytes"] > 0, result["log"]
    assert not [m for m in result["log"] if m.startswith("ERROR")], result["log"]
    # What the builder chose for each plugin layer: linear tensors of the network's type in and out.
    io = result["plugin_layer_io"]
    assert len(io) == case.get("expect_plugin_layers", 1) and all(len(layer) == 2 for layer in io), io
    assert all(fmt.startswith("Linear") for layer in io for _, fmt in layer), io
    assert all(dtype == case.get("expect_io", "Float") for layer in io for dtype, _ in layer), io


def test_the_plugin_library_is_serialized_into_the_engine(built, trt_plugin_library):
    carried = built["results"]["serialized-plugin"]
    plain = built["results"]["two-targets"]
    assert carried["engine_carries_plugin_library"] and not plain["engine_carries_plugin_library"]
    assert carried["engine_bytes"] > plain["engine_bytes"] + os.path.getsize(trt_plugin_library) // 2


@pytest.mark.parametrize("index", range(len(BAD)))
def test_bad_attributes_fail_at_parse_with_our_message(built, index):
    result = built["results"][f"bad{index}"]
    assert not result["parsed"]
    ours = [m for m in result["log"] if m.startswith("ERROR: SortedWeightedPool")]
    assert ours and BAD[index][1] in ours[0], result["log"]
