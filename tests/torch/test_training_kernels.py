"""The layer's two training paths, the CPU kernels (sortpool_torch._training_kernels,
plugin/training) and the sorting path (functional.pool_by_sorting: CUDA, jit.trace, torch.func,
second order): the forward of one against the other, the backward's routing (ties, NaN, -inf,
padding, infinite gradients, per-channel weights) of both against an independent Python routing of
each rank to its cell, the weights' gradients against a float64 sum, second-order gradients, the
tracers (make_fx, fake tensors, torch.func), the custom ops' registrations (opcheck, gradcheck) and
the C boundary's errors."""
from __future__ import annotations

import ctypes
import itertools

import numpy as np
import pytest
import torch

from sortpool_torch import SortedWeightedPool2d
from sortpool_torch import _training_kernels as tk
from sortpool_torch import functional as spf

pytestmark = pytest.mark.skipif(not tk.AVAILABLE, reason="libsortpool_training.so not built")


def _sorting_path(monkeypatch):
    monkeypatch.setattr(spf, "TRAINING_KERNELS_MAX_CELLS", 0)


def _use(path, monkeypatch):
    """Run the layer on `path`: "kernels" or "sorting"."""
    if path == "sorting":
        _sorting_path(monkeypatch)


PATHS = ["kernels", "sorting"]


GEOMETRIES = [  # kernel, stride, padding (top, left, bottom, right), ceil_mode
    ((2, 2), (2, 2), (0, 0, 0, 0), False),
    ((2, 2), (1, 1), (1, 0, 0, 1), True),
    ((3, 3), (2, 2), (1, 1, 1, 1), False),
    ((3, 3), (2, 2), (0, 0, 0, 0), True),
    ((3, 3), (1, 1), (0, 0, 0, 0), False),
    ((2, 3), (1, 2), (0, 1, 1, 2), True),
    ((3, 1), (3, 1), (2, 0, 0, 0), False),
    ((4, 4), (3, 3), (1, 2, 3, 0), True),
]
IDS = [str(i) for i in range(len(GEOMETRIES))]


def _layer(k, geometry, channels, g, dtype=torch.float32, normalize=True):
    kernel, stride, padding, ceil_mode = geometry
    layer = SortedWeightedPool2d(k, kernel, stride, padding, ceil_mode, channels=channels, normalize=normalize)
    layer = layer.to(dtype)
    with torch.no_grad():
        layer.logits.copy_(torch.randn(layer.logits.shape, generator=g, dtype=torch.float64).to(dtype))
    return layer


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=IDS)
def test_forward_is_bit_equal_to_the_sorting_path(geometry, dtype, monkeypatch):
    kernel = geometry[0]
    g = torch.Generator().manual_seed(hash(geometry) & 0xFFFF)
    x = torch.randint(-3, 4, (2, 3, 11, 10), generator=g).to(dtype)  # many ties
    x[0, 0, 1, 1], x[0, 1, 2, 3], x[1, 2, 4, 4], x[0, 2, 5, 5] = float("nan"), float("inf"), float("-inf"), -0.0
    x[1, 0, 0, :] = float("-inf")
    assert spf.uses_training_kernels(kernel[0] * kernel[1], x)
    for k in range(1, kernel[0] * kernel[1] + 1):
        layer = _layer(k, geometry, 3, g, dtype)
        with torch.no_grad():
            new = layer(x)
            monkeypatch.setattr(spf, "TRAINING_KERNELS_MAX_CELLS", 0)
            old = layer(x)
            monkeypatch.undo()
        assert new.dtype == old.dtype == dtype
        assert torch.equal(new.isnan(), old.isnan()) and torch.equal(new.nan_to_num(), old.nan_to_num()), k


def _reference_grads(x, weights, k, geometry, grad_out):
    """Each window's real cells sorted largest first (NaN first, then the earlier cell of equal
    ones); rank i < k sends weights[c, i] * grad_out to its cell and grad_out * value to weight i.
    All in float64 from the float32/float64 inputs."""
    (kh, kw), (sh, sw), (pt, pl, _, _), _ = geometry
    n, c, h, w = x.shape
    oh, ow = grad_out.shape[2:]
    grad_x = np.zeros(x.shape, np.float64)
    grad_w = np.zeros(weights.shape, np.float64)
    for ni, ci, i, j in itertools.product(range(n), range(c), range(oh), range(ow)):
        cells = [(r, q) for r in range(i * sh - pt, i * sh - pt + kh) for q in range(j * sw - pl, j * sw - pl + kw)
                 if 0 <= r < h and 0 <= q < w]
        vals = [float(x[ni, ci, r, q]) for r, q in cells]
        order = sorted(range(len(cells)), key=lambda t: (0, 0, t) if np.isnan(vals[t]) else (1, -vals[t], t))
        g = float(grad_out[ni, ci, i, j])
        for rank, t in enumerate(order[:k]):
            r, q = cells[t]
            grad_x[ni, ci, r, q] += float(weights[ci, rank]) * g
            grad_w[ci, rank] += g * vals[t]
    return grad_x, grad_w


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=IDS)
@pytest.mark.parametrize("ties", [False, True])
def test_backward_routes_each_rank_to_one_cell(geometry, ties, dtype, path, monkeypatch):
    _use(path, monkeypatch)
    kernel, stride = geometry[0], geometry[1]
    g = torch.Generator().manual_seed(7 + kernel[0] * 13 + stride[0] + ties)
    shape = (2, 3, 9, 11)
    x = (torch.randint(-2, 3, shape, generator=g) if ties else torch.randn(shape, generator=g, dtype=torch.float64))
    x = x.to(dtype)
    if not ties:
        x[0, 1, 3, 3] = float("nan")
    for k in sorted({1, 2, kernel[0] * kernel[1]}):
        layer = _layer(k, geometry, 3, g, dtype, normalize=False)
        xr = x.clone().requires_grad_()
        y = layer(xr)
        grad_out = torch.randn(y.shape, generator=g, dtype=torch.float64).to(dtype)
        y.backward(grad_out)
        want_x, want_w = _reference_grads(x.double().numpy(), layer.logits.detach().double().numpy(), k, geometry,
                                          grad_out.double().numpy())
        # float64: the same products, summed in another order; float32: each product rounded once
        # (non-overlapping windows then equal the reference rounded), overlapping sums in float32.
        tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(xr.grad.double().numpy(), want_x, equal_nan=True, **tol)
        got_w = layer.logits.grad.double().numpy()
        if not np.isnan(want_w).any():
            np.testing.assert_allclose(got_w, want_w, rtol=1e-12 if dtype == torch.float64 else 1e-6, atol=1e-6)
        else:  # a NaN cell's value reaches the weight gradients of the ranks it takes
            assert np.array_equal(np.isnan(got_w), np.isnan(want_w))


@pytest.mark.parametrize("path", PATHS)
def test_ties_go_to_the_first_cell_of_the_window(path, monkeypatch):
    _use(path, monkeypatch)
    x = torch.tensor([[[[5.0, 5.0], [5.0, 1.0]]]], requires_grad=True)
    layer = SortedWeightedPool2d(2, 2, normalize=False)
    with torch.no_grad():
        layer.logits.copy_(torch.tensor([10.0, 100.0]))
    layer(x).backward()
    assert x.grad.tolist() == [[[[10.0, 100.0], [0.0, 0.0]]]]


@pytest.mark.parametrize("path", PATHS)
def test_signed_zeros_are_equal_values_and_nan_ranks_first(path, monkeypatch):
    _use(path, monkeypatch)
    layer = SortedWeightedPool2d(3, 2, normalize=False)
    with torch.no_grad():
        layer.logits.copy_(torch.tensor([1.0, 10.0, 100.0]))
    x = torch.tensor([[[[0.0, -0.0], [-0.0, -1.0]]]], requires_grad=True)
    layer(x).backward()
    assert x.grad.tolist() == [[[[1.0, 10.0], [100.0, 0.0]]]]  # +0 == -0: cell order decides
    x = torch.tensor([[[[float("inf"), 2.0], [float("nan"), 3.0]]]], requires_grad=True)
    y = layer(x)
    y.backward()
    assert y.isnan().all()
    assert x.grad.tolist() == [[[[10.0, 0.0], [1.0, 100.0]]]]  # NaN first, then +inf, then 3


@pytest.mark.parametrize("path", PATHS)
def test_cells_not_kept_get_zero_even_for_an_infinite_gradient(path, monkeypatch):
    _use(path, monkeypatch)
    layer = SortedWeightedPool2d(1, 2, normalize=False)
    x = torch.tensor([[[[1.0, 4.0], [2.0, 3.0]]]], requires_grad=True)
    layer(x).backward(torch.tensor([[[[float("inf")]]]]))
    assert x.grad.tolist() == [[[[0.0, float("inf")], [0.0, 0.0]]]]


def test_both_paths_route_ties_alike_and_their_logit_gradients_agree(monkeypatch):
    """Equal values: both paths give each cell the same share, bit for bit (non-overlapping
    windows, so each cell's gradient is one rounded product); the logits' gradients agree to
    float32 rounding (the kernels sum them in float64, autograd in float32)."""
    g = torch.Generator().manual_seed(11)
    x = torch.randint(-2, 3, (4, 5, 12, 12), generator=g).float()
    results = []
    for path in PATHS:
        _use(path, monkeypatch)
        layer = SortedWeightedPool2d(3, 2, 2, channels=5)
        with torch.no_grad():
            layer.logits.copy_(torch.randn(layer.logits.shape, generator=torch.Generator().manual_seed(3)))
        xr = x.clone().requires_grad_()
        (layer(xr) * torch.arange(1.0, 73.0).repeat(4 * 5 * 2)[: 4 * 5 * 36].reshape(4, 5, 6, 6)).sum().backward()
        results.append((xr.grad, layer.logits.grad.clone()))
    assert torch.equal(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("path", PATHS)
def test_minus_inf_beside_padding_keeps_its_rank(path, monkeypatch):
    """A real -inf outranks the padding (padded cells are not values): with window 1x2 and a left
    pad, the first window's only cell is the -inf, which takes weight 0's share."""
    _use(path, monkeypatch)
    x = torch.tensor([[[[float("-inf"), 5.0]]]], requires_grad=True)
    w = torch.tensor([0.75, 0.25], requires_grad=True)
    y = spf.sorted_weighted_pool2d(x, w, (1, 2), (1, 1), (0, 1, 0, 0))
    y.backward(torch.tensor([[[[2.0, 1.0]]]]))
    assert y.tolist() == [[[[float("-inf"), float("-inf")]]]]
    # window 0: [pad, -inf] -> -inf is rank 0; window 1: [-inf, 5] -> 5 rank 0, -inf rank 1
    assert x.grad.tolist() == [[[[2.0 * 0.75 + 1.0 * 0.25, 1.0 * 0.75]]]]
    assert w.grad.tolist() == [float("-inf"), float("-inf")]


@pytest.mark.parametrize("path", PATHS)
def test_a_window_with_missing_ranks_adds_nothing_to_their_weights_even_for_an_infinite_gradient(path, monkeypatch):
    """The corner windows of a padded 2x2 pooling hold one real cell: weights 1-3 get nothing from
    them, not inf * 0 = NaN."""
    _use(path, monkeypatch)
    x = torch.tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]]], requires_grad=True)
    w = torch.tensor([0.4, 0.3, 0.2, 0.1], requires_grad=True)
    y = spf.sorted_weighted_pool2d(x, w, (2, 2), (2, 2), (1, 1, 1, 1))
    g = torch.zeros_like(y)
    g[0, 0, 0, 0] = float("inf")  # the window holding only x[0, 0, 0, 0] = 1
    y.backward(g)
    assert w.grad.tolist() == [float("inf"), 0.0, 0.0, 0.0]
    assert x.grad[0, 0, 0, 0] == float("inf") and x.grad.flatten()[1:].eq(0).all()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("per_channel", [False, True])
def test_second_order_gradients_match_finite_differences(per_channel, path, monkeypatch):
    """create_graph=True (a WGAN-GP style gradient penalty): the penalty's gradient with respect to
    the logits equals central differences of the penalty, which needs only first-order
    gradients; and gradgradcheck passes through the functional form."""
    _use(path, monkeypatch)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 7, 6, generator=g, dtype=torch.float64)
    layer = SortedWeightedPool2d(3, 3, 2, 1, ceil_mode=True, channels=3 if per_channel else None).double()
    with torch.no_grad():
        layer.logits.copy_(torch.randn(layer.logits.shape, generator=g, dtype=torch.float64))

    def penalty(create_graph):
        xr = x.clone().requires_grad_()
        grad_x, = torch.autograd.grad(layer(xr).pow(2).sum(), xr, create_graph=create_graph)
        return grad_x.pow(2).sum()

    got, = torch.autograd.grad(penalty(True), layer.logits)
    want = torch.zeros_like(layer.logits)
    eps = 1e-6
    for i in range(layer.logits.numel()):
        sides = []
        for step in (eps, -2 * eps, eps):  # up, down, back
            with torch.no_grad():
                layer.logits.view(-1)[i] += step
            sides.append(penalty(False).item())
        want.view(-1)[i] = (sides[0] - sides[1]) / (2 * eps)
    assert want.abs().max() > 1e-3  # the penalty does depend on the logits
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
    w = torch.softmax(torch.randn(layer.logits.shape, generator=g, dtype=torch.float64), -1).requires_grad_()
    assert spf.uses_training_kernels(9, x) == (path == "kernels")
    assert torch.autograd.gradgradcheck(
        lambda t, v: spf.sorted_weighted_pool2d(t, v, (3, 3), (2, 2), (1, 1, 1, 1), True),
        (x.clone().requires_grad_(), w))


def test_torch_func_transforms_give_the_eager_results():
    """torch.func.grad and vmap (per-sample gradients) run the sorting path on the CPU and agree
    with eager autograd on the kernels path."""
    from torch.func import functional_call, grad, vmap

    g = torch.Generator().manual_seed(6)
    layer = SortedWeightedPool2d(2, 2, channels=3)
    with torch.no_grad():
        layer.logits.copy_(torch.randn(layer.logits.shape, generator=g))
    x = torch.randn(4, 3, 6, 6, generator=g)
    params = {name: p.detach() for name, p in layer.named_parameters()}

    def loss(p, sample):
        return functional_call(layer, p, (sample[None],)).pow(2).sum()

    per_sample = vmap(grad(loss), in_dims=(None, 0))(params, x)["logits"]
    for i in range(x.shape[0]):
        layer.zero_grad()
        layer(x[i:i + 1]).pow(2).sum().backward()
        torch.testing.assert_close(per_sample[i], layer.logits.grad, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(vmap(layer)(x[:, None]).squeeze(1), layer(x), rtol=0, atol=0)


def test_make_fx_and_fake_tensors_record_the_custom_op():
    """make_fx (real and symbolic) records the kernels' custom op, so the graph replays the layer at
    other shapes; under FakeTensorMode the op's fake kernel gives the shape."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.func import functional_call

    layer = SortedWeightedPool2d(3, 2)
    params = dict(layer.named_parameters())
    for mode in ("real", "symbolic"):
        gm = make_fx(lambda p, t: functional_call(layer, p, (t,)), tracing_mode=mode)(params, torch.randn(2, 3, 4, 4))
        assert "sortpool.sorted_weighted_pool_training" in gm.code, mode
        other = torch.randn(1, 3, 6, 8) if mode == "symbolic" else torch.randn(2, 3, 4, 4)
        assert torch.equal(gm(params, other), layer(other)), mode
    with FakeTensorMode(allow_non_fake_inputs=True):
        assert layer(torch.empty(2, 3, 8, 7)).shape == (2, 3, 4, 3)


def test_a_tensor_subclass_takes_the_custom_op_and_keeps_second_order_gradients():
    class Tagged(torch.Tensor):
        pass

    g = torch.Generator().manual_seed(9)
    layer = SortedWeightedPool2d(3, 3, 2, 1).double()
    x = torch.randn(2, 3, 7, 6, generator=g, dtype=torch.float64)
    results = []
    for t in (x.clone(), x.clone().as_subclass(Tagged)):
        t.requires_grad_()
        layer.zero_grad()
        grad_x, = torch.autograd.grad(layer(t).pow(2).sum(), t, create_graph=True)
        results.append(torch.autograd.grad(grad_x.pow(2).sum(), layer.logits)[0])
    assert tk._needs_custom_op(x.as_subclass(Tagged)) and not tk._needs_custom_op(x)
    torch.testing.assert_close(results[1].as_subclass(torch.Tensor), results[0], rtol=1e-12, atol=1e-12)


def test_weights_on_another_device_are_refused_before_the_kernels_read_them():
    """The kernels read x and the weights through host pointers: a layer moved to another device
    than its input gets a clear error, not a read of a device pointer."""
    with pytest.raises(ValueError, match="expected all tensors on the same device.*x is on cpu and weights on meta"):
        SortedWeightedPool2d(2, 2).to("meta")(torch.randn(1, 1, 4, 4))


def test_gradcheck_with_padding_ceil_mode_and_per_channel_weights():
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, requires_grad=True)
    layer = SortedWeightedPool2d(4, 3, 2, 1, ceil_mode=True, channels=3).double()
    assert torch.autograd.gradcheck(lambda t: layer(t), (x,))
    w = torch.rand(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t, v: tk.sorted_weighted_pool_training(t, v, [2, 3], [1, 2], [1, 0], 7, 3), (x, w))


@pytest.mark.parametrize("per_channel", [False, True])
def test_custom_ops_pass_torch_opcheck(per_channel):
    x = torch.randn(2, 3, 8, 9, requires_grad=True)
    w = torch.rand((3, 4) if per_channel else (4,), requires_grad=True)
    torch.library.opcheck(tk.sorted_weighted_pool_training, (x, w, [3, 3], [2, 2], [1, 1], 4, 5))
    torch.library.opcheck(tk.sorted_weighted_pool_training_backward,
                          (x.detach(), w.detach(), torch.randn(2, 3, 4, 5), [3, 3], [2, 2], [1, 1]))


def test_the_same_result_with_one_or_many_threads():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 4, 17, 15, generator=g, requires_grad=True)
    layer = SortedWeightedPool2d(3, 3, 1, 1, channels=4)
    outputs = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 5):
            torch.set_num_threads(threads)
            x.grad, layer.logits.grad = None, None
            y = layer(x)
            y.backward(torch.ones_like(y))
            outputs.append((y.detach(), x.grad.clone(), layer.logits.grad.clone()))
    finally:
        torch.set_num_threads(before)
    for other in outputs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(outputs[0], other))


def test_which_path():
    x = torch.zeros(1, 1, 4, 4)
    assert spf.uses_training_kernels(64, x)
    assert not spf.uses_training_kernels(64, x.to(torch.int32))
    assert not spf.uses_training_kernels(4, torch.zeros(1, 1, 4, 4, device="meta"))


def test_without_the_library_the_layer_uses_the_sorting_path(monkeypatch):
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    layer = SortedWeightedPool2d(2, 2)
    want = layer(x)
    monkeypatch.setattr(tk, "AVAILABLE", False)
    assert not spf.uses_training_kernels(4, x)
    torch.testing.assert_close(layer(x), want, rtol=0, atol=0)


def test_bad_input_is_refused_with_a_message():
    x = torch.randn(1, 2, 6, 6)
    with pytest.raises(ValueError, match="weights must be"):
        tk.sorted_weighted_pool_training(x, torch.rand(4, dtype=torch.float64), [2, 2], [2, 2], [0, 0], 3, 3)
    with pytest.raises(ValueError, match="weights must be"):
        tk.sorted_weighted_pool_training(x, torch.rand(3, 4), [2, 2], [2, 2], [0, 0], 3, 3)
    with pytest.raises(ValueError, match="4-D CPU float"):
        tk.sorted_weighted_pool_training(x.int(), torch.rand(4), [2, 2], [2, 2], [0, 0], 3, 3)
    with pytest.raises(RuntimeError, match=r"k must be in \[1, kernel cells\]"):
        tk.sorted_weighted_pool_training(x, torch.rand(5), [2, 2], [2, 2], [0, 0], 3, 3)
    with pytest.raises(RuntimeError, match=r"pads must be in \[0, kernel\)"):
        tk.sorted_weighted_pool_training(x, torch.rand(4), [2, 2], [2, 2], [2, 0], 3, 3)
    with pytest.raises(RuntimeError, match="at most 64 cells"):
        tk.sorted_weighted_pool_training(x, torch.rand(4), [9, 9], [2, 2], [0, 0], 3, 3)
    with pytest.raises(ValueError, match="does not match"):
        tk.sorted_weighted_pool_training_backward(x, torch.rand(4), torch.randn(1, 3, 3, 3), [2, 2], [2, 2], [0, 0])
    # The C boundary itself: an unknown dtype code and a null problem.
    assert tk._LIB.sortpool_training_forward(9, None, None, None, None, 1) == -1
    assert b"unknown dtype code 9" in tk._LIB.sortpool_training_last_error()
    assert tk._LIB.sortpool_training_forward(0, None, None, None, None, 1) == -1
    assert b"problem is null" in tk._LIB.sortpool_training_last_error()


def test_an_output_extent_past_the_input_reads_nothing_out_of_bounds():
    """Windows are clipped to the input, so even an out_h / out_w the shape rule would not give
    reads only real cells: the extra windows have no cells and sum to 0."""
    x = torch.randn(1, 1, 4, 4)
    y = tk.sorted_weighted_pool_training(x, torch.full((4,), 0.25), [2, 2], [2, 2], [0, 0], 5, 5)
    assert torch.equal(y[..., 2:, :], torch.zeros(1, 1, 3, 5)) and torch.equal(y[..., :, 2:], torch.zeros(1, 1, 5, 3))
    assert ctypes.sizeof(tk._Problem) == 14 * 8
