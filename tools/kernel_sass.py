#!/usr/bin/env python3
"""Are the CUDA kernels the ones that ran on a GPU? Compares the machine code (SASS) of
plugin/tensorrt/sortedWeightedPoolKernel.cu at a base revision and in the working tree.

Both are compiled the same way (nvcc, sm_90, the build's optimisation flags) and disassembled with
cuobjdump (pip: nvidia-cuda-cuobjdump + nvidia-cuda-nvdisasm, pinned in requirements/dev.txt). Every
kernel of the base must exist in the working tree with the same instructions (addresses aside);
kernels only in the working tree are listed as new. The base defaults to the revision recorded in
plugin/tensorrt/gpu_verified.txt, the last one whose kernels ran tools/gpu_check.sh on a GPU.

    python tools/kernel_sass.py [--base REV]
Exit: 0 the same, 1 a base kernel changed or is gone, 2 a tool is missing or the base is not in git.
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "plugin" / "tensorrt" / "gpu_verified.txt"
KERNEL = Path("plugin") / "tensorrt" / "sortedWeightedPoolKernel.cu"
KERNEL_BEFORE_RENAME = Path("plugin") / "tensorrt" / "sortpoolKernel.cu"  # its name in older revisions
# The experimental kernels too (the GPU check's build): they are listed as new, never compared.
NVCC_FLAGS = ["-O3", "-DNDEBUG", "--generate-code=arch=compute_90,code=[sm_90]", "--fmad=false", "-std=c++17",
              "-DSORTPOOL_EXPERIMENTAL_KERNELS=1"]


def recorded_revision() -> str:
    for line in RECORD.read_text().splitlines():
        if line.startswith("revision:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"kernel_sass: no 'revision:' line in {RECORD}")


def find_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    # The pip wheels put cuobjdump and nvdisasm in site-packages/nvidia/cu13/bin.
    for base in sys.path:
        hits = glob.glob(os.path.join(base, "nvidia", "cu*", "bin", name))
        if hits:
            return hits[0]
    cuda = Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")) / "bin" / name
    return str(cuda) if cuda.exists() else None


def kernel_source(source_root: Path) -> Path:
    return next((source_root / p for p in (KERNEL, KERNEL_BEFORE_RENAME) if (source_root / p).exists()),
                source_root / KERNEL)


def sass(source_root: Path, nvcc: str, cuobjdump: str, work: Path) -> dict[str, list[str]]:
    """Kernel name (demangled, without anonymous namespaces) -> instructions without addresses."""
    obj = work / "kernel.o"
    cmd = [nvcc, *NVCC_FLAGS, "-I", str(source_root / "plugin" / "core"), "-I", str(source_root / "plugin" / "tensorrt"),
           "-c", str(kernel_source(source_root)), "-o", str(obj)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    # nvdisasm must sit next to cuobjdump (cuobjdump calls it for -sass).
    out = subprocess.run([cuobjdump, "-sass", str(obj)], check=True, capture_output=True, text=True).stdout
    blocks = re.split(r"\n\s*Function : ", out)[1:]
    if not blocks:
        raise RuntimeError(f"cuobjdump printed no kernels for {kernel_source(source_root)}")
    names = readable_names([block.split("\n", 1)[0].strip() for block in blocks])
    if len(set(names)) != len(names):  # two kernels would be compared as one
        raise RuntimeError("two kernels have the same name once anonymous namespaces are left out")
    kernels = {}
    for name, block in zip(names, blocks):
        code = [re.sub(r"0x[0-9a-f]+", "ADDR", m.group(1).strip())
                for m in re.finditer(r"/\*[0-9a-f]{4,6}\*/\s+(.*?);", block)]
        kernels[name] = code
    return kernels


def readable_names(mangled: list[str]) -> list[str]:
    """Demangled kernel names without anonymous namespaces: which file-local namespace a kernel or
    one of its template arguments sits in is not part of what the kernel computes."""
    out = subprocess.run(["c++filt"], input="\n".join(mangled) + "\n", check=True, capture_output=True,
                         text=True).stdout.splitlines()
    if len(out) != len(mangled):
        raise RuntimeError("c++filt returned a different number of names")
    return [line.replace("(anonymous namespace)::", "") for line in out]


def checkout(revision: str, dest: Path) -> None:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "plugin"], capture_output=True)
    if archive.returncode != 0:
        raise LookupError(archive.stderr.decode(errors="replace").strip())
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(dest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", help="git revision to compare with (default: plugin/tensorrt/gpu_verified.txt)")
    args = ap.parse_args(argv)
    base = args.base or recorded_revision()
    nvcc, cuobjdump = find_tool("nvcc"), find_tool("cuobjdump")
    if nvcc is None or cuobjdump is None or find_tool("nvdisasm") is None or shutil.which("c++filt") is None:
        print("kernel_sass: needs nvcc, cuobjdump and nvdisasm (pip install -r requirements/dev.txt) and c++filt "
              "(binutils)")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            checkout(base, work / "base")
        except LookupError as e:
            print(f"kernel_sass: revision {base} is not in this repository's history: {e}")
            return 2
        (work / "b").mkdir()
        (work / "c").mkdir()
        old = sass(work / "base", nvcc, cuobjdump, work / "b")
        new = sass(REPO, nvcc, cuobjdump, work / "c")
    changed = sorted(k for k in old if k in new and old[k] != new[k])
    gone = sorted(k for k in old if k not in new)
    added = sorted(k for k in new if k not in old)
    print(f"base {base}: {len(old)} kernels; working tree: {len(new)} kernels (sm_90)")
    print(f"identical: {len(old) - len(changed) - len(gone)}, changed: {len(changed)}, gone: {len(gone)}, "
          f"new: {len(added)}")
    for title, names in (("changed", changed), ("gone", gone), ("new", added)):
        for n in names:
            print(f"  {title}: {n}")
    return 1 if changed or gone else 0


if __name__ == "__main__":
    sys.exit(main())
