#!/usr/bin/env python3
"""Cluttered digits: does sorted weighted pooling beat max pooling? Train, compare, deploy.

    .venv/bin/python samples/cluttered_digits/run.py            # the full sample (a few minutes)
    .venv/bin/python samples/cluttered_digits/run.py --smoke    # tiny data, 1 epoch, 1 seed, 2 configs

Installs the sample's extra requirements (requirements.txt beside this file) when they are
missing, trains every pooling configuration with several seeds on cluttered 40x40 digit
canvases, writes results/ (results.json, table.md, val_curves.png, examples.png, best.onnx,
parity.json, parity.txt, x.npz, y_ref.npz, timing.json), exports the best model, runs it in ONNX
Runtime with the sortpool custom op, and regenerates the generated blocks of README.md. See
README.md beside this file.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REQUIREMENTS = HERE / "requirements.txt"
README = HERE / "README.md"
DEFAULT_OUT = HERE / "results"

FULL_CONFIGS = ["max", "k2", "k3", "k4", "k3_raw"]
SMOKE_CONFIGS = ["max", "k3"]
# The author's published validation cross-entropies on cluttered MNIST (the article's table).
ARTICLE = {"max": 0.259, "k2": 0.202, "k3": 0.196, "k4": 0.196}
PARITY_TOLERANCE = 1e-5  # max abs error of the logits, ORT vs PyTorch (float32, same math)

_MODULES = {"scikit-learn": "sklearn", "matplotlib": "matplotlib", "tqdm": "tqdm"}


# ----------------------------------------------------------------------------------------------
# setup
# ----------------------------------------------------------------------------------------------
def _pins() -> dict:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip()] = version.strip()
    return pins


def ensure_requirements(install: bool) -> None:
    """Installs requirements.txt into this Python's environment when a pinned package is missing
    or at another version (unless install is False: then missing is an error, another version a
    warning)."""
    wrong = {}
    for name, version in _pins().items():
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            have = None
        if have != version:
            wrong[name] = have
    if not wrong:
        return
    desc = ", ".join(f"{n} ({'missing' if v is None else v + ' installed'})" for n, v in wrong.items())
    if install:
        print(f"installing the sample's requirements ({desc}): pip install -r {REQUIREMENTS}", flush=True)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                               "-r", str(REQUIREMENTS)])
        importlib.invalidate_caches()
        return
    missing = [n for n, v in wrong.items() if v is None]
    if missing:
        sys.exit(f"run.py: missing {', '.join(missing)}; run without --no-install, or pip install -r {REQUIREMENTS}")
    print(f"warning: not the pinned versions ({desc}); numbers may differ from the README", file=sys.stderr)


def setup_paths() -> None:
    """The sample's own modules; a source checkout's python/ and export/ serve when the packages
    are not installed (as in tests/conftest.py)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    for pkg, folder in (("sortpool", "python"), ("sortpool_torch", "export")):
        if importlib.util.find_spec(pkg) is None:
            sys.path.insert(0, str(ROOT / folder))


def quiet() -> None:
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    logging.getLogger("onnxscript").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def deterministic_torch(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


# ----------------------------------------------------------------------------------------------
# training jobs (in this process or in spawned workers, one thread each)
# ----------------------------------------------------------------------------------------------
_WORKER: dict = {}


def dataset_digest(data) -> str:
    h = hashlib.sha256()
    for key in sorted(data):
        h.update(key.encode())
        h.update(data[key].tobytes())
    return h.hexdigest()[:16]


def _worker_init(data_spec: dict, queue, paths: list) -> None:
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    quiet()
    deterministic_torch(1)  # one thread per run: a run's numbers do not depend on --jobs
    import experiment as E

    _WORKER["data_spec"] = E.DataSpec(**data_spec)
    _WORKER["data"] = E.make_dataset(_WORKER["data_spec"])
    _WORKER["digest"] = dataset_digest(_WORKER["data"])
    _WORKER["queue"] = queue


def _worker_run(job: tuple):
    import experiment as E

    cfg_name, seed, epochs, train_spec = job
    queue = _WORKER["queue"]
    pending = [0]

    def progress(n: int) -> None:
        pending[0] += n
        if pending[0] >= 5:
            queue.put(pending[0])
            pending[0] = 0

    res, state = E.train_one(E.CONFIGS[cfg_name], seed, _WORKER["data"], E.TrainSpec(**train_spec),
                             progress=progress, epochs=epochs, data_spec=_WORKER["data_spec"])
    if pending[0]:
        queue.put(pending[0])
    return res.to_json(), {k: v.numpy().copy() for k, v in state.items()}, _WORKER["digest"]


class _BarQueue:
    def __init__(self, bar):
        self.bar = bar

    def put(self, n):
        self.bar.update(n)


def run_jobs(jobs: list, data_spec, n_procs: int, total_batches: int):
    from tqdm import tqdm

    bar = tqdm(total=total_batches, desc=f"training {len(jobs)} runs", unit="batch", smoothing=0.05, mininterval=0.5,
               dynamic_ncols=True)
    paths = [p for p in sys.path if p]
    try:
        if n_procs <= 1:
            _worker_init(asdict(data_spec), _BarQueue(bar), paths)
            return [_worker_run(job) for job in jobs]
        import multiprocessing as mp
        from queue import Empty

        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        with ctx.Pool(n_procs, initializer=_worker_init, initargs=(asdict(data_spec), queue, paths)) as pool:
            handles = [pool.apply_async(_worker_run, (job,)) for job in jobs]
            while not all(h.ready() for h in handles):
                try:
                    bar.update(queue.get(timeout=0.25))
                except Empty:
                    pass
            out = [h.get() for h in handles]
            while True:
                try:
                    bar.update(queue.get_nowait())
                except Empty:
                    break
            return out
    finally:
        bar.close()


# ----------------------------------------------------------------------------------------------
# summaries
# ----------------------------------------------------------------------------------------------
def _stats(values):
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "n": int(len(v))}


def summarize(runs: list, configs: list) -> dict:
    import numpy as np

    out = {}
    for name in configs:
        rs = sorted((r for r in runs if r["config"] == name), key=lambda r: r["seed"])
        if not rs:
            continue
        entry = {key: _stats([r[key] for r in rs]) for key in
                 ("val_ce_best", "val_ce_final", "test_acc_best", "test_acc_final", "test_ce_best", "best_epoch")}
        entry["seeds"] = [r["seed"] for r in rs]
        rules = [converged(r) for r in rs]
        entry["converged"] = sum(c["ok"] for c in rules)
        entry["plateau"] = sum(c["plateau"] for c in rules)
        entry["best_before_last"] = sum(c["best_before_last"] for c in rules)
        if rs[0]["weights_best"]:
            entry["weights_best_mean"] = [[round(float(v), 4) for v in np.mean([r["weights_best"][i] for r in rs], axis=0)]
                                          for i in range(len(rs[0]["weights_best"]))]
        out[name] = entry
    return out


def paired(runs: list, a: str, b: str, key: str = "val_ce_best") -> dict | None:
    """Per-seed differences a - b (same seed = same initial conv/dense weights, batch order and
    training canvases), their mean with a 95 % confidence interval (Student's t, n - 1 degrees of
    freedom), a paired t-test and an exact two-sided sign test."""
    import numpy as np
    from scipy import stats as st

    ra = {r["seed"]: r[key] for r in runs if r["config"] == a}
    rb = {r["seed"]: r[key] for r in runs if r["config"] == b}
    seeds = sorted(set(ra) & set(rb))
    if not seeds:
        return None
    diffs = [ra[s] - rb[s] for s in seeds]
    out = _stats(diffs)
    n = len(diffs)
    half = float(st.t.ppf(0.975, n - 1) * out["sd"] / np.sqrt(n)) if n > 1 else float("nan")
    nonzero = [d for d in diffs if d != 0]
    out.update({
        "seeds": seeds, "diffs": diffs, "lower_in": sum(d < 0 for d in diffs),
        "relative_mean": out["mean"] / _stats(list(rb.values()))["mean"],
        "ci95": [out["mean"] - half, out["mean"] + half],
        "t_test_p": float(st.ttest_rel([ra[s] for s in seeds], [rb[s] for s in seeds]).pvalue) if n > 1 else float("nan"),
        "sign_test_p": float(st.binomtest(sum(d < 0 for d in nonzero), len(nonzero)).pvalue) if nonzero else 1.0,
    })
    return out


def verdict(p: dict) -> str:
    """What the 95 % interval supports: "lower", "higher" or "no detectable difference" (one seed
    has no interval)."""
    if p["n"] < 2:
        return "one seed: no interval"
    lo, hi = p["ci95"]
    return "lower" if hi < 0 else "higher" if lo > 0 else "no detectable difference"


def compare(runs: list, summary: dict) -> dict:
    comp = {"vs_max": {}, "vs_max_test_acc": {}, "softmax": None, "article_relative": {}}
    for k in ("k2", "k3", "k4", "k3_raw"):
        if k in summary and "max" in summary:
            comp["vs_max"][k] = paired(runs, k, "max")
            comp["vs_max_test_acc"][k] = paired(runs, k, "max", key="test_acc_best")
    for k in ("k2", "k3", "k4"):
        comp["article_relative"][k] = (ARTICLE[k] - ARTICLE["max"]) / ARTICLE["max"]
    if "k3" in summary and "k3_raw" in summary:
        comp["softmax"] = paired(runs, "k3", "k3_raw")
    for p in [*comp["vs_max"].values(), *([comp["softmax"]] if comp["softmax"] else [])]:
        p["verdict"] = verdict(p)
    return comp


# The convergence rule: a run has converged when its best validation point comes before its last
# epoch, or when its validation cross-entropy changed by less than PLATEAU_CE over the last
# PLATEAU_EPOCHS epochs.
PLATEAU_EPOCHS = 3
PLATEAU_CE = 0.02


def converged(run: dict) -> dict:
    ce, ep = run["val_ce"], run["epochs"]
    last = ep[-1]
    back = [i for i, e in enumerate(ep) if e <= last - PLATEAU_EPOCHS]
    change = abs(ce[-1] - ce[back[-1]]) if back else float("inf")
    return {"best_before_last": run["best_epoch"] < last, "change_over_last_epochs": change,
            "plateau": change < PLATEAU_CE, "ok": run["best_epoch"] < last or change < PLATEAU_CE}


def _pm(st: dict, scale: float = 1.0, digits: int = 3) -> str:
    return f"{st['mean'] * scale:.{digits}f} ± {st['sd'] * scale:.{digits}f}"


def table_markdown(summary: dict, labels: dict) -> str:
    head = ("| pooling | val CE, best point | val CE, final | best point (epoch) | test accuracy, best point (%) "
            "| test accuracy, final (%) | converged | learned weights, best point (pool 1; pool 2; mean over seeds) |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- |\n")
    rows = []
    for name, s in summary.items():
        w = "; ".join("[" + ", ".join(f"{v:.3f}" for v in ws) + "]" for ws in s.get("weights_best_mean", [])) or "-"
        rows.append(f"| {labels[name]} | {_pm(s['val_ce_best'])} | {_pm(s['val_ce_final'])} | "
                    f"{s['best_epoch']['mean']:.1f} | {_pm(s['test_acc_best'], 100, 1)} | "
                    f"{_pm(s['test_acc_final'], 100, 1)} | {s['converged']} of {s['val_ce_best']['n']} | {w} |")
    n = max(s["val_ce_best"]["n"] for s in summary.values())
    foot = (f"\nMean ± sample standard deviation over {n} seed{'s' if n > 1 else ''}. *val CE*: validation "
            "cross-entropy (nats); *best point*: the validation evaluation (once per epoch) with the lowest "
            "val CE, whose weights also give the *best point* test accuracy; *final*: after the last epoch. "
            f"*Converged*: runs whose best point came before the last epoch or whose val CE changed by less than "
            f"{PLATEAU_CE} over the last {PLATEAU_EPOCHS} epochs (the plot's shaded span).\n")
    return head + "\n".join(rows) + "\n" + foot


def _ci(p: dict, digits: int = 3, scale: float = 1.0) -> str:
    lo, hi = p["ci95"]
    return f"{p['mean'] * scale:+.{digits}f} [{lo * scale:+.{digits}f}, {hi * scale:+.{digits}f}]"


def comparison_markdown(comp: dict, summary: dict) -> str:
    n = max(p["n"] for p in comp["vs_max"].values())
    lines = ["| pooling | article: val CE vs max pooling | here: Δ val CE vs max pooling, mean [95 % CI] "
             "| lower in | t-test p | sign test p | here: Δ test accuracy (points) [95 % CI] | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k in ("k2", "k3", "k4", "k3_raw"):
        p = comp["vs_max"].get(k)
        if not p:
            continue
        art = (f"{ARTICLE[k]:.3f} vs {ARTICLE['max']:.3f} ({comp['article_relative'][k] * 100:+.0f} %)"
               if k in ARTICLE else "-")
        acc = comp["vs_max_test_acc"][k]
        lines.append(f"| {k[1:2]}{' (no softmax)' if k == 'k3_raw' else ''} | {art} | {_ci(p)} "
                     f"| {p['lower_in']} of {p['n']} seeds | {p['t_test_p']:.3f} | {p['sign_test_p']:.3f} "
                     f"| {_ci(acc, 1, 100)} | {p['verdict']} |")
    out = "\n".join(lines) + "\n"
    out += (f"\nΔ: per seed, the configuration's best validation cross-entropy minus max pooling's in the same "
            f"seed (same initial weights, batch order and training canvases); mean over {n} seeds with a 95 % "
            "confidence interval from Student's t; paired t-test and exact two-sided sign test. *Verdict*: "
            "*lower*/*higher* when the interval excludes 0, otherwise *no detectable difference*.\n")
    verdicts = {k: comp["vs_max"][k]["verdict"] for k in ("k2", "k3", "k4") if k in comp["vs_max"]}
    if verdicts:
        if all(v == "lower" for v in verdicts.values()):
            claim = "**pool_range 2-4 reach a lower validation cross-entropy than max pooling here**, as the article says."
        elif all(v == "no detectable difference" for v in verdicts.values()):
            claim = ("**No detectable difference between pool_range 2-4 and max pooling here**: every 95 % interval "
                     "includes 0.")
        elif all(v == "higher" for v in verdicts.values()):
            claim = "**pool_range 2-4 do worse than max pooling here**: every 95 % interval lies above 0."
        else:
            claim = ("**Mixed**: " + ", ".join(f"pool_range {k[1:]}: {v}" for k, v in verdicts.items()) + ".")
        out += "\nClaim 1, pool_range > 1 against max pooling: " + claim + "\n"
    s = comp.get("softmax")
    if s:
        words = {"lower": "**the softmax helps here** (lower val CE with it), as the article says.",
                 "higher": "**the softmax hurts here**: the raw weights reached a lower val CE.",
                 "no detectable difference": "**no detectable effect of the softmax here**: the interval includes 0."}
        out += (f"\nClaim 2, softmax against raw weights (pool_range 3 with softmax minus without, per seed): "
                f"Δ val CE = {_ci(s)}, softmax lower in {s['lower_in']} of {s['n']} seeds, t-test p = "
                f"{s['t_test_p']:.3f}, sign test p = {s['sign_test_p']:.3f}: "
                + words.get(s["verdict"], s["verdict"]) + "\n")
    return out


def plot_curves(runs: list, configs: list, labels: dict, path: Path, title: str, comp: dict | None = None) -> None:
    """Validation curves (mean over seeds, band: min-max) and, with `comp`, a panel of the per-seed
    differences against max pooling with their 95 % intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    colors = {"max": "black", "k2": "tab:blue", "k3": "tab:orange", "k4": "tab:green", "k3_raw": "tab:red"}
    panels = 3 if comp and comp.get("vs_max") else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.4))
    last = 0.0
    for name in configs:
        rs = [r for r in runs if r["config"] == name]
        if not rs:
            continue
        x = np.asarray(rs[0]["epochs"])
        last = max(last, float(x[-1]))
        for ax, key, scale in ((axes[0], "val_ce", 1.0), (axes[1], "val_acc", 100.0)):
            v = np.asarray([r[key] for r in rs]) * scale
            style = "--" if name == "k3_raw" else "-"
            ax.plot(x, v.mean(0), style, color=colors.get(name), label=f"{labels[name]} (n={len(rs)})", lw=1.6)
            if len(rs) > 1:
                ax.fill_between(x, v.min(0), v.max(0), color=colors.get(name), alpha=0.12, lw=0)
    for ax in axes[:2]:
        ax.axvspan(last - PLATEAU_EPOCHS, last, color="grey", alpha=0.12, lw=0)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation cross-entropy")
    axes[1].set_ylabel("validation accuracy (%)")
    lo = min((min(r["val_ce"]) for r in runs), default=0)
    axes[0].set_ylim(max(0.0, lo - 0.05), min(2.5, lo + 1.0))
    axes[0].legend(fontsize=8)
    axes[0].set_title(f"shaded: the last {PLATEAU_EPOCHS} epochs (plateau rule: val CE change < {PLATEAU_CE})",
                      fontsize=8)
    if panels == 3:
        ax = axes[2]
        items = [(k, p) for k, p in comp["vs_max"].items() if p]
        for i, (k, p) in enumerate(items):
            ax.scatter(np.full(len(p["diffs"]), i) + np.linspace(-0.12, 0.12, len(p["diffs"])), p["diffs"],
                       color=colors.get(k), s=14, alpha=0.7)
            if p["n"] > 1:
                ax.errorbar([i + 0.3], [p["mean"]], yerr=[[p["mean"] - p["ci95"][0]], [p["ci95"][1] - p["mean"]]],
                            fmt="o", color=colors.get(k), capsize=4)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(items)), [labels[k].replace("sorted, ", "") for k, _ in items], fontsize=7,
                      rotation=15)
        ax.set_ylabel("Δ best val CE vs max pooling (per seed)")
        ax.set_title("dots: seeds; bar: mean with 95 % CI (t)", fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title + " (mean over seeds; band: min-max)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)


def plot_examples(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 8, figsize=(10, 2.9))
    for i, ax in enumerate(axes.flat):
        ax.imshow(data["x_train"][i, 0], cmap="gray", vmin=0, vmax=1)
        ax.set_title(str(int(data["y_train"][i])), fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=70, metadata={"Software": None})
    plt.close(fig)


def check_pool_range_1(state: dict, train_spec, stats, data: dict) -> dict:
    """pool_range 1 is max pooling: the trained max-pooling network (seed 0) with its two
    nn.MaxPool2d replaced by SortedWeightedPool2d(1) (weight softmax([0]) = 1) gives the same
    validation logits, and the same gradients on a training batch up to float32 rounding."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    import experiment as E

    nets = {}
    for name in ("max", "k1"):
        net = E.make_model(E.CONFIGS[name], train_spec.init, *stats)
        missing, unexpected = net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
        assert not unexpected and all(k.endswith("logits") for k in missing), (missing, unexpected)
        nets[name] = net
    with torch.no_grad():
        xv = torch.from_numpy(data["x_val"])
        logits = {name: net.eval()(xv) for name, net in nets.items()}
    xb, yb = torch.from_numpy(data["x_train"][:64]), torch.from_numpy(data["y_train"][:64])
    grads = {}
    for name, net in nets.items():
        net.train()
        F.cross_entropy(net(xb), yb).backward()
        grads[name] = {k: p.grad for k, p in net.named_parameters() if not k.endswith("logits")}
    rel = max(float((grads["max"][k] - grads["k1"][k]).abs().max() / grads["max"][k].abs().max().clamp_min(1e-30))
              for k in grads["max"])
    return {"model": "max pooling, seed 0, best point", "images": int(len(xv)),
            "max_abs_logit_difference": float((logits["max"] - logits["k1"]).abs().max()),
            "same_predictions": bool(np.array_equal(logits["max"].argmax(1).numpy(), logits["k1"].argmax(1).numpy())),
            "max_relative_gradient_difference": rel}


def check_text(c: dict) -> str:
    d = c["max_abs_logit_difference"]
    same = "the same logits, bit for bit," if d == 0 else f"logits that differ by at most {d:.1e}"
    return (f"Check, pool_range 1 = max pooling: the trained max-pooling network ({c['model']}) with both "
            f"`nn.MaxPool2d` replaced by `SortedWeightedPool2d(1)` gives {same} on the {c['images']} validation "
            f"canvases, and gradients on a training batch of 64 that differ by at most "
            f"{c['max_relative_gradient_difference']:.0e} of their largest value (float32 rounding in the backward "
            "passes). A pool_range 1 layer trains like max pooling up to that rounding, so it is not trained "
            "separately here.")


# ----------------------------------------------------------------------------------------------
# deployment: export, ONNX Runtime, parity
# ----------------------------------------------------------------------------------------------
def deploy(best: dict, state: dict, train_spec, stats, data: dict, out: Path) -> dict:
    import numpy as np
    import torch

    import experiment as E
    import sortpool
    from sortpool_torch import export_onnx

    cfg = E.CONFIGS[best["config"]]
    model = E.make_model(cfg, train_spec.init, *stats)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    model.eval()
    path = out / "best.onnx"
    proto = export_onnx(model, torch.from_numpy(data["x_test"][:2]), path, dynamic_spatial=False)
    nodes = [n for n in proto.graph.node if n.domain == sortpool.OP_DOMAIN]
    node_info = []
    for n in nodes:
        attrs = {a.name: a for a in n.attribute}
        node_info.append({"pool_range": int(attrs["pool_range"].i),
                          "weights": [round(float(v), 6) for v in attrs["weights"].floats]})
    session = sortpool.make_ort_session(str(path), intra_op_threads=2)
    in_name, out_name = session.get_inputs()[0].name, session.get_outputs()[0].name

    x, y = data["x_test"], data["y_test"]
    checks = []
    worst = 0.0
    agree = 0
    ort_logits, torch_logits = [], []
    # batch of 1, an odd batch of 7, then batches of 64 (the exported model has a dynamic batch axis)
    plan = [(0, 1), (1, 8)] + [(i, min(i + 64, len(x))) for i in range(8, len(x), 64)]
    for lo, hi in plan:
        if lo >= len(x):
            continue
        hi = min(hi, len(x))
        xb = x[lo:hi]
        with torch.no_grad():
            want = model(torch.from_numpy(xb)).numpy()
        got = session.run(None, {in_name: xb})[0]
        err = float(np.max(np.abs(got - want)))
        worst = max(worst, err)
        agree += int((got.argmax(1) == want.argmax(1)).sum())
        ort_logits.append(got)
        torch_logits.append(want)
        checks.append({"batch": hi - lo, "max_abs_error": err})
    ort_all, torch_all = np.concatenate(ort_logits), np.concatenate(torch_logits)
    n = len(ort_all)
    np.savez(out / "x.npz", **{in_name: x[:8]})
    np.savez(out / "y_ref.npz", **{out_name: torch_all[:8]})
    return model, {
        "model": {"config": best["config"], "seed": best["seed"], "best_epoch": best["best_epoch"],
                  "val_ce_best": best["val_ce_best"], "file": path.name, "bytes": path.stat().st_size},
        "onnx": {"input": in_name, "output": out_name, "sortpool_nodes": node_info,
                 "nodes": len(proto.graph.node), "opset_imports": {o.domain or "ai.onnx": o.version for o in proto.opset_import}},
        "onnxruntime": {"version": __import__("onnxruntime").__version__, "custom_op_library": Path(sortpool.ort_library_path()).name},
        "images": n,
        "max_abs_error": worst,
        "tolerance": PARITY_TOLERANCE,
        "ok": worst <= PARITY_TOLERANCE and agree == n,
        "argmax_agree": agree,
        "test_accuracy_torch": float((torch_all.argmax(1) == y[:n]).mean()),
        "test_accuracy_ort": float((ort_all.argmax(1) == y[:n]).mean()),
        "batches_checked": checks,
    }


ENGINE_TARGETS = ["8.9", "12.0"]  # RTX 40xx and RTX 50xx
ENGINE_PROFILE = {"--min-shapes": "1x1x40x40", "--opt-shapes": "64x1x40x40", "--max-shapes": "256x1x40x40"}


def _sortpool_cli(args: list, cwd: Path) -> tuple:
    """(exit status, output) of `python -m sortpool ARGS` run in `cwd`."""
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "sortpool", *args], capture_output=True, text=True, cwd=str(cwd),
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def deploy_tools(model, data: dict, out: Path, input_name: str) -> dict:
    """The command-line tools on the exported model: `sortpool check` (ONNX Runtime against the
    PyTorch model, saved as TorchScript) and `sortpool build` of a real engine with TensorRT for
    RTX (ahead of time for RTX 40xx/50xx; no GPU needed), when it is installed."""
    import hashlib

    import torch

    traced = torch.jit.trace(model, torch.from_numpy(data["x_test"][:4]))
    traced.save(str(out / "best.pt"))
    check_args = ["check", "best.onnx", "--torch-model", "best.pt", "--inputs", "x.npz", "--no-trt",
                  "--shapes", f"{input_name}:64x1x40x40", "--report", "check.json"]
    status, text = _sortpool_cli(check_args, out)
    result = {"check": {"command": "sortpool " + " ".join(check_args), "exit_status": status, "output": text}}
    shapes = [arg for flag, dims in ENGINE_PROFILE.items() for arg in (flag, f"{input_name}:{dims}")]
    build_args = ["build", "best.onnx", "-o", "best.engine", "--backend", "tensorrt-rtx",
                  "--compute-capability", *ENGINE_TARGETS, *shapes]
    status, text = _sortpool_cli(build_args, out)
    engine = out / "best.engine"
    result["build"] = {"command": "sortpool " + " ".join(build_args), "exit_status": status, "output": text,
                       "built": status == 0 and engine.is_file()}
    if result["build"]["built"]:
        result["build"].update(bytes=engine.stat().st_size, sha256_16=hashlib.sha256(engine.read_bytes()).hexdigest()[:16])
    return result


def tools_text(t: dict) -> str:
    c, b = t["check"], t["build"]
    lines = [f"$ {c['command']}", c["output"], f"(exit status {c['exit_status']})", "", f"$ {b['command']}", b["output"]]
    if b["built"]:
        lines.append(f"(exit status 0; best.engine: {b['bytes']} bytes, sha256 {b['sha256_16']}...)")
    else:
        lines.append(f"(exit status {b['exit_status']}: no engine built here)")
    return "\n".join(lines) + "\n"


def _batch_sizes(checks: list) -> str:
    sizes = [c["batch"] for c in checks]
    parts = []
    for s in sizes:
        if parts and parts[-1][0] == s:
            parts[-1][1] += 1
        else:
            parts.append([s, 1])
    return ", ".join(f"{s}" if n == 1 else f"{s} (x{n})" for s, n in parts)


def parity_text(p: dict) -> str:
    m, o = p["model"], p["onnx"]
    lines = [
        f"model: {m['file']} ({m['bytes'] / 1024:.0f} KiB): config {m['config']}, seed {m['seed']}, "
        f"weights of epoch {m['best_epoch']} (val CE {m['val_ce_best']:.4f})",
        f"ONNX: {o['nodes']} nodes, opsets {o['opset_imports']}, input '{o['input']}' -> output '{o['output']}'",
    ]
    for i, n in enumerate(o["sortpool_nodes"]):
        lines.append(f"  sortpool::SortedWeightedPool #{i + 1}: pool_range {n['pool_range']}, weights {n['weights']}")
    lines += [
        f"ONNX Runtime {p['onnxruntime']['version']} with {p['onnxruntime']['custom_op_library']}, "
        f"{p['images']} test images in batches of {_batch_sizes(p['batches_checked'])}",
        f"max abs error of the logits, ORT vs PyTorch: {p['max_abs_error']:.2e} (tolerance {p['tolerance']:g})",
        f"same predicted class: {p['argmax_agree']} of {p['images']}",
        f"test accuracy: PyTorch {p['test_accuracy_torch'] * 100:.2f} %, ONNX Runtime {p['test_accuracy_ort'] * 100:.2f} %",
        f"parity: {'OK' if p['ok'] else 'MISMATCH'}",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# README
# ----------------------------------------------------------------------------------------------
def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- BEGIN GENERATED: {name} -->\n).*?(<!-- END GENERATED: {name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md has no generated block '{name}'")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny data, 1 epoch, 1 seed, 2 configs (a test, not a result)")
    ap.add_argument("--out", type=Path, help=f"output folder (default {DEFAULT_OUT.relative_to(ROOT)}; "
                                             "--smoke: a temporary folder)")
    ap.add_argument("--seeds", type=int, help="seeds per configuration (default 5; --smoke 1)")
    ap.add_argument("--epochs", type=int, help="epochs per run (default TrainSpec.epochs in experiment.py; --smoke 1)")
    ap.add_argument("--init", choices=["mean", "max"], default="mean",
                    help="SortedWeightedPool2d init (default mean: equal weights)")
    ap.add_argument("--jobs", type=int, default=2, help="training processes, one thread each (default 2; --smoke 1)")
    ap.add_argument("--no-install", action="store_true", help="do not pip install missing requirements")
    ap.add_argument("--no-readme", action="store_true", help="do not regenerate README.md's generated blocks")
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    ensure_requirements(install=not args.no_install)
    setup_paths()
    quiet()
    import numpy as np
    import torch

    import experiment as E

    deterministic_torch(2)
    smoke = args.smoke
    out = args.out or (Path(tempfile.mkdtemp(prefix="cluttered-digits-smoke-")) if smoke else DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    data_spec = (E.DataSpec(max_digits=150, train_per_digit=2, val_per_digit=1, test_per_digit=1) if smoke
                 else E.DataSpec())
    train_spec = E.TrainSpec(init=args.init)
    if smoke or args.epochs:
        train_spec = replace(train_spec, epochs=args.epochs or 1)
    n_seeds = args.seeds or (1 if smoke else 5)
    seeds = list(range(n_seeds))
    configs = SMOKE_CONFIGS if smoke else FULL_CONFIGS
    n_procs = 1 if smoke else max(1, args.jobs)
    update_readme = not smoke and not args.no_readme and out.resolve() == DEFAULT_OUT.resolve()

    t0 = time.perf_counter()
    data = E.make_dataset(data_spec)
    digest = dataset_digest(data)
    stats = E.input_stats(data)
    t_data = time.perf_counter() - t0
    sizes = {k: int(len(v)) for k, v in data.items() if k.startswith("y_")}
    print(f"data: {sizes['y_train']} train / {sizes['y_val']} validation / {sizes['y_test']} test canvases "
          f"({E.CANVAS}x{E.CANVAS}, {data_spec.fragments} clutter fragments), built in {t_data:.1f} s, "
          f"sha256 {digest}", flush=True)

    # Longest runs first (sorted pooling costs more than max pooling) so the workers end together.
    jobs = [(c, s, None, asdict(train_spec)) for c in reversed(configs) for s in seeds]
    total = sum(E.batches_per_run(sizes["y_train"], train_spec, j[2]) for j in jobs)
    t0 = time.perf_counter()
    outputs = run_jobs(jobs, data_spec, n_procs, total)
    t_train = time.perf_counter() - t0
    deterministic_torch(2)  # (--jobs 1 trained in this process with one thread) the checks below use 2
    if any(o[2] != digest for o in outputs):
        raise RuntimeError("a worker built a different dataset: the data is not deterministic")
    runs, states, timing_runs = [], {}, []
    for res, state, _ in outputs:
        timing_runs.append({"config": res["config"], "seed": res["seed"], "seconds": res.pop("seconds")})
        runs.append(res)
        states[(res["config"], res["seed"])] = state
    main_runs = [r for r in runs if r["config"] != "k1"]
    labels = {name: E.CONFIGS[name].label for name in E.CONFIGS}

    summary = summarize(main_runs, configs)
    comp = compare(main_runs, summary)
    check = check_pool_range_1(states[("max", 0)], train_spec, stats, data) if "max" in configs else None
    table = table_markdown(summary, labels)
    comparison = comparison_markdown(comp, summary) if "max" in summary else ""
    (out / "table.md").write_text(table + ("\n" + comparison if comparison else ""))
    title = (f"cluttered digits: {sizes['y_train']} train / {sizes['y_val']} val canvases, "
             f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}")
    plot_curves(main_runs, configs, labels, out / "val_curves.png", title, comp if "max" in summary else None)
    plot_examples(data, out / "examples.png")

    best = min(main_runs, key=lambda r: (r["val_ce_best"], r["config"], r["seed"]))
    t0 = time.perf_counter()
    best_model, parity = deploy(best, states[(best["config"], best["seed"])], train_spec, stats, data, out)
    (out / "parity.json").write_text(json.dumps(parity, indent=1) + "\n")
    (out / "parity.txt").write_text(parity_text(parity))
    tools = deploy_tools(best_model, data, out, parity["onnx"]["input"])
    (out / "tools.json").write_text(json.dumps(tools, indent=1) + "\n")
    (out / "tools.txt").write_text(tools_text(tools))
    t_deploy = time.perf_counter() - t0

    import sklearn

    results = {
        "mode": "smoke" if smoke else "full",
        "command": "python samples/cluttered_digits/run.py" + (" --smoke" if smoke else ""),
        "data": {**asdict(data_spec), "canvas": E.CANVAS, "digit": E.DIGIT, "fragment": E.FRAGMENT,
                 "sizes": sizes, "sha256_16": digest, "input_mean": stats[0], "input_std": stats[1]},
        "train": asdict(train_spec),
        "seeds": seeds,
        "configs": {name: {**asdict(E.CONFIGS[name])} for name in configs},
        "runs": runs,
        "summary": summary,
        "comparison": comp,
        "article_val_ce": ARTICLE,
        "check_pool_range_1": check,
        "best": {"config": best["config"], "seed": best["seed"]},
        "parity_ok": parity["ok"],
        "check_exit_status": tools["check"]["exit_status"],
        "engine_built": tools["build"]["built"],
        "convergence_rule": {"plateau_epochs": PLATEAU_EPOCHS, "plateau_ce": PLATEAU_CE,
                             "runs": {f"{r['config']}/{r['seed']}": converged(r) for r in main_runs}},
        "environment": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                        "scikit-learn": sklearn.__version__, "onnxruntime": parity["onnxruntime"]["version"],
                        "machine": platform.machine()},
    }
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    t_total = time.perf_counter() - t_start
    timing = {"note": "wall-clock seconds on the machine that ran it (shared; other jobs may have run at the same time)",
              "cpus": os.cpu_count(), "jobs": n_procs, "data": round(t_data, 1), "train": round(t_train, 1),
              "deploy": round(t_deploy, 1), "total": round(t_total, 1), "runs": timing_runs}
    (out / "timing.json").write_text(json.dumps(timing, indent=1) + "\n")

    print("\n" + table)
    if comparison:
        print(comparison)
    if check:
        print(check_text(check) + "\n")
    print(parity_text(parity))
    print(tools_text(tools))
    print(f"wrote {out}  (total {t_total:.0f} s: data {t_data:.0f} s, training {t_train:.0f} s, deploy {t_deploy:.0f} s)")

    if update_readme:
        text = README.read_text()
        text = replace_block(text, "table", table)
        text = replace_block(text, "comparison", comparison)
        text = replace_block(text, "check", check_text(check))
        text = replace_block(text, "parity", "```text\n" + parity_text(parity) + "```")
        text = replace_block(text, "tools", "```text\n" + tools_text(tools) + "```")
        text = replace_block(text, "timing",
                             f"Last run: {t_total:.0f} s in all (training {t_train:.0f} s with {n_procs} processes, "
                             f"deployment {t_deploy:.0f} s) on a shared {os.cpu_count()}-core machine where other "
                             "jobs were running too; `results/timing.json` has the per-run times.")
        README.write_text(text)
        print(f"updated {README.relative_to(ROOT)}")
    return 0 if parity["ok"] and tools["check"]["exit_status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
