"""sortpool.onnx_schema: the OpSchema registered from Python (no torch needed by the module)."""

import itertools

import onnx
import pytest
from onnx import TensorProto, helper

from reference import output_shape
from sortpool import onnx_schema
from sortpool.onnx_schema import check_attributes, register_schema


def _model(input_shape, elem=TensorProto.FLOAT, **attrs):
    node = helper.make_node("SortedWeightedPool", ["x"], ["y"], domain="sortpool", **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", elem, input_shape)],
        [helper.make_tensor_value_info("y", elem, ["n", "c", "h", "w"])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("sortpool", 1)])


def _out_dims(model):
    vi = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph.output[0]
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in vi.type.tensor_type.shape.dim]


def test_register_schema_is_idempotent():
    register_schema()
    register_schema()
    assert onnx_schema.is_registered()
    schema = onnx.defs.get_schema("SortedWeightedPool", 1, "sortpool")
    assert set(schema.attributes) == {"kernel_shape", "strides", "pads", "ceil_mode", "pool_range", "weights",
                                      "plugin_version", "plugin_namespace"}
    assert schema.attributes["pool_range"].required and schema.attributes["weights"].required
    assert not schema.attributes["strides"].required
    assert not schema.attributes["plugin_version"].required and not schema.attributes["plugin_namespace"].required
    assert {t for c in schema.type_constraints for t in c.allowed_type_strs} == {
        "tensor(float)", "tensor(float16)", "tensor(bfloat16)"}
    assert schema.has_type_and_shape_inference_function


@pytest.mark.parametrize("elem", [TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16])
def test_valid_model_passes_full_check(elem):
    register_schema()
    model = _model([2, 3, 7, 8], elem, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1,
                   pool_range=2, weights=[0.6, 0.4] * 3)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph.output[0]
    assert inferred.type.tensor_type.elem_type == elem
    assert _out_dims(model) == [2, 3, 4, 5]


@pytest.mark.parametrize("version", ["1", "2"])
def test_trt_plugin_attributes_are_accepted(version):
    register_schema()
    model = _model([2, 3, 7, 8], pool_range=2, weights=[0.6, 0.4], plugin_version=version, plugin_namespace="")
    onnx.checker.check_model(model, full_check=True)
    assert _out_dims(model) == [2, 3, 3, 4]


def test_defaults_kernel_2x2_stride_kernel():
    register_schema()
    model = _model([1, 2, 7, 9], pool_range=1, weights=[1.0])
    onnx.checker.check_model(model, full_check=True)
    assert _out_dims(model) == [1, 2, 3, 4]


def test_shape_inference_is_maxpool_formula():
    register_schema()
    for h, kh, sh, pt, pb, cm in itertools.product([1, 2, 5, 8], [1, 2, 3], [1, 2, 3], [0, 1, 2], [0, 1, 2], [0, 1]):
        if pt >= kh or pb >= kh or h + pt + pb < kh:
            continue
        attrs = dict(kernel_shape=[kh, 2], strides=[sh, 1], pads=[pt, 0, pb, 1], ceil_mode=cm, pool_range=1,
                     weights=[1.0])
        expected = output_shape((2, 3, h, 6), (kh, 2), (sh, 1), (pt, 0, pb, 1), cm)
        assert _out_dims(_model([2, 3, h, 6], **attrs)) == list(expected), attrs


def test_symbolic_dims():
    register_schema()
    # N and C keep their symbols; H/W become unknown unless the window preserves the extent.
    model = _model(["N", "C", "H", "W"], kernel_shape=[3, 1], strides=[2, 1], pads=[1, 0, 1, 0], pool_range=2,
                   weights=[0.5, 0.5])
    model.graph.node[0].output[0] = "t"  # an intermediate value, so no declared output shape interferes
    model.graph.node.append(helper.make_node("Identity", ["t"], ["y"]))
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    (t,) = [vi for vi in inferred.graph.value_info if vi.name == "t"]
    dims = t.type.tensor_type.shape.dim
    assert [d.dim_param for d in dims[:2]] + [dims[3].dim_param] == ["N", "C", "W"]
    assert dims[2].dim_param != "H" and not dims[2].HasField("dim_value")  # unknown (onnx may name it unk__0)


@pytest.mark.parametrize("batch", [2, "N"], ids=["static", "symbolic_batch"])
def test_each_spatial_axis_is_checked_on_its_own(batch):
    # The contract: an empty axis gives 0 whatever the window; a non-empty axis whose padded size is
    # below the window is an error, even when the other axis is empty. Static and partly symbolic
    # shapes take different paths through the schema; both must follow the reference.
    register_schema()
    for h, w, pads in itertools.product([0, 1, 2, 3], [0, 1, 2, 3], ([0, 0, 0, 0], [0, 1, 0, 0], [1, 0, 0, 1])):
        attrs = dict(kernel_shape=[3, 2], strides=[2, 2], pads=pads, pool_range=1, weights=[1.0])
        model = _model([batch, 3, h, w], **attrs)
        try:
            expected = output_shape((2, 3, h, w), (3, 2), (2, 2), pads, 0)
        except ValueError:
            axis = "H" if 0 < h and h + pads[0] + pads[2] < 3 else "W"
            with pytest.raises(Exception, match=f"smaller than the window along {axis}"):
                onnx.checker.check_model(model, full_check=True)
            continue
        onnx.checker.check_model(model, full_check=True)
        assert _out_dims(model)[2:] == list(expected[2:]), (h, w, pads)


def test_spatial_limit_holds_with_a_symbolic_batch():
    register_schema()
    model = _model(["N", 1, 2**31, 4], pool_range=1, weights=[1.0])
    with pytest.raises(Exception, match="exceeds the supported maximum"):
        onnx.checker.check_model(model, full_check=True)


BAD = [
    (dict(pool_range=5, weights=[1.0] * 5), "pool_range"),
    (dict(pool_range=0, weights=[1.0]), "pool_range"),
    (dict(weights=[1.0]), "pool_range"),
    (dict(pool_range=1), "weights"),
    (dict(pool_range=2, weights=[1.0, 2.0, 3.0]), "weights"),
    (dict(pool_range=2, weights=[1.0] * 4), "per-channel weights were given for 2 channels"),
    (dict(pool_range=1, weights=[float("nan")]), "finite"),
    (dict(pool_range=1, weights=[float("inf")]), "finite"),
    (dict(kernel_shape=[9, 8], pool_range=1, weights=[1.0]), "kernel_shape"),
    (dict(kernel_shape=[2], pool_range=1, weights=[1.0]), "kernel_shape"),
    (dict(kernel_shape=[0, 2], pool_range=1, weights=[1.0]), "kernel_shape"),
    (dict(strides=[0, 1], pool_range=1, weights=[1.0]), "strides"),
    (dict(strides=[1, 1, 1], pool_range=1, weights=[1.0]), "strides"),
    (dict(pads=[2, 0, 0, 0], pool_range=1, weights=[1.0]), "pads"),
    (dict(pads=[0, 0, 0, -1], pool_range=1, weights=[1.0]), "pads"),
    (dict(pads=[0, 0], pool_range=1, weights=[1.0]), "pads"),
    (dict(ceil_mode=2, pool_range=1, weights=[1.0]), "ceil_mode"),
    (dict(pool_range=1, weights=[1.0], plugin_version="3"), "'plugin_version' = \"3\" is invalid"),
    (dict(pool_range=1, weights=[1.0], plugin_version=2), "plugin_version"),  # an int, not a string
    (dict(pool_range=1, weights=[1.0], plugin_namespace="ns"), "'plugin_namespace' = \"ns\" is invalid"),
]


@pytest.mark.parametrize("attrs,match", BAD, ids=[str(i) for i in range(len(BAD))])
def test_invalid_attributes_are_rejected_with_a_message(attrs, match):
    register_schema()
    model = _model([1, 3, 6, 6], **attrs)
    with pytest.raises(Exception, match=match):
        onnx.checker.check_model(model, full_check=True)


@pytest.mark.parametrize(
    "model",
    [
        _model([1, 3, 6, 6], pool_range=1, weights=[1.0], dilations=[1, 1]),  # unsupported attribute
        _model([1, 3, 6, 6], pool_range=1.0, weights=[1.0]),  # wrong attribute type
        _model([1, 3, 6, 6], TensorProto.DOUBLE, pool_range=1, weights=[1.0]),  # unsupported type
        _model([1, 3, 6], pool_range=1, weights=[1.0]),  # rank 3
        _model([1, 3, 1, 6], kernel_shape=[2, 2], pool_range=1, weights=[1.0]),  # smaller than window
    ],
    ids=["dilations", "float_pool_range", "double", "rank3", "too_small"],
)
def test_other_invalid_models(model):
    register_schema()
    with pytest.raises(Exception):
        onnx.checker.check_model(model, full_check=True)


def test_check_attributes_without_onnx_defaults():
    a = check_attributes(pool_range=2, weights=[0.5, 0.5])
    assert (a.kernel_shape, a.strides, a.pads, a.ceil_mode, a.pool_range) == ((2, 2), (2, 2), (0, 0, 0, 0), 0, 2)
    assert a.weight_channels == 0
    assert check_attributes(pool_range=2, weights=[0.5] * 6).weight_channels == 3
