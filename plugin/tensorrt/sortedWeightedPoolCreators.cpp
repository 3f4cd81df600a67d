// sortedWeightedPoolCreators.cpp - the creator list and explicit registration (static and shared
// library). The shared library's loader entry points are in sortedWeightedPoolLibrary.cpp.
#include "sortedWeightedPoolCreators.h"

#include "sortedWeightedPoolPlugin.h"
#include "sortedWeightedPoolPluginLegacy.h"

#include <string>

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace sortpool {
namespace trt {

namespace {
#if SORTPOOL_TRT_HEADERS_HAVE_V3
SortedWeightedPoolPluginCreator& v3Creator() {
    static SortedWeightedPoolPluginCreator creator;
    return creator;
}
#endif
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

namespace {
// Every list the entry points can hand out, built once (function-local static initialisation is
// thread-safe) and never written again, so loaders on several threads read constant data.
// Indexed by [version "2" offered][version "1" creator: none, headers' or 11 layout, 8.6 layout].
struct CreatorTables {
    void* offered[2][3][kCreatorCount] = {};
#if SORTPOOL_TRT_HEADERS_HAVE_V3
    nvinfer1::IPluginCreatorInterface* current[2][3][kCreatorCount] = {};  // getCreators
    int32_t currentCount[2][3] = {};
#endif
    nvinfer1::IPluginCreator* legacy[3][1] = {};  // getPluginCreators
};

CreatorTables const& creatorTables() noexcept {
    static CreatorTables const tables = [] {
        CreatorTables t;
        void* const v2[3] = {nullptr, static_cast<nvinfer1::IPluginCreator*>(&v2Creator()),
                             static_cast<abi86::IPluginCreator*>(&v2Creator86())};
#if SORTPOOL_TRT_HEADERS_HAVE_V3
        nvinfer1::IPluginCreatorInterface* const v3 = &v3Creator();
#else
        void* const v3 = nullptr;  // headers without IPluginV3: version "1" only
#endif
        for (int withV3 = 0; withV3 < 2; ++withV3)
            for (int layout = 0; layout < 3; ++layout) {
                t.offered[withV3][layout][kV3] = withV3 ? v3 : nullptr;
                t.offered[withV3][layout][kV2] = v2[layout];
#if SORTPOOL_TRT_HEADERS_HAVE_V3
                // Only TensorRT 10+ calls getCreators; a TensorRT 8 creator never goes into that list.
                int32_t& n = t.currentCount[withV3][layout];
                if (!withV3) continue;
                t.current[withV3][layout][n++] = v3;
                if (v2[layout] != nullptr)
                    t.current[withV3][layout][n++] = static_cast<nvinfer1::IPluginCreator*>(v2[layout]);
#endif
            }
        // The TensorRT 8 creator goes out as the IPluginCreator of that runtime.
        for (int layout = 0; layout < 3; ++layout) t.legacy[layout][0] = static_cast<nvinfer1::IPluginCreator*>(v2[layout]);
        return t;
    }();
    return tables;
}

struct Offer {
    int withV3;
    int layout;  // the second index of CreatorTables
};

Offer currentOffer() noexcept {
    int32_t const major = runtimeMajorVersion();
    Offer o{major == 0 || major >= 10 || runtimeIsRtx() ? 1 : 0, 0};
    switch (v2LayoutForRuntime()) {
    case V2Layout::kHeaders:
    case V2Layout::kTrt11: o.layout = 1; break;
    case V2Layout::kTrt86: o.layout = 2; break;
    default: o.layout = 0; break;
    }
    if (!o.withV3 && o.layout == 0) reportNothingOffered(major);
    return o;
}
}  // namespace

void* const* offeredCreators() noexcept {
    Offer const o = currentOffer();
    return creatorTables().offered[o.withV3][o.layout];
}

#if SORTPOOL_TRT_HEADERS_HAVE_V3
nvinfer1::IPluginCreatorInterface* const* creatorList(int32_t* count) noexcept {
    Offer const o = currentOffer();
    *count = creatorTables().currentCount[o.withV3][o.layout];
    return creatorTables().current[o.withV3][o.layout];
}
#endif

nvinfer1::IPluginCreator* const* legacyCreatorList(int32_t* count) noexcept {
    Offer const o = currentOffer();
    *count = o.layout != 0 ? 1 : 0;
    return creatorTables().legacy[o.layout];
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
extern "C" char const* sortpoolTrtRuntimeName(void) {
    if (runtimeMajorVersion() == 0) return "";
    return runtimeIsRtx() ? "TensorRT-RTX" : "TensorRT";
}
