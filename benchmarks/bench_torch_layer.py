#!/usr/bin/env python3
"""CPU training-step cost of the PyTorch layer, side by side with max pooling in one process.

For each window and pool_range it times forward and forward+backward of ``SortedWeightedPool2d``
through both of its paths (``kernels``: the project's CPU training kernels, plugin/training, with
their hand-written backward;
``sorting``: unfold and a stable sort, the general path, functional.pool_by_sorting) and of ``torch.nn.functional.max_pool2d`` on the same
input (the bar: k = 1 is max pooling). Runs are interleaved (A B C A B C ...) so drift on a shared
machine hits all alike; medians and ratios to max_pool2d are printed. ``--memory`` also measures
the peak of the memory torch allocates in one training step per path, each in a fresh process. ``--json``
writes everything for docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = [  # (kernel, stride, padding, pool_range)
    (2, 2, 0, 1),
    (2, 2, 0, 2),
    (2, 2, 0, 4),
    (3, 2, 0, 4),
    (3, 2, 0, 9),
    (3, 2, 1, 4),
    (3, 2, 1, 9),
]
PATHS = ("kernels", "sorting")


def _setup(export_dir: str | None):
    sys.path.insert(0, export_dir or str(Path(__file__).resolve().parent.parent / "export"))
    import sortpool_torch
    from sortpool_torch import functional

    return sortpool_torch, functional


def _use_path(functional, path: str) -> None:
    functional.TRAINING_KERNELS_MAX_CELLS = 64 if path == "kernels" else 0


def _one_step(args) -> int:
    """Child process for --memory: one training step of one case and path; prints the peak of the
    memory torch allocated on the CPU during it, in bytes (the profiler's allocation events, summed
    in time order)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    _, functional = _setup(args.sortpool_torch)
    from sortpool_torch import SortedWeightedPool2d

    torch.set_num_threads(args.threads)
    kernel, stride, padding, k = (int(v) for v in args.one_step.split(","))
    shape = tuple(int(v) for v in args.shape.split(","))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    if args.path == "max_pool2d":
        def step():
            torch.nn.functional.max_pool2d(x, kernel, stride, padding).sum().backward()
    else:
        _use_path(functional, args.path)
        layer = SortedWeightedPool2d(k, kernel, stride, padding)

        def step():
            layer(x).sum().backward()
    step()  # warm-up
    x.grad = None
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted((e for e in prof.events() if e.cpu_memory_usage), key=lambda e: e.time_range.start)
    live = peak = 0
    for e in events:  # self allocations (+) and frees (-) of each op, in order
        live += e.self_cpu_memory_usage
        peak = max(peak, live)
    print(peak)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="16,32,56,56", help="N,C,H,W (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per variant (default %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default %(default)s)")
    parser.add_argument("--sortpool-torch", metavar="DIR", help="import sortpool_torch from DIR")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda: the layer's CUDA path (the sorting path; the "
                        "training kernels are CPU-only) against max_pool2d (tools/gpu_check.sh)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                        help="input and layer dtype (default %(default)s)")
    parser.add_argument("--compile", metavar="BACKEND", help="torch.compile(fullgraph=True) every variant with this "
                        "backend (inductor, aot_eager); the compile itself is in the warm-up, not timed")
    parser.add_argument("--cases", help="comma-separated indices into the case list (default: all)")
    parser.add_argument("--memory", action="store_true", help="also the peak memory of one training step per path")
    parser.add_argument("--json", metavar="FILE", help="write the medians here")
    parser.add_argument("--one-step", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_step:
        return _one_step(args)

    import torch
    import torch.nn.functional as F

    sortpool_torch, functional = _setup(args.sortpool_torch)
    from sortpool_torch import SortedWeightedPool2d

    torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.split(","))
    dtype = getattr(torch, args.dtype)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(args.device, dtype).requires_grad_()
    cases = CASES if not args.cases else [CASES[int(i)] for i in args.cases.split(",")]
    paths = PATHS if args.device == "cpu" else ("sorting",)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def timed(fn, backward: bool) -> float:
        sync()
        t0 = time.perf_counter()
        y = fn(x)
        if backward:
            y.sum().backward()
        sync()
        return time.perf_counter() - t0

    rows = []
    print(f"sortpool_torch from {Path(sortpool_torch.__file__).parent}; input {list(shape)} {args.dtype} on "
          f"{args.device}, {args.threads} threads, {args.repeats} interleaved runs"
          + (f", torch.compile backend {args.compile}" if args.compile else ", eager")
          + "; medians in ms (ratio to max_pool2d)")
    print(f"{'window':>12} {'k':>3} {'pass':>8} " + " ".join(f"{p:>16}" for p in paths) + f" {'max_pool2d':>11}")
    for kernel, stride, padding, k in cases:
        layer = SortedWeightedPool2d(k, kernel, stride, padding).to(args.device, dtype)

        def pool(t, kernel=kernel, stride=stride, padding=padding):
            return F.max_pool2d(t, kernel, stride, padding)

        if args.compile:
            torch._dynamo.reset()  # each case compiles afresh (and stays under the recompile limit)
            layer = torch.compile(layer, backend=args.compile, fullgraph=True)
            pool = torch.compile(pool, backend=args.compile, fullgraph=True)

        def through(path):
            def run(t):
                _use_path(functional, path)  # outside the compiled code: a guard picks the path's graph
                return layer(t)
            return run

        variants = {**{path: through(path) for path in paths}, "max_pool2d": pool}
        for backward in (False, True):
            for fn in variants.values():  # warm-up
                timed(fn, backward)
            times = {name: [] for name in variants}
            for _ in range(args.repeats):
                for name, fn in variants.items():
                    times[name].append(timed(fn, backward))
            med = {name: statistics.median(v) * 1e3 for name, v in times.items()}
            row = dict(kernel=kernel, stride=stride, padding=padding, pool_range=k, backward=backward,
                       **{f"{name}_ms": med[name] for name in variants},
                       **{f"{path}_ratio": med[path] / med["max_pool2d"] for path in paths})
            rows.append(row)
            print(f"{kernel}x{kernel}/s{stride}/p{padding} {k:>3} {'fwd+bwd' if backward else 'fwd':>8} "
                  + " ".join(f"{med[p]:8.2f} ({row[p + '_ratio']:4.2f}x)" for p in paths)
                  + f" {med['max_pool2d']:11.2f}")
    memory = []
    if args.memory and args.device == "cpu":
        print("peak memory torch allocates in one training step, MiB (fresh process each)")
        for kernel, stride, padding, k in CASES:
            entry = dict(kernel=kernel, stride=stride, padding=padding, pool_range=k)
            for path in (*PATHS, "max_pool2d"):
                out = subprocess.run([sys.executable, __file__, "--one-step", f"{kernel},{stride},{padding},{k}",
                                      "--path", path, "--shape", args.shape, "--threads", str(args.threads)]
                                     + (["--sortpool-torch", args.sortpool_torch] if args.sortpool_torch else []),
                                     capture_output=True, text=True, check=True).stdout
                entry[f"{path}_mib"] = int(out.strip().splitlines()[-1]) / (1 << 20)
            memory.append(entry)
            print(f"{kernel}x{kernel}/s{stride}/p{padding} {k:>3} " + " ".join(
                f"{p} {entry[p + '_mib']:.0f}" for p in (*PATHS, "max_pool2d")))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(machine=platform.platform(), torch=torch.__version__, device=args.device,
                                                   dtype=args.dtype, compile=args.compile,
                                                   shape=list(shape), threads=args.threads, rows=rows,
                                                   memory=memory), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
