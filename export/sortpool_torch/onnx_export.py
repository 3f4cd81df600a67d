"""ONNX export of models that contain ``SortedWeightedPool2d`` layers.

Each layer becomes ONE node ``sortpool::SortedWeightedPool`` (domain version 1) with the
attributes of docs/operator.md; ``weights`` holds the effective weights the layer applies
(softmax of the logits, or the raw values when ``normalize=False``), as float32.

Use :func:`export_onnx`. To call ``torch.onnx.export`` yourself, wrap it in
``with onnx_export_mode(model):`` and pass ``custom_translation_table=custom_translation_table()``
(dynamo exporter) or call :func:`register_torchscript_symbolic` first (TorchScript exporter);
then add the ``sortpool`` opset import with :func:`fix_opset_imports`.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from typing import Any, Dict, Iterator, Optional, Sequence, Union

import torch

from sortpool.contract import (OP_DOMAIN, OP_DOMAIN_VERSION, OP_TYPE, check_attributes, check_trt_plugin_attributes,
                               set_plugin_version)
from sortpool.onnx_schema import register_schema

from . import _custom_op  # noqa: F401  (registers torch.ops.sortpool.sorted_weighted_pool)
from .layer import SortedWeightedPool2d

__all__ = [
    "OP_DOMAIN",
    "OP_TYPE",
    "OP_DOMAIN_VERSION",
    "export_onnx",
    "onnx_export_mode",
    "custom_translation_table",
    "register_torchscript_symbolic",
    "fix_opset_imports",
]


@contextlib.contextmanager
def onnx_export_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Within the block, every SortedWeightedPool2d of ``model`` runs as the export custom op with
    its current effective weights baked in (a list of floats). Restores the layers on exit; the
    parameters are not touched."""
    layers = [m for m in model.modules() if isinstance(m, SortedWeightedPool2d)]
    saved = [m._export_weights for m in layers]
    try:
        with torch.no_grad():
            for name, m in model.named_modules():
                if not isinstance(m, SortedWeightedPool2d):
                    continue
                # float32 values, exact as Python floats, so the ONNX float attribute is exact.
                weights = [float(v) for v in m.weights().detach().float().cpu().reshape(-1).tolist()]
                # The layer's attributes may have been changed (or its weights diverged) since it
                # was built: refuse to write a node outside the contract, naming the layer.
                try:
                    check_attributes(list(m.kernel_size), list(m.stride), list(m.padding), int(m.ceil_mode),
                                     m.pool_range, weights)
                except ValueError as e:
                    raise ValueError(f"cannot export layer '{name or type(m).__name__}': {e}") from None
                m._export_weights = weights
        yield model
    finally:
        for m, s in zip(layers, saved):
            m._export_weights = s


# --------------------------------------------------------------------------------------------
# dynamo exporter (torch.onnx.export(..., dynamo=True))
# --------------------------------------------------------------------------------------------
def _onnx_sorted_weighted_pool(x, kernel_shape, strides, pads, ceil_mode, pool_range, weights):
    import onnxscript

    opset = onnxscript.values.Opset(OP_DOMAIN, OP_DOMAIN_VERSION)
    return opset.SortedWeightedPool(
        x,
        kernel_shape=[int(v) for v in kernel_shape],
        strides=[int(v) for v in strides],
        pads=[int(v) for v in pads],
        ceil_mode=int(ceil_mode),
        pool_range=int(pool_range),
        weights=[float(v) for v in weights],
    )


def custom_translation_table() -> Dict[Any, Any]:
    """``custom_translation_table`` for ``torch.onnx.export(..., dynamo=True)``."""
    return {torch.ops.sortpool.sorted_weighted_pool.default: _onnx_sorted_weighted_pool}


# --------------------------------------------------------------------------------------------
# TorchScript exporter (torch.onnx.export(..., dynamo=False))
# --------------------------------------------------------------------------------------------
_torchscript_registered: set = set()


def _torchscript_symbolic(g, x, kernel_shape, strides, pads, ceil_mode, pool_range, weights):
    from torch.onnx import symbolic_helper as sh

    from .functional import pooled_extent

    kernel_shape = sh._parse_arg(kernel_shape, "is")
    strides = sh._parse_arg(strides, "is")
    pads = sh._parse_arg(pads, "is")
    ceil_mode = sh._parse_arg(ceil_mode, "i")
    pool_range = sh._parse_arg(pool_range, "i")
    weights = sh._parse_arg(weights, "fs")
    y = g.op(
        f"{OP_DOMAIN}::{OP_TYPE}",
        x,
        kernel_shape_i=kernel_shape,
        strides_i=strides,
        pads_i=pads,
        ceil_mode_i=ceil_mode,
        pool_range_i=pool_range,
        weights_f=weights,
    )
    sizes = sh._get_tensor_sizes(x)
    if sizes is not None and len(sizes) == 4:
        out = list(sizes[:2])
        for axis, (k, s, ph, pt) in ((2, (kernel_shape[0], strides[0], pads[0], pads[2])),
                                      (3, (kernel_shape[1], strides[1], pads[1], pads[3]))):
            d = sizes[axis]
            out.append(None if d is None else (0 if d == 0 else int(pooled_extent(d, k, s, ph, pt, bool(ceil_mode)))))
        y.setType(x.type().with_sizes(out))
    else:
        y.setType(x.type())
    return y


def register_torchscript_symbolic(opset_version: int = 18) -> None:
    """Registers the TorchScript-exporter symbolic of the custom op for ``opset_version``."""
    if opset_version in _torchscript_registered:
        return
    torch.onnx.register_custom_op_symbolic("sortpool::sorted_weighted_pool", _torchscript_symbolic, opset_version)
    _torchscript_registered.add(opset_version)


# --------------------------------------------------------------------------------------------
# export_onnx
# --------------------------------------------------------------------------------------------
def fix_opset_imports(model):
    """Makes sure ``model`` (onnx.ModelProto) imports domain ``sortpool`` at version 1 when it uses
    the op (and that nothing else claims another version of it). Returns the model."""
    uses = any(n.domain == OP_DOMAIN for n in model.graph.node) or any(
        n.domain == OP_DOMAIN for f in model.functions for n in f.node
    )
    entries = [e for e in model.opset_import if e.domain == OP_DOMAIN]
    if uses or entries:
        keep = [e for e in model.opset_import if e.domain != OP_DOMAIN]
        del model.opset_import[:]
        model.opset_import.extend(keep)
        entry = model.opset_import.add()
        entry.domain = OP_DOMAIN
        entry.version = OP_DOMAIN_VERSION
    return model


def _as_tuple(example_inputs) -> tuple:
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    return tuple(example_inputs)


def _dynamic_axes_for(t: torch.Tensor, dynamic_batch: bool, dynamic_spatial: bool, index: int):
    """{axis: name} for one input tensor: (N, C, H, W) has batch = axis 0 and spatial axes 2, 3;
    an unbatched (C, H, W) input, which the layer accepts, has no batch axis and spatial axes 1, 2;
    other ranks: batch = axis 0, the axes after (N, C) spatial."""
    axes = {}
    if not isinstance(t, torch.Tensor) or t.dim() == 0:
        return axes
    unbatched = t.dim() == 3
    if dynamic_batch and not unbatched:
        axes[0] = "batch"
    first_spatial = 1 if unbatched else 2
    if dynamic_spatial and t.dim() > first_spatial:
        for a in range(first_spatial, t.dim()):
            named = t.dim() - first_spatial == 2
            axes[a] = ("height", "width")[a - first_spatial] if named else f"dim{a}"
            if index:
                axes[a] += f"_{index}"
    return axes


def export_onnx(
    model: torch.nn.Module,
    example_inputs,
    f: Union[str, os.PathLike, io.IOBase, None] = None,
    *,
    dynamo: bool = True,
    dynamic_batch: bool = True,
    dynamic_spatial: bool = True,
    input_names: Optional[Sequence[str]] = None,
    output_names: Optional[Sequence[str]] = None,
    opset_version: int = 18,
    trt_plugin_version: Optional[str] = "2",
):
    """Exports ``model`` to ONNX with every SortedWeightedPool2d as one ``sortpool::SortedWeightedPool``
    node, and returns the ``onnx.ModelProto`` (also saved to ``f`` when given: a path or a binary
    file object).

    Args:
        example_inputs: a tensor or a tuple of positional inputs.
        dynamo: use torch's default exporter (``torch.export`` + onnxscript) when True, the
            TorchScript exporter when False.
        dynamic_batch / dynamic_spatial: make axis 0 / the spatial axes (2, 3 of 4-d inputs; 1, 2 of
            an unbatched 3-d (C, H, W) input, which has no batch axis) of
            every tensor input dynamic (``batch``, ``height``, ``width``; the batch axis is shared
            by all inputs). With the dynamo exporter a dynamic axis the model fixes is an error;
            example sizes of 0 or 1 on a dynamic axis may be specialised by torch.export, so use
            examples >= 2 there.
        input_names / output_names: graph input/output names (default ``input``/``output``, or
            ``input_0``... for several).
        opset_version: default ONNX (ai.onnx) opset of the rest of the model.
        trt_plugin_version: the ``plugin_version`` attribute each node carries for TensorRT's ONNX
            parser: "2" (IPluginV3: TensorRT 10, 11 and TensorRT for RTX), "1"
            (IPluginV2DynamicExt: TensorRT 8.6 and 9.x), or None for no attribute (the parser then
            asks for "1"). Other backends ignore it (docs/operator.md).

    The model's parameters and mode are not changed. A half-precision model (``model.half()``
    with half inputs) gives a float16 model.
    """
    import onnx

    register_schema()
    if trt_plugin_version is not None:
        check_trt_plugin_attributes(trt_plugin_version)
    args = _as_tuple(example_inputs)
    n_tensors = sum(isinstance(a, torch.Tensor) for a in args)
    if input_names is None:
        input_names = ["input"] if n_tensors == 1 else [f"input_{i}" for i in range(n_tensors)]
    input_names = list(input_names)
    output_names = ["output"] if output_names is None else list(output_names)

    with onnx_export_mode(model):
        if dynamo:
            from torch.export import Dim

            batch = Dim.DYNAMIC if dynamic_batch else None
            specs = []
            tensor_idx = 0
            for a in args:
                if not isinstance(a, torch.Tensor):
                    specs.append(None)
                    continue
                axes = _dynamic_axes_for(a, dynamic_batch, dynamic_spatial, tensor_idx)
                tensor_idx += 1
                specs.append({ax: (batch if ax == 0 else Dim.DYNAMIC) for ax in axes} or None)
            dynamic_shapes = tuple(specs) if (dynamic_batch or dynamic_spatial) else None
            program = torch.onnx.export(
                model,
                args,
                dynamo=True,
                dynamic_shapes=dynamic_shapes,
                custom_translation_table=custom_translation_table(),
                input_names=input_names,
                output_names=output_names,
                opset_version=opset_version,
                external_data=False,
                verbose=False,
            )
            proto = program.model_proto
            # torch.export names dynamic dims s0, s1, ...; give inputs readable names.
            _rename_dynamic_dims(proto, args, input_names, dynamic_batch, dynamic_spatial)
        else:
            register_torchscript_symbolic(opset_version)
            dynamic_axes = {}
            tensor_idx = 0
            for i, a in enumerate(args):
                if isinstance(a, torch.Tensor):
                    axes = _dynamic_axes_for(a, dynamic_batch, dynamic_spatial, tensor_idx)
                    if axes:
                        dynamic_axes[input_names[tensor_idx]] = axes
                    tensor_idx += 1
            if dynamic_batch:
                for name in output_names:
                    dynamic_axes.setdefault(name, {0: "batch"})
            buf = io.BytesIO()
            torch.onnx.export(
                model,
                args,
                buf,
                dynamo=False,
                input_names=input_names,
                output_names=output_names,
                opset_version=opset_version,
                dynamic_axes=dynamic_axes or None,
                custom_opsets={OP_DOMAIN: OP_DOMAIN_VERSION},
            )
            proto = onnx.load_from_string(buf.getvalue())
    fix_opset_imports(proto)
    if trt_plugin_version is not None:
        set_plugin_version(proto, trt_plugin_version)
    if f is not None:
        if isinstance(f, (str, os.PathLike)):
            onnx.save_model(proto, os.fspath(f))
        else:
            f.write(proto.SerializeToString())
    return proto


def _rename_dynamic_dims(proto, args, input_names, dynamic_batch, dynamic_spatial) -> None:
    """Renames torch.export's symbolic dim names (s0, s1, ...) to batch/height/width everywhere in
    the graph, where an input axis determines the mapping unambiguously."""
    mapping = {}
    inputs = {i.name: i for i in proto.graph.input}
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    for idx, (name, t) in enumerate(zip(input_names, tensors)):
        vi = inputs.get(name)
        if vi is None:
            continue
        axes = _dynamic_axes_for(t, dynamic_batch, dynamic_spatial, idx)
        dims = vi.type.tensor_type.shape.dim
        for ax, new in axes.items():
            if ax < len(dims) and dims[ax].HasField("dim_param"):
                old = dims[ax].dim_param
                if old not in mapping and new not in mapping.values():
                    mapping[old] = new
    if not mapping:
        return

    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in mapping) + r")\b")

    def fix(value_infos):
        for vi in value_infos:
            if not vi.type.HasField("tensor_type"):
                continue
            for d in vi.type.tensor_type.shape.dim:
                if d.HasField("dim_param"):
                    d.dim_param = pattern.sub(lambda m: mapping[m.group(1)], d.dim_param)

    fix(proto.graph.input)
    fix(proto.graph.output)
    fix(proto.graph.value_info)
