// sortpoolPluginRegistry.cpp - the creator list and explicit registration (static and shared
// library). The shared library's loader entry points are in sortpoolPluginEntry.cpp.
#include "sortpoolPluginRegistry.h"

#include "sortedWeightedPoolPlugin.h"
#include "sortedWeightedPoolPluginLegacy.h"

#include <string>

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace sortpool {
namespace trt {

namespace {
SortedWeightedPoolPluginCreator& v3Creator() {
    static SortedWeightedPoolPluginCreator creator;
    return creator;
}
SortedWeightedPoolPluginLegacyCreator& v2Creator() {
    static SortedWeightedPoolPluginLegacyCreator creator;
    return creator;
}
SortedWeightedPoolPluginLegacyCreator86& v2Creator86() {
    static SortedWeightedPoolPluginLegacyCreator86 creator;
    return creator;
}

void reportNothingOffered(int32_t major) noexcept {
    try {
        reportError(std::string(kOpType) + ": TensorRT " + std::to_string(major) +
                    " is loaded; this plugin library supports TensorRT 10 and later (version 2, IPluginV3) and "
                    "TensorRT 8.6, 9.x, " + std::to_string(NV_TENSORRT_MAJOR) + (SORTPOOL_HAS_V2_ABI11 ? " and 11" : "") +
                    " (version 1, IPluginV2DynamicExt)");
    } catch (...) {
    }
}
}  // namespace

void* const* offeredCreators() noexcept {
    static void* list[kCreatorCount] = {};  // rewritten with the same values on every call
    int32_t const major = runtimeMajorVersion();
    V2Layout const layout = v2LayoutForRuntime();
    bool const v3 = major == 0 || major >= 10;
    list[kV3] = v3 ? static_cast<nvinfer1::IPluginCreatorInterface*>(&v3Creator()) : nullptr;
    switch (layout) {
    case V2Layout::kHeaders:
    case V2Layout::kTrt11: list[kV2] = static_cast<nvinfer1::IPluginCreator*>(&v2Creator()); break;
    case V2Layout::kTrt86: list[kV2] = static_cast<abi86::IPluginCreator*>(&v2Creator86()); break;
    default: list[kV2] = nullptr; break;
    }
    if (list[kV3] == nullptr && list[kV2] == nullptr) reportNothingOffered(major);
    return list;
}

nvinfer1::IPluginCreatorInterface* const* creatorList(int32_t* count) noexcept {
    static nvinfer1::IPluginCreatorInterface* list[kCreatorCount] = {};
    void* const* offered = offeredCreators();
    *count = 0;
    // Only TensorRT 10+ calls getCreators; a TensorRT 8 creator never goes into this list.
    if (offered[kV3] == nullptr) return list;
    list[(*count)++] = static_cast<nvinfer1::IPluginCreatorInterface*>(offered[kV3]);
    if (offered[kV2] != nullptr) list[(*count)++] = static_cast<nvinfer1::IPluginCreator*>(offered[kV2]);
    return list;
}

nvinfer1::IPluginCreator* const* legacyCreatorList(int32_t* count) noexcept {
    static nvinfer1::IPluginCreator* list[1] = {};
    void* const* offered = offeredCreators();
    // The TensorRT 8 creator goes out as the IPluginCreator of that runtime.
    list[0] = static_cast<nvinfer1::IPluginCreator*>(offered[kV2]);
    *count = offered[kV2] != nullptr ? 1 : 0;
    return list;
}

}  // namespace trt
}  // namespace sortpool

using namespace sortpool::trt;

extern "C" int32_t sortpoolInitPlugins(void* registry) {
    try {
        if (registry == nullptr) registry = loadedPluginRegistry();
        if (registry == nullptr) {
            reportError("sortpoolInitPlugins: no plugin registry given and no TensorRT library is loaded");
            return -1;
        }
        int32_t offered = 0, ok = 0;
        void* const* list = offeredCreators();
        for (int32_t i = 0; i < kCreatorCount; ++i) {
            if (list[i] == nullptr) continue;
            ++offered;
            if (registryRegister(registry, list[i], "")) {
                ++ok;
                continue;
            }
            // Already there (an earlier call, or loadLibrary) counts as registered.
            if (registryFind(registry, kPluginName, i == kV3 ? kPluginVersionV3 : kPluginVersionV2Ext) != nullptr)
                ++ok;
        }
        if (offered == 0) return -1;  // reported by offeredCreators
        if (ok == 0) reportError("sortpoolInitPlugins: the registry refused the SortedWeightedPool creators");
        return ok == 0 ? -1 : ok;
    } catch (...) {
        reportError("sortpoolInitPlugins: unexpected exception");
        return -1;
    }
}

extern "C" char const* sortpoolTrtLastError(void) { return lastError(); }
extern "C" int32_t sortpoolTrtRuntimeMajor(void) { return runtimeMajorVersion(); }
extern "C" int32_t sortpoolTrtCompiledMajor(void) { return NV_TENSORRT_MAJOR; }
