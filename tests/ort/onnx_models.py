"""Single-node SortedWeightedPool models written directly with onnx.helper (no exporter involved)."""
from __future__ import annotations

from onnx import TensorProto, helper

ELEM_TYPES = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16}


def pool_model(attrs: dict, dtype: str = "float32", shape=("N", "C", "H", "W"), ir_version: int = 8) -> bytes:
    node = helper.make_node("SortedWeightedPool", ["x"], ["y"], domain="sortpool", **attrs)
    elem = ELEM_TYPES[dtype]
    graph = helper.make_graph([node], "sortpool_single_node", [helper.make_tensor_value_info("x", elem, shape)],
                              [helper.make_tensor_value_info("y", elem, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("sortpool", 1)])
    model.ir_version = ir_version  # loadable by every supported onnxruntime
    return model.SerializeToString()
