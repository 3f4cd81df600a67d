"""Where the native libraries are: bundled in the package (pip install .) or in a CMake build tree."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _PACKAGE_DIR.parent.parent

ORT_LIBRARY_NAME = "libsortpool_ort.so"
TRT_PLUGIN_NAME = "libsortpool_trt_plugin.so"
TRAINING_LIBRARY_NAME = "libsortpool_training.so"  # plugin/training: the PyTorch layer's CPU training kernels
TRT_RTX_SONAME_NAME = "tensorrt_rtx/libtensorrt_rtx.so"  # plugin/tensorrt/rtx: TensorRT for RTX's parser needs it
_INSTRUMENTED_BUILDS = {"sanitize", "fuzz"}  # tools/sanitize_and_fuzz.sh


def _candidates(name: str, build_subdir: str, env_var: str) -> list[Path]:
    found: list[Path] = []
    if os.environ.get(env_var):
        found.append(Path(os.environ[env_var]))
    found.append(_PACKAGE_DIR / "lib" / name)
    # A source checkout: the build folders of dev.sh and of plain CMake builds, newest first. The
    # sanitizer and fuzzer builds are not loadable into an ordinary process, so they never qualify.
    builds = [p for p in _REPO_ROOT.glob(f"build/*/{build_subdir}/{name}")
              if p.relative_to(_REPO_ROOT).parts[1] not in _INSTRUMENTED_BUILDS]
    found.extend(sorted(builds, key=lambda p: p.stat().st_mtime, reverse=True))
    return found


def _variable_problem(env_var: str) -> str | None:
    """What is wrong with a library variable that is set but names no file, else None: one set
    on purpose is never passed over in silence for another copy of the library."""
    named = os.environ.get(env_var)
    if named and not Path(named).is_file():
        return f"${env_var} names {named}, which is not a file; point it to the library or unset it"
    return None


def _check_variable(env_var: str) -> None:
    """:func:`_variable_problem` as a UserInputError (exit status 2 in the `sortpool` command)."""
    problem = _variable_problem(env_var)
    if problem:
        from .errors import UserInputError

        raise UserInputError(problem)


def _first_existing(paths: list[Path]) -> str | None:
    for path in paths:
        if path.is_file():
            return str(path)
    return None


def ort_library_path() -> str:
    """Path of the ONNX Runtime custom-op library (libsortpool_ort.so).

    Looks at $SORTPOOL_ORT_LIBRARY, then the copy bundled in the package, then a CMake build tree
    of a source checkout. Raises FileNotFoundError naming the places it looked, and
    sortpool.errors.UserInputError when $SORTPOOL_ORT_LIBRARY is set but names no file.
    """
    _check_variable("SORTPOOL_ORT_LIBRARY")
    paths = _candidates(ORT_LIBRARY_NAME, "plugin/ort", "SORTPOOL_ORT_LIBRARY")
    found = _first_existing(paths)
    if found is None:
        raise FileNotFoundError(
            f"sortpool: {ORT_LIBRARY_NAME} was not found (looked in: {', '.join(str(p) for p in paths)}); "
            "install the package with `pip install .` or build it with CMake")
    return found


def trt_rtx_soname_path() -> str | None:
    """Path of the library that answers TensorRT for RTX's ``dlopen("libtensorrt_rtx.so")``
    (built beside the TensorRT plugin), or None. $SORTPOOL_TRT_RTX_SONAME overrides the search
    (UserInputError when it names no file)."""
    _check_variable("SORTPOOL_TRT_RTX_SONAME")
    return _first_existing(_candidates(TRT_RTX_SONAME_NAME, "plugin/tensorrt", "SORTPOOL_TRT_RTX_SONAME"))


def trt_plugin_path() -> str | None:
    """Path of the TensorRT plugin library (libsortpool_trt_plugin.so), or None when it was not built
    (it needs nvcc at build time). $SORTPOOL_TRT_PLUGIN overrides the search (UserInputError when it
    names no file)."""
    _check_variable("SORTPOOL_TRT_PLUGIN")
    return _first_existing(_candidates(TRT_PLUGIN_NAME, "plugin/tensorrt", "SORTPOOL_TRT_PLUGIN"))


def training_library_path() -> str | None:
    """Path of the PyTorch layer's CPU training kernels (libsortpool_training.so), or None when they
    were not built. $SORTPOOL_TRAINING_LIBRARY overrides the search; naming no file, it is a
    warning, not an error: sortpool_torch reads it on import, which an error would stop."""
    problem = _variable_problem("SORTPOOL_TRAINING_LIBRARY")
    if problem:
        warnings.warn(f"sortpool: {problem} (the layer looks for the library elsewhere)", stacklevel=2)
    return _first_existing(_candidates(TRAINING_LIBRARY_NAME, "plugin/training", "SORTPOOL_TRAINING_LIBRARY"))
