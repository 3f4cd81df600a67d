#!/usr/bin/env bash
# tools/trt_tests_other_runtime.sh - run tests/trt_plugin under a second TensorRT runtime.
#
# The main test run uses .venv (TensorRT 11 lean). This script makes a throwaway venv with another
# lean runtime (default TensorRT 10.16, the major version of the pinned headers: the version "1"
# tests then run in the headers' own V2 layout, and sortpool_trt_v2_abi_check runs) and runs the
# same tests in it.
#   TRT_LEAN_SPEC  pip requirement (default tensorrt-lean-cu13==10.16.1.11)
#   TRT_VENV       venv folder (default /tmp/trt10venv)
# The plugin library is found as in the main run ($SORTPOOL_TRT_PLUGIN or the build folders).
set -euo pipefail
cd "$(dirname "$0")/.."
SPEC=${TRT_LEAN_SPEC:-tensorrt-lean-cu13==10.16.1.11}
VENV=${TRT_VENV:-/tmp/trt10venv}
PY=${PYTHON:-.venv/bin/python}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import tensorrt_lean, numpy, pytest" 2>/dev/null; then
  "$VENV/bin/pip" install -q "$SPEC" numpy pytest
fi
"$VENV/bin/python" -c "import tensorrt_lean as t; print('TensorRT lean', t.__version__)"
SORTPOOL_REQUIRE_TRT_BINDINGS=1 exec "$VENV/bin/python" -m pytest tests/trt_plugin tests/robustness/test_trt.py -q \
  -p no:cacheprovider "$@"
