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
# The log goes where the device tool sends files back ($OUT) when there is one.
LOG=${OUT:-$BUILD}/gpu_check.log

for d in /usr/local/cuda/bin "$ROOT/.venv/bin"; do [ -d "$d" ] && PATH="$PATH:$d"; done
export PATH

have_gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then have_gpu=1; fi
if [ -z "${SORTPOOL_CUDA_ARCHITECTURES:-}" ]; then
  if [ $have_gpu = 1 ]; then SORTPOOL_CUDA_ARCHITECTURES=native; fi
fi
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)

mkdir -p "$BUILD" "$(dirname "$LOG")"
: >"$LOG"
status_build=FAIL status_harness=skipped status_memcheck=skipped status_memcheck_variants=skipped status_bench=skipped
variant_rows=""

# The TensorRT headers must be here already: the device machine cannot download them, and a
# failed fetch would cost minutes of device time.
if [ -z "${TensorRT_ROOT:-}" ] && [ ! -f "$ROOT/.deps/tensorrt/include/NvInferRuntime.h" ] &&
   [ ! -f /usr/include/x86_64-linux-gnu/NvInferRuntime.h ] && [ ! -f /usr/include/NvInferRuntime.h ]; then
  echo "no TensorRT headers: set TensorRT_ROOT or carry .deps/tensorrt (tools/fetch_deps.py tensorrt)"
  exit 1
fi

echo "== configure + build ($BUILD)"
t0=$(date +%s)
cfg=(-S . -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSORTPOOL_BUILD_ORT_OP=OFF -DSORTPOOL_BUILD_TESTS=ON
     -DSORTPOOL_EXPERIMENTAL_KERNELS=ON -DSORTPOOL_FETCH_DEPS=OFF)
[ -n "${SORTPOOL_CUDA_ARCHITECTURES:-}" ] && cfg+=("-DSORTPOOL_CUDA_ARCHITECTURES=$SORTPOOL_CUDA_ARCHITECTURES")
if timeout 420 cmake "${cfg[@]}" >>"$LOG" 2>&1 &&
   timeout 420 cmake --build "$BUILD" -j"$(nproc)" --target sortpool_trt_plugin sortpool_rtx_soname sortpool_trt_cpu_test sortpool_trt_gpu_harness >>"$LOG" 2>&1; then
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

# Each stage has a time limit (a hang must not eat the device time and the summary), and the
# production runs go first, each experimental variant in a process of its own: a variant that
# faults ends only its own process.
echo "== correctness harness: the plugin runs (v1 through a clone, v2, v1 in TensorRT 8.6's layout)"
timeout 300 "$HARNESS" --runs plugins >"$BUILD/harness_plugins.txt" 2>&1
rc=$?
cat "$BUILD/harness_plugins.txt" >>"$LOG"
tail -6 "$BUILD/harness_plugins.txt"
case $rc in 0) status_harness=ok ;; 124) status_harness="FAIL (timed out)" ;; *) status_harness="FAIL (exit $rc)" ;; esac
variant_rows=$(grep -E "^run " "$BUILD/harness_plugins.txt")

echo "== correctness harness: the experimental variants, one process each"
for v in rows-unroll2 rows-half2 flat flat-half2; do
  timeout 120 "$HARNESS" --runs "$v" >"$BUILD/harness_$v.txt" 2>&1
  rc=$?
  cat "$BUILD/harness_$v.txt" >>"$LOG"
  row=$(grep -E "^run " "$BUILD/harness_$v.txt")
  [ $rc = 0 ] || [ $rc = 4 ] || row="run $v: the process ended with exit $rc: $(grep -m1 -E "while:|error" "$BUILD/harness_$v.txt")"
  echo "$row"
  variant_rows="$variant_rows"$'\n'"$row"
done

# compute-sanitizer's exit 9 means a memory error; the harness's own 1/4 a mismatch; anything else
# (e.g. "Device not supported") that the sanitizer could not run.
memcheck() {  # memcheck RUNS LABEL -> sets memcheck_status
  local out="$BUILD/memcheck_$2.txt" rc
  timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 "$HARNESS" --quick --runs "$1" >"$out" 2>&1
  rc=$?
  cat "$out" >>"$LOG"
  case $rc in
    0) memcheck_status=ok ;;
    9) memcheck_status="FAIL: memory errors"; grep -m3 -A2 -E "Invalid|ERROR SUMMARY" "$out" ;;
    1|4) memcheck_status="no memory error, but mismatching outputs (exit $rc)" ;;
    124) memcheck_status="FAIL (timed out)" ;;
    *) memcheck_status="could not run (exit $rc): $(grep -m1 -iE "error|not supported" "$out")" ;;
  esac
}
echo "== compute-sanitizer memcheck (quick sweep): plugin runs, then the experimental variants"
if command -v compute-sanitizer >/dev/null 2>&1; then
  memcheck plugins plugins; status_memcheck=$memcheck_status
  memcheck variants variants; status_memcheck_variants=$memcheck_status
else
  status_memcheck="skipped (no compute-sanitizer)"
  status_memcheck_variants=$status_memcheck
fi

echo "== benchmark (2x2 s2 k=4, >= 256 MB inputs)"
bench_out=$(timeout 300 "$HARNESS" --bench 2>&1) && status_bench=ok || status_bench=FAIL
echo "$bench_out" | tee -a "$LOG"
PY=python3
torch_out=$(timeout 180 $PY "$ROOT/benchmarks/gpu_torch_maxpool.py" 2>&1 | tail -3)
echo "$torch_out" | tee -a "$LOG"

echo "== PyTorch layer on CUDA (tests/torch/test_cuda.py, the CUDA case of test_autograd.py)"
status_torch=skipped
if python3 -c "import torch, pytest; assert torch.cuda.is_available()" >/dev/null 2>&1; then
  if PYTHONPATH=$ROOT/python:$ROOT/export timeout 240 python3 -m pytest -q -p no:cacheprovider tests/torch/test_cuda.py \
      tests/torch/test_autograd.py -k "cuda" >>"$LOG" 2>&1; then status_torch=ok; else status_torch="FAIL (see $LOG)"; fi
  tail -3 "$LOG"
  echo "== PyTorch layer's training step on CUDA against max_pool2d (benchmarks/bench_torch_layer.py --device cuda)"
  PYTHONPATH=$ROOT/python:$ROOT/export timeout 240 python3 "$ROOT/benchmarks/bench_torch_layer.py" --device cuda \
    --repeats 25 2>&1 | tee -a "$LOG" | tail -16
  # float16, a large input, and torch.compile (inductor; two cases, compile time is not timed).
  for extra in "--dtype float16 --repeats 25" "--shape 64,64,112,112 --repeats 11" \
               "--compile inductor --cases 2,6 --repeats 25"; do
    echo "== bench_torch_layer.py --device cuda $extra"
    # shellcheck disable=SC2086
    PYTHONPATH=$ROOT/python:$ROOT/export timeout 200 python3 "$ROOT/benchmarks/bench_torch_layer.py" --device cuda \
      $extra 2>&1 | tee -a "$LOG" | tail -16
  done
fi

echo "== deployment tooling end to end (tools/gpu_check_tooling.sh: needs the full tensorrt package)"
status_tooling=skipped
if [ -x "$ROOT/tools/gpu_check_tooling.sh" ]; then
  SORTPOOL_TRT_PLUGIN=$BUILD/plugin/tensorrt/libsortpool_trt_plugin.so PY=${PY_TOOLING:-python3} \
    timeout 240 "$ROOT/tools/gpu_check_tooling.sh" "${OUT:-$BUILD}/tooling" >>"$LOG" 2>&1
  case $? in
    0) status_tooling=ok ;;
    3) status_tooling="skipped (no TensorRT builder / CUDA binding here)" ;;
    *) status_tooling="FAIL (see $LOG)" ;;
  esac
fi

echo "== TensorRT for RTX on this GPU (tools/gpu_check_rtx.py: only a card TensorRT for RTX targets)"
rtx_line=$(SORTPOOL_TRT_PLUGIN=$BUILD/plugin/tensorrt/libsortpool_trt_plugin.so PYTHONPATH=$ROOT/python \
  timeout 240 ${PY_TOOLING:-python3} "$ROOT/tools/gpu_check_rtx.py" "${OUT:-$BUILD}/rtx" 2>>"$LOG" | tee -a "$LOG" | tail -1)
case $? in
  0) status_rtx="ok: $rtx_line" ;;
  3) status_rtx=$rtx_line ;;
  *) status_rtx="FAIL: ${rtx_line:-see $LOG}" ;;
esac

echo
echo "================ sortpool TensorRT plugin: GPU check ================"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/device: /'
printf '%-26s %s\n' "build" "$status_build" "cpu test" "$status_cpu" "correctness (plugin runs)" "$status_harness" \
  "memcheck (plugin runs)" "$status_memcheck" "memcheck (experimental)" "$status_memcheck_variants" \
  "benchmark" "$status_bench" "torch layer on CUDA" "$status_torch" "tooling (build/run/check)" "$status_tooling" \
  "TensorRT for RTX" "$status_rtx"
echo "$variant_rows" | sed '/^$/d'
echo "$bench_out" | grep -E "^(type|fp32|fp16)"
echo "$torch_out"
echo "(target: kernel >= 85% of the D2D copy bandwidth; full log: $LOG)"
# The exit status follows production: the plugin runs, their memcheck and the benchmark.
case "$status_harness$status_memcheck$status_bench" in *FAIL*) exit 1 ;; esac
exit 0
