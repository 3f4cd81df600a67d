"""Shared test setup: tests/reference.py is importable as `reference`; a source checkout's
python/ and export/ folders serve when the packages are not installed. Imports no torch, so the
ONNX Runtime tests run in an environment without it."""
import importlib.util
import os
import sys

_TESTS = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_TESTS)

if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
for _pkg, _folder in (("sortpool", "python"), ("sortpool_torch", "export")):
    if importlib.util.find_spec(_pkg) is None:
        sys.path.insert(0, os.path.join(_ROOT, _folder))
