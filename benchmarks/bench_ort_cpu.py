#!/usr/bin/env python3
"""CPU speed of the ONNX Runtime custom op, side by side in one process.

Compares, on the same input and the same session settings:
  * sortpool::SortedWeightedPool (our custom op),
  * ONNX Runtime's own MaxPool (the speed bar: sorted weighted pooling does strictly more work),
  * ONNX Runtime's Identity (a copy of the input: the memory limit; each figure is also given as
    a share of its bandwidth, counting input plus output bytes),
  * a PyTorch unfold + topk reference (what a user would write without this project), if torch is
    installed (float32).
Runs are interleaved (A B C A B C ...) so drift on a shared machine hits all alike; the medians and
their ratios are printed, and --json writes them for docs/benchmarks.md.

The op library runs one build of its rows per process (baseline, x86-64-v3, x86-64-v4: `sortpool
info` says which); --cpu-path forces one, and --sweep runs this script once per supported path,
dtype and thread count (1 and 2) and prints the table for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
import sortpool  # noqa: E402


def single_node_model(op_type: str, domain: str, attrs: dict, shape, elem_type) -> bytes:
    node = helper.make_node(op_type, ["x"], ["y"], domain=domain, **attrs)
    graph = helper.make_graph([node], op_type, [helper.make_tensor_value_info("x", elem_type, shape)],
                              [helper.make_tensor_value_info("y", elem_type, None)])
    opsets = [helper.make_opsetid("", 18)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def torch_unfold_topk(kernel, stride, k, weights):
    import torch
    import torch.nn.functional as F

    w = torch.tensor(weights, dtype=torch.float32)

    def run(x):
        n, c, h, wd = x.shape
        cols = F.unfold(x.reshape(n * c, 1, h, wd), kernel, stride=stride)  # (NC, kh*kw, L)
        top = cols.topk(k, dim=1).values  # (NC, k, L)
        out = (top * w.view(1, k, 1)).sum(1)
        oh = (h - kernel[0]) // stride[0] + 1
        return out.view(n, c, oh, -1)

    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="8,64,112,112")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--pool-range", type=int, default=4)
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--spin", action="store_true", help="let idle ORT pool threads spin (ORT's default)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--cpu-path", help="force the op library's CPU path (sets $SORTPOOL_ORT_CPU_PATH)")
    ap.add_argument("--sweep", action="store_true", help="every supported CPU path x float32/float16 x 1/2 threads")
    args = ap.parse_args()
    if args.sweep:
        return sweep(args)
    if args.cpu_path:
        os.environ[sortpool.ort.CPU_PATH_ENV] = args.cpu_path

    shape = tuple(int(s) for s in args.shape.split(","))
    kernel, stride, k = [2, 2], [2, 2], args.pool_range
    weights = list(np.linspace(0.4, 0.1, k) / np.linspace(0.4, 0.1, k).sum())
    elem = TensorProto.FLOAT if args.dtype == "float32" else TensorProto.FLOAT16
    x = np.random.default_rng(0).standard_normal(shape).astype(args.dtype)

    import onnxruntime as ort

    def options(custom_op: bool):
        opts = sortpool.session_options(args.threads) if custom_op else ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        # The sessions take turns: a session whose idle pool threads keep spinning would steal the
        # two cores from the other one's run, so spinning is off for both (--spin turns it on).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if args.spin else "0")
        return opts

    ours = ort.InferenceSession(
        single_node_model("SortedWeightedPool", "sortpool",
                          dict(kernel_shape=kernel, strides=stride, pool_range=k, weights=weights), shape, elem),
        options(True), providers=["CPUExecutionProvider"])
    maxpool = ort.InferenceSession(
        single_node_model("MaxPool", "", dict(kernel_shape=kernel, strides=stride), shape, elem), options(False),
        providers=["CPUExecutionProvider"])
    identity = ort.InferenceSession(single_node_model("Identity", "", {}, shape, elem), options(False),
                                    providers=["CPUExecutionProvider"])

    runners = {"sortpool_ort": lambda: ours.run(None, {"x": x}), "ort_maxpool": lambda: maxpool.run(None, {"x": x}),
               "ort_identity": lambda: identity.run(None, {"x": x})}
    if not args.no_torch and args.dtype == "float32":
        try:
            import torch

            torch.set_num_threads(args.threads)
            xt = torch.from_numpy(x)
            ref = torch_unfold_topk(kernel, stride, k, weights)
            with torch.inference_mode():
                np.testing.assert_allclose(ref(xt).numpy(), runners["sortpool_ort"]()[0], atol=1e-5)
            runners["torch_unfold_topk"] = lambda: ref(xt)
        except ImportError:
            print("torch not installed: skipping the PyTorch reference")

    times = {name: [] for name in runners}
    for fn in runners.values():  # warm-up
        fn()
    import contextlib

    ctx = contextlib.nullcontext()
    if "torch_unfold_topk" in runners:
        import torch

        ctx = torch.inference_mode()
    with ctx:
        for _ in range(args.repeats):
            for name, fn in runners.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)

    med = {name: statistics.median(ts) * 1e3 for name, ts in times.items()}
    cpu_path = sortpool.ort.ort_cpu_paths()["chosen"]
    in_bytes = x.nbytes
    moved = {"sortpool_ort": in_bytes * 1.25, "ort_maxpool": in_bytes * 1.25, "ort_identity": in_bytes * 2.0}
    bandwidth = {name: moved[name] / (med[name] * 1e-3) / 1e9 for name in moved}  # GB/s
    print(f"input {shape} {args.dtype}, 2x2 stride 2, k={k}, {args.threads} threads, {args.repeats} interleaved runs, "
          f"spinning {'on' if args.spin else 'off'}, op CPU path {cpu_path}")
    for name, m in med.items():
        bw = f"  {bandwidth[name]:6.1f} GB/s ({bandwidth[name] / bandwidth['ort_identity']:5.1%} of Identity)" \
            if name in bandwidth else ""
        print(f"  {name:20s} median {m:8.3f} ms  (min {min(times[name]) * 1e3:.3f}, max {max(times[name]) * 1e3:.3f}){bw}")
    ratios = {"sortpool_vs_maxpool": med["sortpool_ort"] / med["ort_maxpool"],
              "sortpool_share_of_identity_bandwidth": bandwidth["sortpool_ort"] / bandwidth["ort_identity"]}
    if "torch_unfold_topk" in med:
        ratios["torch_vs_sortpool"] = med["torch_unfold_topk"] / med["sortpool_ort"]
    for name, r in ratios.items():
        print(f"  {name:20s} {r:.3f}x")
    if args.json:
        args.json.write_text(json.dumps({"shape": shape, "dtype": args.dtype, "threads": args.threads,
                                         "spinning": args.spin, "cpu_path": cpu_path, "bandwidth_gbs": bandwidth,
                                         "pool_range": k, "median_ms": med, "ratios": ratios,
                                         "machine": platform.processor() or platform.machine(),
                                         "onnxruntime": ort.__version__}, indent=2))
    return 0


def sweep(args) -> int:
    """This script once per supported CPU path, dtype and thread count, each in its own process
    (a process runs one path); prints a markdown table."""
    rows = []
    for path in sortpool.ort.ort_cpu_paths()["supported"]:
        for dtype in ("float32", "float16"):
            for threads in (1, 2):
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "r.json"
                    cmd = [sys.executable, __file__, "--shape", args.shape, "--repeats", str(args.repeats),
                           "--pool-range", str(args.pool_range), "--dtype", dtype, "--threads", str(threads),
                           "--cpu-path", path, "--no-torch", "--json", str(out)] + (["--spin"] if args.spin else [])
                    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
                    rows.append(json.loads(out.read_text()))
                r = rows[-1]
                print(f"| {path} | {dtype} | {threads} | {r['median_ms']['sortpool_ort']:.2f} ms | "
                      f"{r['median_ms']['ort_maxpool']:.2f} ms | {r['median_ms']['ort_identity']:.2f} ms | "
                      f"{r['bandwidth_gbs']['sortpool_ort']:.1f} GB/s | "
                      f"{r['ratios']['sortpool_share_of_identity_bandwidth']:.0%} | "
                      f"{r['ratios']['sortpool_vs_maxpool']:.2f}x |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
