"""The built-in demo: train a small network with sorted weighted pooling in PyTorch, export it to
ONNX (one sortpool::SortedWeightedPool node per layer), run it in ONNX Runtime with the custom op
and print the parity against PyTorch. Needs torch (the deployment package itself does not)."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import BackendUnavailable, UserInputError
from .ort import make_ort_session

FLOAT32_TOLERANCE = 1e-5  # max abs error on unit-scale data (docs/operator.md: same math, float32)


def _build_model(torch, nn, SortedWeightedPool2d):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        SortedWeightedPool2d(pool_range=4, kernel_size=2, init="mean"),  # shared weights, the article's setting
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        SortedWeightedPool2d(pool_range=3, kernel_size=3, stride=2, padding=1, ceil_mode=True, channels=16,
                             init="mean"),  # per-channel weights, padding and ceil mode
        nn.Conv2d(16, 4, 1),
    )


def _out_folder(out_dir: str) -> Path:
    """The --out-dir folder, made if missing; UserInputError when it cannot be."""
    folder = Path(os.fspath(out_dir))
    if folder.exists() and not folder.is_dir():
        raise UserInputError(f"--out-dir {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(f"--out-dir {folder}: cannot make the folder ({e.strerror or e})") from None
    return folder


def run_demo(out_dir: str | None = None, steps: int = 30, seed: int = 0) -> int:
    """Trains, exports and compares; the models stay in ``out_dir`` when given, else in a
    temporary folder removed at the end."""
    folder = _out_folder(out_dir) if out_dir is not None else None
    try:
        import torch  # noqa: F401
        import sortpool_torch  # noqa: F401
    except ImportError as e:
        raise BackendUnavailable(f"the demo needs PyTorch and sortpool_torch ({e}); install torch, e.g. "
                                 "pip install torch==2.13.0") from None
    if folder is not None:
        return _demo(folder, steps, seed)
    with tempfile.TemporaryDirectory(prefix="sortpool-demo-") as tmp:
        return _demo(Path(tmp), steps, seed, temporary=True)


def _demo(workdir: Path, steps: int, seed: int, temporary: bool = False) -> int:
    import logging
    import warnings

    import torch
    from torch import nn

    from sortpool_torch import SortedWeightedPool2d, export_onnx

    # torch's exporter logs about optional packages (torchvision) it does not need here.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.manual_seed(seed)
    model = _build_model(torch, nn, SortedWeightedPool2d)

    # 1. Train a few steps on a toy regression so the pooling weights move away from their init.
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x_train = torch.randn(16, 3, 24, 24)
    target = torch.randn(16, 4, 7, 7)
    t0 = time.perf_counter()
    for step in range(steps):
        loss = torch.nn.functional.mse_loss(model(x_train), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in (0, steps - 1):
            print(f"train step {step:3d}: loss {loss.item():.4f}")
    model.eval()
    pools = [m for m in model if isinstance(m, SortedWeightedPool2d)]
    for i, pool in enumerate(pools):
        w = pool.weights().detach().reshape(-1, pool.pool_range)[0]
        print(f"pool {i}: pool_range {pool.pool_range}, weights (softmax, channel 0) {[round(float(v), 4) for v in w]}")
    print(f"trained {steps} steps in {time.perf_counter() - t0:.1f} s")

    # 2. Export with both of torch's exporters, 3. run in ONNX Runtime, 4. compare.
    failures = 0
    rng = np.random.default_rng(seed + 1)
    for exporter, dynamo in (("dynamo", True), ("torchscript", False)):
        path = workdir / f"demo_{exporter}.onnx"
        proto = export_onnx(model, torch.randn(2, 3, 24, 24), path, dynamo=dynamo)
        nodes = [n for n in proto.graph.node if n.domain == "sortpool"]
        print(f"\nexported ({exporter}) -> {path}: {len(nodes)} SortedWeightedPool nodes, "
              f"inputs {[[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input]}")
        session = make_ort_session(path)
        input_name = session.get_inputs()[0].name
        for shape in [(2, 3, 24, 24), (1, 3, 37, 29), (4, 3, 64, 48)]:
            x = rng.standard_normal(shape).astype(np.float32)
            with torch.no_grad():
                want = model(torch.from_numpy(x)).numpy()
            got = session.run(None, {input_name: x})[0]
            err = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
            ok = got.shape == want.shape and err <= FLOAT32_TOLERANCE
            failures += not ok
            print(f"  input {shape}: output {got.shape}, max abs error ORT vs PyTorch {err:.2e} "
                  f"({'OK' if ok else 'MISMATCH'}, tolerance {FLOAT32_TOLERANCE:g})")
    print("\nparity: " + ("all outputs within tolerance" if failures == 0 else f"{failures} mismatches"))
    if temporary:
        print(f"models: in the temporary folder {workdir}, removed on exit (--out-dir DIR keeps them)")
    return 0 if failures == 0 else 1
