// trtHost.h - the TensorRT library this one runs in, reached without linking it (trtHost.cpp):
// which one it is, its plugin registry and its logger.
#pragma once

#include <cstdint>

namespace sortpool {
namespace trt {

// Major version of the TensorRT library loaded in this process (getInferLibMajorVersion), or 0
// when none is loaded. TensorRT for RTX numbers its own versions (1.x): runtimeIsRtx tells it apart.
int32_t runtimeMajorVersion() noexcept;
bool runtimeIsRtx() noexcept;
// Which IPluginV2DynamicExt vtable layout the loaded TensorRT expects of version "1" (the V2
// interfaces' vtables changed between TensorRT 10 and 11; the V3 interfaces did not): the
// headers' (same major version, or no TensorRT loaded: static linking, the GPU harness), TensorRT
// 11's (headers 10, runtime 11: common/trtV2Abi11.h), TensorRT 8.6's and 9.x's (common/trtV2Abi86.h), or
// none this build knows (version "1" is then not offered).
enum class V2Layout { kNone, kHeaders, kTrt11, kTrt86 };
V2Layout v2LayoutForRuntime() noexcept;
// Registers / deregisters a creator with the process's plugin registry, through the registry
// layout of the loaded TensorRT major version. `registry` may be null: then the registry of the
// loaded TensorRT library is used (getPluginRegistry looked up in the already-loaded library).
// `creator` is a creator as the loaded runtime receives it (see offeredCreators).
bool registryRegister(void* registry, void* creator, char const* ns) noexcept;
bool registryDeregister(void* registry, void* creator) noexcept;
void* registryFind(void* registry, char const* name, char const* version) noexcept;
void* loadedPluginRegistry() noexcept;
void setLoggerFinderAny(void* finder) noexcept;  // from the exported setLoggerFinder

}  // namespace trt
}  // namespace sortpool
