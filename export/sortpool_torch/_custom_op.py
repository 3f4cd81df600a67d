"""``torch.ops.sortpool.sorted_weighted_pool``: the layer's export form.

During ONNX export (see ``sortpool_torch.onnx_export``) every ``SortedWeightedPool2d`` calls this
custom op with its attributes and its effective weights baked in as a list of floats, so the
exporters see one opaque node that they translate to one ``sortpool::SortedWeightedPool`` ONNX
node. Its eager implementation is ``functional.pool2d`` (the one definition of
the math); its fake implementation gives the output shape for torch.export with symbolic sizes.
The op is not differentiable (it is for inference/export; training uses the functional form).
"""

from __future__ import annotations

from typing import List

import torch

from .functional import pool2d, pooled_extent

OP_NAME = "sortpool::sorted_weighted_pool"


@torch.library.custom_op(OP_NAME, mutates_args=())
def sorted_weighted_pool(
    x: torch.Tensor,
    kernel_shape: List[int],
    strides: List[int],
    pads: List[int],
    ceil_mode: int,
    pool_range: int,
    weights: List[float],
) -> torch.Tensor:
    w = torch.tensor(weights, dtype=torch.float32, device=x.device)
    if w.numel() != pool_range:
        w = w.reshape(-1, pool_range)
    return pool2d(x, w, kernel_shape, strides, pads, bool(ceil_mode))


@sorted_weighted_pool.register_fake
def _(x, kernel_shape, strides, pads, ceil_mode, pool_range, weights):
    n, c, h, w = x.shape
    out_h = pooled_extent(h, kernel_shape[0], strides[0], pads[0], pads[2], bool(ceil_mode))
    out_w = pooled_extent(w, kernel_shape[1], strides[1], pads[1], pads[3], bool(ceil_mode))
    # An empty axis gives an empty output whatever the window, as in the eager form.
    return x.new_empty((n, c, 0 if h == 0 else out_h, 0 if w == 0 else out_w))
