"""The one PyTorch definition of the SortedWeightedPool math (see docs/operator.md).

``sorted_weighted_pool2d`` computes each window's weighted top k with the project's CPU training
kernels and their hand-written backward (``_training_kernels.py``: windows of up to
``TRAINING_KERNELS_MAX_CELLS`` cells), or with plain torch ops, unfold and a stable sort of
window values (:func:`pool_by_sorting`: CUDA, torch.jit.trace, torch.func, a source tree without the
kernels' library, second-order gradients); both follow the contract's rank rule, so gradients
agree on every path. It trains with autograd and compiles without graph breaks under
``torch.compile(fullgraph=True)``. The layer and the export custom op (``sortpool_torch._custom_op``)
call :func:`pool2d`, the same without the argument checks.
"""

from __future__ import annotations

import functools
from typing import Sequence

import torch
import torch.nn.functional as F

from sortpool.contract import Naming, check_attributes, window_fits
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
# the sorting path. 64 is every window the contract allows; benchmarks/bench_torch_layer.py and
# the tests set 0 to run the sorting path. Only 2x2 and 3x3 windows were timed against it
# (docs/benchmarks.md).
TRAINING_KERNELS_MAX_CELLS = 64


def uses_training_kernels(cells: int, x: torch.Tensor) -> bool:
    """Whether a window of ``cells`` cells goes through the CPU training kernels for input ``x``:
    on the CPU when the kernels' library is there (CUDA keeps the sorting path until a GPU measures
    the alternatives: tools/gpu_check.sh); never under torch.jit.trace, which records the sorting
    path's ops and replays them at other shapes, nor under torch.func transforms (grad, vmap,
    jacrev), which the sorting path's plain ops support."""
    return (cells <= TRAINING_KERNELS_MAX_CELLS and x.device.type == "cpu" and x.dtype in _training_kernels.DTYPES
            and _training_kernels.AVAILABLE and not torch.jit.is_tracing()
            and not torch._C._are_functorch_transforms_active())


def _real_cells(out_h, out_w, in_h, in_w, kernel, strides, pads, device) -> torch.Tensor:
    """(out_h, out_w, kh * kw) bool: cell (i, j) of window (oh, ow), row-major, is inside the input."""
    kh, kw = kernel
    rows = torch.arange(out_h, device=device)[:, None] * strides[0] - pads[0] + torch.arange(kh, device=device)
    cols = torch.arange(out_w, device=device)[:, None] * strides[1] - pads[1] + torch.arange(kw, device=device)
    rows_in = (rows >= 0) & (rows < in_h)
    cols_in = (cols >= 0) & (cols < in_w)
    return (rows_in[:, None, :, None] & cols_in[None, :, None, :]).reshape(out_h, out_w, kh * kw)


def _may_be_positive(v) -> bool:
    """v > 0 for an int or SymInt; True for a traced 0-d tensor (its value is not a constant)."""
    return True if torch.is_tensor(v) else v > 0


def pool_by_sorting(x: torch.Tensor, weights: torch.Tensor, kernel: Sequence[int], strides: Sequence[int],
                    pads: Sequence[int], out_h, out_w) -> torch.Tensor:
    """The contract's forward in plain differentiable torch ops (unfold, a stable sort, gather):
    the training path where the kernels do not serve (CUDA, torch.jit.trace, torch.func, a tree
    without the kernels' library) and the kernels' twice-differentiable form.
    Its autograd gradients follow the contract's rank and routing rules exactly.

    ``weights`` (k,) or (C, k) in the accumulation type; ``pads`` (top, left): the windows are
    clipped to the input, so the far-side pads and ceil_mode matter only through out_h / out_w
    (the same arguments as the kernels' ``_training_kernels.pool``).
    """
    kh, kw = kernel
    sh, sw = strides
    pt, pl = pads
    n, c, h, w = x.shape
    k = weights.shape[-1]
    acc_dtype = weights.dtype
    # Pad enough for out_h x out_w windows, with -inf.
    pad_bottom = _max((out_h - 1) * sh + kh - (h + pt), 0)
    pad_right = _max((out_w - 1) * sw + kw - (w + pl), 0)
    padded = bool(pt or pl) or _may_be_positive(pad_bottom) or _may_be_positive(pad_right)
    xp = F.pad(x, (pl, pad_right, pt, pad_bottom), value=float("-inf")) if padded else x
    windows = xp.unfold(2, kh, sh).unfold(3, kw, sw)[:, :, :out_h, :out_w]
    values = windows.reshape(n, c, out_h, out_w, kh * kw)
    if padded:
        # Each window's real cells first, in window order, then its padded cells: the stable sort
        # below then ranks a real -inf before the padding's -inf.
        real = _real_cells(out_h, out_w, h, w, (kh, kw), (sh, sw), (pt, pl), x.device)
        values = values.gather(-1, real.to(torch.uint8).sort(dim=-1, descending=True, stable=True).indices
                               .expand_as(values))
    # The contract's rank order is a stable descending sort: NaN first (torch.sort puts it above
    # +inf), then larger values; equal values (+0 == -0) keep window order.
    ranked = values.sort(dim=-1, descending=True, stable=True).indices[..., :k]
    top = values.gather(-1, ranked).to(acc_dtype)
    wt = weights[:, None, None, :] if weights.dim() == 2 else weights  # per channel (C, k)
    # The contract's arithmetic: each product rounded, then the sum accumulated in rank order
    # (rank 0 first), so float32 results equal the ONNX Runtime op's and the TensorRT plugin's bit
    # for bit; torch's own sum(-1) reduces in another order (1-ulp differences).
    if padded:
        # Ranks past a window's real cells hold padding and add nothing. Both selects are needed
        # for the gradients: the padding's -inf must not meet the weights (-inf * 0 = NaN), and an
        # infinite grad_y must not reach those weights either (inf * 0).
        missing = torch.arange(k, device=x.device) >= real.sum(-1, keepdim=True)
        zero = torch.zeros((), dtype=acc_dtype, device=x.device)
        products = torch.where(missing, zero, torch.where(missing, zero, top) * wt)
    else:
        products = top * wt
    # unbind: one backward node for all ranks (indexing each rank would allocate a full-size
    # gradient per rank).
    ranks = products.unbind(-1)
    acc = ranks[0] if len(ranks) > 1 else ranks[0].clone()  # never a view of unbind (in-place ops after)
    for product in ranks[1:]:
        acc = acc + product
    return acc.to(x.dtype)


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

    Raises ``ValueError`` naming the argument that breaks the contract (the ONNX schema's rules
    and wording); under torch.jit.trace and torch.compile the arguments are not checked.
    Per window: padded cells are not values; a NaN gives NaN; the k largest values are weighted,
    missing ranks (windows with fewer than k real cells) add 0; the sum is accumulated in rank
    order in float32 (float64 for float64 inputs) and cast back. A channels_last input gives a
    channels_last output, as max_pool2d does.
    """
    if not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
        _check_arguments(x, weights, kernel_shape, strides, pads, ceil_mode)
    return pool2d(x, weights, kernel_shape, strides, pads, ceil_mode)


_NAMING = Naming(owner="sorted_weighted_pool2d", kind="argument")


@functools.lru_cache(maxsize=256)
def _checked_attributes(kernel_shape, strides, pads, ceil_mode: int, k: int):
    """The contract's attribute rules, once per distinct geometry (a training loop repeats one)."""
    return check_attributes(kernel_shape, strides, pads, ceil_mode, k, require_weights=False, naming=_NAMING)


def _check_arguments(x, weights, kernel_shape, strides, pads, ceil_mode) -> None:
    if x.dim() != 4:
        raise ValueError(f"sorted_weighted_pool2d: expected x of shape (N, C, H, W), got {tuple(x.shape)}")
    if weights.dim() not in (1, 2) or (weights.dim() == 2 and weights.shape[0] != x.shape[1]):
        raise ValueError(f"sorted_weighted_pool2d: weights must be (k,) or (C, k) with C = {x.shape[1]}, "
                         f"got {tuple(weights.shape)}")
    attrs = _checked_attributes(tuple(int(v) for v in kernel_shape), tuple(int(v) for v in strides),
                                tuple(int(v) for v in pads), int(bool(ceil_mode)), int(weights.shape[-1]))
    check_window_fits("sorted_weighted_pool2d", tuple(x.shape), x.shape[2], x.shape[3], attrs.kernel_shape,
                      attrs.pads)


def check_window_fits(owner: str, shown, h, w, kernel: Sequence[int], pads: Sequence[int]) -> None:
    """ValueError unless each non-empty spatial axis of an input ``shown`` holds the padded window
    (the message of the layer and of the functional form)."""
    (kh, kw), (pt, pl, pb, pr) = kernel, pads
    if not (window_fits(h, kh, pt, pb) and window_fits(w, kw, pl, pr)):
        raise ValueError(f"{owner}: input {shown} is smaller than the window: padded size {h + pt + pb}x{w + pl + pr} "
                         f"< kernel {kh}x{kw}")


def pool2d(x: torch.Tensor, weights: torch.Tensor, kernel_shape: Sequence[int], strides: Sequence[int],
           pads: Sequence[int], ceil_mode: bool = False) -> torch.Tensor:
    """:func:`sorted_weighted_pool2d` without the argument checks, for callers that made them
    (the layer checks its attributes once and each input in forward)."""
    kh, kw = int(kernel_shape[0]), int(kernel_shape[1])
    sh, sw = int(strides[0]), int(strides[1])
    pt, pl, pb, pr = (int(p) for p in pads)
    n, c, h, w = x.shape
    out_h = pooled_extent(h, kh, sh, pt, pb, ceil_mode)
    out_w = pooled_extent(w, kw, sw, pl, pr, ceil_mode)
    wt = weights.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    if h == 0 or w == 0:
        # Nothing to compute, but the output stays in the autograd graph of x and the weights.
        empty = x.reshape(-1)[:0] + wt.reshape(-1)[:0].sum().to(x.dtype)
        return empty.reshape(n, c, 0 if h == 0 else out_h, 0 if w == 0 else out_w)

    if uses_training_kernels(kh * kw, x):
        # The same math in the project's kernels (windows clipped to the input), with their backward.
        y = _training_kernels.pool(x, wt, [kh, kw], [sh, sw], [pt, pl], out_h, out_w)
    else:
        y = pool_by_sorting(x, wt, (kh, kw), (sh, sw), (pt, pl), out_h, out_w)
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        y = y.contiguous(memory_format=torch.channels_last)
    return y
