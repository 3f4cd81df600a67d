"""``SortedWeightedPool2d``: sorted weighted pooling as a trainable PyTorch layer."""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from sortpool.contract import MAX_WINDOW_CELLS, Naming, check_attributes

from .functional import check_window_fits, pool2d, pooled_extent

__all__ = ["SortedWeightedPool2d", "MAX_WINDOW_CELLS", "MAX_INIT_WEIGHT"]

# init="max" with normalize=True: softmax(logits)[0] == MAX_INIT_WEIGHT (the other ranks share the
# rest equally). Not exactly 1 so that the other logits still get a useful gradient.
MAX_INIT_WEIGHT = 0.99

_IntPair = Union[int, Sequence[int]]
_LAYER_NAMING = Naming("SortedWeightedPool2d", "argument",
                       (("kernel_shape", "kernel_size"), ("strides", "stride"), ("pads", "padding")))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _pair(name: str, value) -> Tuple[int, int]:
    if _is_int(value):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        return (value[0], value[1])
    raise TypeError(f"SortedWeightedPool2d: {name} must be an int or a pair of ints, got {value!r}")


def _pads(value) -> Tuple[int, int, int, int]:
    if _is_int(value):
        return (value,) * 4
    if isinstance(value, (tuple, list)) and all(_is_int(v) for v in value):
        if len(value) == 2:
            return (value[0], value[1], value[0], value[1])
        if len(value) == 4:
            return tuple(value)
    raise TypeError(
        "SortedWeightedPool2d: padding must be an int, a pair (h, w) or a 4-tuple "
        f"(top, left, bottom, right) of ints, got {value!r}"
    )


# Input types the ONNX op (and so the export) accepts.
EXPORTABLE_DTYPES = (torch.float32, torch.float16, torch.bfloat16)

class SortedWeightedPool2d(nn.Module):
    r"""Sorted weighted pooling (S. Singla, 2017).

    For every pooling window of the input (N, C, H, W) the real (non-padded) values are sorted
    largest first and the top ``k = pool_range`` are combined as ``sum_i w[i] * v[i]``, where ``w``
    is the softmax of ``k`` learned logits (``normalize=True``) or the raw learned values
    (``normalize=False``), shared by all channels or one ``k``-vector per channel. ``w[0]``
    multiplies the largest value; ``pool_range=1`` is max pooling. The exact contract (padding,
    NaN, shape rule = ONNX MaxPool incl. ceil_mode) is ``docs/operator.md``.

    Args:
        pool_range: k, the number of ranks kept, ``1 <= k <= kernel cells``.
        kernel_size: int or (kh, kw); ``kh * kw <= 64``.
        stride: int or (sh, sw); default ``kernel_size``.
        padding: int, (h, w) or (top, left, bottom, right); each pad ``< kernel`` on its axis.
            Padded cells are not values: a window with fewer than k real cells uses the ranks it
            has and the missing ranks add 0 (weights are not renormalised).
        ceil_mode: MaxPool's ceil_mode.
        channels: None for k shared logits; an int C for C*k per-channel logits (the parameter has
            shape (C, k), i.e. channel-major ``weights[c * k + i]`` when flattened).
        normalize: softmax the logits (True) or use the parameter values as weights (False).
        init: "max" starts as max pooling (softmax: weight[0] = ``MAX_INIT_WEIGHT`` = 0.99 and
            the rest share 0.01; raw: exactly [1, 0, ..., 0]); "mean" starts as the mean of the
            top k (equal logits; raw 1/k).

    Input: (N, C, H, W) or unbatched (C, H, W). Output: same rank, spatial extents by MaxPool's
    formula. float32, float16 and bfloat16 inputs accumulate in float32 (float64 in float64).
    The parameter is ``logits`` (raw weights when ``normalize=False``); ``weights()`` returns
    the effective weights in float32.
    """

    def __init__(
        self,
        pool_range: int,
        kernel_size: _IntPair = 2,
        stride: Optional[_IntPair] = None,
        padding: Union[int, Sequence[int]] = 0,
        ceil_mode: bool = False,
        channels: Optional[int] = None,
        normalize: bool = True,
        init: str = "max",
    ) -> None:
        super().__init__()
        kh, kw = _pair("kernel_size", kernel_size)
        if not _is_int(pool_range):
            raise TypeError(f"SortedWeightedPool2d: pool_range must be an int, got {pool_range!r}")
        # The contract's rules, worded with this layer's argument names.
        attrs = check_attributes((kh, kw), None if stride is None else _pair("stride", stride), _pads(padding),
                                 ceil_mode, pool_range, require_weights=False, naming=_LAYER_NAMING)
        sh, sw = attrs.strides
        pads = attrs.pads
        if channels is not None and (not _is_int(channels) or channels < 1):
            raise ValueError(f"SortedWeightedPool2d: channels = {channels!r} is invalid: must be None or an int >= 1")
        if init not in ("max", "mean"):
            raise ValueError(f"SortedWeightedPool2d: init = {init!r} is invalid: must be 'max' or 'mean'")
        if not isinstance(normalize, bool):
            raise TypeError(f"SortedWeightedPool2d: normalize must be a bool, got {normalize!r}")

        self.pool_range = pool_range
        self.kernel_size = (kh, kw)
        self.stride = (sh, sw)
        self.padding = pads  # (top, left, bottom, right)
        self.ceil_mode = bool(ceil_mode)
        self.channels = channels
        self.normalize = normalize
        self.init = init
        shape = (pool_range,) if channels is None else (channels, pool_range)
        self.logits = nn.Parameter(torch.empty(shape))
        # Set by sortpool_torch.onnx_export_mode: the baked effective weights (list of floats);
        # when not None, forward calls the export custom op instead of the functional form.
        self._export_weights: Optional[List[float]] = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = self.pool_range
        with torch.no_grad():
            if self.normalize:
                self.logits.zero_()
                if self.init == "max" and k > 1:
                    # softmax([L, 0, ..., 0])[0] = e^L / (e^L + k - 1) = MAX_INIT_WEIGHT
                    self.logits[..., 0] = math.log(MAX_INIT_WEIGHT * (k - 1) / (1.0 - MAX_INIT_WEIGHT))
            else:
                if self.init == "max":
                    self.logits.zero_()
                    self.logits[..., 0] = 1.0
                else:
                    self.logits.fill_(1.0 / k)

    def weights(self) -> torch.Tensor:
        """Effective weights, shape (k,) or (C, k): softmax(logits) or the raw values; float32
        (float64 when the layer is float64), whatever the parameter's dtype."""
        w = self.logits if self.logits.dtype == torch.float64 else self.logits.float()
        return torch.softmax(w, dim=-1) if self.normalize else w

    def output_size(self, height: int, width: int) -> Tuple[int, int]:
        """Output (H_out, W_out) for an input of (height, width) (MaxPool's formula); ValueError, as
        in forward, when the padded input is smaller than the window."""
        check_window_fits(type(self).__name__, f"{height}x{width}", height, width, self.kernel_size, self.padding)
        kh, kw = self.kernel_size
        sh, sw = self.stride
        pt, pl, pb, pr = self.padding
        return (
            int(pooled_extent(height, kh, sh, pt, pb, self.ceil_mode)) if height else 0,
            int(pooled_extent(width, kw, sw, pl, pr, self.ceil_mode)) if width else 0,
        )

    def _check_input(self, x: torch.Tensor) -> None:
        if not x.is_floating_point():
            raise TypeError(
                f"SortedWeightedPool2d: input dtype {x.dtype} is not supported; use a floating-point "
                "tensor (float32, float16, bfloat16 or float64)"
            )
        if self.channels is not None and x.shape[1] != self.channels:
            raise ValueError(
                f"SortedWeightedPool2d: the layer has per-channel weights for {self.channels} channels "
                f"but the input has C = {x.shape[1]}"
            )
        check_window_fits(type(self).__name__, tuple(x.shape), x.shape[2], x.shape[3], self.kernel_size, self.padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unbatched = x.dim() == 3
        if unbatched:
            x = x.unsqueeze(0)
        if x.dim() != 4:
            raise ValueError(
                f"SortedWeightedPool2d: expected a (N, C, H, W) or (C, H, W) input, got shape {tuple(x.shape)}"
            )
        if not torch.jit.is_tracing():  # (TorchScript export traces sizes as tensors)
            self._check_input(x)
        if self._export_weights is not None:
            if x.dtype not in EXPORTABLE_DTYPES:  # the ONNX op takes no other type (docs/operator.md)
                raise ValueError(f"cannot export {type(self).__name__} with a {x.dtype} input: the ONNX op takes "
                                 "float32 or float16 (TensorRT also bfloat16); convert the model, e.g. model.float()")
            y = torch.ops.sortpool.sorted_weighted_pool(
                x,
                list(self.kernel_size),
                list(self.stride),
                list(self.padding),
                int(self.ceil_mode),
                self.pool_range,
                self._export_weights,
            )
        else:
            y = pool2d(x, self.weights(), self.kernel_size, self.stride, self.padding, self.ceil_mode)
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        s = (
            f"pool_range={self.pool_range}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, ceil_mode={self.ceil_mode}"
        )
        if self.channels is not None:
            s += f", channels={self.channels}"
        if not self.normalize:
            s += ", normalize=False"
        return s
