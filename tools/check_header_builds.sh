#!/usr/bin/env bash
# tools/check_header_builds.sh - build the plugin library against other TensorRT headers and check
# what it registers with a TensorRT 8.6 / 9.x stand-in runtime (plugin/tensorrt/tests/trt8_stand_in.cpp).
#
#   usage: tools/check_header_builds.sh INCLUDE_DIR [INCLUDE_DIR ...]
#     INCLUDE_DIR  a folder with NvInferRuntime.h (a TensorRT install's include/, or NVIDIA/TensorRT's
#                  include/ at a release tag); nothing is fetched here. Results: docs/tensorrt.md.
# One CUDA architecture (the host code is what differs between header sets); exit 1 if a build fails.
set -uo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { sed -n '2,9p' "$0"; exit 2; }
PY=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for v in 8601 9300; do
  g++ -std=c++17 -shared -fPIC -DSTAND_IN_VERSION=$v -o "$work/libnvinfer.so.${v:0:1}" plugin/tensorrt/tests/trt8_stand_in.cpp
done
status=0
for inc in "$@"; do
  b=$work/build-$(echo "$inc" | tr '/' '_')
  if cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSORTPOOL_BUILD_ORT_OP=OFF -DSORTPOOL_BUILD_TESTS=OFF \
       -DSORTPOOL_FETCH_DEPS=OFF -DSORTPOOL_TRT_INCLUDE_DIR="$inc" -DSORTPOOL_CUDA_ARCHITECTURES=90-real >"$b.log" 2>&1 &&
     cmake --build "$b" --target sortpool_trt_plugin >>"$b.log" 2>&1; then
    lib=$b/plugin/tensorrt/libsortpool_trt_plugin.so
    for v in 8601 9300; do
      "$PY" - "$work/libnvinfer.so.${v:0:1}" "$lib" "$inc" "$v" <<'PYEOF'
import ctypes, sys
trt = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)
trt.standInRegisteredCreators.restype = ctypes.c_char_p
lib = ctypes.CDLL(sys.argv[2])  # self-registers with the stand-in's registry
print(f"{sys.argv[3]}: built; stand-in {sys.argv[4]}: registered {trt.standInRegisteredCreators().decode() or 'nothing'}"
      f"{'' if hasattr(lib, 'getCreators') else ' (no getCreators: headers without IPluginV3)'}")
PYEOF
    done
  else
    echo "$inc: BUILD FAILED: $(grep -m1 'error' "$b.log")"
    status=1
  fi
done
exit $status
