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

The checks are also available without onnx as :func:`check_attributes` and
:func:`pooled_extent`; this module imports onnx only inside :func:`register_schema`.

This file is the Python mirror of ``plugin/core/sortpool_core.h`` (``parse_attributes``,
``pooled_extent``, ``infer_output_shape``); keep the two in step with the contract.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from typing import Optional, Sequence

__all__ = [
    "OP_DOMAIN",
    "OP_DOMAIN_VERSION",
    "OP_TYPE",
    "MAX_WINDOW_CELLS",
    "MAX_STRIDE",
    "MAX_SPATIAL_EXTENT",
    "PoolAttributes",
    "Naming",
    "check_attributes",
    "pooled_extent",
    "window_fits",
    "output_shape",
    "register_schema",
    "is_registered",
]

OP_DOMAIN = "sortpool"
OP_DOMAIN_VERSION = 1
OP_TYPE = "SortedWeightedPool"
MAX_WINDOW_CELLS = 64
MAX_STRIDE = 2**31 - 1
MAX_SPATIAL_EXTENT = 2**31 - 1

TRT_PLUGIN_VERSIONS = ("1", "2")  # IPluginV2DynamicExt, IPluginV3 (docs/operator.md)
_SUPPORTED_TYPES = ("tensor(float)", "tensor(float16)", "tensor(bfloat16)")


@dataclass(frozen=True)
class PoolAttributes:
    """Validated attributes with defaults filled in."""

    kernel_shape: tuple  # (kh, kw)
    strides: tuple  # (sh, sw)
    pads: tuple  # (top, left, bottom, right)
    ceil_mode: int
    pool_range: int
    weights: Optional[tuple]  # None when check_attributes was not given the weights

    @property
    def weight_channels(self) -> int:
        """Channels the weights were written for; 0 for shared weights (or unknown weights)."""
        if self.weights is None or len(self.weights) == self.pool_range:
            return 0
        return len(self.weights) // self.pool_range


@dataclass(frozen=True)
class Naming:
    """Who reports an attribute error and under which names: the op's ONNX attributes by default;
    the PyTorch layer passes its own class and argument names."""

    owner: str = OP_TYPE
    kind: str = "attribute"
    names: tuple = ()  # (ONNX name, shown name) pairs

    def shown(self, name: str) -> str:
        return dict(self.names).get(name, name)


_ONNX_NAMING = Naming()


def _attr_error(name: str, value, why: str, naming: Naming = _ONNX_NAMING) -> str:
    if isinstance(value, (list, tuple)):
        value = "[" + ", ".join(str(v) for v in value) + "]"
    return f"{naming.owner}: {naming.kind} '{naming.shown(name)}' = {value} is invalid: {why}"


def check_attributes(
    kernel_shape: Optional[Sequence[int]] = None,
    strides: Optional[Sequence[int]] = None,
    pads: Optional[Sequence[int]] = None,
    ceil_mode: Optional[int] = None,
    pool_range: Optional[int] = None,
    weights: Optional[Sequence[float]] = None,
    *,
    require_weights: bool = True,
    naming: Naming = _ONNX_NAMING,
) -> PoolAttributes:
    """Checks the op's attributes against the contract; ``None`` means "absent".

    Returns the attributes with defaults filled in, or raises ``ValueError`` with a message that
    names the attribute, its value and the rule it breaks (same wording as the C++ core).
    ``require_weights=False`` skips the weights checks (``weights`` may then be None).
    ``naming`` words the messages for another caller (the PyTorch layer's argument names).
    """
    error = functools.partial(_attr_error, naming=naming)
    kh, kw = 2, 2
    if kernel_shape is not None:
        ks = [int(v) for v in kernel_shape]
        if len(ks) != 2:
            raise ValueError(error("kernel_shape", ks, "expected 2 values [kernel_h, kernel_w]"))
        if ks[0] < 1 or ks[1] < 1:
            raise ValueError(error("kernel_shape", ks, "each kernel dimension must be >= 1"))
        if ks[0] * ks[1] > MAX_WINDOW_CELLS:
            raise ValueError(
                error(
                    "kernel_shape",
                    ks,
                    f"the window may hold at most {MAX_WINDOW_CELLS} cells (kernel_h * kernel_w)",
                )
            )
        kh, kw = ks
    sh, sw = kh, kw
    if strides is not None:
        st = [int(v) for v in strides]
        if len(st) != 2:
            raise ValueError(error("strides", st, "expected 2 values [stride_h, stride_w]"))
        if any(s < 1 or s > MAX_STRIDE for s in st):
            raise ValueError(error("strides", st, f"each stride must be in [1, {MAX_STRIDE}]"))
        sh, sw = st
    pd = (0, 0, 0, 0)
    if pads is not None:
        p = [int(v) for v in pads]
        if len(p) != 4:
            raise ValueError(error("pads", p, "expected 4 values [top, left, bottom, right]"))
        for i, v in enumerate(p):
            kernel = kh if i % 2 == 0 else kw
            if v < 0 or v >= kernel:
                axis = "kernel_h" if i % 2 == 0 else "kernel_w"
                raise ValueError(
                    error(
                        "pads",
                        p,
                        f"each pad must satisfy 0 <= pad < kernel size along its axis ({axis} = {kernel})",
                    )
                )
        pd = tuple(p)
    cm = 0
    if ceil_mode is not None:
        if isinstance(ceil_mode, bool):
            ceil_mode = int(ceil_mode)
        if ceil_mode not in (0, 1):
            raise ValueError(error("ceil_mode", ceil_mode, "must be 0 or 1"))
        cm = int(ceil_mode)
    cells = kh * kw
    if pool_range is None:
        raise ValueError(
            error("pool_range", "(missing)", "the attribute is required (1 <= pool_range <= window cells)")
        )
    k = int(pool_range)
    if k < 1 or k > cells:
        raise ValueError(
            error("pool_range", k, f"must satisfy 1 <= pool_range <= kernel_h * kernel_w = {cells}")
        )
    w = None
    if weights is None:
        if require_weights:
            raise ValueError(
                error("weights", "(missing)", "the attribute is required (pool_range or C * pool_range floats)")
            )
    else:
        w = tuple(float(v) for v in weights)
        if len(w) == 0 or len(w) % k != 0:
            raise ValueError(
                error(
                    "weights",
                    f"{len(w)} values",
                    f"expected pool_range = {k} shared values or C * pool_range per-channel values",
                )
            )
        for i, v in enumerate(w):
            if not math.isfinite(v):
                raise ValueError(error("weights", f"weights[{i}] = {v}", "weights must be finite"))
    return PoolAttributes((kh, kw), (sh, sw), pd, cm, k, w)


def window_fits(size, kernel: int, pad_head: int, pad_tail: int):
    """Whether an axis of extent ``size`` can be pooled: empty, or its padded extent holds the
    window (ints or torch SymInts)."""
    return size == 0 or size + pad_head + pad_tail >= kernel


def pooled_extent(size, kernel: int, stride: int, pad_head: int, pad_tail: int, ceil_mode: int, minimum=min):
    """ONNX MaxPool's output extent along one axis of a non-empty ``size`` that the window fits
    (:func:`window_fits`), on ints, torch SymInts or (with a torch ``minimum``) traced 0-d tensors.

    Ceil mode is the contract's "ceil, minus 1 if the last window would start in the tail padding"
    in branch-free form, ``min(ceil(span / s), (size + pad_head - 1) // s) + 1``: with
    ``pad_tail < kernel`` the correction is at most 1, and exactly when the min takes its second
    term.
    """
    span = size + pad_head + pad_tail - kernel
    if not ceil_mode:
        return span // stride + 1
    return minimum(-((-span) // stride), (size + pad_head - 1) // stride) + 1


def output_shape(attrs: PoolAttributes, input_shape: Sequence[int]) -> tuple:
    """Output shape (N, C, H_out, W_out) for a concrete input shape; raises ValueError like the
    C++ core's ``infer_output_shape``."""
    dims = [int(d) for d in input_shape]
    if len(dims) != 4:
        raise ValueError(f"{OP_TYPE}: input X must have rank 4 (N, C, H, W), got rank {len(dims)} {dims}")
    if any(d < 0 for d in dims):
        raise ValueError(f"{OP_TYPE}: input X has a negative dimension {dims}")
    n, c, h, w = dims
    if h > MAX_SPATIAL_EXTENT or w > MAX_SPATIAL_EXTENT:
        raise ValueError(
            f"{OP_TYPE}: input X spatial size {dims} exceeds the supported maximum {MAX_SPATIAL_EXTENT}"
        )
    wc = attrs.weight_channels
    if wc and c != wc:
        raise ValueError(
            f"{OP_TYPE}: per-channel weights were given for {wc} channels ({len(attrs.weights)} values / "
            f"pool_range {attrs.pool_range}) but input X has C = {c}"
        )
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = attrs.kernel_shape, attrs.strides, attrs.pads
    return (n, c, _pooled_axis(h, kh, sh, pt, pb, attrs.ceil_mode, "H", dims),
            _pooled_axis(w, kw, sw, pl, pr, attrs.ceil_mode, "W", dims))


def _pooled_axis(size: int, kernel: int, stride: int, pad_head: int, pad_tail: int, ceil_mode: int, axis: str,
                 dims) -> int:
    """Output extent along one spatial axis of known size, each axis on its own as in the core's
    infer_output_shape: an empty axis gives 0; otherwise a padded size below the window is an error."""
    if size > MAX_SPATIAL_EXTENT:
        raise ValueError(f"{OP_TYPE}: input X spatial size {dims} exceeds the supported maximum {MAX_SPATIAL_EXTENT}")
    if not window_fits(size, kernel, pad_head, pad_tail):
        raise ValueError(f"{OP_TYPE}: input X {dims} is smaller than the window along {axis}: padded size "
                         f"{size + pad_head + pad_tail} < kernel {kernel}")
    return 0 if size == 0 else pooled_extent(size, kernel, stride, pad_head, pad_tail, ceil_mode)


def check_trt_plugin_attributes(plugin_version=None, plugin_namespace=None) -> None:
    """Checks the TensorRT parser's routing attributes (``None`` means absent): ``plugin_version``
    "1" or "2", ``plugin_namespace`` "". Raises ValueError naming the attribute and the rule."""
    if plugin_version is not None and plugin_version not in TRT_PLUGIN_VERSIONS:
        raise ValueError(_attr_error("plugin_version", f'"{plugin_version}"',
                                     '"1" (IPluginV2DynamicExt) or "2" (IPluginV3)'))
    if plugin_namespace is not None and plugin_namespace != "":
        raise ValueError(_attr_error("plugin_namespace", f'"{plugin_namespace}"', 'the plugin\'s namespace is ""'))


def set_plugin_version(model, version: str) -> int:
    """Writes ``plugin_version`` = ``version`` and ``plugin_namespace`` = "" on every
    SortedWeightedPool node of ``model`` (onnx.ModelProto, main graph), replacing earlier values:
    TensorRT's ONNX parser picks the plugin creator by (op_type, plugin_version [default "1"],
    plugin_namespace). Returns the number of nodes."""
    from onnx import helper

    check_trt_plugin_attributes(version)
    nodes = [n for n in model.graph.node if n.domain == OP_DOMAIN and n.op_type == OP_TYPE]
    for node in nodes:
        keep = [a for a in node.attribute if a.name not in ("plugin_version", "plugin_namespace")]
        del node.attribute[:]
        node.attribute.extend(keep)
        node.attribute.extend([helper.make_attribute("plugin_version", version),
                               helper.make_attribute("plugin_namespace", "")])
    return len(nodes)


# ---------------------------------------------------------------------------------------------
# ONNX registration
# ---------------------------------------------------------------------------------------------
_lock = threading.Lock()
_registered = False


def _read_attributes(ctx):
    """Reads the node's attributes from an onnx InferenceContext as plain Python values."""
    import onnx

    def get(name):
        a = ctx.get_attribute(name)
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
        attrs = _read_attributes(ctx)
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
