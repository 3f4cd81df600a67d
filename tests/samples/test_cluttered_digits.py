"""The cluttered-digits sample (samples/cluttered_digits/): its smoke mode runs end to end and
writes well-formed outputs with ONNX Runtime parity, and the committed README shows what the
committed results/ say."""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "cluttered_digits"
RUN = SAMPLE / "run.py"
PARITY_TOLERANCE = 1e-5
OUTPUTS = ["results.json", "table.md", "val_curves.png", "examples.png", "parity.json", "parity.txt",
           "best.onnx", "x.npz", "y_ref.npz", "timing.json", "best.pt", "check.json", "tools.json", "tools.txt"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    for module in ("sklearn", "matplotlib", "tqdm", "torch", "onnxscript", "onnxruntime"):
        pytest.importorskip(module)
    out = tmp_path_factory.mktemp("cluttered_digits_smoke")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, str(RUN), "--smoke", "--no-install", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=str(ROOT))
    assert proc.returncode == 0, f"run.py --smoke failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return out, proc.stdout


def test_smoke_writes_every_output(smoke):
    out, stdout = smoke
    for name in OUTPUTS:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
    for png in ("val_curves.png", "examples.png"):
        assert (out / png).read_bytes()[:8] == PNG_SIGNATURE
    assert (out / "best.onnx").stat().st_size < 1 << 20
    assert "parity: OK" in stdout


def test_smoke_results_are_well_formed(smoke):
    out, _ = smoke
    res = json.loads((out / "results.json").read_text())
    assert res["mode"] == "smoke"
    assert set(res["configs"]) == {"max", "k3"}
    assert {(r["config"], r["seed"]) for r in res["runs"]} == {("max", 0), ("k3", 0)}
    for run in res["runs"]:
        n = len(run["epochs"])
        assert n == res["train"]["epochs"] * res["train"]["evals_per_epoch"]
        assert len(run["val_ce"]) == len(run["val_acc"]) == len(run["train_loss"]) == n
        assert all(math.isfinite(v) and v > 0 for v in run["val_ce"])
        assert run["val_ce_best"] == min(run["val_ce"])
        assert run["best_epoch"] in run["epochs"]
        assert 0.0 <= run["test_acc_best"] <= 1.0
    k3 = next(r for r in res["runs"] if r["config"] == "k3")
    assert [len(w) for w in k3["weights_best"]] == [3, 3]  # two pools, pool_range 3
    assert all(abs(sum(w) - 1.0) < 1e-5 for w in k3["weights_best"])  # softmax weights
    assert set(res["summary"]) == {"max", "k3"}
    assert res["parity_ok"] is True
    table = (out / "table.md").read_text()
    assert table.startswith("| pooling |") and "sorted, pool_range 3" in table


def test_smoke_onnx_runtime_parity(smoke):
    out, _ = smoke
    parity = json.loads((out / "parity.json").read_text())
    assert parity["ok"] is True
    assert parity["max_abs_error"] <= PARITY_TOLERANCE
    assert parity["argmax_agree"] == parity["images"] > 0
    assert {c["batch"] for c in parity["batches_checked"]} >= {1, 7}
    assert [n["pool_range"] for n in parity["onnx"]["sortpool_nodes"]] in ([3, 3], [])

    # Independently of run.py: the exported model on the saved inputs gives the saved PyTorch outputs.
    import numpy as np
    import onnx

    import sortpool

    model = onnx.load(str(out / "best.onnx"))
    pools = [n for n in model.graph.node if n.domain == sortpool.OP_DOMAIN and n.op_type == sortpool.OP_TYPE]
    assert len(pools) == len(parity["onnx"]["sortpool_nodes"])
    session = sortpool.make_ort_session(str(out / "best.onnx"), intra_op_threads=1)
    x = np.load(out / "x.npz")[session.get_inputs()[0].name]
    want = np.load(out / "y_ref.npz")[session.get_outputs()[0].name]
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert x.shape[1:] == (1, 40, 40) and got.shape == want.shape == (len(x), 10)
    assert float(np.max(np.abs(got - want))) <= PARITY_TOLERANCE


def test_smoke_runs_the_command_line_tools(smoke):
    """`sortpool check` (ONNX Runtime against the TorchScript model) passes, and where TensorRT for
    RTX is installed `sortpool build` really builds an engine."""
    import importlib.util

    out, _ = smoke
    tools = json.loads((out / "tools.json").read_text())
    assert tools["check"]["exit_status"] == 0, tools["check"]["output"]
    assert "pytorch vs onnxruntime" in tools["check"]["output"] and "PASS" in tools["check"]["output"]
    report = json.loads((out / "check.json").read_text())
    assert report and "pytorch" in json.dumps(report)
    rtx = any(importlib.util.find_spec(m) for m in ("tensorrt_rtx", "tensorrt_rtx_bindings"))
    if rtx:
        assert tools["build"]["built"] is True, tools["build"]["output"]
        assert (out / "best.engine").stat().st_size == tools["build"]["bytes"] > 0
        assert "built for: SM89, SM120" in tools["build"]["output"]
    else:
        assert tools["build"]["built"] is False


def _block(text, name):
    m = re.search(rf"<!-- BEGIN GENERATED: {name} -->\n(.*?)<!-- END GENERATED: {name} -->", text, re.S)
    assert m, f"README.md lacks the generated block '{name}'"
    return m.group(1)


def test_committed_readme_matches_committed_results():
    """README.md's generated blocks are what run.py wrote into results/ (no stale numbers)."""
    readme = (SAMPLE / "README.md").read_text()
    results = SAMPLE / "results"
    table = (results / "table.md").read_text()
    assert _block(readme, "table").strip() in table
    assert _block(readme, "comparison").strip() in table
    assert _block(readme, "parity").strip() == "```text\n" + (results / "parity.txt").read_text().strip() + "\n```"
    assert _block(readme, "tools").strip() == "```text\n" + (results / "tools.txt").read_text().strip() + "\n```"
    res = json.loads((results / "results.json").read_text())
    assert res["mode"] == "full" and res["parity_ok"] is True
    assert res["check_exit_status"] == 0 and res["engine_built"] is True
    assert len(res["seeds"]) >= 5
    # The convergence counts the table shows are the rule applied to the committed runs.
    rule = res["convergence_rule"]["runs"]
    assert len(rule) == len(res["seeds"]) * len(res["configs"])
    for name, entry in res["summary"].items():
        assert entry["converged"] == sum(v["ok"] for k, v in rule.items() if k.split("/")[0] == name)
    assert set(res["configs"]) == {"max", "k2", "k3", "k4", "k3_raw"}
    assert (results / "val_curves.png").read_bytes()[:8] == PNG_SIGNATURE
    assert "results/val_curves.png" in readme
    assert (results / "best.onnx").stat().st_size < 1 << 20
