"""Exported models run in ONNX Runtime (sortpool custom-op library) vs PyTorch.

Tolerances: none for the pooling layer alone. Both sides follow the contract's arithmetic (float32
products, a float32 sum in rank order, one final rounding), so float32 and float16 outputs are
equal bit for bit, NaN positions included. Around a Conv, the Conv's own summation order differs
between ORT and PyTorch: float32 max abs error <= 1e-5 on unit-scale inputs, and 1e-3 absolute
in a float16 Conv+pool model.

Skipped, with the reason, when the ORT custom-op library is not built/installed.
"""

import numpy as np
import pytest
import torch

from sortpool_torch import SortedWeightedPool2d, export_onnx

sortpool = pytest.importorskip("sortpool")


def _library_or_skip():
    try:
        return sortpool.ort_library_path()
    except (AttributeError, FileNotFoundError, OSError) as e:  # not built yet
        pytest.skip(f"sortpool ONNX Runtime library unavailable: {e}")


@pytest.fixture(scope="module", autouse=True)
def _ort_library():
    pytest.importorskip("onnxruntime")
    return _library_or_skip()


def _session(proto):
    return sortpool.make_ort_session(proto, intra_op_threads=1)


def _run(sess, x: torch.Tensor):
    return sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]


def _randomized(layer, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.logits.copy_(torch.randn(layer.logits.shape, generator=gen))
    return layer.eval()


CONFIGS = [
    # pool_range, kernel, stride, padding, ceil_mode, per_channel, normalize
    (1, 2, 2, 0, False, False, True),
    (2, 2, 2, 0, True, False, True),
    (3, 3, 2, 1, True, True, True),
    (4, 3, 1, 1, False, False, False),
    (9, 3, 3, (2, 0, 1, 2), True, True, True),
    (3, (2, 3), (1, 2), (1, 0, 0, 2), True, True, False),
    (5, (1, 5), (1, 2), (0, 4), False, False, True),
    (64, 8, 4, 3, True, False, True),
    (6, (4, 16), (2, 5), (3, 7), True, True, True),
]


@pytest.mark.parametrize("dynamo", [pytest.param(True, id="dynamo"), pytest.param(False, id="torchscript")])
@pytest.mark.parametrize("config", CONFIGS, ids=[f"cfg{i}" for i in range(len(CONFIGS))])
def test_float32_parity_at_several_shapes(config, dynamo):
    k, kernel, stride, padding, ceil_mode, per_channel, normalize = config
    c = 3
    layer = _randomized(
        SortedWeightedPool2d(k, kernel, stride, padding, ceil_mode, channels=c if per_channel else None,
                             normalize=normalize),
        seed=k,
    )
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x0 = torch.randn(2, c, kh + 7, kw + 6)
    with_conv = not dynamo and k > 1  # the TorchScript path is cheap: also check a model around the layer
    if with_conv:
        model = torch.nn.Sequential(torch.nn.Conv2d(c, c, 3, padding=1), layer, torch.nn.Tanh()).eval()
    else:
        model = torch.nn.Sequential(layer).eval()
    sess = _session(export_onnx(model, (x0,), dynamo=dynamo))
    gen = torch.Generator().manual_seed(100 + k)
    # One exported model, several batch sizes and spatial extents (dynamic dims).
    for n, h, w in [(2, kh + 7, kw + 6), (1, kh, kw), (3, kh + 12, kw + 1), (4, 2 * kh + 3, 3 * kw + 2)]:
        x = torch.randn(n, c, h, w, generator=gen)
        expected = model(x).detach().numpy()
        got = _run(sess, x)
        assert got.shape == expected.shape, (n, h, w)
        if with_conv:  # ORT's and PyTorch's Conv kernels sum in different orders
            assert np.max(np.abs(got - expected)) <= 1e-5, (n, h, w)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=str((n, h, w)))


@pytest.mark.parametrize("per_channel", [False, True], ids=["shared", "per_channel"])
def test_nan_and_inf_parity(per_channel):
    layer = _randomized(SortedWeightedPool2d(3, 3, 2, 1, True, channels=4 if per_channel else None), seed=5)
    model = torch.nn.Sequential(layer).eval()
    sess = _session(export_onnx(model, torch.randn(2, 4, 9, 9), dynamo=False))
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(3, 4, 11, 10, generator=gen)
    for value in (float("nan"), float("inf"), float("-inf")):
        x[torch.rand(x.shape, generator=gen) < 0.08] = value
    expected = model(x).detach().numpy()
    got = _run(sess, x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(got, expected)  # NaN positions equal, every other value exact


def test_pool_range_1_is_exact_max_pool_in_ort():
    model = torch.nn.Sequential(SortedWeightedPool2d(1, 3, 2, 1, True)).eval()
    sess = _session(export_onnx(model, torch.randn(2, 2, 8, 8), dynamo=True))
    x = torch.randn(2, 2, 9, 12, generator=torch.Generator().manual_seed(12))
    x[0, 0, 3, 4] = float("nan")
    expected = torch.nn.functional.max_pool2d(x, 3, 2, 1, ceil_mode=True).numpy()
    np.testing.assert_array_equal(_run(sess, x), expected)


@pytest.mark.parametrize("dynamo", [pytest.param(True, id="dynamo"), pytest.param(False, id="torchscript")])
def test_float16_parity(dynamo):
    layer = _randomized(SortedWeightedPool2d(4, 3, 2, 1, True, channels=3), seed=8)
    model = torch.nn.Sequential(layer).eval().half()
    sess = _session(export_onnx(model, torch.randn(2, 3, 10, 10).half(), dynamo=dynamo))
    assert sess.get_inputs()[0].type == "tensor(float16)"
    gen = torch.Generator().manual_seed(9)
    for n, h, w in [(2, 10, 10), (3, 17, 6)]:
        x = torch.randn(n, 3, h, w, generator=gen).half()
        expected = model(x).float().detach().numpy()
        got = _run(sess, x)
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got.astype(np.float32), expected)


def test_float16_model_with_conv():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), _randomized(SortedWeightedPool2d(2, 2, channels=4), seed=11)
    ).eval().half()
    sess = _session(export_onnx(model, torch.randn(2, 3, 8, 8).half(), dynamo=False))
    x = torch.randn(2, 3, 12, 9, generator=torch.Generator().manual_seed(13)).half()
    got = _run(sess, x).astype(np.float32)
    # The Conv's float16 kernels differ between ORT and PyTorch (observed <= 2.4e-4 over 60 seeds).
    np.testing.assert_allclose(got, model(x).float().detach().numpy(), rtol=0, atol=1e-3)
