"""Plain NumPy reference of the SortedWeightedPool operator (docs/operator.md).

Written window by window with explicit loops and ``np.sort``, independently of every backend
(PyTorch layer, ONNX Runtime op, TensorRT plugin), so all of them can be tested against it:

    from reference import sorted_weighted_pool_ref, output_extent
    y = sorted_weighted_pool_ref(x, kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1),
                                 ceil_mode=0, pool_range=2, weights=[0.7, 0.3])

Arithmetic follows the contract: values converted to float32, the sum accumulated in float32 in
rank order (rank 0 first), each product and each addition rounded separately. The result is
float32 for float16/bfloat16/float32 inputs (cast it to the input type to compare with a
float16 backend) and float64 (computed in float64) for float64 inputs.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

__all__ = ["sorted_weighted_pool_ref", "output_extent", "output_shape"]


def output_extent(size: int, kernel: int, stride: int, pad_head: int, pad_tail: int, ceil_mode: int) -> int:
    """ONNX MaxPool's output extent along one axis, written as in the contract."""
    if size == 0:
        return 0
    span = size + pad_head + pad_tail - kernel
    if span < 0:
        raise ValueError(f"padded size {size + pad_head + pad_tail} < kernel {kernel}")
    if ceil_mode:
        out = -(-span // stride) + 1  # ceil
        if (out - 1) * stride >= size + pad_head:  # last window must start inside input/head pad
            out -= 1
    else:
        out = span // stride + 1
    return out


def output_shape(input_shape, kernel_shape, strides, pads, ceil_mode) -> tuple:
    n, c, h, w = input_shape
    return (
        n,
        c,
        output_extent(h, kernel_shape[0], strides[0], pads[0], pads[2], ceil_mode),
        output_extent(w, kernel_shape[1], strides[1], pads[1], pads[3], ceil_mode),
    )


def sorted_weighted_pool_ref(
    x: np.ndarray,
    kernel_shape: Sequence[int],
    strides: Optional[Sequence[int]],
    pads: Optional[Sequence[int]],
    ceil_mode: int,
    pool_range: int,
    weights,
) -> np.ndarray:
    """Reference SortedWeightedPool of ``x`` (N, C, H, W).

    Args:
        kernel_shape: (kh, kw). strides: (sh, sw) or None (= kernel_shape).
        pads: (top, left, bottom, right) or None (= zeros). ceil_mode: 0/1 (or bool).
        pool_range: k. weights: k shared values or C*k per-channel values (channel-major),
            array-like of shape (k,), (C*k,) or (C, k); weights[0] multiplies the largest value.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}")
    acc_t = np.float64 if x.dtype == np.float64 else np.float32
    xv = x.astype(acc_t)
    n, c, h, w = x.shape
    kh, kw = (int(v) for v in kernel_shape)
    sh, sw = (kh, kw) if strides is None else (int(v) for v in strides)
    pt, pl, pb, pr = (0, 0, 0, 0) if pads is None else (int(v) for v in pads)
    k = int(pool_range)
    wts = np.asarray(weights, dtype=np.float64).astype(acc_t).reshape(-1)
    if wts.size == k:
        wts = np.broadcast_to(wts, (c, k))
    elif wts.size == c * k:
        wts = wts.reshape(c, k)
    else:
        raise ValueError(f"weights must hold {k} or {c}*{k} values, got {wts.size}")
    oh = output_extent(h, kh, sh, pt, pb, int(ceil_mode))
    ow = output_extent(w, kw, sw, pl, pr, int(ceil_mode))
    y = np.zeros((n, c, oh, ow), dtype=acc_t)
    with np.errstate(invalid="ignore", over="ignore"):
        for i in range(oh):
            r0 = i * sh - pt
            rows = [r for r in range(r0, r0 + kh) if 0 <= r < h]  # padded cells are not values
            for j in range(ow):
                c0 = j * sw - pl
                cols = [q for q in range(c0, c0 + kw) if 0 <= q < w]
                vals = xv[:, :, rows][:, :, :, cols].reshape(n, c, -1)  # (N, C, real cells)
                desc = np.sort(vals, axis=-1)[..., ::-1]  # largest first
                m = min(k, desc.shape[-1])  # missing ranks add 0
                acc = np.zeros((n, c), dtype=acc_t)
                for r in range(m):  # rank order, each op rounded separately
                    acc = (acc + (wts[None, :, r] * desc[:, :, r]).astype(acc_t)).astype(acc_t)
                acc[np.isnan(vals).any(axis=-1)] = np.nan  # NaN wins
                y[:, :, i, j] = acc
    return y
