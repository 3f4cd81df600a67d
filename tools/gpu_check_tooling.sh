#!/usr/bin/env bash
# GPU check of the deployment tooling (`sortpool info/build/run/check`), end to end on a real
# exported model. Called by tools/gpu_check.sh on a machine with a GPU; runs on its own too:
#   tools/gpu_check_tooling.sh [OUT_DIR]
# Needs: .venv (or $PY) with the full `tensorrt` package, pycuda or cuda-python, the built plugin
# (libsortpool_trt_plugin.so); torch for the PyTorch leg. Exit status: 0 all passed, 1 a failure,
# 3 TensorRT's builder / a CUDA binding / a GPU is missing (nothing GPU-side was checked).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-$ROOT/.venv/bin/python}
OUT_DIR=${1:-${OUT:-/tmp}/sortpool-gpu-tooling}
mkdir -p "$OUT_DIR"
export PYTHONPATH=$ROOT/python:$ROOT/export${PYTHONPATH:+:$PYTHONPATH}
SP=("$PY" -m sortpool)
status=0
step() { printf '\n== %s\n' "$*"; }
run() { echo "+ $*"; "$@"; local rc=$?; [[ $rc -eq 0 ]] || { echo "!! exit status $rc: $*"; status=1; }; return $rc; }

step "sortpool info"
"${SP[@]}" info | tee "$OUT_DIR/info.txt"
"$PY" - <<'PYEOF' || exit 3
import sys
from sortpool.errors import SortpoolError
from sortpool.trt import import_tensorrt
from sortpool.cuda import cuda_backend
import sortpool
try:
    trt = import_tensorrt(builder=True)
    cuda = cuda_backend(); print(f"TensorRT {trt.__version__}, {cuda.name} (CUDA {cuda.version})"); cuda.close()
except SortpoolError as e:
    print(f"gpu_check_tooling: cannot check the TensorRT paths: {e}"); sys.exit(3)
if sortpool.trt_plugin_path() is None:
    print("gpu_check_tooling: libsortpool_trt_plugin.so was not built"); sys.exit(3)
PYEOF

step "pytest tests/tooling (GPU tests included)"
run "$PY" -m pytest -q -rs -p no:cacheprovider tests/tooling

step "export a trained-style model with sortpool_torch (float32 and float16)"
MODEL=$OUT_DIR/model.onnx
cat > "$OUT_DIR/loader.py" <<'PYEOF'
import torch
from torch import nn
from sortpool_torch import SortedWeightedPool2d

def make_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        SortedWeightedPool2d(pool_range=4, kernel_size=2, init="mean"),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
        SortedWeightedPool2d(pool_range=3, kernel_size=3, stride=2, padding=1, ceil_mode=True, channels=16, init="mean"),
        nn.Conv2d(16, 4, 1)).eval()
PYEOF
run "$PY" - "$OUT_DIR" <<'PYEOF'
import sys, torch
sys.path.insert(0, sys.argv[1])
from loader import make_model
from sortpool_torch import export_onnx
m = make_model()
export_onnx(m, torch.randn(2, 3, 32, 32), f"{sys.argv[1]}/model.onnx")
export_onnx(m.half(), torch.randn(2, 3, 32, 32).half(), f"{sys.argv[1]}/model_fp16.onnx")
print("exported", sys.argv[1])
PYEOF

SHAPES=(--min-shapes input:1x3x16x16 --opt-shapes input:4x3x64x64 --max-shapes input:8x3x128x128)
step "check with ONNX Runtime vs PyTorch only (the CPU path)"
run "${SP[@]}" check "$MODEL" --no-trt --torch-model "$OUT_DIR/loader.py:make_model" "${SHAPES[@]}" \
  --report "$OUT_DIR/check_cpu.json"

step "build (float32, timing cache), run, check the engine"
run "${SP[@]}" build "$MODEL" -o "$OUT_DIR/model.engine" "${SHAPES[@]}" --workspace 2GiB \
  --timing-cache "$OUT_DIR/timing.cache" --summary-json "$OUT_DIR/build.json"
"$PY" -c "import numpy as np; np.savez('$OUT_DIR/x.npz', input=np.random.default_rng(0).standard_normal((3, 3, 50, 70)).astype(np.float32))"
run "${SP[@]}" run "$OUT_DIR/model.engine" --inputs "$OUT_DIR/x.npz" --out "$OUT_DIR/y_trt.npz"
run "${SP[@]}" run "$MODEL" --inputs "$OUT_DIR/x.npz" --out "$OUT_DIR/y_ort.npz"
run "$PY" -c "
import numpy as np
a, b = np.load('$OUT_DIR/y_trt.npz'), np.load('$OUT_DIR/y_ort.npz')
for k in b.files:
    err = float(np.max(np.abs(a[k] - b[k]))); print(k, a[k].shape, 'max abs TRT vs ORT', err); assert err < 2e-3, err"
run "${SP[@]}" check "$MODEL" --engine "$OUT_DIR/model.engine" --inputs "$OUT_DIR/x.npz" --atol 2e-3 --rtol 2e-3 \
  --report "$OUT_DIR/check_engine.json"

step "check: build here (no TF32), TensorRT vs ONNX Runtime vs PyTorch"
run "${SP[@]}" check "$MODEL" "${SHAPES[@]}" --torch-model "$OUT_DIR/loader.py:make_model" --require-trt \
  --iterations 2 --report "$OUT_DIR/check_all.json"

step "float16 model: build and check"
run "${SP[@]}" build "$OUT_DIR/model_fp16.onnx" -o "$OUT_DIR/model_fp16.engine" "${SHAPES[@]}" --no-progress
run "${SP[@]}" check "$OUT_DIR/model_fp16.onnx" --engine "$OUT_DIR/model_fp16.engine" --report "$OUT_DIR/check_fp16.json"

step "version-compatible engine with the plugin inside, run by tensorrt_lean when installed"
run "${SP[@]}" build "$MODEL" -o "$OUT_DIR/model_vc.engine" "${SHAPES[@]}" --version-compatible --no-progress
if "$PY" -c "import tensorrt_lean" 2>/dev/null; then
  run env SORTPOOL_TRT_MODULE=tensorrt_lean "${SP[@]}" run "$OUT_DIR/model_vc.engine" --inputs "$OUT_DIR/x.npz" \
    --out "$OUT_DIR/y_lean.npz"
fi

step "bad input on the GPU path: exit status 2, one line"
"$PY" -c "import numpy as np; np.savez('$OUT_DIR/bad.npz', input=np.zeros((16, 3, 8, 8), np.float32))"
"${SP[@]}" run "$OUT_DIR/model.engine" --inputs "$OUT_DIR/bad.npz"; rc=$?
[[ $rc -eq 2 ]] || { echo "!! expected exit status 2, got $rc"; status=1; }

step "result: $([[ $status -eq 0 ]] && echo PASSED || echo FAILED) (files in $OUT_DIR)"
exit $status
