"""The op contract's rules in Python (docs/operator.md), one definition each: attribute checks,
the shape rule, TensorRT's routing attributes. The C++ core (plugin/core/sortpool_core.h) is the
same rules for the native backends. The ONNX schema (:mod:`sortpool.onnx_schema`), the exporter,
the PyTorch layer and the tooling all call these; no onnx or torch needed here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional, Sequence

__all__ = [
    "OP_DOMAIN",
    "OP_DOMAIN_VERSION",
    "OP_TYPE",
    "MAX_WINDOW_CELLS",
    "MAX_STRIDE",
    "MAX_SPATIAL_EXTENT",
    "TRT_PLUGIN_VERSIONS",
    "PoolAttributes",
    "Naming",
    "check_attributes",
    "check_trt_plugin_attributes",
    "pooled_extent",
    "window_fits",
    "output_shape",
    "set_plugin_version",
]

OP_DOMAIN = "sortpool"
OP_DOMAIN_VERSION = 1
OP_TYPE = "SortedWeightedPool"
MAX_WINDOW_CELLS = 64
MAX_STRIDE = 2**31 - 1
MAX_SPATIAL_EXTENT = 2**31 - 1

TRT_PLUGIN_VERSIONS = ("1", "2")  # IPluginV2DynamicExt, IPluginV3 (docs/operator.md)


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
