"""sortpool_torch: the PyTorch side of sorted weighted pooling (S. Singla, 2017).

* :class:`SortedWeightedPool2d` -- the trainable layer (CPU and CUDA, autograd, torch.compile).
* :func:`sorted_weighted_pool2d` -- its functional form (the one definition of the math).
* :func:`export_onnx` -- ONNX export, one ``sortpool::SortedWeightedPool`` node per layer.

The operator contract is docs/operator.md.
"""

from . import _custom_op  # noqa: F401  (registers torch.ops.sortpool.sorted_weighted_pool)
from .functional import pooled_extent, sorted_weighted_pool2d
from .layer import MAX_INIT_WEIGHT, SortedWeightedPool2d
from .onnx_export import (
    OP_DOMAIN,
    OP_DOMAIN_VERSION,
    OP_TYPE,
    custom_translation_table,
    export_onnx,
    fix_opset_imports,
    onnx_export_mode,
    register_torchscript_symbolic,
)

__all__ = [
    "SortedWeightedPool2d",
    "sorted_weighted_pool2d",
    "pooled_extent",
    "MAX_INIT_WEIGHT",
    "export_onnx",
    "onnx_export_mode",
    "custom_translation_table",
    "register_torchscript_symbolic",
    "fix_opset_imports",
    "OP_DOMAIN",
    "OP_TYPE",
    "OP_DOMAIN_VERSION",
]
