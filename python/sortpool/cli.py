"""The `sortpool` command.

    sortpool info                                 versions, libraries, GPU, plugin creators
    sortpool build MODEL.onnx -o MODEL.engine     TensorRT engine with our plugin
    sortpool run MODEL.(onnx|engine) --inputs x.npz --out y.npz
    sortpool check MODEL.onnx                     parity TensorRT / ONNX Runtime / PyTorch
    sortpool demo                                 train, export, run in ONNX Runtime
    sortpool serve MODEL.(onnx|engine)            serve it with Triton Inference Server (PyTriton)
    sortpool triton-repo MODEL.onnx --out DIR     a model repository for Triton's onnxruntime/tensorrt backends

Exit statuses (see sortpool.errors): 0 ok, 1 mismatch or backend failure, 2 bad usage or input,
3 a needed backend (TensorRT, a CUDA binding, a GPU, torch) is missing. Errors are one line on
stderr; SORTPOOL_DEBUG=1 shows the traceback of unexpected ones.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

from .errors import BackendFailure, BackendUnavailable, SortpoolError, UserInputError
from .inputs import ENGINE_SUFFIXES, is_engine_path


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(out_dir=args.out_dir, steps=args.steps, seed=args.seed)


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def _say(*parts, err: bool = False) -> None:
    print(*parts, file=sys.stderr if err else sys.stdout, flush=True)


def parse_size(text: str) -> int:
    """'4GiB', '512M', '1.5G', '1024' (MiB) -> bytes, at least 1."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", text or "")
    if not m:
        raise UserInputError(f"invalid size {text!r}: expected e.g. 4GiB, 512MiB or a number of MiB")
    unit = {"": 1 << 20, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    size = int(float(m.group(1)) * unit)
    if size <= 0:
        raise UserInputError(f"invalid size {text!r}: must be at least 1 byte")
    return size


def parse_val_range(text: str) -> tuple:
    """'LOW,HIGH' -> (low, high), finite with low <= high."""
    parts = text.split(",")
    try:
        lo, hi = (float(v) for v in parts)
    except ValueError:
        raise UserInputError(f"--val-range {text!r}: expected LOW HIGH or LOW,HIGH, e.g. -1e-3,1e-3") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise UserInputError(f"--val-range {lo:g} {hi:g}: expected finite LOW <= HIGH")
    return lo, hi


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def join_val_range(argv: list) -> list:
    """`--val-range LOW HIGH` and `--val-range LOW,HIGH` -> `--val-range=LOW,HIGH`: argparse takes
    a value such as -1e-3 or -1,1 for an option (it only knows plain negative numbers like -1 or
    -0.5), so both forms are joined before parsing."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--val-range" and i + 2 < len(argv) and _is_number(argv[i + 1]) and _is_number(argv[i + 2]):
            out.append(f"--val-range={argv[i + 1]},{argv[i + 2]}")
            i += 3
        elif argv[i] == "--val-range" and i + 1 < len(argv) and "," in argv[i + 1]:  # LOW,HIGH after a space
            out.append(f"--val-range={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _profile(args, inputs):
    from .inputs import derive_profile, parse_named_shapes

    names = [s.name for s in inputs]
    return derive_profile(inputs,
                          parse_named_shapes(args.min_shapes, names, "--min-shapes"),
                          parse_named_shapes(args.opt_shapes, names, "--opt-shapes"),
                          parse_named_shapes(args.max_shapes, names, "--max-shapes"),
                          parse_named_shapes(args.shapes, names, "--shapes"))


def _build_options(args, profile):
    from .trt import BuildOptions

    return BuildOptions(
        profile=profile,
        workspace_bytes=parse_size(args.workspace) if args.workspace else None,
        timing_cache=args.timing_cache,
        version_compatible=args.version_compatible,
        exclude_lean_runtime=args.exclude_lean_runtime,
        serialize_plugin=False if args.no_serialize_plugin else None,
        plugin_version=args.plugin_version,
        plugin_path=args.plugin,
        backend=args.backend,
        compute_capabilities=args.compute_capability,
        tf32=args.tf32,
        optimization_level=args.optimization_level,
        progress=not args.no_progress,
        verbose=args.verbose,
    )


# ------------------------------------------------------------------------------------------------
# commands
# ------------------------------------------------------------------------------------------------
def _cmd_info(args) -> int:
    from . import info

    data = info.collect()
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(info.lines(data)))
    return 0


def _cmd_build(args) -> int:
    from .inputs import check_output_path, onnx_io, require_file
    from .trt import build_engine

    require_file(args.model, "ONNX model")
    if is_engine_path(args.model):
        raise UserInputError(f"{args.model} looks like an engine already; build takes an ONNX model")
    if args.summary_json:  # before a build of minutes, not after (build_engine checks -o and --timing-cache)
        check_output_path(args.summary_json, "build summary", {"the ONNX model": args.model, "the engine": args.output,
                                                              "the timing cache": args.timing_cache})
    inputs, _ = onnx_io(args.model)
    options = _build_options(args, _profile(args, inputs))
    summary = build_engine(args.model, args.output, options, log=lambda m: _say(m, err=True))
    print("\n".join(summary.lines()))
    if args.summary_json:
        try:
            Path(args.summary_json).write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
        except OSError as e:
            raise UserInputError(f"cannot write the build summary {args.summary_json}: {e.strerror or e}") from None
    return 0


def _run_ort(model: str, arrays, args):
    from .inputs import onnx_io, validate_feed
    from .ort import make_ort_session, ort_log_severity

    inputs, _ = onnx_io(model)
    feed = validate_feed(arrays, inputs, args.inputs)
    try:
        session = make_ort_session(model, intra_op_threads=args.threads, log_severity=ort_log_severity(args.verbose))
    except FileNotFoundError as e:  # the custom-op library
        raise BackendUnavailable(str(e)) from None
    except SortpoolError:
        raise
    except Exception as e:
        raise BackendFailure(f"ONNX Runtime could not load {model}: {str(e).strip().splitlines()[-1]}") from None
    try:
        values = session.run(None, dict(feed))
    except Exception as e:
        raise BackendFailure(f"ONNX Runtime failed to run {model}: {str(e).strip().splitlines()[-1]}") from None
    return {o.name: v for o, v in zip(session.get_outputs(), values)}, f"onnxruntime {__import__('onnxruntime').__version__}"


def _run_trt(engine_path: str, arrays, args):
    from .trt import TrtEngine

    with TrtEngine(engine_path, plugin_path=args.plugin, lean_runtime=args.lean_runtime, cuda=args.cuda,
                   verbose=args.verbose, backend="tensorrt-rtx" if args.backend == "trt-rtx" else None) as engine:
        outputs = engine.infer(arrays, source=args.inputs)
        return dict(outputs), f"{engine.trt.__name__} {engine.trt.__version__}, {engine.cuda.name}"


def _cmd_run(args) -> int:
    from .inputs import load_npz, npz_output_path, require_file, save_npz

    require_file(args.model, "model")
    if args.out:
        npz_output_path(args.out, {"the model": args.model, "the inputs file": args.inputs})
    arrays = load_npz(args.inputs)
    backend = args.backend
    if backend == "auto":
        backend = "trt" if is_engine_path(args.model) else "ort"
    if backend == "ort" and is_engine_path(args.model):
        raise UserInputError(f"{args.model} is a TensorRT engine: ONNX Runtime runs .onnx models")
    if backend in ("trt", "trt-rtx") and not is_engine_path(args.model):
        raise UserInputError(f"--backend {backend} runs an engine ({', '.join(ENGINE_SUFFIXES)}); build one with "
                             f"`sortpool build {args.model} -o MODEL.engine`")
    outputs, who = (_run_ort if backend == "ort" else _run_trt)(args.model, arrays, args)
    if args.out:
        path = save_npz(args.out, outputs)
        _say(f"wrote {path} ({who})", err=True)
    for name, value in outputs.items():
        print(f"{name}: {value.dtype.name}{list(value.shape)}")
    return 0


def _cmd_check(args) -> int:
    from .check import CheckOptions, check_report_path, parse_tolerances, report_lines, run_check, write_report
    from .inputs import onnx_io, parse_named_shapes, require_file

    require_file(args.model, "ONNX model")
    if is_engine_path(args.model):
        raise UserInputError(f"check takes the ONNX model; pass the engine with --engine {args.model}")
    for path in args.inputs or []:
        require_file(path, "inputs file")
    if args.engine:
        require_file(args.engine, "TensorRT engine")
    if args.report:
        check_report_path(args.report, {"the ONNX model": args.model, "the engine": args.engine})
    if args.timing_cache:
        from .trt.build import check_build_paths

        check_build_paths(args.model, timing_cache=args.timing_cache)
    inputs, outputs = onnx_io(args.model)
    names = [s.name for s in inputs]
    lo, hi = parse_val_range(args.val_range)
    if args.iterations < 1:
        raise UserInputError(f"--iterations {args.iterations}: must be >= 1 (--no-random leaves random inputs out)")
    tolerances = {"--atol": parse_tolerances(args.atol, "--atol"), "--rtol": parse_tolerances(args.rtol, "--rtol")}
    for option, given in tolerances.items():
        unknown = sorted(set(given) - {""} - {o.name for o in outputs})
        if unknown:
            raise UserInputError(f"{option}: the model has no output {unknown[0]!r} (outputs: {[o.name for o in outputs]})")
    profile = _profile(args, inputs)  # validates the shapes early
    options = CheckOptions(
        engine=args.engine, use_trt=not args.no_trt, require_trt=args.require_trt, torch_model=args.torch_model,
        input_files=list(args.inputs or []), random=not args.no_random, seed=args.seed, iterations=args.iterations,
        val_range=(lo, hi), atol=tolerances["--atol"], rtol=tolerances["--rtol"],
        min_shapes=parse_named_shapes(args.min_shapes, names, "--min-shapes"),
        opt_shapes=parse_named_shapes(args.opt_shapes, names, "--opt-shapes"),
        max_shapes=parse_named_shapes(args.max_shapes, names, "--max-shapes"),
        shapes=parse_named_shapes(args.shapes, names, "--shapes"),
        plugin_path=args.plugin, lean_runtime=args.lean_runtime, cuda=args.cuda, ort_threads=args.threads,
        verbose=args.verbose)
    options.build_options = _build_options(args, profile)
    report, code = run_check(args.model, options, log=lambda m: _say(m, err=True))
    print("\n".join(report_lines(report)))
    if args.report:
        write_report(report, args.report)
        _say(f"report: {args.report}", err=True)
    return code


def _cmd_serve(args) -> int:
    from .serving import ServeOptions, serve

    options = ServeOptions(name=args.name, address=args.address, http_port=args.http_port,
                           grpc_port=args.grpc_port, metrics_port=args.metrics_port, instances=args.instances,
                           threads=args.threads, max_batch_size=args.max_batch_size,
                           dynamic_batching=not args.no_dynamic_batching, max_queue_delay_us=args.max_queue_delay_us,
                           backend=args.backend, plugin_path=args.plugin, log_verbose=args.log_verbose)
    return serve(args.model, options, say=_say)


def _cmd_triton_repo(args) -> int:
    from .serving import RepositoryOptions, write_repository

    if is_engine_path(args.model):
        raise UserInputError(f"triton-repo takes the ONNX model (the engine's tensors come from it); pass the engine "
                             f"with --engine {args.model}")
    options = RepositoryOptions(name=args.name, engine=args.engine, max_batch_size=args.max_batch_size,
                                instances=args.instances, threads=args.threads,
                                dynamic_batching=not args.no_dynamic_batching,
                                max_queue_delay_us=args.max_queue_delay_us, server_root=args.server_root,
                                trt_plugin=args.plugin, overwrite=args.force)
    repo = write_repository(args.model, args.out, options)
    for path in repo.configs:
        _say(f"wrote {path}" + (" (parsed with Triton's ModelConfig schema)" if repo.schema_checked else ""))
    _say(f"start it with: {repo.server_command}")
    _say("written, not loaded: Triton's onnxruntime and tensorrt backends are not on this machine")
    return 0


def _add_serving_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="sortpool", help="model name (default sortpool; triton-repo appends _onnx/_trt)")
    p.add_argument("--max-batch-size", type=int, metavar="N",
                   help="largest batch Triton forms (default 16 when the model has a dynamic batch axis; 0: none)")
    p.add_argument("--instances", type=int, default=1, metavar="N", help="model instances (default 1)")
    p.add_argument("--threads", type=int, default=1, metavar="N", help="ONNX Runtime threads per instance (default 1)")
    p.add_argument("--no-dynamic-batching", action="store_true", help="run each request as it comes")
    p.add_argument("--max-queue-delay-us", type=int, default=100, metavar="US",
                   help="how long the dynamic batcher waits to fill a batch (default 100)")
    p.add_argument("--plugin", metavar="LIB", help="libsortpool_trt_plugin.so (default: the bundled/built one)")


# ------------------------------------------------------------------------------------------------
# parser
# ------------------------------------------------------------------------------------------------
def _add_shape_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("shapes (optimisation profile; NAME may be left out for a one-input model)")
    g.add_argument("--min-shapes", nargs="+", action="extend", metavar="NAME:DxDxDxD", help="smallest shapes")
    g.add_argument("--opt-shapes", nargs="+", action="extend", metavar="NAME:DxDxDxD", help="shapes TensorRT tunes for")
    g.add_argument("--max-shapes", nargs="+", action="extend", metavar="NAME:DxDxDxD", help="largest shapes")
    g.add_argument("--shapes", nargs="+", action="extend", metavar="NAME:DxDxDxD",
                   help="min = opt = max (a static profile)")


def _add_build_args(p: argparse.ArgumentParser, for_check: bool = False) -> None:
    g = p.add_argument_group("TensorRT build" + (" (when check builds the engine itself)" if for_check else ""))
    g.add_argument("--backend", choices=["auto", "tensorrt", "tensorrt-rtx"], default="tensorrt" if for_check else "auto",
                   help="the builder: TensorRT (package tensorrt) or TensorRT for RTX (tensorrt-rtx-cu13-*), which builds "
                        "ahead of time for --compute-capability without a GPU and runs on GeForce RTX / RTX PRO and "
                        "Ampere-class GPUs only " + ("(default: tensorrt, as check runs the engine here)" if for_check
                                                    else "(default auto: TensorRT if installed, else TensorRT for RTX)"))
    g.add_argument("--compute-capability", nargs="+", action="extend", metavar="CC",
                   help="TensorRT for RTX: the GPUs to build for, one or several, e.g. 8.9 12.0 (or SM89 SM120; "
                        "'current': this machine's GPU, the default where there is one)")
    g.add_argument("--workspace", metavar="SIZE", help="workspace memory pool limit, e.g. 2GiB (default: TensorRT's)")
    g.add_argument("--timing-cache", metavar="FILE", help="read and update this tactic timing cache")
    g.add_argument("--plugin-version", choices=["auto", "1", "2"], default="auto",
                   help='SortedWeightedPool plugin version written into the model TensorRT parses: "2" IPluginV3, "1" '
                        'IPluginV2DynamicExt (default auto: 2; TensorRT for RTX takes 2 only)')
    g.add_argument("--optimization-level", type=int, choices=range(0, 6), metavar="0-5",
                   help="builder optimisation level (default: TensorRT's, 3)")
    g.add_argument("--version-compatible", action="store_true",
                   help="engine that later TensorRT versions (and tensorrt_lean/dispatch) can run; ships our plugin "
                        "library in the engine")
    g.add_argument("--exclude-lean-runtime", action="store_true",
                   help="with --version-compatible: leave the lean runtime out (run with --lean-runtime)")
    g.add_argument("--no-serialize-plugin", action="store_true",
                   help="do not ship the plugin library in a version-compatible engine")
    if for_check:
        g.add_argument("--tf32", action="store_true", help="allow TF32 for float32 layers (default off for parity)")
    else:
        g.add_argument("--no-tf32", dest="tf32", action="store_false",
                       help="no TF32 for float32 convolutions/matmuls (bit-closer to ONNX Runtime, slower)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_runtime_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("runtime")
    g.add_argument("--plugin", metavar="LIB", help="libsortpool_trt_plugin.so (default: the bundled/built one)")
    g.add_argument("--lean-runtime", metavar="LIB", help="lean runtime library for engines built with "
                                                         "--exclude-lean-runtime (libnvinfer_lean.so.*)")
    g.add_argument("--cuda", choices=["pycuda", "cuda-python"], help="CUDA binding (default: pycuda, else cuda-python)")
    g.add_argument("--threads", type=int, metavar="N", help="ONNX Runtime intra-op threads")
    g.add_argument("-v", "--verbose", action="store_true",
                   help="TensorRT's (and Polygraphy's) detailed messages, and ONNX Runtime's own warnings and errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sortpool", description="Sorted weighted pooling: export, ONNX Runtime, TensorRT.",
                                     epilog="exit status: 0 ok, 1 mismatch or backend failure, 2 bad usage/input, "
                                            "3 a needed backend (TensorRT, CUDA binding, GPU, torch) is missing")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="train a small model, export it, run it in ONNX Runtime, print the parity")
    demo.add_argument("--out-dir", help="keep the exported models in this folder (default: a temporary folder, "
                                        "removed at the end)")
    demo.add_argument("--steps", type=int, default=30, help="training steps (default 30)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_cmd_demo)

    info = sub.add_parser("info", help="versions, library paths, GPU, the plugin creators TensorRT sees")
    info.add_argument("--json", action="store_true", help="as JSON")
    info.set_defaults(func=_cmd_info)

    build = sub.add_parser("build", help="build a TensorRT engine (TensorRT and a GPU, or TensorRT for RTX with or "
                                         "without one)",
                           description="Registers the SortedWeightedPool plugin, parses the ONNX model and builds an "
                                       "engine. Two builders: TensorRT (needs a GPU; the engine runs on that GPU "
                                       "model) and TensorRT for RTX (--backend tensorrt-rtx: builds ahead of time for "
                                       "the GPUs named by --compute-capability, without a GPU; the engine runs with "
                                       "TensorRT for RTX on those GPUs). Networks are strongly typed: precision "
                                       "follows the model's types; for an fp16 engine export the model in half "
                                       "precision (model.half() with half inputs).")
    build.add_argument("model", metavar="MODEL.onnx")
    build.add_argument("-o", "--output", required=True, metavar="MODEL.engine")
    build.add_argument("--summary-json", metavar="FILE", help="also write the build summary as JSON")
    _add_shape_args(build)
    _add_build_args(build)
    build.add_argument("--plugin", metavar="LIB", help="libsortpool_trt_plugin.so (default: the bundled/built one)")
    build.add_argument("-v", "--verbose", action="store_true", help="TensorRT's detailed messages")
    build.set_defaults(func=_cmd_build)

    run = sub.add_parser("run", help="run a model: .onnx in ONNX Runtime, .engine/.plan in TensorRT")
    run.add_argument("model", metavar="MODEL")
    run.add_argument("--inputs", required=True, metavar="X.npz", help="one array per input name (.npy: one-input model)")
    run.add_argument("--out", metavar="Y.npz", help="write the outputs here")
    run.add_argument("--backend", choices=["auto", "ort", "trt", "trt-rtx"], default="auto",
                     help="default: by the file's suffix (an engine: trt); trt-rtx runs an engine built by TensorRT for "
                          "RTX")
    _add_runtime_args(run)
    run.set_defaults(func=_cmd_run)

    check = sub.add_parser("check", help="parity: TensorRT vs ONNX Runtime (vs PyTorch)",
                           description="Runs the model in ONNX Runtime (the reference), TensorRT (an engine given "
                                       "with --engine, or one built here) and PyTorch (--torch-model) on seeded "
                                       "random inputs at the profile's min/opt/max shapes and on --inputs files, and "
                                       "compares every output. A missing backend is reported and skipped.")
    check.add_argument("model", metavar="MODEL.onnx")
    check.add_argument("--engine", metavar="MODEL.engine", help="a prebuilt engine (default: build one if TensorRT's "
                                                                "builder is here)")
    check.add_argument("--no-trt", action="store_true", help="leave TensorRT out")
    check.add_argument("--require-trt", action="store_true", help="exit 3 when TensorRT cannot run")
    check.add_argument("--torch-model", metavar="SPEC", help="the PyTorch model: FILE.py:FUNCTION or MODULE:FUNCTION "
                                                             "returning an nn.Module, a TorchScript .pt, an .pt2")
    check.add_argument("--inputs", nargs="+", action="extend", metavar="X.npz", help="user inputs (besides random ones)")
    check.add_argument("--no-random", action="store_true", help="only the --inputs files")
    check.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    check.add_argument("--iterations", type=int, default=1, help="random input sets per profile shape (default 1)")
    check.add_argument("--val-range", default="-1,1", metavar="LOW HIGH",
                       help="random values' range, LOW HIGH or LOW,HIGH (default -1 1)")
    check.add_argument("--atol", nargs="+", action="extend", metavar="[OUTPUT:]ATOL",
                       help="absolute tolerance, for all outputs or one (default by dtype: float32 1e-4, "
                            "float16 1e-2, bfloat16 5e-2)")
    check.add_argument("--rtol", nargs="+", action="extend", metavar="[OUTPUT:]RTOL", help="relative tolerance (same defaults)")
    check.add_argument("--report", metavar="REPORT.json", help="write the full report as JSON")
    _add_shape_args(check)
    _add_build_args(check, for_check=True)
    _add_runtime_args(check)
    check.set_defaults(func=_cmd_check)

    serve = sub.add_parser("serve", help="serve a model with Triton Inference Server (PyTriton): HTTP, gRPC, metrics",
                           description="Starts Triton Inference Server through PyTriton with one model: an .onnx "
                                       "model in ONNX Runtime with our op on the CPU, or a TensorRT engine with our "
                                       "plugin on a GPU. Stops cleanly on Ctrl-C or SIGTERM. Needs PyTriton "
                                       "(requirements/serve.txt; ./dev.sh serve MODEL sets up its venv).")
    serve.add_argument("model", metavar="MODEL")
    serve.add_argument("--backend", choices=["auto", "onnxruntime", "tensorrt"], default="auto",
                       help="default: by the file's suffix (.engine/.plan/.trt: tensorrt)")
    serve.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0: all)")
    serve.add_argument("--http-port", type=int, default=8000)
    serve.add_argument("--grpc-port", type=int, default=8001)
    serve.add_argument("--metrics-port", type=int, default=8002)
    serve.add_argument("--log-verbose", type=int, default=0, metavar="N", help="Triton's verbose log level (default 0)")
    _add_serving_args(serve)
    serve.set_defaults(func=_cmd_serve)

    repo = sub.add_parser("triton-repo", help="write a Triton model repository (onnxruntime and tensorrt backends)",
                          description="Writes a model repository for Triton's own backends: the ONNX model for the "
                                      "onnxruntime backend with our op library (model_operations), and with --engine a "
                                      "TensorRT engine for the tensorrt backend with our plugin. Each config.pbtxt is "
                                      "parsed with Triton's ModelConfig schema (tritonclient).")
    repo.add_argument("model", metavar="MODEL.onnx")
    repo.add_argument("--out", required=True, metavar="DIR", help="the repository folder")
    repo.add_argument("--engine", metavar="MODEL.engine", help="a TensorRT engine built from MODEL.onnx")
    repo.add_argument("--server-root", metavar="PATH",
                      help="the repository's path as the server sees it (default: DIR's absolute path; e.g. /models "
                           "in a container)")
    repo.add_argument("--force", action="store_true",
                      help="write into a DIR that is not empty: first remove what triton-repo with the same --name "
                           "writes (README.md, NAME_onnx/, NAME_trt/); other models stay, a README.md it did not "
                           "write is refused")
    _add_serving_args(repo)
    repo.set_defaults(func=_cmd_triton_repo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_val_range(list(sys.argv[1:] if argv is None else argv)))
    command = args.command
    try:
        return int(args.func(args) or 0)
    except SortpoolError as e:
        kind = "unavailable" if isinstance(e, BackendUnavailable) else "error"
        _say(f"sortpool {command}: {kind}: {e}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        _say(f"sortpool {command}: interrupted", err=True)
        return 130
    except Exception as e:
        if os.environ.get("SORTPOOL_DEBUG"):
            raise
        _say(f"sortpool {command}: unexpected error: {type(e).__name__}: {e} (SORTPOOL_DEBUG=1 shows the traceback)",
             err=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
