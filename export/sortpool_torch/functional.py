"""The one PyTorch definition of the SortedWeightedPool math (see docs/operator.md).

``sorted_weighted_pool2d`` takes each window's top k values from the project's CPU training
kernels with their hand-written backward (``_training_kernels.py``: windows of up to
``TRAINING_KERNELS_MAX_CELLS`` cells) or from unfold + topk (larger windows, CUDA,
torch.jit.trace, a source tree without the kernels' library), then weights and sums them
in rank order with plain differentiable ops; it trains with autograd and compiles without graph
breaks under ``torch.compile(fullgraph=True)``. The export custom op (``sortpool_torch._custom_op``) calls this
same function for its eager implementation.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import torch
import torch.nn.functional as F

from sortpool.contract import pooled_extent as _contract_pooled_extent

from . import _training_kernels

__all__ = ["sorted_weighted_pool2d", "pooled_extent"]


def _min(a, b):
    """min of ints, SymInts or, under torch.jit.trace (where sizes are 0-d tensors), tensors."""
    if torch.is_tensor(a):
        return torch.minimum(a, b) if torch.is_tensor(b) else a.clamp_max(b)
    return b.clamp_max(a) if torch.is_tensor(b) else torch.sym_min(a, b)


def _max(a, b):
    """max of ints, SymInts or, under torch.jit.trace, tensors."""
    if torch.is_tensor(a):
        return torch.maximum(a, b) if torch.is_tensor(b) else a.clamp_min(b)
    return b.clamp_min(a) if torch.is_tensor(b) else torch.sym_max(a, b)


def pooled_extent(size, kernel: int, stride: int, pad_head: int, pad_tail: int, ceil_mode: bool):
    """The contract's output extent (:func:`sortpool.contract.pooled_extent`) on ints, SymInts
    or, under torch.jit.trace, 0-d tensors; the window must fit (callers check)."""
    return _contract_pooled_extent(size, kernel, stride, pad_head, pad_tail, ceil_mode, minimum=_min)


# Windows of up to this many cells take the training kernels (_training_kernels.py), larger ones
# unfold + topk. 64 is every window the contract allows; benchmarks/bench_torch_layer.py and the
# tests set 0 to run unfold + topk. Only 2x2 and 3x3 windows were timed against unfold + topk
# (docs/benchmarks.md).
TRAINING_KERNELS_MAX_CELLS = 64


def uses_training_kernels(cells: int, x: torch.Tensor) -> bool:
    """Whether a window of ``cells`` cells goes through the CPU training kernels for input ``x``:
    on the CPU when the kernels' library is there (CUDA keeps unfold + topk until a GPU measures
    the alternatives: tools/gpu_check.sh); never under torch.jit.trace, which records unfold +
    topk and replays them at other shapes."""
    return (cells <= TRAINING_KERNELS_MAX_CELLS and x.device.type == "cpu" and x.dtype in _training_kernels.DTYPES
            and _training_kernels.AVAILABLE and not torch.jit.is_tracing())


def _real_rank_mask(
    out_h, out_w, in_h, in_w, kernel: Tuple[int, int], strides: Tuple[int, int], pads, k: int, device
) -> torch.Tensor:
    """(out_h, out_w, k) bool mask: rank i of window (oh, ow) exists (i < number of real cells).

    The number of real cells per window depends only on the geometry: rows inside the input times
    columns inside the input.
    """
    kh, kw = kernel
    sh, sw = strides
    pt, pl = pads[0], pads[1]
    h0 = torch.arange(out_h, device=device) * sh - pt
    w0 = torch.arange(out_w, device=device) * sw - pl
    rows = (h0 + kh).clamp(max=in_h) - h0.clamp(min=0)
    cols = (w0 + kw).clamp(max=in_w) - w0.clamp(min=0)
    cells = rows[:, None] * cols[None, :]
    return torch.arange(k, device=device) < cells[..., None]


def sorted_weighted_pool2d(
    x: torch.Tensor,
    weights: torch.Tensor,
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    ceil_mode: bool = False,
) -> torch.Tensor:
    """Sorted weighted pooling of ``x`` (N, C, H, W).

    Args:
        x: input, float32 / float16 / bfloat16 (float64 is computed in float64).
        weights: effective weights (already normalised if the layer normalises), shape (k,) shared
            by all channels or (C, k) per channel; ``weights[..., 0]`` multiplies the largest value.
        kernel_shape: (kh, kw).  strides: (sh, sw).  pads: (top, left, bottom, right).
        ceil_mode: MaxPool's ceil_mode.

    Attributes are not validated here (the layer and the ONNX schema do that).
    Per window: padded cells are not values; a NaN gives NaN (``topk`` ranks NaN above every
    number); the k largest values are weighted, missing ranks (windows with fewer than k real
    cells) add 0; the sum is accumulated in rank order in float32 (float64 for float64 inputs) and cast back.
    """
    kh, kw = int(kernel_shape[0]), int(kernel_shape[1])
    sh, sw = int(strides[0]), int(strides[1])
    pt, pl, pb, pr = (int(p) for p in pads)
    k = weights.shape[-1]
    n, c, h, w = x.shape
    out_h = pooled_extent(h, kh, sh, pt, pb, ceil_mode)
    out_w = pooled_extent(w, kw, sw, pl, pr, ceil_mode)
    acc_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    if h == 0 or w == 0:
        return x.new_empty((n, c, 0 if h == 0 else out_h, 0 if w == 0 else out_w))

    if uses_training_kernels(kh * kw, x):
        # The same math in the project's kernels (windows clipped to the input), with their backward.
        return _training_kernels.pool(
            x, weights.to(acc_dtype), [kh, kw], [sh, sw], [pt, pl], out_h, out_w)

    # Padded cells (and the extra tail a ceil_mode window may need) are -inf, so they rank last;
    # the rank mask below then drops every rank beyond the window's real cells.
    extra_h = _max((out_h - 1) * sh + kh - (h + pt + pb), 0)
    extra_w = _max((out_w - 1) * sw + kw - (w + pl + pr), 0)
    padded = pt or pl or pb or pr or ceil_mode
    xp = F.pad(x, (pl, pr + extra_w, pt, pb + extra_h), value=float("-inf")) if padded else x
    windows = xp.unfold(2, kh, sh).unfold(3, kw, sw)[:, :, :out_h, :out_w]
    values = windows.reshape(n, c, out_h, out_w, kh * kw)
    top = values.topk(k, dim=-1, largest=True, sorted=True).values.to(acc_dtype)
    if padded:
        mask = _real_rank_mask(out_h, out_w, h, w, (kh, kw), (sh, sw), (pt, pl), k, x.device)
        # Select before multiplying: a masked -inf times its weight would give a NaN gradient.
        top = torch.where(mask, top, torch.zeros((), dtype=acc_dtype, device=x.device))
    wt = weights.to(acc_dtype)
    if wt.dim() == 2:  # per channel (C, k)
        wt = wt[:, None, None, :]
    # The contract's arithmetic: each product rounded, then the sum accumulated in rank order
    # (rank 0 first), so float32 results equal the ONNX Runtime op's and the TensorRT plugin's bit
    # for bit; torch's own sum(-1) reduces in another order (1-ulp differences).
    # unbind: one backward node for all ranks (indexing each rank would allocate a full-size
    # gradient per rank).
    products = (top * wt).unbind(-1)
    acc = products[0] if len(products) > 1 else products[0].clone()  # never a view of unbind (in-place ops after)
    for product in products[1:]:
        acc = acc + product
    return acc.to(x.dtype)
