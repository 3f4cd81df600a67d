#!/usr/bin/env bash
# tools/sanitize_and_fuzz.sh - the C++ robustness checks.
#   1. the C++ unit tests built with AddressSanitizer + UndefinedBehaviorSanitizer (build/sanitize)
#   2. the libFuzzer targets (clang; build/fuzz), each run for FUZZ_SECONDS (default 30)
# Usage: tools/sanitize_and_fuzz.sh [--sanitize-only|--fuzz-only]
# Environment: FUZZ_SECONDS, FUZZ_CORPUS_DIR (default build/fuzz/corpus), CLANG_VERSION (default 14).
# clang and its libFuzzer runtime come from Debian (clang-14, libclang-rt-14-dev); they are
# installed with apt-get when missing and this runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MODE=${1:-all}
SECONDS_EACH=${FUZZ_SECONDS:-30}
CORPUS=${FUZZ_CORPUS_DIR:-$ROOT/build/fuzz/corpus}
CLANG_VERSION=${CLANG_VERSION:-14}
[[ -d $ROOT/.venv/bin ]] && PATH=$ROOT/.venv/bin:$PATH  # cmake's ninja
export PATH
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
status=0

if [[ $MODE != --fuzz-only ]]; then
  echo "== C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer (build/sanitize)"
  # The kernels are not run by these tests: one architecture keeps the nvcc part short.
  cmake -S . -B build/sanitize "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSORTPOOL_SANITIZE=ON \
    -DSORTPOOL_BUILD_ORT_OP=OFF -DSORTPOOL_CUDA_ARCHITECTURES=75-real >/dev/null
  cmake --build build/sanitize
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/sanitize --output-on-failure || status=1
fi

if [[ $MODE != --sanitize-only ]]; then
  echo "== libFuzzer targets, ${SECONDS_EACH} s each (build/fuzz)"
  if ! command -v "clang++-$CLANG_VERSION" >/dev/null 2>&1 || \
     ! ls /usr/lib/llvm-"$CLANG_VERSION"/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      echo "installing clang-$CLANG_VERSION and libclang-rt-$CLANG_VERSION-dev (Debian)"
      apt-get update -qq >/dev/null && apt-get install -y -qq "clang-$CLANG_VERSION" "libclang-rt-$CLANG_VERSION-dev" >/dev/null
    else
      echo "clang-$CLANG_VERSION with libFuzzer is missing and cannot be installed here" >&2
      exit 1
    fi
  fi
  CC=clang-$CLANG_VERSION CXX=clang++-$CLANG_VERSION cmake -S . -B build/fuzz "${gen[@]}" \
    -DSORTPOOL_BUILD_FUZZERS=ON -DSORTPOOL_BUILD_ORT_OP=OFF -DSORTPOOL_BUILD_TRT_PLUGIN=OFF \
    -DSORTPOOL_BUILD_TESTS=OFF >/dev/null
  cmake --build build/fuzz
  for target in build/fuzz/plugin/fuzz/sortpool_fuzz_*; do
    [[ -x $target ]] || continue
    name=$(basename "$target")
    mkdir -p "$CORPUS/$name" build/fuzz/artifacts
    echo "-- $name"
    if "$target" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/ \
        "$CORPUS/$name" > "build/fuzz/$name.log" 2>&1; then
      grep -E "^Done|stat::number_of_executed_units" "build/fuzz/$name.log" | tail -2
    else
      status=1
      grep -E "ERROR|runtime error|SUMMARY|Test unit written" "build/fuzz/$name.log" | head -10
      echo "$name FOUND A CRASH (artifact in build/fuzz/artifacts/, log build/fuzz/$name.log)"
    fi
  done
fi
exit $status
