"""Test setup for the PyTorch side: makes tests/reference.py importable as ``reference`` and,
until the packaging lands, falls back to the source folders for ``sortpool``/``sortpool_torch``."""

import importlib.util
import os
import sys

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ROOT = os.path.dirname(_TESTS)

if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
for _pkg, _folder in (("sortpool_torch", "export"), ("sortpool", "python")):
    if importlib.util.find_spec(_pkg) is None:
        sys.path.insert(0, os.path.join(_ROOT, _folder))
