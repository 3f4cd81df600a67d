"""The PyTorch layer on a CUDA device against the NumPy reference, and its gradients (the sorting
path) against the CPU training kernels' (run by tools/gpu_check.sh on a machine with a GPU;
skipped elsewhere with the reason shown)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reference import sorted_weighted_pool_ref
from sortpool_torch import SortedWeightedPool2d

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")

GEOMETRIES = [
    dict(kernel_size=2, pool_range=4),
    dict(kernel_size=2, pool_range=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, pool_range=3),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(0, 2, 1, 0), pool_range=5),
]


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
@pytest.mark.parametrize("per_channel", [False, True])
def test_cuda_forward_matches_reference(geometry, per_channel):
    torch.manual_seed(0)
    c = 5
    layer = SortedWeightedPool2d(channels=c if per_channel else None, init="mean", **geometry).cuda()
    with torch.no_grad():
        layer.logits.normal_()
    x = torch.randn(3, c, 17, 14, device="cuda")
    x[0, 0, 3, 3] = float("nan")
    x[1, 2, 5, 5] = float("inf")
    with torch.no_grad():
        y = layer(x).cpu().numpy()
    want = sorted_weighted_pool_ref(x.cpu().numpy(), layer.kernel_size, layer.stride, layer.padding,
                                    int(layer.ceil_mode), layer.pool_range,
                                    layer.weights().detach().cpu().numpy().reshape(-1))
    np.testing.assert_array_equal(y, want)  # the contract's rank-order float32 sum: exact; NaN where NaN


def test_cuda_half_and_gradients():
    torch.manual_seed(1)
    layer = SortedWeightedPool2d(pool_range=3, kernel_size=3, stride=2, padding=1, init="mean").cuda()
    x = torch.randn(2, 4, 16, 16, device="cuda", requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and layer.logits.grad is not None
    # Non-overlapping 2x2 windows keeping 3 ranks: exactly 3 of each window's 4 cells get a
    # gradient, each the rank's weight (1/3 with init="mean"; random inputs have no ties).
    tiling = SortedWeightedPool2d(pool_range=3, kernel_size=2, init="mean").cuda()
    x2 = torch.randn(2, 4, 16, 16, device="cuda", requires_grad=True)
    tiling(x2).sum().backward()
    assert (x2.grad != 0).sum().item() == 3 * 2 * 4 * 8 * 8
    torch.testing.assert_close(x2.grad[x2.grad != 0], torch.full((3 * 2 * 4 * 8 * 8,), 1 / 3, device="cuda"))
    # float16: float32 math on the half values with the half layer's weights, one final rounding.
    half = layer.half()
    x16 = x.detach().half()
    y16 = half(x16)
    assert y16.dtype == torch.float16
    want = sorted_weighted_pool_ref(x16.float().cpu().numpy(), (3, 3), (2, 2), (1, 1, 1, 1), 0, 3,
                                    half.weights().detach().float().cpu().numpy()).astype(np.float16)
    np.testing.assert_array_equal(y16.detach().cpu().numpy(), want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_gradients_equal_the_cpu_kernels_with_ties_nan_and_inf(dtype):
    """The contract's rank rule on both devices: ties go to the earlier cell, NaN ranks first, a real
    -inf outranks the padding. Non-overlapping windows (2x2, stride 2, one padded row and column):
    each cell's gradient is one product, so the input gradients are equal bit for bit."""
    g = torch.Generator().manual_seed(8)
    x = torch.randint(-2, 3, (2, 3, 9, 9), generator=g).to(dtype)
    x[0, 0, 2, 2], x[1, 1, 0, 0], x[1, 2, 4, 4] = float("nan"), float("-inf"), float("inf")
    results = {}
    for device in ("cpu", "cuda"):
        layer = SortedWeightedPool2d(3, 2, 2, (1, 1, 0, 0), channels=3).to(device, dtype)
        with torch.no_grad():
            layer.logits.copy_(torch.randn(layer.logits.shape, generator=torch.Generator().manual_seed(1)))
        xd = x.to(device).requires_grad_()
        y = layer(xd)
        y.backward(torch.linspace(-1, 1, y.numel(), dtype=dtype).reshape(y.shape).to(device))
        results[device] = (y.detach().cpu(), xd.grad.cpu(), layer.logits.grad.cpu())
    (y_cpu, gx_cpu, gw_cpu), (y_gpu, gx_gpu, gw_gpu) = results["cpu"], results["cuda"]
    assert torch.equal(y_cpu.isnan(), y_gpu.isnan()) and torch.equal(y_cpu.nan_to_num(), y_gpu.nan_to_num())
    assert torch.equal(gx_cpu.isnan(), gx_gpu.isnan()) and torch.equal(gx_cpu.nan_to_num(), gx_gpu.nan_to_num())
    assert torch.equal(gw_cpu.isnan(), gw_gpu.isnan())
    torch.testing.assert_close(gw_cpu.nan_to_num(), gw_gpu.nan_to_num(), rtol=1e-5, atol=1e-5)
