"""The layer's CPU training path: the project's own kernels (``plugin/training``,
``libsortpool_training.so``) as two torch custom ops with a hand-written backward.

``unfold`` + ``topk`` copies every window and sorts it generically; the article's author
hand-wrote a small sort for the same reason. The forward kernel is the op core's per-window math
(the same code as the ONNX Runtime op: a branch-free sorting network for 2x2 and 3x3 windows,
vectorised across windows), so the layer's output equals the deployed op's bit for bit. The
backward ranks each window's cells again, adds each kept rank's gradient to its one cell and sums
the weights' gradients in float64; nothing but the input is kept between the two.

Rank order (docs/operator.md, "Training: gradients"): NaN above every number, then larger
values first; among equal values (``+0 == -0``) the cell earlier in the window, row-major, ranks
first. Padded cells are not values and get no gradient.

The library is a plain C ABI loaded with ctypes: it links nothing of PyTorch, so one build serves
every torch release. Without it (a source tree that was not built) the layer uses unfold + topk.
"""
from __future__ import annotations

import ctypes
from typing import List, Optional, Tuple

import torch

from sortpool import _libs

__all__ = ["AVAILABLE", "DTYPES", "pool", "sorted_weighted_pool_training", "sorted_weighted_pool_training_backward"]

_DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.float16: 2, torch.bfloat16: 3}  # sortpool_training.h
DTYPES = frozenset(_DTYPE_CODES)


class _Problem(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in (
        "planes", "channels", "in_h", "in_w", "kernel_h", "kernel_w", "stride_h", "stride_w", "pad_top", "pad_left",
        "out_h", "out_w", "k", "per_channel_weights")]


def _load() -> Optional[ctypes.CDLL]:
    path = _libs.training_library_path()
    if path is None:
        return None
    lib = ctypes.CDLL(path)  # ctypes releases the GIL during each call
    ptr, problem = ctypes.c_void_p, ctypes.POINTER(_Problem)
    lib.sortpool_training_forward.argtypes = [ctypes.c_int, problem, ptr, ptr, ptr, ctypes.c_int]
    lib.sortpool_training_backward.argtypes = [ctypes.c_int, problem, ptr, ptr, ptr, ptr, ptr, ctypes.c_int]
    lib.sortpool_training_forward.restype = lib.sortpool_training_backward.restype = ctypes.c_int
    lib.sortpool_training_last_error.restype = ctypes.c_char_p
    return lib


# Loaded once at import, so torch.compile reads a constant instead of tracing the loader.
_LIB = _load()
AVAILABLE = _LIB is not None


def _call(entry: str, *args) -> None:
    if _LIB is None:
        raise RuntimeError(f"sortpool: {_libs.TRAINING_LIBRARY_NAME} was not found")
    if getattr(_LIB, entry)(*args) != 0:
        raise RuntimeError(_LIB.sortpool_training_last_error().decode())


def _problem(x_shape, weights, kernel, strides, pads, out_h, out_w) -> _Problem:
    n, c, h, w = x_shape
    return _Problem(n * c, c, h, w, kernel[0], kernel[1], strides[0], strides[1], pads[0], pads[1], out_h, out_w,
                    weights.shape[-1], int(weights.dim() == 2))


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _check_inputs(op: str, x: torch.Tensor, weights: torch.Tensor) -> None:
    if x.device.type != "cpu" or x.dtype not in _DTYPE_CODES or x.dim() != 4:
        raise ValueError(f"{op}: x must be a 4-D CPU float tensor, got {x.dtype} {tuple(x.shape)} on {x.device}")
    if weights.dtype != _acc_dtype(x.dtype) or weights.dim() not in (1, 2) or (
            weights.dim() == 2 and weights.shape[0] != x.shape[1]):
        raise ValueError(f"{op}: weights must be (k,) or (C, k) in {_acc_dtype(x.dtype)}, got {weights.dtype} "
                         f"{tuple(weights.shape)} for {x.shape[1]} channels")
    if weights.device != x.device:  # the kernels read both through host pointers
        raise ValueError(f"{op}: expected all tensors on the same device, but x is on {x.device} and weights on "
                         f"{weights.device}")


def _forward(x: torch.Tensor, weights: torch.Tensor, kernel: List[int], strides: List[int], pads: List[int],
             out_h: int, out_w: int) -> torch.Tensor:
    _check_inputs("sortpool::sorted_weighted_pool_training", x, weights)
    x, weights = x.contiguous(), weights.contiguous()
    y = x.new_empty((x.shape[0], x.shape[1], out_h, out_w))
    _call("sortpool_training_forward", _DTYPE_CODES[x.dtype],
          ctypes.byref(_problem(x.shape, weights, kernel, strides, pads, out_h, out_w)), x.data_ptr(),
          weights.data_ptr(), y.data_ptr(), torch.get_num_threads())
    return y


def _backward(x: torch.Tensor, weights: torch.Tensor, grad_y: torch.Tensor, kernel: List[int], strides: List[int],
              pads: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
    op = "sortpool::sorted_weighted_pool_training_backward"
    _check_inputs(op, x, weights)
    n, c, _, _ = x.shape
    if grad_y.dtype != weights.dtype or grad_y.dim() != 4 or tuple(grad_y.shape[:2]) != (n, c):
        raise ValueError(f"{op}: grad_y {tuple(grad_y.shape)} {grad_y.dtype} does not match x {tuple(x.shape)}")
    out_h, out_w = grad_y.shape[2:]
    x, weights, grad_y = x.contiguous(), weights.contiguous(), grad_y.contiguous()
    grad_x = x.new_empty(x.shape, dtype=weights.dtype)
    per_plane = x.new_empty((n, c, weights.shape[-1]), dtype=torch.float64)
    _call("sortpool_training_backward", _DTYPE_CODES[x.dtype],
          ctypes.byref(_problem(x.shape, weights, kernel, strides, pads, out_h, out_w)), x.data_ptr(),
          weights.data_ptr(), grad_y.data_ptr(), grad_x.data_ptr(), per_plane.data_ptr(), torch.get_num_threads())
    grad_weights = per_plane.sum(0) if weights.dim() == 2 else per_plane.sum((0, 1))
    return grad_x, grad_weights.to(weights.dtype)


# The same two functions as torch custom ops, which torch.compile and torch.export see as opaque
# nodes (the eager layer calls them through the lighter autograd.Function below).
@torch.library.custom_op("sortpool::sorted_weighted_pool_training", mutates_args=())
def sorted_weighted_pool_training(x: torch.Tensor, weights: torch.Tensor, kernel: List[int], strides: List[int],
                                  pads: List[int], out_h: int, out_w: int) -> torch.Tensor:
    """y (N, C, out_h, out_w) in x's dtype for x (N, C, H, W) on the CPU and weights (k,) or
    (C, k) in the accumulation type (float64 for float64 x, else float32). ``pads`` is (top,
    left); the far-side pads and ceil_mode are already in out_h / out_w."""
    return _forward(x, weights, kernel, strides, pads, out_h, out_w)


@sorted_weighted_pool_training.register_fake
def _(x, weights, kernel, strides, pads, out_h, out_w):
    return x.new_empty((x.shape[0], x.shape[1], out_h, out_w))


@torch.library.custom_op("sortpool::sorted_weighted_pool_training_backward", mutates_args=())
def sorted_weighted_pool_training_backward(x: torch.Tensor, weights: torch.Tensor, grad_y: torch.Tensor,
                                           kernel: List[int], strides: List[int],
                                           pads: List[int]) -> Tuple[torch.Tensor, torch.Tensor]:
    """(grad_x, grad_weights) from grad_y in the accumulation type: grad_x (N, C, H, W) in the
    accumulation type, each kept rank's grad_y * weight added to its cell; grad_weights shaped like
    weights, summed in float64."""
    return _backward(x, weights, grad_y, kernel, strides, pads)


@sorted_weighted_pool_training_backward.register_fake
def _(x, weights, grad_y, kernel, strides, pads):
    return x.new_empty(x.shape, dtype=weights.dtype), torch.empty_like(weights)


def _setup_context(ctx, inputs, output):
    x, weights, kernel, strides, pads, _, _ = inputs
    ctx.save_for_backward(x, weights)
    ctx.geometry = (kernel, strides, pads)


def _gradients(ctx, grad_y, backward):
    """The autograd gradients of (x, weights, kernel, ...) from `backward` (the backward custom op,
    or its plain function in eager mode); with create_graph=True, a graph autograd can
    differentiate again instead."""
    if torch.is_grad_enabled():
        return _differentiable_gradients(ctx, grad_y)
    x, weights = ctx.saved_tensors
    grad_x, grad_weights = backward(x, weights, grad_y.to(weights.dtype), *ctx.geometry)
    return grad_x.to(x.dtype), grad_weights, None, None, None, None, None


sorted_weighted_pool_training.register_autograd(
    lambda ctx, grad_y: _gradients(ctx, grad_y, sorted_weighted_pool_training_backward), setup_context=_setup_context)


class _Eager(torch.autograd.Function):
    """The custom op's eager form: the same kernels with about a tenth of the custom-op dispatch
    cost per call (it counts for small inputs)."""

    @staticmethod
    def forward(ctx, x, weights, kernel, strides, pads, out_h, out_w):
        _setup_context(ctx, (x, weights, kernel, strides, pads, out_h, out_w), None)
        return _forward(x, weights, kernel, strides, pads, out_h, out_w)

    @staticmethod
    def backward(ctx, grad_y):
        return _gradients(ctx, grad_y, _backward)


def _differentiable_gradients(ctx, grad_y):
    """The same gradients as a graph that autograd can differentiate again (double backward):
    those of the sorting path, which follows the same rank rule in plain torch ops."""
    from .functional import pool_by_sorting  # (functional imports this module)

    x, weights = ctx.saved_tensors
    needed = ctx.needs_input_grad[:2]
    y = pool_by_sorting(x, weights, *ctx.geometry, grad_y.shape[2], grad_y.shape[3])
    found = iter(torch.autograd.grad(y, [t for t, need in zip((x, weights), needed) if need], grad_y,
                                     create_graph=True))
    return tuple(next(found) if need else None for need in needed) + (None,) * 5


def _needs_custom_op(x: torch.Tensor) -> bool:
    """Under torch.compile, make_fx or FakeTensorMode (a dispatch mode), or for a tensor subclass
    such as a fake tensor, the kernels cannot read the data: the custom op, with its fake kernel,
    is what those tracers record."""
    return (torch.compiler.is_compiling() or torch._C._len_torch_dispatch_stack() > 0
            or type(x) not in (torch.Tensor, torch.nn.Parameter))


def pool(x: torch.Tensor, weights: torch.Tensor, kernel: List[int], strides: List[int], pads: List[int], out_h: int,
         out_w: int) -> torch.Tensor:
    """The layer's CPU training path: :func:`sorted_weighted_pool_training`, as a custom op for
    tracers (torch.compile, make_fx, fake tensors) and through an autograd.Function in eager mode."""
    if _needs_custom_op(x):
        return sorted_weighted_pool_training(x, weights, kernel, strides, pads, out_h, out_w)
    return _Eager.apply(x, weights, kernel, strides, pads, out_h, out_w)
