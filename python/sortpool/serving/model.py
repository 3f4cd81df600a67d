"""What Triton is told about a model: its tensors (Triton dims, with or without the batch axis) and
whether requests can be batched. One rule, used by `sortpool serve` (PyTriton) and by
`sortpool triton-repo` (config.pbtxt for Triton's onnxruntime and tensorrt backends).

Triton batches along a leading axis that it leaves out of ``dims``. A model can be batched when
that axis is dynamic in every input and output (ONNX: a named or unknown dim; an engine: -1);
otherwise ``max_batch_size`` is 0 and ``dims`` are the full shapes. Other dynamic axes are -1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import UserInputError
from ..inputs import TensorSpec, load_onnx, onnx_io

DEFAULT_MAX_BATCH_SIZE = 16

# numpy dtype name -> Triton's data type (model_config.proto DataType without the TYPE_ prefix).
_TRITON_TYPES = {"float32": "FP32", "float16": "FP16", "bfloat16": "BF16", "float64": "FP64",
                 "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64", "uint8": "UINT8",
                 "bool": "BOOL"}


@dataclass(frozen=True)
class TritonTensor:
    name: str
    dtype: str                # numpy name ("float32")
    dims: Tuple[int, ...]     # Triton dims: without the batch axis when the model batches; -1 dynamic

    @property
    def triton_type(self) -> str:
        return "TYPE_" + _TRITON_TYPES[self.dtype]


@dataclass(frozen=True)
class TritonModelSpec:
    """A model's tensors as Triton sees them, and how large a batch Triton may form."""

    inputs: Tuple[TritonTensor, ...]
    outputs: Tuple[TritonTensor, ...]
    max_batch_size: int       # 0: the model takes no batch axis (requests are run one by one)
    source: str               # the file it describes

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 0


@dataclass
class ModelOptions:
    """How Triton runs the model, the same for `sortpool serve` and `sortpool triton-repo`."""

    name: str = "sortpool"
    max_batch_size: Optional[int] = None  # None: DEFAULT_MAX_BATCH_SIZE when the model can batch, else 0
    instances: int = 1                    # model instances (per GPU for the tensorrt backend)
    threads: int = 1                      # ONNX Runtime intra-op threads per instance
    dynamic_batching: bool = True
    max_queue_delay_us: int = 100         # how long the dynamic batcher waits to fill a batch

    def check(self) -> None:
        if not self.name or not all(c.isalnum() or c in "._-" for c in self.name):
            raise UserInputError(f"model name {self.name!r}: use letters, digits, '.', '_' and '-'")
        if self.instances < 1:
            raise UserInputError(f"instances must be >= 1, got {self.instances}")
        if self.threads < 1:
            raise UserInputError(f"threads must be >= 1, got {self.threads}")
        if self.max_queue_delay_us < 0:
            raise UserInputError(f"max queue delay must be >= 0 microseconds, got {self.max_queue_delay_us}")


def _is_dynamic(d) -> bool:
    return not (isinstance(d, int) and d >= 0)


def _tensor(spec: TensorSpec, drop_batch: bool) -> TritonTensor:
    if spec.dtype_label not in _TRITON_TYPES:
        raise UserInputError(f"tensor {spec.name!r} is {spec.dtype_label}, which Triton cannot carry")
    if not spec.dims:
        raise UserInputError(f"tensor {spec.name!r} has no shape in the model; Triton needs its rank")
    dims = spec.dims[1:] if drop_batch else spec.dims
    return TritonTensor(spec.name, spec.dtype_label, tuple(-1 if _is_dynamic(d) else int(d) for d in dims))


def triton_spec(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], source: str,
                max_batch_size: Optional[int] = None) -> TritonModelSpec:
    """The Triton view of a model with these tensors. ``max_batch_size``: None, the default when the
    model can batch (and 0 when it cannot); 0 turns batching off; a positive number on a model
    without a dynamic leading axis is an error."""
    tensors = list(inputs) + list(outputs)
    can_batch = bool(tensors) and all(s.dims and _is_dynamic(s.dims[0]) for s in tensors)
    if max_batch_size is None:
        max_batch_size = DEFAULT_MAX_BATCH_SIZE if can_batch else 0
    if max_batch_size < 0:
        raise UserInputError(f"max batch size must be >= 0, got {max_batch_size}")
    if max_batch_size > 0 and not can_batch:
        fixed = [s.describe() for s in tensors if not (s.dims and _is_dynamic(s.dims[0]))]
        raise UserInputError(f"{source}: Triton can batch only along a dynamic leading axis, and these tensors have a "
                             f"fixed one: {', '.join(fixed)}; use max batch size 0 or export with a dynamic batch")
    drop = max_batch_size > 0
    return TritonModelSpec(tuple(_tensor(s, drop) for s in inputs), tuple(_tensor(s, drop) for s in outputs),
                           int(max_batch_size), source)


def onnx_io_with_shapes(model: Union[str, os.PathLike]) -> Tuple[List[TensorSpec], List[TensorSpec]]:
    """The model's inputs and outputs; outputs the file leaves without a shape get ONNX's shape
    inference (with our op's schema registered, so its output shape follows the contract)."""
    proto = load_onnx(model)
    inputs, outputs = onnx_io(proto)
    if all(o.dims for o in outputs):
        return inputs, outputs
    import onnx

    from ..onnx_schema import register_schema

    register_schema()
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    except Exception as e:
        raise UserInputError(f"{os.fspath(model)}: ONNX shape inference failed ({e})") from None
    return onnx_io(inferred)


def onnx_triton_spec(model: Union[str, os.PathLike], max_batch_size: Optional[int] = None) -> TritonModelSpec:
    inputs, outputs = onnx_io_with_shapes(model)
    return triton_spec(inputs, outputs, os.fspath(model), max_batch_size)


def request_shapes_key(request, batching: bool) -> tuple:
    """Requests with the same key can be stacked into one run: equal dtypes and equal shapes past
    the batch axis (the whole shape when the model has no batch axis)."""
    skip = 1 if batching else 0
    return tuple((name, tuple(np.shape(value))[skip:], np.asarray(value).dtype.str)
                 for name, value in sorted(request.items()))


def split_rows(arrays: dict, counts: List[int]) -> List[dict]:
    """Splits a stacked run's outputs back into the requests' row counts."""
    out, start = [], 0
    for n in counts:
        out.append({k: v[start:start + n] for k, v in arrays.items()})
        start += n
    return out
