// sortpool_trt_plugin.h - public entry points of the SortedWeightedPool TensorRT plugin library.
//
// Three ways to make the plugin known to TensorRT:
//   (a) load libsortpool_trt_plugin.so (dlopen / ctypes.CDLL) after TensorRT is loaded: the
//       library registers its creators itself;
//   (b) IPluginRegistry::loadLibrary / trtexec --dynamicPlugins: TensorRT reads the exported
//       getCreators (V3 entry point) / getPluginCreators (V2) and owns the registration;
//   (c) link the static library sortpool_trt_plugin_static into the application and call
//       sortpoolInitPlugins(getPluginRegistry()) once.
// (a) then (b) in one process is fine: loadLibrary takes the self-registered creators over.
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Registers the SortedWeightedPool creators ("2" = IPluginV3, and "1" = IPluginV2DynamicExt when
// the loaded TensorRT has an ABI this library knows; never for TensorRT for RTX) with `registry`, an
// nvinfer1::IPluginRegistry* (NULL: the registry of the TensorRT library loaded in the process).
// Creators already registered count as success. Returns the number of creators now registered,
// or -1 if none could be (the reason is in sortpoolTrtLastError()).
__attribute__((visibility("default"))) int32_t sortpoolInitPlugins(void* registry);

// The calling thread's last error message from this library ("" if none): createPlugin and
// deserializePlugin failures, bad fields, shape errors.
__attribute__((visibility("default"))) char const* sortpoolTrtLastError(void);

// Major version of the TensorRT library this one talks to (0 if none is loaded) and the major
// version of the headers it was compiled with.
__attribute__((visibility("default"))) int32_t sortpoolTrtRuntimeMajor(void);
// Which product that library is: "TensorRT", "TensorRT-RTX" (TensorRT for RTX, whose major
// versions are its own: 1.x; only version "2" is offered to it), or "" when none is loaded.
__attribute__((visibility("default"))) char const* sortpoolTrtRuntimeName(void);
__attribute__((visibility("default"))) int32_t sortpoolTrtCompiledMajor(void);

#ifdef __cplusplus
}  // extern "C"
#endif
