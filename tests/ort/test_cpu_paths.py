"""The ONNX Runtime op's CPU paths (plugin/ort/sortpool_ort_rows.h): one build of the rows per
instruction set, chosen once per process. Every path this machine supports runs the whole op
test file (exactness on all float16 values, random sweeps, NaN, padding, threads), each in its
own process with $SORTPOOL_ORT_CPU_PATH set; the baseline run is what a CPU without F16C gets."""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sortpool
from sortpool.ort import CPU_PATH_ENV, ort_cpu_paths

HERE = Path(__file__).resolve().parent
PATHS = ort_cpu_paths()


def _env(path: str | None) -> dict:
    env = dict(os.environ)
    env.pop(CPU_PATH_ENV, None)
    if path is not None:
        env[CPU_PATH_ENV] = path
    return env


def test_the_widest_supported_path_is_chosen_and_info_says_so():
    assert PATHS["supported"][0] == "baseline"
    if os.environ.get(CPU_PATH_ENV):
        pytest.skip(f"${CPU_PATH_ENV} is set in this environment")
    assert PATHS["chosen"] == PATHS["supported"][-1]
    out = subprocess.run([sys.executable, "-m", "sortpool", "info"], capture_output=True, text=True, env=_env(None),
                         check=True).stdout
    assert f"ONNX Runtime op CPU path: {PATHS['chosen']} (the widest this CPU supports" in out
    if platform.machine() in ("x86_64", "AMD64"):
        assert "x86-64-v3" in PATHS["supported"] or "f16c" not in Path("/proc/cpuinfo").read_text()


@pytest.mark.parametrize("path", PATHS["supported"])
def test_every_supported_path_passes_the_op_tests(path):
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "test_ort_op.py")],
                         capture_output=True, text=True, env=_env(path), cwd=HERE.parent.parent)
    tail = "\n".join(run.stdout.splitlines()[-15:])
    assert run.returncode == 0, f"{path}:\n{tail}\n{run.stderr[-2000:]}"
    assert re.search(r"\b\d+ passed\b", tail) and "failed" not in tail and "skipped" not in tail, tail
    info = subprocess.run([sys.executable, "-m", "sortpool", "info"], capture_output=True, text=True, env=_env(path),
                          check=True).stdout
    assert f"ONNX Runtime op CPU path: {path} (forced by $SORTPOOL_ORT_CPU_PATH" in info


@pytest.mark.parametrize("name, words", [("x86-64-v9", "is not a path of this build"), ("", None)])
def test_a_path_the_build_lacks_is_refused_by_name(name, words):
    code = ("import sortpool, numpy as np\n"
            "from onnx_models import pool_model\n"
            "s = sortpool.make_ort_session(pool_model(dict(pool_range=1, weights=[1.0])))\n"
            "print(s.run(None, {'x': np.ones((1, 1, 2, 2), np.float32)})[0].ravel())\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(name), cwd=HERE)
    if words is None:  # an empty value means unset
        assert run.returncode == 0 and "[1.]" in run.stdout, run.stderr
    else:
        assert run.returncode != 0 and f"{CPU_PATH_ENV}={name} {words}" in run.stderr, run.stderr


def _text_section(library: str, tmp_path: Path) -> bytes:
    out = tmp_path / (Path(library).name + f".{abs(hash(library))}.text")
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.text", library, str(out)], check=True)
    return out.read_bytes()


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the x86-64 paths exist on x86-64 only")
@pytest.mark.skipif(shutil.which("objdump") is None or shutil.which("objcopy") is None, reason="binutils missing")
def test_only_the_x86_paths_hold_instructions_past_the_baseline(tmp_path):
    """A CPU without AVX must never reach an AVX instruction: every VEX/EVEX-encoded instruction in
    the library lies in a function of the x86-64-v3 or x86-64-v4 rows. The installed library is
    stripped, so the functions are named from the CMake build's copy, whose code (.text) must be
    the installed library's byte for byte."""
    installed = sortpool.ort_library_path()
    builds = sorted(Path(__file__).resolve().parents[2].glob("build/cp*/plugin/ort/libsortpool_ort.so"),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    assert builds, "no CMake build of the library (./dev.sh setup builds one in build/cp*/)"
    unstripped = str(builds[0])
    assert _text_section(unstripped, tmp_path) == _text_section(installed, tmp_path), \
        f"{unstripped} is not the code of {installed}: reinstall (pip install .)"
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", unstripped],
                             capture_output=True, text=True, check=True).stdout
    function, offenders, vector_functions = "", set(), set()
    for line in listing.splitlines():
        if re.match(r"^[0-9a-f]+ <.*>:$", line):
            function = line
        elif re.match(r"^\s+[0-9a-f]+:\s+v[a-z]", line):
            vector_functions.add(function)
            if "x86_64_v3::" not in function and "x86_64_v4::" not in function:
                offenders.add(function)
    assert vector_functions, "no AVX instruction at all: the x86-64-v3/v4 rows were not built"
    assert not offenders, sorted(offenders)[:10]
