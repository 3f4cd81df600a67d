#!/usr/bin/env bash
# sortpool developer entry point.
#   ./dev.sh demo    set up .venv (first run only: pinned packages, headers, build) and run the demo
#   ./dev.sh test    set up, then run every test: C++ (ctest) and Python (pytest), the ONNX Runtime
#                    tests a second time on the oldest supported onnxruntime
#   ./dev.sh setup   only set up
#   ./dev.sh bench   CPU benchmark of the ONNX Runtime op (benchmarks/bench_ort_cpu.py)
#   ./dev.sh serve MODEL [options]   set up, then `sortpool serve` (Triton via PyTriton) from .venv-serve
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=${SORTPOOL_VENV:-$ROOT/.venv}
PY=$VENV/bin/python
PIP=("$PY" -m pip --disable-pip-version-check -q)

log() { printf '\n== %s\n' "$*"; }

setup() {
  if [[ ! -x $PY ]]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  log "installing pinned packages (requirements/dev.txt)"
  "${PIP[@]}" install -r requirements/dev.txt
  log "fetching pinned third-party headers (tools/fetch_deps.py)"
  "$PY" tools/fetch_deps.py
  log "building and installing sortpool (pip install .)"
  # No build isolation: the build backend and ninja are already pinned in the venv, and the CMake
  # build folder (build/<wheel tag>) is reused between runs.
  PATH=$VENV/bin:$PATH "${PIP[@]}" install --no-build-isolation --no-deps .
}

build_dir() {
  local d
  d=$(ls -d build/cp*/ 2>/dev/null | head -n1)
  [[ -n $d ]] || { echo "dev.sh: no build/cp*/ folder: setup did not build" >&2; exit 1; }
  echo "${d%/}"
}

# A side environment with one pinned requirements file (other onnxruntime releases; serving).
side_venv() {
  local dir=$1 reqs=$2 base=${3:-python3}
  [[ -x $dir/bin/python ]] || "$base" -m venv "$dir"
  "$dir/bin/python" -m pip --disable-pip-version-check -q install -r "$reqs"
}

# The serving venv (PyTriton needs numpy < 2) comes from the system Python, whose libpython is the
# one PyTriton's Triton Python-backend stub finds by default (sortpool serve points the stub at
# another interpreter's own libpython; run_tests checks that with the python3 on PATH too).
SERVE_VENV=${SORTPOOL_SERVE_VENV:-$ROOT/.venv-serve}
serve_venv() {
  local base=${SORTPOOL_SERVE_PYTHON:-/usr/bin/python3}
  [[ -x $base ]] || { echo "dev.sh: $base is missing: the serving venv needs the system Python (SORTPOOL_SERVE_PYTHON)" >&2; return 1; }
  if [[ ! -x $SERVE_VENV/bin/python ]] && ! "$base" -c 'import ensurepip, venv' 2>/dev/null &&
     [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing python3-venv (Debian) for $base"
    apt-get update -qq >/dev/null && apt-get install -y -qq python3-venv >/dev/null
  fi
  side_venv "$SERVE_VENV" requirements/serve.txt "$base"
}

run_tests() {
  local bdir status=0 too_old
  bdir=$(build_dir)
  log "C++ unit tests (ctest in $bdir)"
  PATH=$VENV/bin:$PATH ctest --test-dir "$bdir" --output-on-failure || status=1

  log "C++ tests under ASan/UBSan, then each libFuzzer target for ${FUZZ_SECONDS:-30} s (tools/sanitize_and_fuzz.sh)"
  tools/sanitize_and_fuzz.sh || status=1

  log "Python tests (pytest; SORTPOOL_SLOW_TESTS=1 includes the torch.compile inductor test)"
  too_old=$ROOT/.venv-ort-too-old
  side_venv "$too_old" requirements/ort-too-old.txt
  # tensorrt_lean is in requirements/dev.txt: a TensorRT test that cannot import it fails, not skips.
  (cd "$ROOT" && SORTPOOL_SLOW_TESTS=1 SORTPOOL_REQUIRE_TRT_BINDINGS=1 SORTPOOL_TOO_OLD_ORT_PYTHON=$too_old/bin/python \
    "$PY" -m pytest -q tests --ignore=tests/serving) ||
    status=1

  local trt_plugin
  trt_plugin=$("$PY" -c 'import sortpool; print(sortpool.trt_plugin_path() or "")')
  if [[ -n $trt_plugin ]]; then
    log "TensorRT plugin tests on the TensorRT 10 lean runtime (version 1 = IPluginV2DynamicExt has a layout per major version)"
    TRT_VENV=$ROOT/.venv-trt10 PYTHON=$PY SORTPOOL_TRT_PLUGIN=$trt_plugin tools/trt_tests_other_runtime.sh || status=1
  else
    log "TensorRT plugin not built (no nvcc): skipping the TensorRT 10 lean-runtime run"
  fi

  log "ONNX Runtime tests on the oldest supported onnxruntime (requirements/ort-oldest.txt)"
  local old=$ROOT/.venv-ort-oldest
  side_venv "$old" requirements/ort-oldest.txt
  SORTPOOL_ORT_LIBRARY=$("$PY" -c 'import sortpool; print(sortpool.ort_library_path())') \
    SORTPOOL_TOO_OLD_ORT_PYTHON=$too_old/bin/python \
    PYTHONPATH=$ROOT/python "$old/bin/python" -m pytest -q tests/ort tests/robustness/test_ort.py || status=1

  log "Serving tests: a real Triton Inference Server (PyTriton) with the op, over HTTP and gRPC (.venv-serve)"
  serve_venv
  PYTHONPATH=$ROOT/python "$SERVE_VENV/bin/python" -m pytest -q tests/serving || status=1
  # Again from a venv of the first python3 on PATH when that is another interpreter (pyenv's on
  # the project machines): sortpool serve must point PyTriton's stub at that interpreter's libpython.
  local base_prefix='import sys; print(sys.base_prefix)'
  if [[ $(python3 -c "$base_prefix") != $("${SORTPOOL_SERVE_PYTHON:-/usr/bin/python3}" -c "$base_prefix") ]]; then
    log "Serving tests from a venv of $(command -v python3) ($(python3 -c "$base_prefix"))"
    side_venv "$ROOT/.venv-serve-path-python" requirements/serve.txt python3
    PYTHONPATH=$ROOT/python "$ROOT/.venv-serve-path-python/bin/python" -m pytest -q tests/serving/test_server.py \
      -k "answers_match_reference or sigterm" || status=1
  fi
  return $status
}

cmd=${1:-}
case $cmd in
  setup) setup ;;
  demo) setup; log "demo"; "$VENV/bin/sortpool" demo ;;
  test) setup; run_tests ;;
  bench) setup; "$PY" benchmarks/bench_ort_cpu.py "${@:2}" ;;
  serve) setup; serve_venv; PYTHONPATH=$ROOT/python exec "$SERVE_VENV/bin/python" -m sortpool serve "${@:2}" ;;
  *) echo "usage: ./dev.sh demo|test|setup|bench|serve" >&2; exit 2 ;;
esac
