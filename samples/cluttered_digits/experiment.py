"""Data, model and training loop of the cluttered-digits sample (see README.md beside this file).

Nothing here downloads anything: the digits are scikit-learn's ``load_digits`` (1797 8x8 images
shipped inside the scikit-learn wheel). Every random choice comes from a seeded generator, so a
run is a pure function of its arguments (on a given machine and PyTorch build).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np

CANVAS = 40          # canvas side (pixels)
DIGIT = 16           # a digit is upsampled 8x8 -> 16x16 (bilinear)
FRAGMENT = 6         # clutter fragments are 6x6 crops of other digits
N_CLASSES = 10


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSpec:
    """How the cluttered canvases are made. ``*_per_digit``: canvases made from each source digit
    of that split (each with its own position and clutter)."""
    seed: int = 0
    train_per_digit: int = 5
    val_per_digit: int = 2
    test_per_digit: int = 2
    fragments: int = 4
    fraction_val: float = 0.2
    fraction_test: float = 0.2
    max_digits: Optional[int] = None  # use only the first N digits of the shuffled set (smoke mode)


def _upsample(images: np.ndarray) -> np.ndarray:
    """(N, 8, 8) in [0, 1] -> (N, DIGIT, DIGIT), bilinear (half-pixel centres), in numpy."""
    src = images.shape[-1]
    pos = (np.arange(DIGIT) + 0.5) * src / DIGIT - 0.5
    pos = np.clip(pos, 0, src - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, src - 1)
    frac = (pos - lo).astype(np.float32)
    rows = images[:, lo, :] * (1 - frac)[None, :, None] + images[:, hi, :] * frac[None, :, None]
    return rows[:, :, lo] * (1 - frac)[None, None, :] + rows[:, :, hi] * frac[None, None, :]


def _canvases(digits: np.ndarray, labels: np.ndarray, per_digit: int, fragments: int,
              rng: np.random.Generator):
    """Cluttered-MNIST style canvases: each digit at a random position of a CANVAS x CANVAS
    canvas, over `fragments` random FRAGMENT x FRAGMENT crops of *other* digits of the same split
    placed at random positions; overlaps take the maximum. Vectorised over canvases (the training
    set is drawn afresh every epoch)."""
    n = len(digits)
    count = n * per_digit
    y = np.repeat(labels, per_digit).astype(np.int64)
    src = np.repeat(np.arange(n), per_digit)
    other = rng.integers(n - 1, size=(count, fragments))
    other += other >= src[:, None]  # never the digit itself
    crop_at = rng.integers(DIGIT - FRAGMENT + 1, size=(count, fragments, 2))
    frag_at = rng.integers(CANVAS - FRAGMENT + 1, size=(count, fragments, 2))
    digit_at = rng.integers(CANVAS - DIGIT + 1, size=(count, 2))
    f, d = np.arange(FRAGMENT), np.arange(DIGIT)
    crops = digits[other[..., None, None], crop_at[..., 0, None, None] + f[:, None], crop_at[..., 1, None, None] + f]
    base = (np.arange(count) * CANVAS * CANVAS)[:, None, None]
    frag_idx = (base[..., None] + (frag_at[..., 0, None, None] + f[:, None]) * CANVAS
                + frag_at[..., 1, None, None] + f)
    digit_idx = base + (digit_at[:, 0, None, None] + d[:, None]) * CANVAS + digit_at[:, 1, None, None] + d
    x = np.zeros(count * CANVAS * CANVAS, dtype=np.float32)
    np.maximum.at(x, np.concatenate([frag_idx.ravel(), digit_idx.ravel()]),
                  np.concatenate([crops.ravel(), digits[src].ravel()]).astype(np.float32))
    return x.reshape(count, 1, CANVAS, CANVAS), y


def make_dataset(spec: DataSpec) -> Dict[str, np.ndarray]:
    """{"x_train", "y_train", "x_val", "y_val", "x_test", "y_test"}: float32 (N, 1, 40, 40) in
    [0, 1] and int64 labels. The source digits are split first (train / validation / test hold
    different handwritten digits); clutter comes from digits of the same split."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)
    labels = bunch.target.astype(np.int64)
    rng = np.random.default_rng(spec.seed)
    order = rng.permutation(len(images))
    if spec.max_digits is not None:
        order = order[: spec.max_digits]
    n = len(order)
    n_val = int(round(n * spec.fraction_val))
    n_test = int(round(n * spec.fraction_test))
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    out = {}
    for name, per_digit in (("train", spec.train_per_digit), ("val", spec.val_per_digit), ("test", spec.test_per_digit)):
        idx = np.sort(parts[name])
        big = _upsample(images[idx])
        x, y = _canvases(big, labels[idx], per_digit, spec.fragments, rng)
        out[f"x_{name}"], out[f"y_{name}"] = x, y
        if name == "train":  # the source digits: training canvases are drawn afresh every epoch
            out["digits_train"], out["labels_train"] = big, labels[idx]
    return out


def training_canvases(data: Dict[str, np.ndarray], spec: DataSpec, seed: int, epoch: int):
    """The training canvases of one epoch: the training digits at fresh positions over fresh
    clutter (cheap augmentation from the same split). Every configuration trained with `seed`
    sees the same canvases, so per-seed differences between configurations are paired."""
    rng = np.random.default_rng([spec.seed, 1 + seed, epoch])
    return _canvases(data["digits_train"], data["labels_train"], spec.train_per_digit, spec.fragments, rng)


# ----------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolConfig:
    """One pooling configuration. kind "max": nn.MaxPool2d(2); kind "sorted":
    SortedWeightedPool2d(pool_range, kernel_size=2, normalize=normalize, init=init) (weights
    shared by all channels, as in the article)."""
    name: str
    kind: str = "sorted"
    pool_range: int = 1
    normalize: bool = True
    label: str = ""


CONFIGS: Dict[str, PoolConfig] = {c.name: c for c in [
    PoolConfig("max", "max", 1, label="max pooling (nn.MaxPool2d)"),
    PoolConfig("k2", "sorted", 2, label="sorted, pool_range 2"),
    PoolConfig("k3", "sorted", 3, label="sorted, pool_range 3"),
    PoolConfig("k4", "sorted", 4, label="sorted, pool_range 4"),
    PoolConfig("k3_raw", "sorted", 3, normalize=False, label="sorted, pool_range 3, no softmax"),
    PoolConfig("k1", "sorted", 1, label="sorted, pool_range 1 (check: = max pooling)"),
]}


def make_pool(cfg: PoolConfig, init: str):
    from torch import nn

    if cfg.kind == "max":
        return nn.MaxPool2d(2)
    from sortpool_torch import SortedWeightedPool2d

    return SortedWeightedPool2d(cfg.pool_range, kernel_size=2, normalize=cfg.normalize, init=init)


def make_model(cfg: PoolConfig, init: str, mean: float, std: float):
    """The article's toy network: conv3x3(16) -> pool -> conv3x3(16) -> pool -> dense -> 10,
    behind a fixed (not learned) input standardisation, so the model (and its ONNX export) takes
    the raw canvases in [0, 1]."""
    import torch
    from torch import nn

    class Standardize(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor(float(mean)))
            self.register_buffer("inv_std", torch.tensor(1.0 / float(std)))

        def forward(self, x):
            return (x - self.mean) * self.inv_std

    side = CANVAS // 4
    return nn.Sequential(
        Standardize(),
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), make_pool(cfg, init),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), make_pool(cfg, init),
        nn.Flatten(), nn.Linear(16 * side * side, N_CLASSES),
    )


def pool_weights(model) -> List[List[float]]:
    """The effective weights of every SortedWeightedPool2d of `model` (softmax or raw)."""
    from sortpool_torch import SortedWeightedPool2d

    return [[round(float(v), 6) for v in m.weights().detach().reshape(-1)]
            for m in model.modules() if isinstance(m, SortedWeightedPool2d)]


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainSpec:
    """Adam under a one-cycle learning-rate schedule (warm-up to ``lr``, then cosine annealing to
    ``lr / 1e4`` at the last batch): the schedule that brought max pooling to convergence within the
    time budget; training canvases are drawn afresh every epoch (``training_canvases``)."""
    epochs: int = 24
    batch_size: int = 64
    lr: float = 3e-3          # the one-cycle schedule's peak
    init: str = "mean"       # SortedWeightedPool2d init ("mean": equal weights; "max": max pooling)
    evals_per_epoch: int = 1  # validation points per epoch (the curves; the best point is picked on them)
    eval_batch: int = 256
    fresh_canvases: bool = True  # False: the fixed training canvases of the dataset every epoch


@dataclass
class RunResult:
    config: str
    seed: int
    epochs: List[float] = field(default_factory=list)
    train_loss: List[float] = field(default_factory=list)
    val_ce: List[float] = field(default_factory=list)
    val_acc: List[float] = field(default_factory=list)
    best_epoch: float = 0.0
    val_ce_best: float = math.nan
    val_ce_final: float = math.nan
    test_ce_best: float = math.nan
    test_acc_best: float = math.nan
    test_acc_final: float = math.nan
    weights_best: List[List[float]] = field(default_factory=list)
    weights_final: List[List[float]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def _evaluate(model, x, y, batch: int):
    import torch
    import torch.nn.functional as F

    model.eval()
    total, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(x[i:i + batch])
            total += float(F.cross_entropy(logits, y[i:i + batch], reduction="sum"))
            correct += int((logits.argmax(1) == y[i:i + batch]).sum())
    model.train()
    return total / len(x), correct / len(x)


def input_stats(data: Dict[str, np.ndarray]):
    """(mean, std) of the training canvases, rounded to 4 decimals (the fixed standardisation)."""
    x = data["x_train"].astype(np.float64)
    return round(float(x.mean()), 4), round(float(x.std()), 4)


def train_one(cfg: PoolConfig, seed: int, data: Dict[str, np.ndarray], spec: TrainSpec,
              progress: Optional[Callable[[int], None]] = None, epochs: Optional[int] = None,
              data_spec: DataSpec = DataSpec()):
    """Trains one model; returns (RunResult, state_dict at the best validation point).

    The validation set is evaluated `spec.evals_per_epoch` times per epoch (epoch 0.5, 1, ...);
    the best point is the one with the lowest validation cross-entropy, and the test numbers are
    reported for the weights of that point (``*_best``) and of the last one (``*_final``).
    `progress(n)` is called as training batches complete. `epochs` overrides `spec.epochs`;
    `data_spec` is the spec `data` was made with (the fresh canvases of each epoch follow it)."""
    import torch
    import torch.nn.functional as F

    epochs = spec.epochs if epochs is None else epochs
    mean, std = input_stats(data)
    torch.manual_seed(seed)
    model = make_model(cfg, spec.init, mean, std)
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr)
    n = len(data["x_train"])
    n_batches = (n + spec.batch_size - 1) // spec.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=epochs * n_batches)
    gen = torch.Generator().manual_seed(10_000 + seed)
    xt, yt = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    xv, yv = torch.from_numpy(data["x_val"]), torch.from_numpy(data["y_val"])
    xs, ys = torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"])
    res = RunResult(cfg.name, seed)
    best_state, best_ce = None, math.inf
    t0 = time.perf_counter()
    # batch indices after which the validation set is evaluated (the last one ends the epoch)
    marks = sorted({max(1, round(n_batches * (i + 1) / spec.evals_per_epoch)) for i in range(spec.evals_per_epoch)})
    for epoch in range(epochs):
        if spec.fresh_canvases:
            x_epoch, y_epoch = training_canvases(data, data_spec, seed, epoch)
            xt, yt = torch.from_numpy(x_epoch), torch.from_numpy(y_epoch)
        perm = torch.randperm(n, generator=gen)
        running, count = 0.0, 0
        for b in range(n_batches):
            idx = perm[b * spec.batch_size:(b + 1) * spec.batch_size]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            running += float(loss.detach())
            count += 1
            if progress is not None:
                progress(1)
            if b + 1 in marks:
                ce, acc = _evaluate(model, xv, yv, spec.eval_batch)
                res.epochs.append(round(epoch + (b + 1) / n_batches, 3))
                res.train_loss.append(running / count)
                res.val_ce.append(ce)
                res.val_acc.append(acc)
                running, count = 0.0, 0
                if ce < best_ce:
                    best_ce, res.best_epoch = ce, res.epochs[-1]
                    best_state = copy.deepcopy(model.state_dict())
    res.val_ce_final = res.val_ce[-1]
    res.weights_final = pool_weights(model)
    res.test_acc_final = _evaluate(model, xs, ys, spec.eval_batch)[1]
    model.load_state_dict(best_state)
    res.val_ce_best = best_ce
    res.weights_best = pool_weights(model)
    res.test_ce_best, res.test_acc_best = _evaluate(model, xs, ys, spec.eval_batch)
    res.seconds = round(time.perf_counter() - t0, 2)
    return res, best_state


def batches_per_run(n_train: int, spec: TrainSpec, epochs: Optional[int] = None) -> int:
    return (spec.epochs if epochs is None else epochs) * ((n_train + spec.batch_size - 1) // spec.batch_size)
