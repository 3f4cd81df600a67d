#!/usr/bin/env bash
# tools/check_v2_abi.sh - check plugin version "1" (IPluginV2DynamicExt) against the TensorRT
# headers and runtime of another major version than the pinned headers (e.g. TensorRT 11).
#
# Builds plugin/tensorrt/tests/v2_abi_check.cpp against TRT_INCLUDE (those headers' vtable layout),
# loads the runtime library TRT_LIB, opens the plugin library with dlopen and calls every
# IPluginV2DynamicExt method through that layout. Nothing here is fetched: bring the headers of
# the TensorRT you deploy (an install's include/ folder). Results: docs/tensorrt.md.
#   usage: tools/check_v2_abi.sh TRT_INCLUDE TRT_LIB [PLUGIN_LIB]
#     TRT_INCLUDE  folder with NvInferRuntime.h of the TensorRT to check against
#     TRT_LIB      libnvinfer.so.N or libnvinfer_lean.so.N of the same major version; without a
#                  TensorRT 8/9 install, the stand-in built from plugin/tensorrt/tests/trt8_stand_in.cpp
#                  as libnvinfer.so.8 (or .9 with -DSTAND_IN_VERSION=9300)
#     PLUGIN_LIB   default: the installed sortpool package's library (sortpool.trt_plugin_path())
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { sed -n '2,14p' "$0"; exit 2; }
inc=$1 lib=$2
plugin=${3:-$(${PYTHON:-.venv/bin/python} -c 'import sortpool; print(sortpool.trt_plugin_path() or "")')}
[[ -n $plugin ]] || { echo "check_v2_abi: no plugin library (not built?)" >&2; exit 2; }
cuda_inc=${CUDA_HOME:-/usr/local/cuda}/include
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
g++ -std=c++17 -O1 -Wall -Wno-deprecated-declarations -isystem "$inc" -isystem "$cuda_inc" \
  -Iplugin/tensorrt/tests plugin/tensorrt/tests/v2_abi_check.cpp -ldl -o "$out/v2_abi_check"
"$out/v2_abi_check" "$lib" "$plugin"
