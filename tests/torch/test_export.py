"""ONNX export with both exporters: one custom-domain node per layer, its attributes, the ONNX
checker and shape inference (through sortpool.onnx_schema), dynamic dims, float16, and that
export leaves the model untouched. The exported graphs are also run with onnx's
ReferenceEvaluator (custom op implemented by tests/reference.py) against PyTorch."""

import io

import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from reference import sorted_weighted_pool_ref
from sortpool_torch import SortedWeightedPool2d, export_onnx, onnx_export_mode

EXPORTERS = [pytest.param(True, id="dynamo"), pytest.param(False, id="torchscript")]
ATTRIBUTES = {"kernel_shape", "strides", "pads", "ceil_mode", "pool_range", "weights", "plugin_version",
              "plugin_namespace"}


class SortedWeightedPool(OpRun):  # the class name is the op_type
    """onnx ReferenceEvaluator kernel of sortpool::SortedWeightedPool, from tests/reference.py."""

    op_domain = "sortpool"

    def _run(self, x, kernel_shape=None, strides=None, pads=None, ceil_mode=None, pool_range=None, weights=None,
             plugin_version=None, plugin_namespace=None):  # the last two route TensorRT only
        kernel_shape = kernel_shape or [2, 2]
        y = sorted_weighted_pool_ref(
            x, kernel_shape, strides or kernel_shape, pads or [0, 0, 0, 0], ceil_mode or 0, pool_range, weights
        )
        return (y.astype(x.dtype),)


def _run_onnx(proto, x):
    sess = ReferenceEvaluator(proto, new_ops=[SortedWeightedPool])
    return sess.run(None, {proto.graph.input[0].name: x})[0]


def make_model(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        SortedWeightedPool2d(3, 3, 2, padding=1, ceil_mode=True, channels=4),  # per-channel softmax
        torch.nn.ReLU(),
        SortedWeightedPool2d(2, (2, 3), (1, 2), padding=(1, 0, 0, 2)),  # shared softmax
        SortedWeightedPool2d(2, 2, normalize=False, init="mean"),  # raw weights
    ).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, SortedWeightedPool2d):
                m.logits.add_(torch.randn_like(m.logits))
    return model


def _layers(model):
    return [m for m in model.modules() if isinstance(m, SortedWeightedPool2d)]


def _nodes(proto):
    return [n for n in proto.graph.node if n.domain == "sortpool"]


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _dims(value_info):
    return [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else None)
            for d in value_info.type.tensor_type.shape.dim]


@pytest.fixture(scope="module", params=EXPORTERS)
def exported(request, tmp_path_factory):
    model = make_model()
    x = torch.randn(2, 3, 13, 17)
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    proto = export_onnx(model, (x,), path, dynamo=request.param)
    return model, x, proto, path


def test_one_node_per_layer_with_contract_attributes(exported):
    model, _, proto, _ = exported
    nodes = _nodes(proto)
    assert len(nodes) == 3 and all(n.op_type == "SortedWeightedPool" for n in nodes)
    assert [(o.domain, o.version) for o in proto.opset_import if o.domain == "sortpool"] == [("sortpool", 1)]
    assert {(o.domain, o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {("", 18)}
    for node, layer in zip(nodes, _layers(model)):
        assert {a.name for a in node.attribute} == ATTRIBUTES
        types = {a.name: a.type for a in node.attribute}
        assert types == {"kernel_shape": onnx.AttributeProto.INTS, "strides": onnx.AttributeProto.INTS,
                         "pads": onnx.AttributeProto.INTS, "ceil_mode": onnx.AttributeProto.INT,
                         "pool_range": onnx.AttributeProto.INT, "weights": onnx.AttributeProto.FLOATS,
                         "plugin_version": onnx.AttributeProto.STRING, "plugin_namespace": onnx.AttributeProto.STRING}
        a = _attrs(node)
        # TensorRT's parser creates IPluginV3 (docs/operator.md: plugin_version)
        assert a["plugin_version"] == b"2" and a["plugin_namespace"] == b""
        assert a["kernel_shape"] == list(layer.kernel_size)
        assert a["strides"] == list(layer.stride)
        assert a["pads"] == list(layer.padding)
        assert a["ceil_mode"] == int(layer.ceil_mode)
        assert a["pool_range"] == layer.pool_range
        # The weights the layer applies, exactly (float32): softmax of the logits or the raw values.
        expected = layer.weights().detach().reshape(-1)
        assert torch.equal(torch.tensor(a["weights"], dtype=torch.float32), expected)
        if layer.normalize:
            assert torch.equal(expected, torch.softmax(layer.logits.detach(), -1).reshape(-1))
        else:
            assert torch.equal(expected, layer.logits.detach().reshape(-1))
    # Nothing of the pooling layers is left as a tensor (no logits initializer, no TopK).
    assert not any("logits" in i.name for i in proto.graph.initializer)
    assert not any(n.op_type in ("TopK", "Softmax") for n in proto.graph.node)


def test_checker_and_shape_inference(exported):
    model, x, proto, _ = exported
    onnx.checker.check_model(proto, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    out = _dims(inferred.graph.output[0])
    inp = _dims(inferred.graph.input[0])
    # Dynamic batch, height and width on the input; the output keeps the batch symbol and C.
    assert inp[0] == "batch" and inp[1] == 3 and isinstance(inp[2], str) and isinstance(inp[3], str)
    assert out[0] == "batch" and out[1] == model(x).shape[1]
    # Height and width stay symbolic (a symbol each, not lost to shape inference).
    assert isinstance(out[2], str) and isinstance(out[3], str) and out[2] != out[3]


def test_saved_file_equals_returned_model(exported):
    _, _, proto, path = exported
    assert onnx.load(str(path)).SerializeToString() == proto.SerializeToString()


@pytest.mark.parametrize("shape", [(2, 3, 13, 17), (1, 3, 8, 9), (3, 3, 20, 7)])
def test_exported_graph_matches_torch(exported, shape):
    """The exported graph, run by onnx's ReferenceEvaluator with the NumPy reference kernel, equals
    the PyTorch model at several batch/height/width (one dynamic model)."""
    model, _, proto, _ = exported
    x = torch.randn(shape)
    expected = model(x).detach().numpy()
    got = _run_onnx(proto, x.numpy())
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_static_export_shape_inference_gives_maxpool_shape(dynamo):
    model = make_model(1)
    x = torch.randn(2, 3, 11, 14)
    proto = export_onnx(model, x, dynamo=dynamo, dynamic_batch=False, dynamic_spatial=False)
    onnx.checker.check_model(proto, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    assert _dims(inferred.graph.output[0]) == list(model(x).shape)
    # Every intermediate pooling output gets its MaxPool-formula shape from the schema.
    shapes = {vi.name: _dims(vi) for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    y = x
    for m in model:
        y = m(y)
        if isinstance(m, SortedWeightedPool2d):
            node = next(n for n in _nodes(proto) if _attrs(n)["pool_range"] == m.pool_range
                        and _attrs(n)["kernel_shape"] == list(m.kernel_size))
            assert shapes[node.output[0]] == list(y.shape)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_float16_export(dynamo):
    model = make_model(2).half()
    x = torch.randn(2, 3, 10, 12).half()
    proto = export_onnx(model, (x,), dynamo=dynamo)
    onnx.checker.check_model(proto, full_check=True)
    f16 = onnx.TensorProto.FLOAT16
    assert proto.graph.input[0].type.tensor_type.elem_type == f16
    assert proto.graph.output[0].type.tensor_type.elem_type == f16
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    types = {vi.name: vi.type.tensor_type.elem_type for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for node, layer in zip(_nodes(proto), _layers(model)):
        assert types[node.output[0]] == f16
        assert torch.equal(torch.tensor(_attrs(node)["weights"]), layer.weights().detach().reshape(-1))
    got = _run_onnx(proto, x.numpy())
    np.testing.assert_allclose(got.astype(np.float32), model(x).float().detach().numpy(), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_export_leaves_the_model_untouched(dynamo):
    model = make_model(3).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 9, 9)
    y_before = model(x)
    export_onnx(model, x, dynamo=dynamo, dynamic_spatial=False)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(m._export_weights is None for m in _layers(model))
    assert all(p.requires_grad for p in model.parameters())
    y_after = model(x)
    assert torch.equal(y_before, y_after) and y_after.grad_fn is not None


def test_export_mode_is_restored_after_an_error():
    model = make_model(4)
    with pytest.raises(RuntimeError):
        with onnx_export_mode(model):
            assert all(m._export_weights is not None for m in _layers(model))
            raise RuntimeError("boom")
    assert all(m._export_weights is None for m in _layers(model))
    with pytest.raises(RuntimeError, match="expected input.* to have 3 channels, but got 5"):
        export_onnx(model, torch.randn(2, 5, 8, 8), dynamo=False)  # wrong channel count for the Conv
    assert all(m._export_weights is None for m in _layers(model))


def test_export_to_file_object_and_names():
    model = torch.nn.Sequential(SortedWeightedPool2d(1, 2)).eval()
    buf = io.BytesIO()
    proto = export_onnx(model, torch.randn(2, 1, 4, 4), buf, dynamo=False, input_names=["x"], output_names=["y"])
    assert onnx.load_from_string(buf.getvalue()) == proto
    assert [i.name for i in proto.graph.input] == ["x"] and [o.name for o in proto.graph.output] == ["y"]
    assert _dims(proto.graph.input[0]) == ["batch", 1, "height", "width"]
    onnx.checker.check_model(proto, full_check=True)


@pytest.mark.parametrize("shape", [(1, 2, 7, 9), (1, 2, 0, 5), (1, 2, 5, 0), (0, 2, 4, 4)],
                         ids=["plain", "empty_h", "empty_w", "empty_n"])
def test_export_op_passes_torch_opcheck(shape):
    # torch's own consistency checks of the export op: the fake (shape) implementation agrees with
    # the eager one, including empty axes, which give empty outputs whatever the window.
    import sortpool_torch._custom_op  # noqa: F401  (registers the op)

    op = torch.ops.sortpool.sorted_weighted_pool.default
    x = torch.randn(shape)
    torch.library.opcheck(op, (x, [3, 3], [1, 1], [0, 1, 0, 1], 0, 2, [0.75, 0.25]),
                          test_utils=("test_schema", "test_faketensor"))
    if 0 in shape[2:]:
        assert op(x, [3, 3], [1, 1], [0, 1, 0, 1], 0, 2, [0.75, 0.25]).numel() == 0


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_unbatched_input_exports_with_dynamic_height_and_width(dynamo):
    # (C, H, W): C fixed (per-channel weights need it), H and W dynamic, no batch axis.
    model = torch.nn.Sequential(SortedWeightedPool2d(2, 2, channels=4)).eval()
    proto = export_onnx(model, torch.randn(4, 8, 10), dynamo=dynamo)
    dims = [d.dim_value or d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == 4 and isinstance(dims[1], str) and isinstance(dims[2], str), dims
    for shape in [(4, 8, 10), (4, 6, 12)]:
        x = torch.randn(shape)
        np.testing.assert_array_equal(_run_onnx(proto, x), model(x).detach().numpy())


def test_float64_model_is_refused_at_export_naming_the_type():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), SortedWeightedPool2d(2, 2)).double().eval()
    with pytest.raises(Exception, match="float64 input: the ONNX op takes float32 or float16"):
        export_onnx(model, torch.randn(2, 3, 16, 16, dtype=torch.float64), dynamo=False)


def test_torch_jit_trace_gives_the_eager_results_at_other_shapes():
    layer = SortedWeightedPool2d(3, 3, 2, 1, True, channels=3)
    traced = torch.jit.trace(layer, torch.randn(2, 3, 9, 11), check_trace=False)
    for shape in [(2, 3, 9, 11), (1, 3, 14, 7), (3, 3, 5, 5)]:
        x = torch.randn(shape)
        assert torch.equal(traced(x), layer(x)), shape


@pytest.mark.parametrize("version", ["1", None])
def test_trt_plugin_version_is_chosen_at_export(version):
    """trt_plugin_version="1" for TensorRT 8.6/9.x, None for no attribute; anything else is refused
    before the export runs."""
    proto = export_onnx(make_model(), (torch.randn(1, 3, 8, 8),), dynamo=False, trt_plugin_version=version)
    for node in _nodes(proto):
        a = _attrs(node)
        if version is None:
            assert "plugin_version" not in a and "plugin_namespace" not in a
        else:
            assert a["plugin_version"] == version.encode() and a["plugin_namespace"] == b""
    onnx.checker.check_model(proto, full_check=True)
    with pytest.raises(ValueError, match=r"'plugin_version' = \"3\" is invalid"):
        export_onnx(make_model(), (torch.randn(1, 3, 8, 8),), dynamo=False, trt_plugin_version="3")
