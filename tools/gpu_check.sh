#!/usr/bin/env bash
# tools/gpu_check.sh - one prepared check of the TensorRT plugin on a GPU machine.
#
#   tools/gpu_check.sh               build, correctness harness, compute-sanitizer memcheck, benchmark
#   tools/gpu_check.sh --build-only  just build the plugin and the harness (works without a GPU)
#
# Needs cmake (>= 3.24), ninja or make, nvcc, and the TensorRT headers: an installed TensorRT
# (TensorRT_ROOT) or .deps/tensorrt/include from tools/fetch_deps.py (an ignored folder: carry it
# to a machine that cannot download). No TensorRT library is needed: the harness links the
# plugin's static library and drives the plugins directly. Environment:
#   SORTPOOL_GPU_BUILD_DIR      build folder (default build/gpu-check)
#   SORTPOOL_CUDA_ARCHITECTURES CUDA architectures (default: "native" with a GPU, the project's list without)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${SORTPOOL_GPU_BUILD_DIR:-build/gpu-check}
MODE=${1:-all}
LOG=$BUILD/gpu_check.log

for d in /usr/local/cuda/bin "$ROOT/.venv/bin"; do [ -d "$d" ] && PATH="$PATH:$d"; done
export PATH

have_gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then have_gpu=1; fi
if [ -z "${SORTPOOL_CUDA_ARCHITECTURES:-}" ]; then
  if [ $have_gpu = 1 ]; then SORTPOOL_CUDA_ARCHITECTURES=native; fi
fi
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)

mkdir -p "$BUILD"
: >"$LOG"
status_build=FAIL status_harness=skipped status_memcheck=skipped status_bench=skipped

echo "== configure + build ($BUILD)"
t0=$(date +%s)
cfg=(-S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSORTPOOL_BUILD_ORT_OP=OFF -DSORTPOOL_BUILD_TESTS=ON
     -DSORTPOOL_EXPERIMENTAL_KERNELS=ON)
[ -n "${SORTPOOL_CUDA_ARCHITECTURES:-}" ] && cfg+=("-DSORTPOOL_CUDA_ARCHITECTURES=$SORTPOOL_CUDA_ARCHITECTURES")
if cmake "${cfg[@]}" >>"$LOG" 2>&1 &&
   cmake --build "$BUILD" -j"$(nproc)" --target sortpool_trt_plugin sortpool_trt_cpu_test sortpool_trt_gpu_harness >>"$LOG" 2>&1; then
  status_build="ok ($(( $(date +%s) - t0 )) s)"
else
  tail -30 "$LOG"
  echo "build FAILED (full log: $LOG)"
  exit 1
fi
HARNESS=$BUILD/plugin/tensorrt/sortpool_trt_gpu_harness
"$BUILD/plugin/tensorrt/sortpool_trt_cpu_test" >>"$LOG" 2>&1 && status_cpu=ok || status_cpu=FAIL
echo "built: $BUILD/plugin/tensorrt/libsortpool_trt_plugin.so, $HARNESS (cpu test: $status_cpu)"
if [ "$MODE" = "--build-only" ]; then exit 0; fi
if [ $have_gpu = 0 ]; then echo "no GPU (nvidia-smi): stopping after the build"; exit 1; fi

echo "== correctness harness"
if "$HARNESS" 2>&1 | tee -a "$LOG" | tail -5; then status_harness=ok; else status_harness=FAIL; fi

echo "== compute-sanitizer memcheck (quick sweep)"
if command -v compute-sanitizer >/dev/null 2>&1; then
  if compute-sanitizer --tool memcheck --error-exitcode 9 "$HARNESS" --quick >>"$LOG" 2>&1; then
    status_memcheck=ok
  else
    status_memcheck="FAIL (see $LOG)"
    grep -m5 -E "Invalid|ERROR SUMMARY" "$LOG"
  fi
else
  status_memcheck="skipped (no compute-sanitizer)"
fi

echo "== benchmark (2x2 s2 k=4, >= 256 MB inputs)"
bench_out=$("$HARNESS" --bench 2>&1) && status_bench=ok || status_bench=FAIL
echo "$bench_out" | tee -a "$LOG"
PY=python3
torch_out=$($PY "$ROOT/benchmarks/gpu_torch_maxpool.py" 2>&1 | tail -3)
echo "$torch_out" | tee -a "$LOG"

echo "== PyTorch layer on CUDA (tests/torch/test_cuda.py, the CUDA case of test_autograd.py)"
status_torch=skipped
if python3 -c "import torch, pytest; assert torch.cuda.is_available()" >/dev/null 2>&1; then
  if PYTHONPATH=$ROOT/python:$ROOT/export python3 -m pytest -q -p no:cacheprovider tests/torch/test_cuda.py \
      tests/torch/test_autograd.py -k "cuda" >>"$LOG" 2>&1; then status_torch=ok; else status_torch="FAIL (see $LOG)"; fi
  tail -3 "$LOG"
fi

echo "== deployment tooling end to end (tools/gpu_check_tooling.sh: needs the full tensorrt package)"
status_tooling=skipped
if [ -x "$ROOT/tools/gpu_check_tooling.sh" ]; then
  SORTPOOL_TRT_PLUGIN=$BUILD/plugin/tensorrt/libsortpool_trt_plugin.so PY=${PY_TOOLING:-python3} \
    "$ROOT/tools/gpu_check_tooling.sh" "${OUT:-$BUILD}/tooling" >>"$LOG" 2>&1
  case $? in
    0) status_tooling=ok ;;
    3) status_tooling="skipped (no TensorRT builder / CUDA binding here)" ;;
    *) status_tooling="FAIL (see $LOG)" ;;
  esac
fi

echo
echo "================ sortpool TensorRT plugin: GPU check ================"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/device: /'
printf '%-24s %s\n' "build" "$status_build" "cpu test" "$status_cpu" "correctness harness" "$status_harness" \
  "memcheck" "$status_memcheck" "benchmark" "$status_bench" "torch layer on CUDA" "$status_torch" "tooling (build/run/check)" "$status_tooling"
echo "$bench_out" | grep -E "^(type|fp32|fp16)"
echo "$torch_out"
echo "(target: kernel >= 85% of the D2D copy bandwidth; full log: $LOG)"
case "$status_harness$status_memcheck$status_bench" in *FAIL*) exit 1 ;; esac
exit 0
