#!/usr/bin/env python3
"""CPU training-step cost of the PyTorch layer, side by side with max pooling in one process.

For each window and pool_range it times forward and forward+backward of ``SortedWeightedPool2d``
and of ``torch.nn.functional.max_pool2d`` on the same input (the speed bar: k = 1 is max pooling,
so the ratio says what sorting and weighting cost). Runs are interleaved (A B A B ...) so drift on
a shared machine hits both alike; medians and ratios are printed, and --json writes them for
docs/benchmarks.md. ``--sortpool-torch DIR`` imports ``sortpool_torch`` from DIR (for example an
older checkout's ``export/``) to compare revisions: run the script once per tree, alternately.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

CASES = [  # (kernel, stride, pool_range)
    (2, 2, 1),
    (2, 2, 4),
    (3, 2, 4),
    (3, 2, 9),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="16,32,56,56", help="N,C,H,W (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per variant (default %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default %(default)s)")
    parser.add_argument("--sortpool-torch", metavar="DIR", help="import sortpool_torch from DIR")
    parser.add_argument("--json", metavar="FILE", help="write the medians here")
    args = parser.parse_args()

    sys.path.insert(0, args.sortpool_torch or str(Path(__file__).resolve().parent.parent / "export"))
    import torch
    import torch.nn.functional as F
    import sortpool_torch
    from sortpool_torch import SortedWeightedPool2d

    torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.split(","))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), requires_grad=True)

    def timed(fn, backward: bool) -> float:
        t0 = time.perf_counter()
        y = fn(x)
        if backward:
            y.sum().backward()
        return time.perf_counter() - t0

    rows = []
    print(f"sortpool_torch from {Path(sortpool_torch.__file__).parent}; input {list(shape)} float32, "
          f"{args.threads} threads, {args.repeats} interleaved runs; medians in ms")
    print(f"{'window':>8} {'k':>3} {'pass':>9} {'layer':>8} {'max_pool2d':>11} {'ratio':>6}")
    for kernel, stride, k in CASES:
        layer = SortedWeightedPool2d(k, kernel, stride)

        def pool(t, kernel=kernel, stride=stride):
            return F.max_pool2d(t, kernel, stride)

        for backward in (False, True):
            for fn in (layer, pool):  # warm-up
                timed(fn, backward)
            times = {"layer": [], "max_pool2d": []}
            for _ in range(args.repeats):
                times["layer"].append(timed(layer, backward))
                times["max_pool2d"].append(timed(pool, backward))
            med = {name: statistics.median(v) * 1e3 for name, v in times.items()}
            row = dict(kernel=kernel, stride=stride, pool_range=k, backward=backward, layer_ms=med["layer"],
                       max_pool2d_ms=med["max_pool2d"], ratio=med["layer"] / med["max_pool2d"])
            rows.append(row)
            print(f"{kernel}x{kernel}/s{stride} {k:>3} {'fwd+bwd' if backward else 'fwd':>9} "
                  f"{row['layer_ms']:8.2f} {row['max_pool2d_ms']:11.2f} {row['ratio']:6.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(machine=platform.platform(), torch=torch.__version__,
                                                   shape=list(shape), threads=args.threads, rows=rows), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
