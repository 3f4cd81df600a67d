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
}  // namespace

namespace {
// A TensorRT older than 10 is loaded: it has neither IPluginV3 nor a V2 layout this build knows.
bool tooOldRuntime() noexcept {
    int32_t const major = runtimeMajorVersion();
    return major > 0 && major < 10;
}

void reportTooOld() noexcept {
    try {
        reportError(std::string(kOpType) + ": TensorRT " + std::to_string(runtimeMajorVersion()) +
                    " is loaded; this plugin library supports TensorRT 10 and later (version 2, IPluginV3) and "
                    "TensorRT " + std::to_string(NV_TENSORRT_MAJOR) +
                    (SORTPOOL_HAS_V2_ABI11 ? " and 11" : "") + " (version 1, IPluginV2DynamicExt)");
    } catch (...) {
    }
}
}  // namespace

nvinfer1::IPluginCreatorInterface* const* creatorList(int32_t* count) noexcept {
    static nvinfer1::IPluginCreatorInterface* const withV2[] = {&v3Creator(), &v2Creator()};
    *count = tooOldRuntime() ? 0 : v2LayoutForRuntime() != V2Layout::kNone ? 2 : 1;
    if (*count == 0) reportTooOld();
    return withV2;
}

nvinfer1::IPluginCreator* const* legacyCreatorList(int32_t* count) noexcept {
    static nvinfer1::IPluginCreator* const list[] = {&v2Creator()};
    *count = v2LayoutForRuntime() != V2Layout::kNone ? 1 : 0;
    if (tooOldRuntime()) reportTooOld();
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
        int32_t n = 0, ok = 0;
        nvinfer1::IPluginCreatorInterface* const* list = creatorList(&n);
        if (n == 0) return -1;  // reported by creatorList
        for (int32_t i = 0; i < n; ++i) {
            if (registryRegister(registry, *list[i], "")) {
                ++ok;
                continue;
            }
            // Already there (an earlier call, or loadLibrary) counts as registered.
            if (registryFind(registry, kPluginName, i == 0 ? kPluginVersionV3 : kPluginVersionV2Ext) != nullptr)
                ++ok;
        }
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
