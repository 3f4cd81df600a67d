#!/usr/bin/env python3
"""Fetch the third-party headers sortpool compiles against when no installed copy exists.

* ONNX Runtime C/C++ API headers: Debian 13 (trixie) package libonnxruntime-dev, fetched with
  apt-get through a private sources list so the system's apt state is left alone.
* TensorRT 10.14.1 headers: the PyPI wheel kernel-lens==2.0.1 (folder kernel_lens/include/tensorrt).

Every download is checked against a pinned sha256 before it is unpacked into DEST (default:
<repo>/.deps, which git ignores). Re-running is cheap: a finished unpack is left as it is.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ORT_DEB = ("libonnxruntime-dev", "1.21.0+dfsg-1",
           "14f7d959d5deacbcf1504830d4189f91fc67382b399ed9ae9d3aa9c4050ced08")
TRT_WHEEL = ("kernel-lens", "2.0.1",
             "07cc714e8b5e7f34b672f7c7fad93febe7c747be5837ba276b1527370134ffe0")
TRIXIE_SOURCE = ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                 "http://deb.debian.org/debian trixie main\n")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_hash(path: Path, expected: str) -> None:
    got = sha256_of(path)
    if got != expected:
        raise SystemExit(f"fetch_deps: {path.name}: sha256 {got} does not match the pinned {expected}")


def fetch_ort_headers(dest: Path, work: Path) -> None:
    name, version, digest = ORT_DEB
    apt = work / "apt"
    for sub in ("lists/partial", "cache/archives/partial"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(TRIXIE_SOURCE)
    opts = [f"-oDir::Etc::SourceList={apt / 'sources.list'}", "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::State::Lists={apt / 'lists'}", f"-oDir::Cache={apt / 'cache'}",
            "-oAPT::Sandbox::User=root", "-qq"]
    subprocess.run(["apt-get", *opts, "update"], check=True, cwd=work)
    subprocess.run(["apt-get", *opts, "download", f"{name}={version}"], check=True, cwd=work)
    deb = next(work.glob(f"{name}_*.deb"))
    check_hash(deb, digest)
    unpack = work / "deb"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpack)], check=True)
    target = dest / "onnxruntime" / "include"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(unpack / "usr" / "include" / "onnxruntime", target)
    (dest / "onnxruntime" / "VERSION").write_text(version + "\n")


def fetch_trt_headers(dest: Path, work: Path) -> None:
    name, version, digest = TRT_WHEEL
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    f"{name}=={version}", "-d", str(work)], check=True)
    wheel = next(work.glob("kernel_lens-*.whl"))
    check_hash(wheel, digest)
    target = dest / "tensorrt" / "include"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    prefix = "kernel_lens/include/tensorrt/"
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            # NvInferPlugin.h in that wheel is a stand-in, not NVIDIA's header: leave it out so
            # nothing can include it by accident.
            if member.startswith(prefix) and member.endswith(".h") and not member.endswith("/NvInferPlugin.h"):
                (target / Path(member).name).write_bytes(zf.read(member))
    (dest / "tensorrt" / "VERSION").write_text("10.14.1 (from kernel-lens 2.0.1)\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=Path(__file__).resolve().parent.parent / ".deps")
    parser.add_argument("what", nargs="*", help="onnxruntime and/or tensorrt (default: both)")
    args = parser.parse_args()
    args.what = args.what or ["onnxruntime", "tensorrt"]
    unknown = set(args.what) - {"onnxruntime", "tensorrt"}
    if unknown:
        parser.error(f"unknown dependency {sorted(unknown)}; choose from onnxruntime, tensorrt")
    args.dest.mkdir(parents=True, exist_ok=True)
    for what in args.what:
        marker = args.dest / what / "VERSION"
        if marker.exists():
            continue
        with tempfile.TemporaryDirectory(prefix=f"sortpool-{what}-") as tmp:
            (fetch_ort_headers if what == "onnxruntime" else fetch_trt_headers)(args.dest, Path(tmp))
        print(f"fetch_deps: {what} headers in {args.dest / what / 'include'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
