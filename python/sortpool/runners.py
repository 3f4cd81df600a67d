"""Polygraphy runners for the parity check (`sortpool check`).

* ONNX Runtime: Polygraphy's own ``OnnxrtRunner``, handed a session builder that registers our
  custom-op library (the runner cannot register custom ops itself): :func:`ort_runner`.
* TensorRT: :class:`TrtEngineRunner`, a ``BaseRunner`` over :class:`sortpool.trt.TrtEngine`
  (pycuda or cuda-python buffers, works with the lean/dispatch runtimes too).
* PyTorch: :class:`TorchRunner`, a ``BaseRunner`` over an ``nn.Module`` on the CPU (Polygraphy's
  ``PytRunner`` moves inputs to CUDA unconditionally and needs the outputs' names in order).

Imports polygraphy (and torch, for TorchRunner) only when used.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import time
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .errors import BackendUnavailable, UserInputError
from .inputs import TensorSpec


def import_polygraphy():
    try:
        from polygraphy.backend.base import BaseRunner  # noqa: F401

        import polygraphy
        return polygraphy
    except ImportError as e:
        raise BackendUnavailable(f"sortpool check needs Polygraphy ({e}): pip install polygraphy") from None


def _metadata(specs: Sequence[TensorSpec]):
    from polygraphy.common import TensorMetadata

    meta = TensorMetadata()
    for s in specs:
        meta.add(s.name, dtype=s.dtype, shape=[d if isinstance(d, int) else -1 for d in s.dims])
    return meta


def ort_runner(model_path: str, name: str = "onnxruntime", threads: Optional[int] = None,
               log_severity: Optional[int] = None):
    """Polygraphy's OnnxrtRunner with a session builder that registers libsortpool_ort.so;
    ``log_severity`` is ONNX Runtime's log level (sortpool.ort.session_options)."""
    from polygraphy.backend.onnxrt import OnnxrtRunner

    from .ort import make_ort_session

    return OnnxrtRunner(lambda: make_ort_session(model_path, intra_op_threads=threads, log_severity=log_severity),
                        name=name)


def _base_runner():
    from polygraphy.backend.base import BaseRunner

    return BaseRunner


def trt_runner(engine, name: str = "tensorrt", **engine_kwargs):
    """A Polygraphy runner over :class:`sortpool.trt.TrtEngine`; ``engine`` is a path, bytes, or a
    callable returning either (e.g. a build step)."""
    BaseRunner = _base_runner()

    class TrtEngineRunner(BaseRunner):
        def __init__(self):
            super().__init__(name=name, prefix="sortpool-trt-runner")
            self._source = engine

        def activate_impl(self):
            from .trt import TrtEngine

            source = self._source
            if callable(source) and not isinstance(source, TrtEngine):
                source = source()
            self.engine = source if isinstance(source, TrtEngine) else TrtEngine(source, **engine_kwargs)

        def get_input_metadata_impl(self):
            return _metadata(self.engine.inputs)

        def infer_impl(self, feed_dict):
            start = time.perf_counter()
            out = self.engine.infer(feed_dict, source="check inputs")
            self.inference_time = time.perf_counter() - start
            return OrderedDict((k, v.copy()) for k, v in out.items())

        def deactivate_impl(self):
            self.engine.close()
            del self.engine

    return TrtEngineRunner()


def _summary(e: BaseException) -> str:
    """An exception in one line: its type and the first line of its message (a SyntaxError with
    the line it points at)."""
    if isinstance(e, SyntaxError) and e.lineno:
        return f"{type(e).__name__}: {e.msg} (line {e.lineno})"
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _exec_loader_file(path: Path, spec: str):
    """Runs a loader file as a module registered in sys.modules (as an import would), so that
    what needs its own module (dataclasses, pickling, typing with `from __future__ import
    annotations`) finds it; its folder is on sys.path while it runs, for its sibling imports."""
    resolved = path.resolve()
    name = f"_sortpool_torch_loader_{abs(hash(str(resolved)))}"
    module_spec = importlib.util.spec_from_file_location(name, str(resolved))
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    sys.path.insert(0, str(resolved.parent))
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(name, None)
        raise UserInputError(f"--torch-model {spec!r}: {path} failed to load ({_summary(e)})") from None
    finally:
        sys.path.remove(str(resolved.parent))
    return module


def _load_torch_file(torch, path: Path):
    """A TorchScript file or an ExportedProgram (.pt2) on the CPU."""
    if not path.is_file():
        raise UserInputError(f"PyTorch model not found: {path}")
    if path.suffix == ".pt2":
        # Checked first: torch.export.load logs a traceback of its own before raising on a non-zip file.
        if not zipfile.is_zipfile(path):
            raise UserInputError(f"{path} is not an ExportedProgram .pt2 file (not a zip archive)")
        try:
            return torch.export.load(str(path)).module()
        except Exception as e:
            raise UserInputError(f"{path} is not a loadable ExportedProgram .pt2 file ({_summary(e)})") from None
    try:
        import sortpool_torch  # noqa: F401  (registers sortpool::sorted_weighted_pool, if a .pt uses it)
    except ImportError:
        pass
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise UserInputError(f"{path} is not a TorchScript file ({_summary(e)}); for a state_dict write a loader "
                             "file.py:make_model that builds the model and loads it") from None


def load_torch_model(spec: str):
    """A PyTorch model from 'path/to/file.py:factory' or 'package.module:factory' (the factory is
    called with no arguments and returns an nn.Module or any callable), or from a TorchScript file
    ('model.pt', torch.jit.load) or an ExportedProgram ('model.pt2', torch.export.load). A loader
    that cannot be loaded or a factory that raises is a UserInputError naming the file and the
    exception."""
    try:
        import torch
    except ImportError:
        raise BackendUnavailable("the PyTorch comparison needs torch, which is not installed") from None
    target, sep, attr = spec.rpartition(":")
    if not sep or not attr.isidentifier() or (len(target) == 1 and target.isalpha()):
        path = Path(spec)
        if path.suffix in (".pt", ".pth", ".pt2", ".ts") or path.exists():
            return _load_torch_file(torch, path)
        raise UserInputError(f"--torch-model {spec!r}: expected FILE.py:FUNCTION, MODULE:FUNCTION, a TorchScript "
                             ".pt or an ExportedProgram .pt2")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise UserInputError(f"PyTorch loader file not found: {path}")
        module = _exec_loader_file(path, spec)
    else:
        try:
            module = importlib.import_module(target)
        except Exception as e:
            raise UserInputError(f"--torch-model {spec!r}: cannot import {target!r} ({_summary(e)})") from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise UserInputError(f"--torch-model {spec!r}: {target} has no {attr!r}")
    try:
        model = factory() if callable(factory) and not isinstance(factory, torch.nn.Module) else factory
    except Exception as e:
        raise UserInputError(f"--torch-model {spec!r}: {attr}() of {target} raised {_summary(e)}") from None
    if not callable(model):
        raise UserInputError(f"--torch-model {spec!r}: {attr}() returned {type(model).__name__}, not a model")
    return model


def torch_runner(model_or_loader, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec],
                 name: str = "pytorch"):
    """A Polygraphy runner over a PyTorch model on the CPU. Inputs are passed positionally in the
    ONNX model's input order; outputs (a tensor, or a tuple/list/dict of tensors) are named in the
    ONNX model's output order."""
    BaseRunner = _base_runner()
    input_specs, output_names = list(inputs), [s.name for s in outputs]

    class TorchRunner(BaseRunner):
        def __init__(self):
            super().__init__(name=name, prefix="sortpool-torch-runner")
            self._model = model_or_loader

        def activate_impl(self):
            model = load_torch_model(self._model) if isinstance(self._model, str) else self._model
            if hasattr(model, "eval"):
                model.eval()
            self.model = model

        def get_input_metadata_impl(self):
            return _metadata(input_specs)

        def infer_impl(self, feed_dict):
            import torch

            args = [torch.from_numpy(np.ascontiguousarray(feed_dict[s.name])) for s in input_specs]
            start = time.perf_counter()
            with torch.no_grad():
                result = self.model(*args)
            self.inference_time = time.perf_counter() - start
            if isinstance(result, dict):
                result = [result[k] for k in result]
            elif not isinstance(result, (list, tuple)):
                result = [result]
            if len(result) != len(output_names):
                raise UserInputError(f"the PyTorch model returned {len(result)} output(s), the ONNX model has "
                                     f"{len(output_names)} ({output_names})")
            return OrderedDict((n, r.detach().cpu().numpy()) for n, r in zip(output_names, result))

        def deactivate_impl(self):
            del self.model

    return TorchRunner()
