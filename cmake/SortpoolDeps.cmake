# Locates the third-party headers sortpool compiles against.
#
# ONNX Runtime: an installed copy wins (onnxruntime_ROOT, CMAKE_PREFIX_PATH or standard paths);
# otherwise the pinned Debian libonnxruntime-dev headers fetched by tools/fetch_deps.py into .deps/.
# TensorRT: likewise (TensorRT_ROOT or standard paths), falling back to the pinned TensorRT
# 10.14.1 headers from the kernel-lens wheel.
#
# Sets SORTPOOL_ORT_INCLUDE_DIR and SORTPOOL_TRT_INCLUDE_DIR (either may be NOTFOUND).

set(SORTPOOL_DEPS_DIR "${PROJECT_SOURCE_DIR}/.deps" CACHE PATH "Where tools/fetch_deps.py unpacks headers")
find_package(Python3 COMPONENTS Interpreter)

function(_sortpool_fetch what)
  if(NOT SORTPOOL_FETCH_DEPS)
    return()
  endif()
  if(NOT Python3_Interpreter_FOUND)
    message(WARNING "sortpool: no Python interpreter to run tools/fetch_deps.py for ${what}")
    return()
  endif()
  message(STATUS "sortpool: fetching pinned ${what} headers into ${SORTPOOL_DEPS_DIR}")
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" "${PROJECT_SOURCE_DIR}/tools/fetch_deps.py" --dest "${SORTPOOL_DEPS_DIR}" ${what}
    RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(WARNING "sortpool: tools/fetch_deps.py ${what} failed (exit ${_rc})")
  endif()
endfunction()

# ONNX Runtime ---------------------------------------------------------------------------------
find_path(SORTPOOL_ORT_INCLUDE_DIR onnxruntime_lite_custom_op.h
  HINTS "${onnxruntime_ROOT}" ENV onnxruntime_ROOT
  PATH_SUFFIXES include include/onnxruntime include/onnxruntime/core/session)
if(NOT SORTPOOL_ORT_INCLUDE_DIR AND (SORTPOOL_BUILD_ORT_OP OR SORTPOOL_BUILD_FUZZERS))
  if(NOT EXISTS "${SORTPOOL_DEPS_DIR}/onnxruntime/include/onnxruntime_lite_custom_op.h")
    _sortpool_fetch(onnxruntime)
  endif()
  unset(SORTPOOL_ORT_INCLUDE_DIR CACHE)
  find_path(SORTPOOL_ORT_INCLUDE_DIR onnxruntime_lite_custom_op.h
    PATHS "${SORTPOOL_DEPS_DIR}/onnxruntime/include" NO_DEFAULT_PATH)
endif()
if(SORTPOOL_ORT_INCLUDE_DIR)
  message(STATUS "sortpool: ONNX Runtime headers: ${SORTPOOL_ORT_INCLUDE_DIR}")
endif()

# TensorRT -------------------------------------------------------------------------------------
find_path(SORTPOOL_TRT_INCLUDE_DIR NvInferRuntime.h
  HINTS "${TensorRT_ROOT}" ENV TensorRT_ROOT
  PATH_SUFFIXES include include/x86_64-linux-gnu)
if(NOT SORTPOOL_TRT_INCLUDE_DIR AND (SORTPOOL_BUILD_TRT_PLUGIN OR SORTPOOL_BUILD_FUZZERS))
  if(NOT EXISTS "${SORTPOOL_DEPS_DIR}/tensorrt/include/NvInferRuntime.h")
    _sortpool_fetch(tensorrt)
  endif()
  unset(SORTPOOL_TRT_INCLUDE_DIR CACHE)
  find_path(SORTPOOL_TRT_INCLUDE_DIR NvInferRuntime.h
    PATHS "${SORTPOOL_DEPS_DIR}/tensorrt/include" NO_DEFAULT_PATH)
endif()
if(SORTPOOL_TRT_INCLUDE_DIR)
  message(STATUS "sortpool: TensorRT headers: ${SORTPOOL_TRT_INCLUDE_DIR}")
endif()
