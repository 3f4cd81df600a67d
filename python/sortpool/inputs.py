"""Model I/O, user inputs and shape profiles, checked in Python before anything reaches native code.

* :func:`onnx_io` reads the inputs and outputs of an ONNX model (names, element types, dims).
* :func:`load_npz` and :func:`validate_feed` load and check user inputs: every input present, the
  exact dtype, the rank, the static dims and (for an engine) the profile's range.
* :func:`parse_shape` / :func:`parse_named_shapes` read ``NAME:1x3x32x32`` arguments;
  :func:`derive_profile` turns them into one min/opt/max optimisation profile per input, with
  defaults from the model's static dims.

Needs numpy and onnx only (no torch, no TensorRT).
"""
from __future__ import annotations

import os
import re
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import UserInputError

Dim = Union[int, str, None]  # a static extent, a symbolic one (dim_param) or an unknown one
Shape = Tuple[int, ...]

# File suffixes of serialized TensorRT engines (everything else is taken for an ONNX model).
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


def is_engine_path(path: Union[str, os.PathLike]) -> bool:
    return Path(os.fspath(path)).suffix.lower() in ENGINE_SUFFIXES


# Defaults for dynamic dims when no shape is given: axis 0 (batch) and every other dynamic axis.
DEFAULT_BATCH = (1, 1, 8)
DEFAULT_EXTENT = (32, 64, 128)


def bfloat16_dtype() -> Optional[np.dtype]:
    """numpy's bfloat16 from ml_dtypes when it is installed (numpy has none), else None."""
    try:
        import ml_dtypes  # type: ignore

        return np.dtype(ml_dtypes.bfloat16)
    except ImportError:
        return None


# ONNX TensorProto element types -> numpy (bfloat16 resolved lazily).
_ONNX_TO_NUMPY = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
                  10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}
_ONNX_BFLOAT16 = 16


def dtype_name(dtype) -> str:
    return "bfloat16" if dtype is None else np.dtype(dtype).name


@dataclass
class TensorSpec:
    """One model input or output: name, numpy dtype (None: bfloat16 without ml_dtypes) and dims."""

    name: str
    dtype: Optional[np.dtype]
    dims: Tuple[Dim, ...]
    dtype_label: str = ""

    def __post_init__(self):
        if not self.dtype_label:
            self.dtype_label = dtype_name(self.dtype)

    @property
    def rank(self) -> int:
        return len(self.dims)

    def is_static(self) -> bool:
        return all(isinstance(d, int) and d >= 0 for d in self.dims)

    def describe(self) -> str:
        dims = ", ".join(str(d) if d is not None else "?" for d in self.dims)
        return f"{self.name}: {self.dtype_label}[{dims}]"


def require_file(path: Union[str, os.PathLike], what: str) -> Path:
    """`path` as a Path when it is an existing file, else UserInputError (exit status 2)."""
    p = Path(os.fspath(path))
    if not p.exists():
        raise UserInputError(f"{what} not found: {p}")
    if not p.is_file():
        raise UserInputError(f"{what} is not a file: {p}")
    return p


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode when both exist, else the same resolved path."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_output_path(path: Union[str, os.PathLike], what: str,
                      not_same_as: Mapping[str, Union[str, os.PathLike, None]] = ()) -> Path:
    """`path` as a Path when a file can be written there, else UserInputError (exit status 2);
    `what` names it in messages ("output", "report", "timing cache").

    Called before the work, so that a build of minutes or a check is not lost to a bad output
    path: refuses a folder, a missing parent folder, a place that cannot be written, and a path
    that names the same file as one of ``not_same_as`` ({"the ONNX model": path, ...}). A link is
    judged by the file it points to (a dangling one by the place it points to). An existing file
    that is not a regular one (/dev/null, a named pipe) is taken as it is, unprobed: opening a pipe
    would wait for a reader. Otherwise the file is opened for appending, which leaves an existing
    file as it is; a file the probe created is removed again."""
    p = Path(os.fspath(path))
    if p.is_dir():
        raise UserInputError(f"{what} path is a folder: {p}")
    if p.exists() and not p.is_file():  # following links: /dev/stdout onto a pipe is one too
        return p
    # A dangling link is written through, so it is judged where it points.
    target = Path(os.path.realpath(p)) if p.is_symlink() and not p.exists() else p
    if not target.parent.is_dir():
        raise UserInputError(f"{what} folder does not exist: {target.parent}")
    for other_what, other in dict(not_same_as).items():
        if other is not None and _same_file(target, Path(os.fspath(other))):
            raise UserInputError(f"the {what} {p} is the same file as {other_what}; choose another path")
    existed = target.exists()
    try:
        with open(target, "ab"):
            pass
    except OSError as e:
        raise UserInputError(f"cannot write the {what} {p}: {e.strerror or e}") from None
    if not existed:
        target.unlink(missing_ok=True)
    return p


def _dims_of(value_info) -> Tuple[Dim, ...]:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return ()
    dims: List[Dim] = []
    for d in t.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return tuple(dims)


def _type_name(value_info) -> str:
    """The ONNX type of a graph input/output in words: "uint16", "string", "sequence", "map"."""
    import onnx

    kind = value_info.type.WhichOneof("value")
    if kind != "tensor_type":
        return (kind or "no type").replace("_type", "").replace("_", " ")
    elem = value_info.type.tensor_type.elem_type
    try:
        return onnx.TensorProto.DataType.Name(elem).lower()
    except ValueError:
        return f"unknown element type {elem}"


def _spec_of(value_info) -> TensorSpec:
    is_tensor = value_info.type.WhichOneof("value") == "tensor_type"
    elem = value_info.type.tensor_type.elem_type
    if is_tensor and elem == _ONNX_BFLOAT16:
        return TensorSpec(value_info.name, bfloat16_dtype(), _dims_of(value_info), "bfloat16")
    if not is_tensor or elem not in _ONNX_TO_NUMPY:
        raise UserInputError(f"tensor {value_info.name!r} is of type {_type_name(value_info)}, which this tool does not "
                             f"handle (tensors of {', '.join(sorted(_handled_types()))})")
    return TensorSpec(value_info.name, np.dtype(_ONNX_TO_NUMPY[elem]), _dims_of(value_info))


def _handled_types() -> List[str]:
    return [np.dtype(t).name for t in _ONNX_TO_NUMPY.values()] + ["bfloat16"]


def load_onnx(path: Union[str, os.PathLike], load_external_data: bool = False):
    """onnx.ModelProto of the file, checked to exist, to parse into a graph with nodes, inputs
    and outputs, and to hold SortedWeightedPool nodes that keep the op's contract
    (:func:`check_sortpool_nodes`); UserInputError otherwise."""
    import onnx

    p = require_file(path, "ONNX model")
    try:
        model = onnx.load(str(p), load_external_data=load_external_data)
    except Exception as e:  # protobuf DecodeError and friends
        raise UserInputError(f"{p} is not a readable ONNX model ({type(e).__name__}: {e})") from None
    # An empty file, or bytes that happen to decode as protobuf, parse as a model without a graph.
    graph = model.graph
    initialized = {i.name for i in graph.initializer}
    parts = (("nodes", graph.node), ("inputs", [v for v in graph.input if v.name not in initialized]),
             ("outputs", graph.output))
    missing = [what for what, items in parts if not items]
    if missing:
        raise UserInputError(f"{p} is not a readable ONNX model (its graph has no {', no '.join(missing)})")
    check_sortpool_nodes(model, str(p))
    return model


def check_sortpool_nodes(model, source: str = "the model") -> None:
    """Checks every SortedWeightedPool node against the op's schema (attribute names and types)
    and contract (values) before any backend sees the model; UserInputError (exit status 2) naming
    the node, the attribute and the rule. One check for every command: without it ONNX Runtime
    refuses such a node only at session creation, while TensorRT's ONNX parser narrows INT/INTS
    attributes to 32 bits before the plugin sees them (strides 2^32 + 2 arrive as 2) and drops
    attributes its creator does not list (dilations), so a wrong node would build."""
    from .contract import OP_DOMAIN, OP_DOMAIN_VERSION
    from .onnx_schema import check_node_attributes

    # ONNX Runtime and TensorRT run a node of a domain the model does not import; judge it by this
    # schema's version then, instead of refusing what they accept.
    opsets = {o.domain: o.version for o in model.opset_import}
    opsets.setdefault(OP_DOMAIN, OP_DOMAIN_VERSION)
    for node in sortpool_nodes(model):
        try:
            check_node_attributes(node, opsets, model.ir_version or 8)
        except ValueError as e:
            raise UserInputError(f"{source}: {e}") from None


def onnx_io(model) -> Tuple[List[TensorSpec], List[TensorSpec]]:
    """(inputs, outputs) of an ONNX model (a path or a ModelProto); initializers are not inputs."""
    if not hasattr(model, "graph"):
        model = load_onnx(model)
    initializers = {i.name for i in model.graph.initializer}
    inputs = [_spec_of(v) for v in model.graph.input if v.name not in initializers]
    outputs = [_spec_of(v) for v in model.graph.output]
    return inputs, outputs


def sortpool_nodes(model) -> list:
    """The model's sortpool::SortedWeightedPool nodes (main graph)."""
    from . import OP_DOMAIN, OP_TYPE

    return [n for n in model.graph.node if n.domain == OP_DOMAIN and n.op_type == OP_TYPE]


# ------------------------------------------------------------------------------------------------
# Shapes on the command line
# ------------------------------------------------------------------------------------------------
_SHAPE_RE = re.compile(r"^\s*\[?\s*(\d+(?:\s*[x,]\s*\d+)*)\s*\]?\s*$")


def parse_shape(text: str) -> Shape:
    """'1x3x32x32', '1,3,32,32' or '[1,3,32,32]' -> (1, 3, 32, 32); UserInputError otherwise."""
    m = _SHAPE_RE.match(text)
    if not m:
        raise UserInputError(f"invalid shape {text!r}: expected extents separated by 'x', e.g. 1x3x32x32")
    return tuple(int(v) for v in re.split(r"\s*[x,]\s*", m.group(1)))


def parse_named_shapes(items: Optional[Sequence[str]], input_names: Sequence[str], option: str) -> Dict[str, Shape]:
    """['x:1x3x32x32', ...] -> {'x': (1, 3, 32, 32)}. With a model of one input the name may be left
    out ('1x3x32x32'). Several items may also be given in one string separated by spaces."""
    result: Dict[str, Shape] = {}
    for raw in items or []:
        for item in raw.split():
            name, sep, shape = item.rpartition(":")
            if not sep:
                if len(input_names) != 1:
                    raise UserInputError(
                        f"{option} {item!r}: name the input (NAME:SHAPE); the model has inputs {list(input_names)}")
                name = input_names[0]
            if name not in input_names:
                raise UserInputError(f"{option} {item!r}: the model has no input {name!r} (inputs: {list(input_names)})")
            result[name] = parse_shape(shape)
    return result


@dataclass
class ProfileShapes:
    """min/opt/max shapes of one input in a TensorRT optimisation profile."""

    min: Shape
    opt: Shape
    max: Shape

    def as_dict(self) -> dict:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    def distinct(self) -> List[Shape]:
        seen: List[Shape] = []
        for s in (self.min, self.opt, self.max):
            if s not in seen:
                seen.append(s)
        return seen


def _check_shape_against_spec(spec: TensorSpec, shape: Shape, what: str) -> None:
    if spec.dims and len(shape) != spec.rank:
        raise UserInputError(f"{what} for input {spec.name!r} has rank {len(shape)} ({'x'.join(map(str, shape))}); "
                             f"the model's input has rank {spec.rank} ({spec.describe()})")
    for axis, (d, s) in enumerate(zip(spec.dims, shape)):
        if isinstance(d, int) and d >= 0 and d != s:
            raise UserInputError(f"{what} for input {spec.name!r}: axis {axis} is {s}, but the model fixes it to {d} "
                                 f"({spec.describe()})")


def derive_profile(inputs: Sequence[TensorSpec], min_shapes: Mapping[str, Shape] = (), opt_shapes: Mapping[str, Shape] = (),
                   max_shapes: Mapping[str, Shape] = (), shapes: Mapping[str, Shape] = ()) -> "OrderedDict[str, ProfileShapes]":
    """One optimisation profile: min/opt/max per input.

    Static dims come from the model. Dynamic dims default to DEFAULT_BATCH (axis 0) and
    DEFAULT_EXTENT (other axes); a value given on the command line wins, and defaults are moved
    to keep min <= opt <= max around it. `shapes` fixes all three (a static profile)."""
    min_shapes, opt_shapes, max_shapes, shapes = (dict(m or {}) for m in (min_shapes, opt_shapes, max_shapes, shapes))
    profile: "OrderedDict[str, ProfileShapes]" = OrderedDict()
    for spec in inputs:
        given = {}
        for key, table in (("min", min_shapes), ("opt", opt_shapes), ("max", max_shapes)):
            if spec.name in shapes:
                given[key] = shapes[spec.name]
            elif spec.name in table:
                given[key] = table[spec.name]
        for key, shape in given.items():
            _check_shape_against_spec(spec, shape, f"the {key} shape")
        if not spec.dims and not given:
            raise UserInputError(f"input {spec.name!r} has no shape in the model: give it with --shapes {spec.name}:DxDx...")
        rank = spec.rank if spec.dims else len(next(iter(given.values())))
        mins, opts, maxs = [], [], []
        for axis in range(rank):
            d = spec.dims[axis] if spec.dims else None
            if isinstance(d, int) and d >= 0:
                lo = mid = hi = d
            else:
                lo, mid, hi = DEFAULT_BATCH if axis == 0 else DEFAULT_EXTENT
            g_lo = given["min"][axis] if "min" in given else None
            g_mid = given["opt"][axis] if "opt" in given else None
            g_hi = given["max"][axis] if "max" in given else None
            if g_mid is not None:
                mid = g_mid
            else:
                if g_lo is not None:
                    mid = max(mid, g_lo)
                if g_hi is not None:
                    mid = min(mid, g_hi)
            lo = g_lo if g_lo is not None else min(lo, mid)
            hi = g_hi if g_hi is not None else max(hi, mid)
            mins.append(lo)
            opts.append(mid)
            maxs.append(hi)
        p = ProfileShapes(tuple(mins), tuple(opts), tuple(maxs))
        if not all(a <= b <= c for a, b, c in zip(p.min, p.opt, p.max)):
            raise UserInputError(f"profile for input {spec.name!r} is not ordered min <= opt <= max: "
                                 f"min {'x'.join(map(str, p.min))}, opt {'x'.join(map(str, p.opt))}, "
                                 f"max {'x'.join(map(str, p.max))}")
        profile[spec.name] = p
    return profile


# ------------------------------------------------------------------------------------------------
# User inputs (npz)
# ------------------------------------------------------------------------------------------------
def load_npz(path: Union[str, os.PathLike]) -> "OrderedDict[str, np.ndarray]":
    """The arrays of an .npz file (or a single .npy, named by its input later), checked to exist."""
    p = require_file(path, "inputs file")
    try:
        loaded = np.load(str(p), allow_pickle=False)
        if isinstance(loaded, np.ndarray):  # an .npy, whatever its suffix
            return OrderedDict([("", loaded)])
        with loaded as data:
            return OrderedDict((k, data[k]) for k in data.files)
    except Exception as e:
        raise UserInputError(f"{p} is not a readable .npz file ({type(e).__name__}: {e})") from None


def validate_feed(feed: Mapping[str, np.ndarray], inputs: Sequence[TensorSpec], source: str,
                  profile: Optional[Mapping[str, ProfileShapes]] = None) -> "OrderedDict[str, np.ndarray]":
    """Checks user arrays against the model's inputs and returns them in the model's input order.

    Every input must be present (an .npy file serves a model with one input), with exactly the
    input's dtype (no silent cast), its rank, its static dims, and within the profile's min/max.
    Arrays that are not inputs are an error too (most often a misspelt name)."""
    feed = dict(feed)
    names = [s.name for s in inputs]
    if list(feed) == [""]:  # a single .npy
        if len(inputs) != 1:
            raise UserInputError(f"{source}: a single .npy array can feed a model with one input; this model has "
                                 f"inputs {names}: use an .npz with one array per input name")
        feed = {names[0]: feed[""]}
    missing = [n for n in names if n not in feed]
    if missing:
        raise UserInputError(f"{source} lacks the input(s) {missing}; it has {sorted(feed)} "
                             f"(the model's inputs: {', '.join(s.describe() for s in inputs)})")
    extra = [k for k in feed if k not in names]
    if extra:
        raise UserInputError(f"{source} has array(s) {extra} that are not inputs of the model (inputs: {names})")
    out: "OrderedDict[str, np.ndarray]" = OrderedDict()
    for spec in inputs:
        arr = np.asarray(feed[spec.name])
        if spec.dtype is None:
            raise UserInputError(f"input {spec.name!r} is {spec.dtype_label}: install ml_dtypes to feed it from numpy")
        if arr.dtype != spec.dtype and arr.dtype.newbyteorder("=") == spec.dtype:
            arr = arr.astype(spec.dtype)  # the same type in the other byte order (e.g. '>f4')
        if arr.dtype == np.dtype("V2") and spec.dtype_label == "bfloat16":
            arr = arr.view(spec.dtype)  # numpy writes bfloat16 arrays into .npz files as 2-byte voids
        if arr.dtype != spec.dtype:
            raise UserInputError(f"{source}: input {spec.name!r} is {arr.dtype.name}, the model wants {spec.dtype_label} "
                                 f"(convert it, e.g. x.astype(np.{spec.dtype_label}))")
        if spec.dims and arr.ndim != spec.rank:
            raise UserInputError(f"{source}: input {spec.name!r} has rank {arr.ndim} (shape {list(arr.shape)}), the model "
                                 f"wants rank {spec.rank} ({spec.describe()})")
        for axis, d in enumerate(spec.dims):
            if isinstance(d, int) and d >= 0 and arr.shape[axis] != d:
                raise UserInputError(f"{source}: input {spec.name!r} has shape {list(arr.shape)}; axis {axis} must be {d} "
                                     f"({spec.describe()})")
        if profile is not None and spec.name in profile:
            p = profile[spec.name]
            if len(p.min) == arr.ndim and not all(lo <= s <= hi for lo, s, hi in zip(p.min, arr.shape, p.max)):
                raise UserInputError(f"{source}: input {spec.name!r} has shape {list(arr.shape)}, outside the engine's "
                                     f"profile (min {list(p.min)}, max {list(p.max)})")
        out[spec.name] = np.ascontiguousarray(arr)
    return out


def npz_output_path(path: Union[str, os.PathLike],
                    not_same_as: Mapping[str, Union[str, os.PathLike, None]] = ()) -> Path:
    """Where :func:`save_npz` writes `path` (".npz" appended when missing, as numpy does), checked
    with :func:`check_output_path` before any work; a folder given as `path` is refused, not
    turned into FOLDER.npz."""
    p = Path(os.fspath(path))
    if p.is_dir():
        raise UserInputError(f"output path is a folder: {p}")
    return check_output_path(p if p.suffix == ".npz" else Path(str(p) + ".npz"), "output", not_same_as)


def save_npz(path: Union[str, os.PathLike], arrays: Mapping[str, np.ndarray]) -> Path:
    p = npz_output_path(path)
    # Written member by member, not through np.savez(**arrays): an output may be named "file" or
    # "allow_pickle", which savez would take for its own arguments.
    try:
        with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, value in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
    except OSError as e:
        raise UserInputError(f"cannot write the output {p}: {e.strerror or e}") from None
    return p
