"""The layer's training path (sortpool_torch._sorting_network): the pruned networks, the values
against topk, and the hand-written backward's routing (ties, NaN, padding, per-channel weights)
against an independent NumPy routing of each rank to its cell."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sortpool_torch import SortedWeightedPool2d
from sortpool_torch import functional as spf
from sortpool_torch._sorting_network import TopKWindows, top_k_network


@pytest.mark.parametrize("n", range(1, 17))
def test_every_pruned_network_selects_the_top_k_of_every_0_1_input(n):
    """0-1 principle: a comparator network puts the k largest values first, in order, on every
    input iff it does so on every input of zeros and ones."""
    for k in range(1, n + 1):
        net = top_k_network(n, k)
        for bits in itertools.product((0, 1), repeat=n) if n <= 12 else np.random.default_rng(n).integers(0, 2, (4096, n)):
            v = list(bits)
            for a, b, keep_max, keep_min in net:
                hi, lo = max(v[a], v[b]), min(v[a], v[b])
                v[a], v[b] = (hi if keep_max else v[a]), (lo if keep_min else v[b])
            assert v[:k] == sorted(bits, reverse=True)[:k], (n, k, bits)


def _with_old_path(monkeypatch):
    monkeypatch.setattr(spf, "SORTING_NETWORK_MAX_CELLS", 0)


GEOMETRIES = [  # kernel, stride, padding (top, left, bottom, right), ceil_mode
    ((2, 2), (2, 2), (0, 0, 0, 0), False),
    ((2, 2), (1, 1), (1, 0, 0, 1), True),
    ((3, 3), (2, 2), (1, 1, 1, 1), False),
    ((3, 3), (2, 2), (0, 0, 0, 0), True),
    ((2, 3), (1, 2), (0, 1, 1, 2), True),
    ((3, 1), (3, 1), (2, 0, 0, 0), False),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=[str(i) for i in range(len(GEOMETRIES))])
def test_forward_is_bit_equal_to_unfold_topk(geometry, dtype, monkeypatch):
    kernel, stride, padding, ceil_mode = geometry
    g = torch.Generator().manual_seed(hash((kernel, stride, padding)) & 0xFFFF)
    x = torch.randint(-3, 4, (2, 3, 9, 10), generator=g).to(dtype)  # many ties
    x[0, 0, 1, 1], x[0, 1, 2, 3], x[1, 2, 4, 4] = float("nan"), float("inf"), float("-inf")
    x[1, 0, 0, :] = float("-inf")
    for k in range(1, kernel[0] * kernel[1] + 1):
        layer = SortedWeightedPool2d(k, kernel, stride, padding, ceil_mode, channels=3).to(dtype)
        with torch.no_grad():
            layer.logits.copy_(torch.randn(layer.logits.shape, generator=g))
            new = layer(x)
            monkeypatch.setattr(spf, "SORTING_NETWORK_MAX_CELLS", 0)
            old = layer(x)
            monkeypatch.undo()
        assert torch.equal(new.isnan(), old.isnan()) and torch.equal(new.nan_to_num(), old.nan_to_num()), k


def _reference_input_grad(x, weights, k, kernel, stride, pads, ceil_mode, grad_out):
    """Each window's real cells sorted largest first (NaN first, then the earlier cell of equal
    ones); rank i < k takes weights[c, i] * grad_out; summed into x in float64."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = kernel, stride, pads
    oh, ow = grad_out.shape[2:]
    grad = np.zeros(x.shape, np.float64)
    for ni, ci, i, j in itertools.product(range(n), range(c), range(oh), range(ow)):
        cells = [(r, q) for r in range(i * sh - pt, i * sh - pt + kh) for q in range(j * sw - pl, j * sw - pl + kw)
                 if 0 <= r < h and 0 <= q < w]
        vals = [float(x[ni, ci, r, q]) for r, q in cells]
        order = sorted(range(len(cells)), key=lambda t: (0 if np.isnan(vals[t]) else 1, -vals[t] if not np.isnan(vals[t]) else 0, t))
        for rank, t in enumerate(order[:k]):
            r, q = cells[t]
            grad[ni, ci, r, q] += float(weights[ci, rank]) * float(grad_out[ni, ci, i, j])
    return grad


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=[str(i) for i in range(len(GEOMETRIES))])
@pytest.mark.parametrize("ties", [False, True])
def test_backward_routes_each_rank_to_one_cell(geometry, ties):
    kernel, stride, padding, ceil_mode = geometry
    g = torch.Generator().manual_seed(7 + len(kernel) * 13 + stride[0])
    x = (torch.randint(-2, 3, (2, 3, 7, 8), generator=g).double() if ties else torch.randn(2, 3, 7, 8, generator=g,
                                                                                             dtype=torch.float64))
    x[0, 1, 3, 3] = float("nan") if not ties else x[0, 1, 3, 3]
    for k in sorted({1, 2, kernel[0] * kernel[1]}):
        layer = SortedWeightedPool2d(k, kernel, stride, padding, ceil_mode, channels=3, normalize=False).double()
        with torch.no_grad():
            layer.logits.copy_(torch.randn(layer.logits.shape, generator=g, dtype=torch.float64))
        xr = x.clone().requires_grad_()
        y = layer(xr)
        grad_out = torch.randn(y.shape, generator=g, dtype=torch.float64)
        y.backward(grad_out)
        want = _reference_input_grad(x.numpy(), layer.logits.detach().numpy(), k, kernel, stride, padding, ceil_mode,
                                     grad_out.numpy())
        np.testing.assert_allclose(xr.grad.numpy(), want, rtol=1e-12, atol=0, equal_nan=True)


def test_ties_go_to_the_first_cell_of_the_window():
    x = torch.tensor([[[[5.0, 5.0], [5.0, 1.0]]]], requires_grad=True)
    layer = SortedWeightedPool2d(2, 2, normalize=False)
    with torch.no_grad():
        layer.logits.copy_(torch.tensor([10.0, 100.0]))
    layer(x).backward()
    assert x.grad.tolist() == [[[[10.0, 100.0], [0.0, 0.0]]]]


def test_window_gradient_sums_and_logit_gradients_equal_the_old_path(monkeypatch):
    """The routing may differ from topk's among equal values, but each window hands out the same
    gradients (compared as sorted lists, exactly) and the logits get the same gradient."""
    g = torch.Generator().manual_seed(11)
    x = torch.randint(-2, 3, (4, 5, 12, 12), generator=g).float()
    results = []
    for old in (False, True):
        if old:
            _with_old_path(monkeypatch)
        layer = SortedWeightedPool2d(3, 2, 2, channels=5)
        with torch.no_grad():
            layer.logits.copy_(torch.randn(layer.logits.shape, generator=torch.Generator().manual_seed(3)))
        xr = x.clone().requires_grad_()
        (layer(xr) * torch.arange(1.0, 73.0).repeat(4 * 5 * 2)[: 4 * 5 * 36].reshape(4, 5, 6, 6)).sum().backward()
        per_window = xr.grad.reshape(4, 5, 6, 2, 6, 2).permute(0, 1, 2, 4, 3, 5).reshape(4, 5, 6, 6, 4)
        results.append((per_window.sort(-1).values, layer.logits.grad.clone()))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_gradcheck_through_the_network_with_padding_and_per_channel_weights():
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, requires_grad=True)
    layer = SortedWeightedPool2d(4, 3, 2, 1, ceil_mode=True, channels=3).double()
    assert torch.autograd.gradcheck(lambda t: layer(t), (x,))
    assert torch.autograd.gradcheck(lambda xp: TopKWindows.apply(xp, (2, 3), (1, 2), 3, 2, 4),
                                    (torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True),))


def test_large_windows_keep_unfold_topk():
    assert spf.uses_sorting_network(9, torch.zeros(1))
    assert not spf.uses_sorting_network(16, torch.zeros(1))
