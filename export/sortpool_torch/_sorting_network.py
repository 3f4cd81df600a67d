"""The training path of the layer: each window's top k values by a sorting network over the
window's cells, with a hand-written backward.

``unfold`` + ``topk`` copies every window and sorts it generically; the article's author hand-wrote
a small sort for the same reason. Here the kh * kw cells of every window are kh * kw strided views
of the (padded) input, a compare-exchange network (``maximum``/``minimum``, pruned to the ranks
kept) sorts them elementwise across all windows at once, and the backward routes each rank's
gradient to exactly one cell with 0/1 masks instead of autograd through every compare-exchange.

Ties: equal values are interchangeable in the forward (the values are the same). In the backward
a rank's gradient goes to the cell that comes first in the window, row-major, among the equal ones
(NaN ranks above every number, as in the forward). The values, and so the output and the weights'
gradients, are exactly those of ``topk``.
"""
from __future__ import annotations

import functools
from typing import List, Sequence, Tuple

import torch


@functools.lru_cache(maxsize=None)
def _merge_exchange(n: int) -> Tuple[Tuple[int, int], ...]:
    """Batcher's merge-exchange sorting network for n wires (Knuth, TAOCP 5.2.2, Algorithm M):
    comparators (a, b), a < b, after which wire a holds the larger value."""
    pairs = []
    t = max(1, (n - 1).bit_length())
    p = 1 << (t - 1)
    while p > 0:
        q, r, d = 1 << (t - 1), 0, p
        while True:
            pairs.extend((i, i + d) for i in range(n - d) if i & p == r)
            if q == p:
                break
            d, q, r = q - p, q >> 1, p
        p >>= 1
    return tuple(pairs)


@functools.lru_cache(maxsize=None)
def top_k_network(n: int, k: int) -> Tuple[Tuple[int, int, bool, bool], ...]:
    """The comparators of the n-wire network that the first k outputs depend on, each as
    (a, b, keep the max on a, keep the min on b): an output nothing later reads is not computed."""
    needed = set(range(k))
    kept = []
    for a, b in reversed(_merge_exchange(n)):
        hi, lo = a in needed, b in needed
        if hi or lo:
            kept.append((a, b, hi, lo))
            needed |= {a, b}
    return tuple(reversed(kept))


def window_cells(xp: torch.Tensor, kernel: Sequence[int], strides: Sequence[int], out_h, out_w) -> List[torch.Tensor]:
    """The kh * kw cells of every window as (N, C, out_h, out_w) strided views, row-major."""
    (kh, kw), (sh, sw) = kernel, strides
    return [xp[:, :, i:i + sh * (out_h - 1) + 1:sh, j:j + sw * (out_w - 1) + 1:sw] for i in range(kh) for j in range(kw)]


def sorted_top_k(cells: List[torch.Tensor], k: int) -> List[torch.Tensor]:
    """The k largest values of each window, largest first; a NaN reaches rank 0 (``maximum`` and
    ``minimum`` propagate it), so a window holding one sums to NaN, as the contract says."""
    v = list(cells)
    for a, b, keep_max, keep_min in top_k_network(len(v), k):
        hi, lo = v[a], v[b]
        if keep_max:
            v[a] = torch.maximum(hi, lo)
        if keep_min:
            v[b] = torch.minimum(hi, lo)
    return v[:k]


def cell_ranks(cells: List[torch.Tensor]) -> torch.Tensor:
    """(N, C, out_h, out_w, cells) int64: the rank of each cell in its window, largest first;
    among equal values the cell first in the window ranks first; NaN ranks above every number."""
    keys = [torch.nan_to_num(c, nan=float("inf")) for c in cells]
    ranks = [torch.zeros(keys[0].shape, dtype=torch.uint8, device=keys[0].device) for _ in keys]
    for earlier in range(len(keys)):
        for later in range(earlier + 1, len(keys)):
            earlier_first = keys[earlier] >= keys[later]
            ranks[later] += earlier_first
            ranks[earlier] += ~earlier_first
    return torch.stack(ranks, dim=-1).long()


class TopKWindows(torch.autograd.Function):
    """(N, C, out_h, out_w, k) top-k values of the windows of ``xp`` (already padded), as
    ``unfold(...).topk(k).values`` gives them; backward routes each rank to one cell."""

    @staticmethod
    def forward(ctx, xp, kernel, strides, out_h, out_w, k):
        ctx.save_for_backward(xp)
        ctx.geometry = (tuple(kernel), tuple(strides), out_h, out_w, k)
        return torch.stack(sorted_top_k(window_cells(xp, kernel, strides, out_h, out_w), k), dim=-1)

    @staticmethod
    def backward(ctx, grad_top):
        (xp,) = ctx.saved_tensors
        kernel, strides, out_h, out_w, k = ctx.geometry
        ranks = cell_ranks(window_cells(xp, kernel, strides, out_h, out_w))
        cells = ranks.shape[-1]
        if k < cells:  # ranks not kept get 0: gather from zeros (cheaper than clamping and masking)
            grad_top = torch.cat([grad_top, grad_top.new_zeros(grad_top.shape[:-1] + (cells - k,))], dim=-1)
        grad_cells = torch.gather(grad_top, -1, ranks)
        grad_xp = torch.zeros_like(xp)
        for cell, view in enumerate(window_cells(grad_xp, kernel, strides, out_h, out_w)):
            view += grad_cells[..., cell]  # in place on grad_xp: overlapping windows add up
        return grad_xp, None, None, None, None, None
