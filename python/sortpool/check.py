"""`sortpool check`: parity between TensorRT (our plugin), ONNX Runtime CPU (our custom op) and,
when given, the PyTorch model, through Polygraphy's Comparator.

ONNX Runtime is the reference: each other backend is compared against it on the same inputs
(seeded random inputs at the profile's min/opt/max shapes, and the user's .npz files). Per output:
max absolute and relative error and the number of mismatching elements, with Polygraphy's
element-wise rule (an element mismatches when it is off by more than atol AND more than rtol
relative to the reference), except that NaN in both at the same position agrees and NaN in one
only mismatches (Polygraphy counts any NaN as a mismatch); tolerances by dtype
(:data:`DEFAULT_TOLERANCES`) unless overridden.

A backend that is missing here (TensorRT, a GPU, torch) is reported in one line and skipped; the
comparisons that can run still run. Exit status: 0 all compared outputs match; 1 a mismatch or a
backend failed; 2 bad input; 3 nothing could be compared (or TensorRT missing with require_trt).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .errors import (EXIT_MISMATCH, EXIT_OK, EXIT_UNAVAILABLE, BackendFailure, BackendUnavailable, SortpoolError,
                     UserInputError)
from .inputs import ProfileShapes, TensorSpec, check_output_path, derive_profile, load_npz, onnx_io, validate_feed

# (atol, rtol) by output dtype. float32: TensorRT's fp32 layers may use TF32 convolutions
# (sortpool check builds without TF32 unless told otherwise); the op itself matches bit for bit.
DEFAULT_TOLERANCES = {"float32": (1e-4, 1e-4), "float16": (1e-2, 1e-2), "bfloat16": (5e-2, 5e-2),
                      "float64": (1e-7, 1e-7)}
FALLBACK_TOLERANCE = (0.0, 0.0)  # integer / bool outputs: exact

REFERENCE = "onnxruntime"


def parse_tolerances(items: Optional[Sequence[str]], option: str) -> Dict[str, float]:
    """['1e-3', 'y:1e-2'] -> {'': 1e-3, 'y': 1e-2} ('' is every output)."""
    result: Dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.rpartition(":")
        try:
            v = float(value)
        except ValueError:
            raise UserInputError(f"{option} {item!r}: expected a number or OUTPUT:NUMBER") from None
        if not math.isfinite(v) or v < 0:
            raise UserInputError(f"{option} {item!r}: must be a finite number >= 0")
        result[name if sep else ""] = v
    return result


def _tolerance(output: TensorSpec, atol: Mapping[str, float], rtol: Mapping[str, float]) -> Tuple[float, float]:
    a, r = DEFAULT_TOLERANCES.get(output.dtype_label, FALLBACK_TOLERANCE)
    return atol.get(output.name, atol.get("", a)), rtol.get(output.name, rtol.get("", r))


def output_stats(candidate: np.ndarray, reference: np.ndarray, atol: float, rtol: float) -> dict:
    """What Polygraphy's verdict does not say: max abs / rel error and the mismatch count, by
    Polygraphy's element-wise rule (and exactly for integers: ``exact``)."""
    if candidate.shape != reference.shape:
        return {"shape_mismatch": [list(candidate.shape), list(reference.shape)], "elements": int(reference.size),
                "mismatches": int(reference.size), "max_abs_error": None, "max_rel_error": None}
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _stats(candidate, reference, atol, rtol)


def _stats(candidate: np.ndarray, reference: np.ndarray, atol: float, rtol: float) -> dict:
    if reference.dtype == np.bool_ or candidate.dtype == np.bool_:
        diff = (candidate != reference).astype(np.float64)
        ref = np.ones_like(diff)
    else:
        diff = np.abs(candidate.astype(np.float64) - reference.astype(np.float64))
        ref = np.abs(reference.astype(np.float64))
    c64, r64 = candidate.astype(np.float64), reference.astype(np.float64)
    both_inf = np.isinf(c64) & (c64 == r64)
    both_nan = np.isnan(c64) & np.isnan(r64)
    diff = np.where(both_inf | both_nan, 0.0, diff)  # the same infinity, or NaN in both, is no error
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / ref)  # off a zero reference: inf, beyond any rtol
    bad = ((diff > atol) | np.isnan(diff)) & ((rel > rtol) | np.isnan(rel))
    exact = bool(np.issubdtype(candidate.dtype, np.integer) and np.issubdtype(reference.dtype, np.integer))
    if exact:  # integers are compared as integers: float64 cannot tell 2**53 from 2**53 + 1
        bad |= (candidate != reference) & (diff == 0)
    finite = ~np.isnan(diff)
    shown_rel = finite & np.isfinite(rel)  # relative errors off a zero reference are left out of the max
    return {"elements": int(reference.size), "mismatches": int(np.count_nonzero(bad)), "exact": exact,
            "max_abs_error": float(diff[finite].max()) if finite.any() else (None if diff.size == 0 else float("nan")),
            "max_rel_error": float(rel[shown_rel].max()) if shown_rel.any() else (None if rel.size == 0 else float("nan")),
            "nan_mismatches": int(np.count_nonzero(np.isnan(diff))), "nan_agreements": int(np.count_nonzero(both_nan))}


def _verdict(stats: dict, polygraphy) -> bool:
    """Pass or fail of one output in one iteration: Polygraphy's, except where it cannot judge:
    integer outputs (it compares through float64, where 2**53 + 1 equals 2**53: exact equality
    decides, from the element count), NaN in both at the same positions (which it counts as
    mismatches), outputs of different shapes and an output it did not compare."""
    if stats.get("exact") or stats.get("nan_agreements") or "shape_mismatch" in stats or polygraphy is None:
        return stats["mismatches"] == 0 and "shape_mismatch" not in stats
    return bool(polygraphy)


def _worst(values: Sequence[Optional[float]]) -> Optional[float]:
    """The largest of the iterations' errors, whatever their order: finite ones first; NaN only
    when no iteration had a finite error (NaN mismatches are counted separately)."""
    known = [v for v in values if v is not None]
    finite = [v for v in known if not math.isnan(v)]
    return max(finite) if finite else (float("nan") if known else None)


@dataclass
class CheckOptions:
    engine: Optional[str] = None  # a prebuilt engine; else one is built when TensorRT's builder is here
    build_options: Optional[object] = None  # sortpool.trt.BuildOptions for the on-the-fly build
    use_trt: bool = True
    require_trt: bool = False
    torch_model: Optional[object] = None  # "file.py:fn" / "module:fn" / .pt / .pt2, or an nn.Module
    input_files: List[str] = field(default_factory=list)
    random: bool = True
    seed: int = 0
    iterations: int = 1  # random iterations per profile shape
    val_range: Tuple[float, float] = (-1.0, 1.0)
    atol: Dict[str, float] = field(default_factory=dict)
    rtol: Dict[str, float] = field(default_factory=dict)
    min_shapes: Dict[str, tuple] = field(default_factory=dict)
    opt_shapes: Dict[str, tuple] = field(default_factory=dict)
    max_shapes: Dict[str, tuple] = field(default_factory=dict)
    shapes: Dict[str, tuple] = field(default_factory=dict)
    plugin_path: Optional[str] = None
    lean_runtime: Optional[str] = None
    cuda: Optional[str] = None
    ort_threads: Optional[int] = None
    verbose: bool = False


def _quiet_polygraphy(verbose: bool) -> None:
    from polygraphy.logger import G_LOGGER

    level = G_LOGGER.INFO if verbose else G_LOGGER.CRITICAL
    try:
        G_LOGGER.module_severity = level
    except Exception:
        G_LOGGER.severity = level


def _random_feeds(inputs: Sequence[TensorSpec], profile: Mapping[str, ProfileShapes], seed: int, iterations: int,
                  val_range) -> List[Tuple[str, "OrderedDict[str, np.ndarray]"]]:
    """Seeded random inputs from Polygraphy's DataLoader, at each distinct profile shape."""
    from polygraphy.common import TensorMetadata
    from polygraphy.comparator import DataLoader

    shape_sets: List[Dict[str, tuple]] = []
    for which in ("min", "opt", "max"):
        s = {name: getattr(p, which) for name, p in profile.items()}
        if s not in shape_sets:
            shape_sets.append(s)
    last_seed = seed + len(shape_sets) * iterations - 1
    if seed < 0 or last_seed > 2**32 - 1:
        raise UserInputError(f"--seed {seed}: the seeds used (up to {last_seed}) must lie in 0 .. 2^32 - 1")
    # Per input: the range clipped to an integer type's values, and the type Polygraphy draws in
    # (it cannot draw bfloat16: float32, rounded afterwards).
    ranges, drawn = {}, {}
    for spec in inputs:
        if spec.dtype is None:
            raise BackendUnavailable(f"input {spec.name!r} is {spec.dtype_label}: install ml_dtypes to generate it")
        lo, hi = val_range
        if np.issubdtype(spec.dtype, np.integer):
            info = np.iinfo(spec.dtype)
            lo, hi = max(math.ceil(lo), info.min), min(math.floor(hi), info.max)
            if lo > hi:
                raise UserInputError(f"--val-range {val_range[0]:g} {val_range[1]:g} holds no {spec.dtype_label} value "
                                     f"for input {spec.name!r}")
        ranges[spec.name] = (lo, hi)
        drawn[spec.name] = np.dtype(np.float32) if spec.dtype_label == "bfloat16" else spec.dtype
    feeds = []
    k = 0
    for shapes in shape_sets:
        meta = TensorMetadata()
        for spec in inputs:
            meta.add(spec.name, dtype=drawn[spec.name], shape=list(shapes[spec.name]))
        for _ in range(iterations):
            loader = DataLoader(seed=seed + k, iterations=1, input_metadata=meta, val_range=ranges)
            feed = OrderedDict((spec.name, np.ascontiguousarray(loader[0][spec.name].astype(spec.dtype, copy=False)))
                               for spec in inputs)
            label = "random " + ", ".join(f"{n}:{'x'.join(map(str, s))}" for n, s in shapes.items())
            feeds.append((f"{label} (seed {seed + k})", feed))
            k += 1
    return feeds


def run_check(onnx_path: str, options: CheckOptions, log: Callable[[str], None] = print) -> Tuple[dict, int]:
    """Runs the comparison; returns (report, exit status). Raises SortpoolError on bad input."""
    from .ort import ort_log_severity
    from .runners import import_polygraphy, ort_runner

    t_start = time.perf_counter()
    inputs, outputs = onnx_io(onnx_path)
    import_polygraphy()
    _quiet_polygraphy(options.verbose)
    import onnxruntime

    from . import __version__

    report: dict = {"model": str(onnx_path), "sortpool": __version__, "reference": REFERENCE,
                    "backends": OrderedDict(), "iterations": [], "comparisons": []}
    backends = report["backends"]
    backends[REFERENCE] = {"status": "ran", "version": onnxruntime.__version__}
    runners = [ort_runner(str(onnx_path), threads=options.ort_threads, log_severity=ort_log_severity(options.verbose))]
    profile = derive_profile(inputs, options.min_shapes, options.opt_shapes, options.max_shapes, options.shapes)
    tmpdir = tempfile.TemporaryDirectory(prefix="sortpool-check-")  # an engine built for the check
    try:
        trt, engine = _tensorrt_runner(onnx_path, options, profile, tmpdir.name, backends, log)
        if trt is not None:
            runners.append(trt)
            profile = engine.profile  # random shapes from the engine's own profile
        torch = _torch_runner(options, inputs, outputs, backends)
        if torch is not None:
            runners.append(torch)
        feeds = _feeds(options, inputs, profile, engine_profile=trt is not None)
        report["iterations"] = [{"index": i, "source": label, "shapes": {k: list(v.shape) for k, v in feed.items()}}
                                for i, (label, feed) in enumerate(feeds)]
        run_results, ran = _run(runners, feeds, backends, log)
    finally:
        tmpdir.cleanup()
    report["comparisons"] = _compare(run_results, [r.name for r in ran], outputs, options)
    code = _exit_status(report, options)
    report["passed"] = code == EXIT_OK
    report["exit_code"] = code
    report["seconds"] = round(time.perf_counter() - t_start, 3)
    return report, code


def _tensorrt_runner(onnx_path, options: CheckOptions, profile, workdir: str, backends, log):
    """(the TensorRT runner, its engine): the engine given, or one built into ``workdir``; (None,
    None) with the reason in ``backends``."""
    from .runners import trt_runner

    if not options.use_trt:
        backends["tensorrt"] = {"status": "skipped", "reason": "disabled (--no-trt)"}
        return None, None
    try:
        from .trt import BuildOptions, TrtEngine, build_engine, import_tensorrt

        bo = options.build_options or BuildOptions(profile=profile, tf32=False)
        # check runs the engine here: "auto" means TensorRT, whose engines run on this GPU
        backend = "tensorrt" if bo.backend == "auto" else bo.backend
        source = options.engine
        if source is None:
            import_tensorrt(builder=True, backend=backend)
            from .cuda import cuda_backend

            cuda_backend(options.cuda).close()  # a GPU is needed to run the engine: say so before parsing
            bo.profile = profile
            bo.backend = backend
            source = os.path.join(workdir, "model.engine")
            summary = build_engine(onnx_path, source, bo, log=log)
            for line in summary.lines():
                log(line)
            backends["tensorrt"] = {"build": summary.as_dict()}
        engine = TrtEngine(source, plugin_path=options.plugin_path, lean_runtime=options.lean_runtime,
                           cuda=options.cuda, verbose=options.verbose, backend=backend)
        backends.setdefault("tensorrt", {}).update(
            {"status": "ran", "version": f"{engine.trt.__name__} {engine.trt.__version__}",
             "cuda_binding": f"{engine.cuda.name} (CUDA {engine.cuda.version})",
             "engine": str(options.engine) if options.engine else "built for this check"})
        return trt_runner(engine), engine
    except BackendUnavailable as e:
        backends["tensorrt"] = {"status": "skipped", "reason": str(e)}
    except BackendFailure as e:
        backends["tensorrt"] = {"status": "failed", "reason": str(e)}
        log(f"TensorRT: FAILED: {e}")
    return None, None


def _torch_runner(options: CheckOptions, inputs, outputs, backends):
    from .runners import torch_runner

    if options.torch_model is None:
        backends["pytorch"] = {"status": "skipped", "reason": "no --torch-model given"}
        return None
    try:
        model = options.torch_model
        if isinstance(model, str):
            from .runners import load_torch_model

            model = load_torch_model(model)
        import torch

        backends["pytorch"] = {"status": "ran", "version": torch.__version__}
        return torch_runner(model, inputs, outputs)
    except BackendUnavailable as e:
        backends["pytorch"] = {"status": "skipped", "reason": str(e)}
        return None


def _feeds(options: CheckOptions, inputs, profile, engine_profile: bool) -> List[Tuple[str, "OrderedDict[str, np.ndarray]"]]:
    """The user's files, then seeded random inputs at the profile's shapes."""
    feeds: List[Tuple[str, "OrderedDict[str, np.ndarray]"]] = []
    for path in options.input_files:
        feeds.append((str(path), validate_feed(load_npz(path), inputs, str(path), profile if engine_profile else None)))
    if options.random:
        feeds.extend(_random_feeds(inputs, profile, options.seed, options.iterations, options.val_range))
    if not feeds:
        raise UserInputError("no inputs to compare on: give --inputs FILE.npz or leave random inputs on")
    return feeds


def _run(runners, feeds, backends, log):
    """Runs each runner on every feed, one runner at a time: a backend that fails is reported as
    failed and the others still run; only the reference failing ends the check. Returns
    (Polygraphy's RunResults, the runners that ran)."""
    from polygraphy.comparator import Comparator
    from polygraphy.comparator.struct import RunResults

    run_results, ran = RunResults(), []
    for runner in runners:  # named after their backends: onnxruntime, tensorrt, pytorch
        try:
            run_results.extend(Comparator.run([runner], data_loader=[feed for _, feed in feeds]))
            ran.append(runner)
        except Exception as e:
            why = f"{type(e).__name__}: {e}"
            if runner is runners[0]:  # the reference: nothing can be compared without it
                if isinstance(e, SortpoolError):
                    raise
                raise BackendFailure(f"ONNX Runtime, the reference, failed while running the model: {why}") from None
            backends[runner.name] = dict(backends.get(runner.name, {}), status="failed", reason=f"while running: {why}")
            log(f"{runner.name}: FAILED while running: {why}")
    return run_results, ran


def _compare(run_results, names: List[str], outputs, options: CheckOptions) -> List[dict]:
    """Each backend against the reference (names[0]): Polygraphy's verdict per output and
    iteration (:func:`_verdict`), with the statistics of :func:`output_stats` beside it."""
    from polygraphy import comparator as pg_comparator
    from polygraphy.comparator import Comparator

    atol = {o.name: _tolerance(o, options.atol, options.rtol)[0] for o in outputs}
    rtol = {o.name: _tolerance(o, options.atol, options.rtol)[1] for o in outputs}
    make = getattr(pg_comparator, "SimpleCompareFunc", None) or pg_comparator.CompareFunc.simple
    func = make(atol=atol, rtol=rtol, check_error_stat="elemwise", infinities_compare_equal=True)
    results = {name: iters for name, iters in run_results}
    comparisons = []
    for ci in range(1, len(names)):
        cand, ref = names[ci], names[0]
        verdicts = Comparator.compare_accuracy(run_results, comparisons=[(ci, 0)], compare_func=func)[0][(cand, ref)]
        comp = {"candidate": cand, "reference": ref, "outputs": OrderedDict()}
        for o in outputs:
            per_iter = []
            for it, (cand_res, ref_res) in enumerate(zip(results[cand], results[ref])):
                s = output_stats(np.asarray(cand_res[o.name]), np.asarray(ref_res[o.name]), atol[o.name], rtol[o.name])
                s["iteration"] = it
                s["passed"] = _verdict(s, verdicts[it].get(o.name))
                per_iter.append(s)
            shapes = next((s["shape_mismatch"] for s in per_iter if "shape_mismatch" in s), None)
            comp["outputs"][o.name] = {
                "dtype": o.dtype_label, "atol": atol[o.name], "rtol": rtol[o.name],
                **({"shape_mismatch": shapes} if shapes else {}),
                "max_abs_error": _worst([s["max_abs_error"] for s in per_iter]),
                "max_rel_error": _worst([s["max_rel_error"] for s in per_iter]),
                "mismatches": sum(s["mismatches"] for s in per_iter), "elements": sum(s["elements"] for s in per_iter),
                "passed": all(s["passed"] for s in per_iter), "iterations": per_iter}
        comp["passed"] = all(v["passed"] for v in comp["outputs"].values())
        comparisons.append(comp)
    return comparisons


def _exit_status(report: dict, options: CheckOptions) -> int:
    backends = report["backends"]
    failed_backend = any(b.get("status") == "failed" for b in backends.values())
    if not report["comparisons"]:
        failed = [name for name, b in backends.items() if b.get("status") == "failed"]
        if failed:
            why = f"{' and '.join(failed)} failed, see above"
        elif options.torch_model is None:
            why = "see the skipped backends above; give --torch-model to compare against PyTorch on this machine"
        else:
            why = "see the skipped backends above"
        report["message"] = f"nothing was compared: only ONNX Runtime ran ({why})"
        return EXIT_MISMATCH if failed_backend else EXIT_UNAVAILABLE
    if failed_backend or not all(c["passed"] for c in report["comparisons"]):
        return EXIT_MISMATCH
    if options.require_trt and backends.get("tensorrt", {}).get("status") != "ran":
        report["message"] = "TensorRT did not run and --require-trt was given"
        return EXIT_UNAVAILABLE
    return EXIT_OK


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def report_lines(report: dict) -> List[str]:
    lines = []
    for name, b in report["backends"].items():
        status = b.get("status", "?")
        detail = b.get("version", "") if status == "ran" else b.get("reason", "")
        lines.append(f"{name:12s} {status:8s} {detail}")
    lines.append(f"inputs: {len(report['iterations'])} set(s): " + "; ".join(i["source"] for i in report["iterations"]))
    for comp in report["comparisons"]:
        for out, s in comp["outputs"].items():
            if s.get("shape_mismatch"):
                got, want = s["shape_mismatch"]
                lines.append(f"{comp['candidate']} vs {comp['reference']} | {out} ({s['dtype']}) | shape mismatch: "
                             f"{comp['candidate']} {got}, {comp['reference']} {want} | FAIL")
                continue
            lines.append(f"{comp['candidate']} vs {comp['reference']} | {out} ({s['dtype']}) | max abs {_fmt(s['max_abs_error'])}"
                         f" | max rel {_fmt(s['max_rel_error'])} | mismatches {s['mismatches']}/{s['elements']}"
                         f" | atol {s['atol']:g} rtol {s['rtol']:g} | {'PASS' if s['passed'] else 'FAIL'}")
    if report.get("message"):
        lines.append(report["message"])
    verdict = {0: "PASSED", 1: "FAILED", 3: "INCOMPLETE"}.get(report["exit_code"], "FAILED")
    lines.append(f"parity: {verdict} (exit status {report['exit_code']})")
    return lines


def _json_safe(value):
    """NaN and infinities as the strings "nan", "inf", "-inf": standard JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def check_report_path(path: str, not_same_as: Mapping[str, Optional[str]] = ()) -> None:
    """Refuses a report path that cannot be written or that names one of ``not_same_as``
    ({"the ONNX model": path}), before any work."""
    check_output_path(path, "report", not_same_as)


def write_report(report: dict, path: str) -> None:
    check_report_path(path)
    try:
        Path(path).write_text(json.dumps(_json_safe(report), indent=2, allow_nan=False) + "\n")
    except OSError as e:
        raise UserInputError(f"cannot write the report {path}: {e.strerror or e}") from None
