"""ONNX schema of the ``sortpool::SortedWeightedPool`` operator (domain version 1).

``register_schema()`` registers an :class:`onnx.defs.OpSchema` for the custom operator with the
ONNX library of this process, so that ``onnx.checker.check_model(model, full_check=True)`` and
``onnx.shape_inference.infer_shapes(model)`` accept models that use it. The schema declares

* input ``X`` and output ``Y`` of type ``T`` in {float, float16, bfloat16}, rank 4 (N, C, H, W);
* attributes ``kernel_shape`` (ints, default [2, 2]), ``strides`` (ints, default
  ``kernel_shape``), ``pads`` (ints [top, left, bottom, right], default [0, 0, 0, 0]),
  ``ceil_mode`` (int, default 0), ``pool_range`` (int, required), ``weights`` (floats,
  required), and the TensorRT parser's ``plugin_version`` ("1" or "2") and ``plugin_namespace``
  ("") strings -- the ONNX checker rejects any other attribute name or attribute type;
* a type and shape inference function that checks every attribute value against the contract in
  ``docs/operator.md`` (raising :class:`onnx.shape_inference.InferenceError` with a message that
  names the attribute, its value and the rule, as the C++ core does) and computes the output shape
  with ONNX MaxPool's formula (ceil_mode included). Unknown (symbolic) input extents give an
  output extent without a value, except where the op preserves the extent (N, C, and spatial
  axes with kernel 1, stride 1 and no padding), which keep the input's ``dim_param``.

Note that ``onnx.shape_inference.infer_shapes`` runs the inference function even when
``strict_mode`` is False, so an invalid attribute makes it raise as well.

The rules themselves are :mod:`sortpool.contract`'s (re-exported here); this module imports onnx
only inside :func:`register_schema`.
"""

from __future__ import annotations

import threading

from . import contract
from .contract import (MAX_SPATIAL_EXTENT, MAX_STRIDE, MAX_WINDOW_CELLS, OP_DOMAIN, OP_DOMAIN_VERSION, OP_TYPE,
                       TRT_PLUGIN_VERSIONS, Naming, PoolAttributes, _pooled_axis, check_attributes,
                       check_trt_plugin_attributes, output_shape, pooled_extent, set_plugin_version, window_fits)

__all__ = [*contract.__all__, "register_schema", "is_registered", "check_node_attributes"]

_SUPPORTED_TYPES = ("tensor(float)", "tensor(float16)", "tensor(bfloat16)")


# ---------------------------------------------------------------------------------------------
# ONNX registration
# ---------------------------------------------------------------------------------------------
_lock = threading.Lock()
_registered = False


def _read_attributes(get_attribute):
    """Reads a node's attributes as plain Python values through ``get_attribute(name)`` (an
    AttributeProto or None: an InferenceContext's, or a NodeProto's) and checks them."""
    import onnx

    def get(name):
        a = get_attribute(name)
        if a is None:
            return None
        value = onnx.helper.get_attribute_value(a)
        return value.decode(errors="replace") if isinstance(value, bytes) else value

    check_trt_plugin_attributes(get("plugin_version"), get("plugin_namespace"))
    return check_attributes(
        kernel_shape=get("kernel_shape"),
        strides=get("strides"),
        pads=get("pads"),
        ceil_mode=get("ceil_mode"),
        pool_range=get("pool_range"),
        weights=get("weights"),
    )


def _infer(ctx) -> None:
    """Type and shape inference function of the schema (called by the ONNX C++ library)."""
    import onnx
    from onnx.shape_inference import InferenceError

    try:
        attrs = _read_attributes(ctx.get_attribute)
    except ValueError as e:
        raise InferenceError(str(e)) from None
    in_type = ctx.get_input_type(0)
    if in_type is None or not in_type.HasField("tensor_type"):
        return
    tt = in_type.tensor_type
    out = onnx.TypeProto()
    out.tensor_type.elem_type = tt.elem_type
    if tt.HasField("shape"):
        dims = tt.shape.dim
        if len(dims) != 4:
            raise InferenceError(
                f"{OP_TYPE}: input X must have rank 4 (N, C, H, W), got rank {len(dims)}"
            )
        known = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if all(v is not None for v in known):
            try:
                shape = output_shape(attrs, known)
            except ValueError as e:
                raise InferenceError(str(e)) from None
            for v in shape:
                out.tensor_type.shape.dim.add().dim_value = v
        else:
            wc = attrs.weight_channels
            if wc and known[1] is not None and known[1] != wc:
                raise InferenceError(
                    f"{OP_TYPE}: per-channel weights were given for {wc} channels but input X has C = {known[1]}"
                )
            (kh, kw), (sh, sw), (pt, pl, pb, pr) = attrs.kernel_shape, attrs.strides, attrs.pads
            spatial = {2: (kh, sh, pt, pb), 3: (kw, sw, pl, pr)}
            for axis, d in enumerate(dims):
                od = out.tensor_type.shape.dim.add()
                if axis < 2:
                    od.CopyFrom(d)
                    continue
                k, s, ph, pt_ = spatial[axis]
                if d.HasField("dim_value"):
                    shown = [v if v is not None else (dd.dim_param or "?") for v, dd in zip(known, dims)]
                    try:
                        od.dim_value = _pooled_axis(d.dim_value, k, s, ph, pt_, attrs.ceil_mode, "HW"[axis - 2],
                                                    shown)
                    except ValueError as e:
                        raise InferenceError(str(e)) from None
                elif (k, s, ph, pt_) == (1, 1, 0, 0) and d.HasField("dim_param"):
                    od.dim_param = d.dim_param
                # otherwise: unknown extent (neither value nor param)
    ctx.set_output_type(0, out)


def _make_schema():
    from onnx import AttributeProto, helper
    from onnx.defs import OpSchema

    doc = (
        "Sorted weighted pooling (S. Singla, 2017): for each pooling window the real (non-padded) "
        "values are sorted largest first and the top pool_range ranks are combined as "
        "sum_i weights[i] * v[i] (weights[c * pool_range + i] for per-channel weights); ranks a "
        "window lacks add 0; a NaN in the window gives NaN. Shape rule: ONNX MaxPool. See "
        "docs/operator.md."
    )
    attrs = [
        OpSchema.Attribute(
            "kernel_shape",
            helper.make_attribute("kernel_shape", [2, 2]),
            "[kernel_h, kernel_w], each >= 1, kernel_h * kernel_w <= 64",
        ),
        OpSchema.Attribute(
            "strides",
            OpSchema.AttrType.INTS,
            "[stride_h, stride_w], each in [1, 2^31 - 1]; default kernel_shape",
            required=False,
        ),
        OpSchema.Attribute(
            "pads",
            helper.make_attribute("pads", [0, 0, 0, 0]),
            "[top, left, bottom, right], 0 <= pad < kernel size on that axis; padded cells are not values",
        ),
        OpSchema.Attribute(
            "ceil_mode",
            helper.make_attribute("ceil_mode", 0),
            "0 or 1, ONNX MaxPool's rule",
        ),
        OpSchema.Attribute(
            "pool_range", OpSchema.AttrType.INT, "k: number of ranks kept, 1 <= k <= kernel_h * kernel_w"
        ),
        OpSchema.Attribute(
            "weights",
            OpSchema.AttrType.FLOATS,
            "k shared weights or C * k per-channel weights (channel-major); weights[0] multiplies the "
            "largest value; all finite",
        ),
        OpSchema.Attribute(
            "plugin_version",
            OpSchema.AttrType.STRING,
            'TensorRT only: "1" (IPluginV2DynamicExt) or "2" (IPluginV3), the plugin TensorRT\'s ONNX parser '
            'creates; absent means "1" there',
            required=False,
        ),
        OpSchema.Attribute(
            "plugin_namespace",
            OpSchema.AttrType.STRING,
            'TensorRT only: the plugin namespace, ""',
            required=False,
        ),
    ]
    assert attrs[0].type == AttributeProto.INTS
    schema = OpSchema(
        OP_TYPE,
        OP_DOMAIN,
        OP_DOMAIN_VERSION,
        doc,
        inputs=[OpSchema.FormalParameter("X", "T", "input tensor (N, C, H, W)")],
        outputs=[OpSchema.FormalParameter("Y", "T", "output tensor (N, C, H_out, W_out)")],
        type_constraints=[("T", list(_SUPPORTED_TYPES), "float32, float16 or bfloat16 tensors")],
        attributes=attrs,
        node_determinism=OpSchema.NodeDeterminism.Deterministic,
    )
    if hasattr(schema, "set_type_and_shape_inference_function"):  # onnx >= 1.16
        schema.set_type_and_shape_inference_function(_infer)
    return schema


def check_node_attributes(node, opset_imports=None, ir_version: int = 8) -> PoolAttributes:
    """Checks one SortedWeightedPool ``onnx.NodeProto`` as the ONNX checker and shape inference do
    with this schema, without needing the rest of the graph: attribute names and types (the
    schema), then their values (:func:`sortpool.contract.check_attributes`, on Python's unbounded
    ints, so a value beyond 32 bits is judged as it is, not wrapped). ``opset_imports`` is the
    model's {domain: version}. Returns the attributes; raises ValueError naming the node."""
    import onnx
    from onnx.checker import C as checker_c

    register_schema()
    ctx = checker_c.CheckerContext()
    ctx.ir_version = ir_version
    ctx.opset_imports = dict(opset_imports or {"": 17, OP_DOMAIN: OP_DOMAIN_VERSION})
    label = f"node {node.name!r}" if node.name else f"the node writing {list(node.output)}"
    try:
        onnx.checker.check_node(node, ctx, checker_c.LexicalScopeContext())
    except onnx.checker.ValidationError as e:
        raise ValueError(f"{label}: {str(e).strip().splitlines()[0]}") from None
    attributes = {a.name: a for a in node.attribute}
    try:
        return _read_attributes(attributes.get)
    except ValueError as e:
        raise ValueError(f"{label}: {e}") from None


def is_registered() -> bool:
    """True when a schema for sortpool::SortedWeightedPool version 1 is known to onnx."""
    import onnx.defs

    return onnx.defs.has(OP_TYPE, OP_DOMAIN_VERSION, OP_DOMAIN)


def register_schema() -> None:
    """Registers the operator's schema with onnx (idempotent, thread-safe)."""
    global _registered
    with _lock:
        if _registered:
            return
        import onnx.defs

        if not onnx.defs.has(OP_TYPE, OP_DOMAIN_VERSION, OP_DOMAIN):
            onnx.defs.register_schema(_make_schema())
        _registered = True
