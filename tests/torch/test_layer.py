"""SortedWeightedPool2d forward: parity with the NumPy reference, NaN/inf, max pooling, dtypes,
initialisation and argument validation."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference import output_shape, sorted_weighted_pool_ref
from sortpool_torch import SortedWeightedPool2d, sorted_weighted_pool2d

# (kernel, stride, padding (top, left, bottom, right), ceil_mode, input H, W)
GEOMETRIES = [
    ((1, 1), (1, 1), (0, 0, 0, 0), False, 3, 4),
    ((1, 2), (1, 2), (0, 0, 0, 1), True, 5, 5),
    ((2, 1), (1, 1), (1, 0, 0, 0), False, 4, 3),
    ((2, 2), (2, 2), (0, 0, 0, 0), False, 6, 8),
    ((2, 2), (2, 2), (0, 0, 0, 0), True, 7, 9),
    ((2, 2), (1, 1), (1, 1, 1, 1), False, 5, 4),
    ((2, 2), (3, 3), (1, 0, 1, 1), True, 8, 7),
    ((2, 3), (2, 1), (1, 2, 0, 1), True, 7, 6),
    ((3, 2), (1, 2), (0, 1, 2, 0), False, 6, 7),
    ((3, 3), (2, 2), (1, 1, 1, 1), False, 9, 9),
    ((3, 3), (2, 2), (1, 1, 1, 1), True, 8, 10),
    ((3, 3), (3, 3), (2, 2, 2, 2), True, 7, 5),
    ((3, 3), (1, 1), (0, 0, 0, 0), False, 3, 3),
    ((1, 3), (2, 3), (0, 2, 0, 2), True, 5, 11),
    ((3, 1), (4, 1), (2, 0, 1, 0), True, 11, 4),
]


def _ids(g):
    (kh, kw), (sh, sw), p, cm, h, w = g
    return f"k{kh}x{kw}-s{sh}x{sw}-p{''.join(map(str, p))}-{'ceil' if cm else 'floor'}-{h}x{w}"


def _randomize(layer, gen):
    with torch.no_grad():
        layer.logits.copy_(torch.randn(layer.logits.shape, generator=gen))
    return layer


def _ref(layer, x):
    return sorted_weighted_pool_ref(
        x.detach().float().numpy() if x.dtype != torch.float64 else x.detach().numpy(),
        layer.kernel_size,
        layer.stride,
        layer.padding,
        int(layer.ceil_mode),
        layer.pool_range,
        layer.weights().detach().numpy().reshape(-1),
    )


@pytest.mark.parametrize("per_channel", [False, True], ids=["shared", "per_channel"])
@pytest.mark.parametrize("normalize", [True, False], ids=["softmax", "raw"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=[_ids(g) for g in GEOMETRIES])
def test_matches_reference_every_k(geometry, normalize, per_channel):
    kernel, stride, pads, ceil_mode, h, w = geometry
    gen = torch.Generator().manual_seed(hash((geometry, normalize, per_channel)) % 2**31)
    c = 3
    for k in range(1, kernel[0] * kernel[1] + 1):
        layer = SortedWeightedPool2d(
            k, kernel, stride, pads, ceil_mode, channels=c if per_channel else None, normalize=normalize
        )
        _randomize(layer, gen)
        x = torch.randn(2, c, h, w, generator=gen)
        y = layer(x)
        ref = _ref(layer, x)
        assert tuple(y.shape) == ref.shape == output_shape(x.shape, kernel, stride, pads, int(ceil_mode))
        np.testing.assert_array_equal(y.detach().numpy(), ref, err_msg=f"k={k}")  # rank-order sum: exact


@pytest.mark.parametrize("kernel,k", [((8, 8), 64), ((8, 8), 5), ((4, 16), 7), ((16, 4), 64), ((1, 64), 3)])
def test_largest_windows(kernel, k):
    gen = torch.Generator().manual_seed(k)
    padding = (min(1, kernel[0] - 1), 2, 0, 3)
    layer = _randomize(SortedWeightedPool2d(k, kernel, stride=(3, 5), padding=padding, ceil_mode=True), gen)
    x = torch.randn(2, 2, kernel[0] + 5, kernel[1] + 6, generator=gen)
    np.testing.assert_array_equal(layer(x).detach().numpy(), _ref(layer, x))


def _sprinkle_specials(x, gen, frac=0.08):
    """Puts NaN, +inf and -inf at random positions (about frac each)."""
    x = x.clone()
    for value in (float("nan"), float("inf"), float("-inf")):
        x[torch.rand(x.shape, generator=gen) < frac] = value
    return x


@pytest.mark.parametrize("geometry", GEOMETRIES[3:12], ids=[_ids(g) for g in GEOMETRIES[3:12]])
@pytest.mark.parametrize("per_channel", [False, True], ids=["shared", "per_channel"])
def test_nan_and_inf(geometry, per_channel):
    kernel, stride, pads, ceil_mode, h, w = geometry
    gen = torch.Generator().manual_seed(hash(geometry) % 2**31 + per_channel)
    for k in range(1, kernel[0] * kernel[1] + 1):
        layer = _randomize(
            SortedWeightedPool2d(k, kernel, stride, pads, ceil_mode, channels=3 if per_channel else None), gen
        )
        x = _sprinkle_specials(torch.randn(3, 3, h, w, generator=gen), gen)
        y = layer(x).detach().numpy()
        ref = _ref(layer, x)
        np.testing.assert_array_equal(np.isnan(y), np.isnan(ref), err_msg=f"NaN pattern, k={k}")
        np.testing.assert_array_equal(y, ref, err_msg=f"k={k}")  # NaN where the reference has NaN


def test_nan_anywhere_in_window_gives_nan():
    # The NaN is the smallest-looking cell of a window and outside the top k: still NaN.
    layer = SortedWeightedPool2d(1, 3, stride=3)
    x = torch.arange(9.0).reshape(1, 1, 3, 3)
    x[0, 0, 0, 0] = float("nan")
    assert torch.isnan(layer(x)).all()


def test_real_minus_inf_counts_but_padding_does_not():
    # Window of 2x2 with padding 1: the top-left window holds one real cell.
    layer = SortedWeightedPool2d(2, 2, stride=2, padding=1, normalize=False, init="mean")  # weights [.5, .5]
    x = torch.full((1, 1, 2, 2), float("-inf"))
    y = layer(x)
    # Each window holds one real cell (-inf); the missing rank adds 0, so 0.5 * -inf = -inf.
    assert torch.equal(y, torch.full_like(y, float("-inf")))
    x = torch.tensor([[[[3.0, 1.0], [-1.0, 5.0]]]])
    # Missing ranks add 0 (weights are not renormalised): 0.5 * value.
    assert torch.equal(layer(x), 0.5 * x)


def test_plus_and_minus_inf_in_kept_ranks_give_nan():
    layer = SortedWeightedPool2d(2, (1, 2), normalize=False, init="mean")
    x = torch.tensor([[[[float("inf"), float("-inf"), float("inf"), 1.0]]]])
    y = layer(x)
    assert torch.isnan(y[0, 0, 0, 0]) and y[0, 0, 0, 1] == float("inf")


@pytest.mark.parametrize(
    "kernel,stride,padding,ceil_mode",
    [(2, 2, 0, False), (3, 2, 1, False), (3, 2, 1, True), ((2, 3), (1, 2), (1, 1), True), (3, 1, 0, False),
     ((1, 4), (1, 3), (0, 2), True)],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_pool_range_1_is_max_pool(kernel, stride, padding, ceil_mode, dtype):
    gen = torch.Generator().manual_seed(7)
    x = _sprinkle_specials(torch.randn(2, 3, 9, 10, generator=gen), gen, frac=0.05).to(dtype)
    for normalize in (True, False):
        layer = SortedWeightedPool2d(1, kernel, stride, padding, ceil_mode, normalize=normalize).to(dtype)
        expected = F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode)
        torch.testing.assert_close(layer(x), expected, rtol=0, atol=0, equal_nan=True)


def test_init_max_and_mean():
    for k in (1, 2, 4, 9):
        raw_max = SortedWeightedPool2d(k, 3, normalize=False, init="max").weights()
        assert torch.equal(raw_max, torch.eye(1, k).reshape(k))
        soft_max = SortedWeightedPool2d(k, 3, init="max").weights()
        assert abs(soft_max[0].item() - (1.0 if k == 1 else 0.99)) < 1e-6  # the documented 0.99 (export/README.md)
        assert torch.allclose(soft_max.sum(), torch.tensor(1.0))
        for normalize in (True, False):
            mean = SortedWeightedPool2d(k, 3, init="mean", normalize=normalize, channels=2).weights()
            assert mean.shape == (2, k)
            torch.testing.assert_close(mean, torch.full((2, k), 1.0 / k))
    # init="max" with raw weights is exactly max pooling (finite inputs).
    x = torch.randn(2, 3, 8, 8)
    layer = SortedWeightedPool2d(4, 2, normalize=False, init="max")
    assert torch.equal(layer(x), F.max_pool2d(x, 2))
    # init="mean" is the mean of the top k.
    layer = SortedWeightedPool2d(2, 2, init="mean")
    top2 = F.unfold(x, 2, stride=2).reshape(2, 3, 4, 16).topk(2, dim=2).values.mean(2).reshape(2, 3, 4, 4)
    torch.testing.assert_close(layer(x), top2)


def test_weights_property_and_parameters():
    layer = SortedWeightedPool2d(3, 2, channels=5)
    assert layer.logits.shape == (5, 3)
    assert [n for n, _ in layer.named_parameters()] == ["logits"]
    torch.testing.assert_close(layer.weights(), torch.softmax(layer.logits, -1))
    assert layer.weights().requires_grad
    raw = SortedWeightedPool2d(3, 2, normalize=False)
    assert raw.weights() is not None and torch.equal(raw.weights(), raw.logits.detach())
    assert "pool_range=3" in repr(layer) and "channels=5" in repr(layer)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_accumulates_in_float32(dtype):
    gen = torch.Generator().manual_seed(3)
    layer = _randomize(SortedWeightedPool2d(4, 3, 2, 1, True, channels=4), gen)
    x = torch.randn(2, 4, 11, 9, generator=gen).to(dtype)
    y = layer.to(dtype)(x)
    assert y.dtype == dtype
    # Reference: float32 math on the half values, one final rounding to the half type.
    ref = sorted_weighted_pool_ref(x.float().numpy(), (3, 3), (2, 2), (1, 1, 1, 1), 1, 4,
                                   layer.weights().detach().numpy())
    ref_half = torch.from_numpy(ref).to(dtype)
    # The same float32 rank-order sum, rounded once: equal bit for bit (NaN-free input).
    assert torch.equal(y, ref_half)


def test_float64_is_computed_in_float64():
    gen = torch.Generator().manual_seed(4)
    layer = _randomize(SortedWeightedPool2d(3, 3, 1, 1), gen).double()
    x = torch.randn(1, 2, 6, 7, generator=gen, dtype=torch.float64)
    y = layer(x)
    assert y.dtype == torch.float64
    np.testing.assert_array_equal(y.detach().numpy(), _ref(layer, x))


def test_functional_form_matches_layer():
    gen = torch.Generator().manual_seed(5)
    layer = _randomize(SortedWeightedPool2d(3, (2, 3), (1, 2), (1, 0, 0, 2), True, channels=3), gen)
    x = torch.randn(2, 3, 7, 8, generator=gen)
    y = sorted_weighted_pool2d(x, layer.weights(), (2, 3), (1, 2), (1, 0, 0, 2), True)
    assert torch.equal(y, layer(x))


def test_export_op_eager_matches_layer():
    """The export custom op runs the same math (its eager kernel is the functional form)."""
    gen = torch.Generator().manual_seed(6)
    layer = _randomize(SortedWeightedPool2d(3, 3, 2, (1, 0), True, channels=3), gen)
    x = torch.randn(2, 3, 9, 8, generator=gen)
    w = layer.weights().detach().reshape(-1).tolist()
    y = torch.ops.sortpool.sorted_weighted_pool(x, [3, 3], [2, 2], [1, 0, 1, 0], 1, 3, w)
    assert torch.equal(y, layer(x).detach())


def test_unbatched_and_empty_inputs():
    layer = SortedWeightedPool2d(2, 2)
    x = torch.randn(3, 6, 6)
    assert torch.equal(layer(x), layer(x[None])[0])
    assert layer(torch.randn(0, 3, 6, 6)).shape == (0, 3, 3, 3)
    assert layer(torch.randn(2, 0, 6, 6)).shape == (2, 0, 3, 3)
    assert layer(torch.randn(2, 3, 0, 6)).shape == (2, 3, 0, 3)
    assert layer(torch.randn(2, 3, 5, 0)).shape == (2, 3, 2, 0)
    assert layer.output_size(5, 7) == (2, 3)
    assert SortedWeightedPool2d(2, 2, ceil_mode=True).output_size(5, 7) == (3, 4)
    with pytest.raises(ValueError, match="input 1x1 is smaller than the window: padded size 1x1 < kernel 5x5"):
        SortedWeightedPool2d(1, 5, stride=1).output_size(1, 1)  # as forward: not a negative size


def test_an_empty_output_stays_in_the_autograd_graph():
    layer = SortedWeightedPool2d(2, 2)
    x = torch.ones(2, 3, 0, 4, requires_grad=True)
    y = layer(x)
    assert y.shape == (2, 3, 0, 2) and y.requires_grad
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x)) and torch.equal(layer.logits.grad, torch.zeros(2))


@pytest.mark.parametrize("kernel_cells", [4, 0])  # the training kernels; TRAINING_KERNELS_MAX_CELLS = 0: sorting
def test_a_channels_last_input_gives_a_channels_last_output(kernel_cells, monkeypatch):
    from sortpool_torch import functional

    monkeypatch.setattr(functional, "TRAINING_KERNELS_MAX_CELLS", kernel_cells)
    layer = SortedWeightedPool2d(3, 2)
    x = torch.randn(2, 5, 8, 6)
    y = layer(x.to(memory_format=torch.channels_last))
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    assert torch.equal(y, layer(x)) and layer(x).is_contiguous()


@pytest.mark.parametrize("args,match", [
    (((2, 2), (0, 2), (0, 0, 0, 0)), r"argument 'strides' = \[0, 2\] is invalid"),
    (((9, 9), (1, 1), (0, 0, 0, 0)), r"argument 'kernel_shape' = \[9, 9\] is invalid: the window may hold at most 64"),
    (((2, 2), (1, 1), (0, 2, 0, 0)), r"argument 'pads' = \[0, 2, 0, 0\] is invalid"),
    (((1, 1), (1, 1), (0, 0, 0, 0)), r"argument 'pool_range' = 2 is invalid"),
    (((3, 3), (1, 1), (0, 0, 0, 0)), r"input \(1, 1, 2, 2\) is smaller than the window"),
])
def test_functional_form_names_the_bad_argument(args, match):
    with pytest.raises(ValueError, match=match):
        sorted_weighted_pool2d(torch.randn(1, 1, 2, 2), torch.ones(2), *args)
    with pytest.raises(ValueError, match=r"weights must be \(k,\) or \(C, k\) with C = 1, got \(3, 2\)"):
        sorted_weighted_pool2d(torch.randn(1, 1, 2, 2), torch.ones(3, 2), (2, 2), (2, 2), (0, 0, 0, 0))


def test_input_errors():
    with pytest.raises(ValueError, match="smaller than the window"):
        SortedWeightedPool2d(2, 3)(torch.randn(1, 1, 2, 5))
    with pytest.raises(ValueError, match="per-channel weights for 4 channels"):
        SortedWeightedPool2d(2, 2, channels=4)(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        SortedWeightedPool2d(2, 2)(torch.randn(4, 4))


INVALID = [
    (dict(pool_range=0), ValueError, "pool_range"),
    (dict(pool_range=5, kernel_size=2), ValueError, "pool_range"),
    (dict(pool_range=2, kernel_size=0), ValueError, "kernel_size"),
    (dict(pool_range=2, kernel_size=(9, 8)), ValueError, "at most 64 cells"),
    (dict(pool_range=2, kernel_size=(1, 65)), ValueError, "at most 64 cells"),
    (dict(pool_range=2, stride=0), ValueError, "stride"),
    (dict(pool_range=2, stride=(1, 2**31)), ValueError, "stride"),
    (dict(pool_range=2, padding=2), ValueError, "pad"),
    (dict(pool_range=2, kernel_size=(3, 2), padding=(2, 2)), ValueError, "kernel_w = 2"),
    (dict(pool_range=2, padding=-1), ValueError, "pad"),
    (dict(pool_range=2, channels=0), ValueError, "channels"),
    (dict(pool_range=2, init="min"), ValueError, "init"),
    (dict(pool_range=2, ceil_mode=2), ValueError, "ceil_mode"),
    (dict(pool_range=2, padding=(1, 1, 1)), TypeError, "padding"),
    (dict(pool_range=2, kernel_size=(2, 2, 2)), TypeError, "kernel_size"),
    (dict(pool_range=2, kernel_size="2"), TypeError, "kernel_size"),
    (dict(pool_range=2.0), TypeError, "pool_range"),
    (dict(pool_range=2, normalize="yes"), TypeError, "normalize"),
]


@pytest.mark.parametrize("kwargs,exc,match", INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_invalid_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        SortedWeightedPool2d(**kwargs)


@pytest.mark.parametrize(
    "kernel,strides,pads,k",
    [((2, 2), (2, 2), (0, 0, 0, 0), 5), ((9, 8), (1, 1), (0, 0, 0, 0), 1), ((2, 2), (0, 1), (0, 0, 0, 0), 1),
     ((2, 2), (1, 1), (0, 2, 0, 0), 1), ((2, 2), (1, 1), (0, 0, 0, 0), 0)],
)
def test_layer_and_onnx_schema_reject_the_same_attributes(kernel, strides, pads, k):
    from sortpool.onnx_schema import check_attributes

    with pytest.raises(ValueError):
        SortedWeightedPool2d(k, kernel, strides, pads)
    with pytest.raises(ValueError):
        check_attributes(kernel, strides, pads, 0, k, [1.0] * max(k, 1))


def test_pooled_extent_matches_reference_formula():
    from reference import output_extent
    from sortpool_torch import pooled_extent

    for size in range(1, 12):
        for kernel in range(1, 5):
            for stride in range(1, 5):
                for ph in range(kernel):
                    for pt in range(kernel):
                        if size + ph + pt < kernel:
                            continue
                        for cm in (0, 1):
                            assert pooled_extent(size, kernel, stride, ph, pt, cm) == output_extent(
                                size, kernel, stride, ph, pt, cm
                            ), (size, kernel, stride, ph, pt, cm)


@pytest.mark.parametrize("k", [1, 2])
def test_output_can_be_modified_in_place(k):
    # A layer's output is a fresh tensor: an in-place activation after it must work in training
    # (a view of the internal rank split would be refused by autograd at k = 1).
    gen = torch.Generator().manual_seed(k)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1), SortedWeightedPool2d(k, 2), torch.nn.ReLU(inplace=True))
    x = torch.randn(2, 2, 6, 6, generator=gen)
    model(x).sum().backward()
    assert model[0].weight.grad is not None and torch.isfinite(model[0].weight.grad).all()
