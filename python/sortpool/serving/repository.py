"""`sortpool triton-repo`: a Triton model repository for Triton's production backends.

    OUT/
      README.md                       how to start tritonserver on it
      NAME_onnx/                      Triton's onnxruntime backend, CPU instances
        config.pbtxt                  model_operations { op_library_filename: ... } loads our op
        libsortpool_ort.so
        1/model.onnx
      NAME_trt/                       Triton's tensorrt backend, GPU instances (with --engine)
        config.pbtxt
        libsortpool_trt_plugin.so     loaded with --backend-config=tensorrt,plugins=...
        1/model.plan

Only subdirectories of a repository are models, so README.md beside them is left alone. A
non-empty OUT is refused; with ``overwrite`` (--force) all that a run with the same NAME writes
(README.md, NAME_onnx/, NAME_trt/) is removed first and other models stay (_clear_previous). Library
paths in config.pbtxt and on the command line must be the paths the server sees: the repository's
own path here, or ``server_root`` (e.g. /models when the folder is mounted there in a container).

The files are checked against Triton's model-config schema (model_config.proto, shipped compiled in
the tritonclient package) by parsing them back. Neither backend runs on this project's machines
(Triton's onnxruntime and tensorrt backends come in NVIDIA's containers), so the repository is
written and parsed here, never loaded.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from .._libs import ORT_LIBRARY_NAME, TRT_PLUGIN_NAME, ort_library_path, trt_plugin_path
from ..errors import BackendUnavailable, UserInputError
from ..inputs import require_file
from .model import ModelOptions, TritonModelSpec, TritonTensor, onnx_triton_spec


@dataclass
class RepositoryOptions(ModelOptions):
    engine: Optional[str] = None          # a TensorRT engine built from the same ONNX model
    server_root: Optional[str] = None     # where the server sees the repository (default: its path here)
    ort_library: Optional[str] = None
    trt_plugin: Optional[str] = None
    overwrite: bool = False


@dataclass
class Repository:
    root: Path
    models: List[str] = field(default_factory=list)
    configs: List[Path] = field(default_factory=list)
    server_command: str = ""
    schema_checked: bool = False


def _dims(t: TritonTensor) -> str:
    return "[ " + ", ".join(str(d) for d in t.dims) + " ]"


def _tensors(kind: str, tensors) -> List[str]:
    lines = []
    for t in tensors:
        lines += [f"{kind} {{", f'  name: "{t.name}"', f"  data_type: {t.triton_type}", f"  dims: {_dims(t)}", "}"]
    return lines


def config_text(name: str, backend: str, model_file: str, spec: TritonModelSpec, opts: RepositoryOptions,
                op_library: Optional[str] = None) -> str:
    """config.pbtxt (protobuf text format of Triton's ModelConfig) for one backend."""
    lines = [f'name: "{name}"', f'backend: "{backend}"', f"max_batch_size: {spec.max_batch_size}",
             f'default_model_filename: "{model_file}"']
    lines += _tensors("input", spec.inputs) + _tensors("output", spec.outputs)
    kind = "KIND_GPU" if backend == "tensorrt" else "KIND_CPU"
    lines += ["instance_group {", f"  count: {opts.instances}", f"  kind: {kind}", "}"]
    if spec.batching and opts.dynamic_batching:
        lines += ["dynamic_batching {", f"  max_queue_delay_microseconds: {opts.max_queue_delay_us}", "}"]
    if op_library:
        lines += ["model_operations {", f'  op_library_filename: "{op_library}"', "}"]
    if backend == "onnxruntime":
        # onnxruntime backend: threads of each instance's session (its default is all cores per instance)
        lines += ["parameters {", '  key: "intra_op_thread_count"', f'  value: {{ string_value: "{opts.threads}" }}',
                  "}"]
    return "\n".join(lines) + "\n"


def parse_config(text: str, source: str = "config.pbtxt"):
    """Parses config.pbtxt with Triton's own ModelConfig message; UserInputError naming the problem."""
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError as e:
        raise BackendUnavailable(f"checking {source} needs tritonclient[grpc] (Triton's model_config.proto): {e}") from None
    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as e:
        raise UserInputError(f"{source} does not parse as Triton's ModelConfig: {e}") from None


def _copy(src: str, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _entries_written(name: str) -> List[str]:
    """What a run with model name ``name`` writes at the top of the repository."""
    return ["README.md", f"{name}_onnx", f"{name}_trt"]


def _clear_previous(root: Path, opts: RepositoryOptions) -> None:
    """Makes ``root`` ready to be written. A missing or empty folder is; a non-empty one only with
    ``overwrite``, which removes everything a run with the same name writes (README.md, NAME_onnx/
    and NAME_trt/, whether or not this run writes them: a NAME_trt/ left from an earlier run with
    --engine would otherwise stay, loaded by Triton without the plugin the printed command no
    longer names) and leaves other models in the repository alone."""
    if root.exists() and not root.is_dir():
        raise UserInputError(f"{root} is a file, not a folder for the repository")
    present = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    if not present:
        return
    ours = _entries_written(opts.name)
    if not opts.overwrite:
        raise UserInputError(f"{root} exists and is not empty (--force replaces what triton-repo --name {opts.name} "
                             f"writes there: {', '.join(ours)}; other models stay)")
    readme = root / "README.md"
    if readme.is_file() and not readme.read_text(errors="replace").startswith(_README_TITLE):
        raise UserInputError(f"{readme} was not written by triton-repo and would be replaced: move it or choose "
                             "another folder")
    for n in present:
        if n not in ours:
            continue
        path = root / n
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def write_repository(model: os.PathLike, out: os.PathLike, options: Optional[RepositoryOptions] = None,
                     check_schema: bool = True) -> Repository:
    """Writes the repository. Everything that can fail (inputs, the configs against Triton's
    schema, the folder) is checked before the first file is written."""
    opts = options or RepositoryOptions()
    onnx_path = require_file(model, "ONNX model")
    opts.check()
    engine = require_file(opts.engine, "TensorRT engine") if opts.engine else None
    plugin = None
    if engine is not None:
        plugin = opts.trt_plugin or trt_plugin_path()
        if not plugin:
            raise BackendUnavailable(f"{TRT_PLUGIN_NAME} was not found (it is built where nvcc is); pass its path")
        require_file(plugin, "TensorRT plugin library")
    ort_lib = str(require_file(opts.ort_library or ort_library_path(), "ONNX Runtime op library"))
    spec = onnx_triton_spec(onnx_path, opts.max_batch_size)

    root = Path(os.fspath(out))
    served_root = opts.server_root.rstrip("/") if opts.server_root else str(root.resolve())
    repo = Repository(root)
    # (model folder, model file, its source, the library beside it and its name, config text)
    models = []
    name = f"{opts.name}_onnx"
    models.append((name, "model.onnx", onnx_path, ort_lib, ORT_LIBRARY_NAME,
                   config_text(name, "onnxruntime", "model.onnx", spec, opts,
                               op_library=f"{served_root}/{name}/{ORT_LIBRARY_NAME}")))
    plugin_arg = ""
    if engine is not None:
        name = f"{opts.name}_trt"
        models.append((name, "model.plan", engine, plugin, TRT_PLUGIN_NAME,
                       config_text(name, "tensorrt", "model.plan", spec, opts)))
        plugin_arg = f" --backend-config=tensorrt,plugins={served_root}/{name}/{TRT_PLUGIN_NAME}"
    if check_schema:
        for name, *_, text in models:
            parse_config(text, str(root / name / "config.pbtxt"))
        repo.schema_checked = True
    _clear_previous(root, opts)

    repo.server_command = f"tritonserver --model-repository={served_root}{plugin_arg}"
    try:
        for name, model_file, source, library, library_name, text in models:
            _copy(str(source), root / name / "1" / model_file)
            _copy(library, root / name / library_name)
            config = root / name / "config.pbtxt"
            config.write_text(text)
            repo.models.append(name)
            repo.configs.append(config)
        (root / "README.md").write_text(_readme(repo, spec, opts, engine is not None))
    except OSError as e:
        raise UserInputError(f"cannot write the repository {root}: {e.strerror or e} ({e.filename})") from None
    return repo


_README_TITLE = "# Triton model repository (written by `sortpool triton-repo`)"


def _readme(repo: Repository, spec: TritonModelSpec, opts: RepositoryOptions, has_engine: bool) -> str:
    lines = [_README_TITLE, "",
             "Start Triton Inference Server on it (NVIDIA's Triton container has the onnxruntime and tensorrt "
             "backends):", "", "```bash", repo.server_command, "```", ""]
    lines += [f"- `{m}/`" for m in repo.models]
    lines += ["", "Batching: " + (f"max batch size {spec.max_batch_size}, dynamic batching "
                                  f"{'on' if opts.dynamic_batching else 'off'}" if spec.batching else "none (max batch size 0)"),
              "",
              "The ONNX model loads the custom op through `model_operations` in its config.pbtxt; the library "
              "needs an ONNX Runtime with C API version 17 or later (ONNX Runtime 1.17+)."]
    if has_engine:
        lines += ["The TensorRT engine runs only with the TensorRT version that built it (or a later one when built "
                  "with `--version-compatible`): build it with the TensorRT of the Triton release you run. The "
                  "plugin library is loaded by `--backend-config=tensorrt,plugins=...` (or `LD_PRELOAD`)."]
    return "\n".join(lines) + "\n"
