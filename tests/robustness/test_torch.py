"""Bad inputs on the PyTorch side (docs/robustness.md, "PyTorch layer, exporter, ONNX schema") that
tests/torch does not already cover: models exported with attributes outside the contract (weights
that became NaN/inf in training, attributes changed after construction, a hand-edited exported
model), string-typed and unknown attributes under the registered schema, wrong input dtypes and
ranks for the layer, and pathological but valid windows.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import sortpool  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402
from sortpool.onnx_schema import register_schema  # noqa: E402
from sortpool_torch import SortedWeightedPool2d, export_onnx  # noqa: E402

from reference import sorted_weighted_pool_ref  # noqa: E402


def _export(layer, dynamo=False):
    model = torch.nn.Sequential(layer).eval()
    return export_onnx(model, torch.randn(2, 3, 8, 8), dynamo=dynamo)


def _pool_node(proto):
    return [n for n in proto.graph.node if n.domain == "sortpool"][0]


def _nan_logits():
    layer = SortedWeightedPool2d(2, 2)
    with torch.no_grad():
        layer.logits[0] = float("nan")  # a diverged training run
    return layer


def _inf_raw_weight():
    layer = SortedWeightedPool2d(2, 2, normalize=False)
    with torch.no_grad():
        layer.logits[0] = float("inf")
    return layer


def _mutated(attr, value):
    def make():
        layer = SortedWeightedPool2d(2, 2)
        setattr(layer, attr, value)  # changed after the constructor validated it
        return layer
    return make


# Layers changed (or diverged) after construction: export_onnx refuses each, naming the attribute;
# a model edited by hand to the same values is refused downstream (test_hand_edited_exported_...).
OUTSIDE = [
    (_nan_logits, "weights", "weights must be finite"),
    (_inf_raw_weight, "weights", "weights must be finite"),
    (_mutated("padding", (2, 2, 2, 2)), "pads", "0 <= pad < kernel size"),
]
# (these would otherwise fail inside torch with messages that do not name the attribute)
OUTSIDE_TORCH = [
    (_mutated("stride", (0, 2)), "strides", ZeroDivisionError, "integer division or modulo by zero"),
    (_mutated("kernel_size", (9, 8)), "kernel_shape", RuntimeError, "maximum size for tensor at dimension 2 is 8"),
    (_mutated("pool_range", 9), "pool_range", RuntimeError, r"shape '\[-1, 9\]' is invalid"),
]


@pytest.mark.parametrize("make,attribute", [c[:2] for c in OUTSIDE + OUTSIDE_TORCH],
                         ids=["nan_logits", "inf_raw_weight", "padding_2", "stride_0", "kernel_9x8", "pool_range_9"])
def test_export_onnx_itself_refuses_attributes_outside_the_contract(make, attribute):
    with pytest.raises(ValueError, match=f"'{attribute}'"):
        _export(make())


@pytest.mark.parametrize("attribute,value,rule", [
    ("pool_range", 5, "'pool_range' = 5"),
    ("pool_range", 0, "'pool_range' = 0"),
    ("kernel_shape", [0, 2], "'kernel_shape' = [0, 2]"),
    ("pads", [0, 0, 2, 0], "'pads' = [0, 0, 2, 0]"),
])
def test_hand_edited_exported_model_is_refused(attribute, value, rule):
    register_schema()
    proto = _export(SortedWeightedPool2d(2, 2))
    node = _pool_node(proto)
    kept = [a for a in node.attribute if a.name != attribute]
    del node.attribute[:]
    node.attribute.extend(kept + [helper.make_attribute(attribute, value)])
    with pytest.raises(Exception, match=rule.replace("[", r"\[").replace("]", r"\]")):
        onnx.checker.check_model(proto, full_check=True)
    with pytest.raises(Exception) as info:
        sortpool.make_ort_session(proto)
    assert rule in str(info.value), str(info.value)


def _schema_model(**attrs):
    node = helper.make_node("SortedWeightedPool", ["x"], ["y"], domain="sortpool", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "c", "h", "w"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("sortpool", 1)])


@pytest.mark.parametrize("attrs,needle", [
    (dict(pool_range="1", weights=[1.0]), "pool_range"),
    (dict(pool_range=1, weights="1.0"), "weights"),
    (dict(kernel_shape="2x2", pool_range=1, weights=[1.0]), "kernel_shape"),
    (dict(pool_range=1, weights=[1.0], auto_pad="SAME_UPPER"), "auto_pad"),
    (dict(pool_range=1, weights=[1.0], storage_order=0), "storage_order"),
], ids=["pool_range_string", "weights_string", "kernel_string", "auto_pad", "storage_order"])
def test_schema_rejects_string_and_unknown_attributes(attrs, needle):
    register_schema()
    with pytest.raises(Exception, match=needle):
        onnx.checker.check_model(_schema_model(**attrs), full_check=True)


# --------------------------------------------------------------------------------------------
# The layer's inputs
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4,), (1, 2, 3, 4, 5), ()])
def test_layer_rejects_other_ranks(shape):
    with pytest.raises(ValueError, match=r"expected a \(N, C, H, W\) or \(C, H, W\) input"):
        SortedWeightedPool2d(2, 2)(torch.zeros(shape))


def test_layer_float64_is_computed_in_float64():
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    layer = SortedWeightedPool2d(2, 2).double()
    y = layer(x)
    assert y.dtype == torch.float64
    want = sorted_weighted_pool_ref(x.numpy(), (2, 2), (2, 2), (0, 0, 0, 0), 0, 2, layer.weights().detach().numpy())
    np.testing.assert_array_equal(y.detach().numpy(), want)  # float64 arithmetic, rank order: exact


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool], ids=["int32", "int64", "bool"])
def test_layer_rejects_non_float_inputs(dtype):
    with pytest.raises((TypeError, ValueError), match="dtype"):
        SortedWeightedPool2d(2, 2)(torch.ones(1, 1, 4, 4, dtype=dtype))


def test_pathological_valid_windows_finish_quickly(pathological_input):
    x = pathological_input
    layer = SortedWeightedPool2d(64, (8, 8), stride=1, padding=7, ceil_mode=True, normalize=False, init="mean")
    start = time.perf_counter()
    with torch.no_grad():
        y = layer(torch.from_numpy(x))
    assert time.perf_counter() - start < 60
    want = sorted_weighted_pool_ref(x[:1, :2], (8, 8), (1, 1), (7, 7, 7, 7), 1, 64, [1.0 / 64] * 64)
    np.testing.assert_array_equal(y[:1, :2].numpy(), want)  # rank-order float32 sum: exact, NaN and inf included
