// sortedWeightedPoolLibrary.cpp - what only the shared library has: the loader entry points TensorRT
// looks up (getCreators, getPluginCreators, setLoggerFinder) and self-registration on load.
//
// Self-registration vs. IPluginRegistry::loadLibrary. Loading the library with dlopen/ctypes
// registers the creators from a static initialiser, if a TensorRT library is already loaded in the
// process (otherwise call sortpoolInitPlugins later). loadLibrary, however, also dlopens the
// library (running that same initialiser, or none if the library was already loaded) and then
// registers whatever getCreators returns, under its library handle; a creator registered twice
// would be refused as a duplicate. So getCreators first withdraws any creators this library
// registered by itself and hands them to TensorRT: after loadLibrary the registry holds exactly
// one registration of each creator, owned by the library handle (deregisterLibrary removes it).
#include <cstdlib>
#include <mutex>

#include "sortedWeightedPoolCreators.h"

#define SORTPOOL_EXPORT extern "C" __attribute__((visibility("default")))

namespace {
using namespace sortpool::trt;

std::mutex gSelfMutex;
void* gSelfRegistered[kCreatorCount] = {};  // the creators registered by themselves, by CreatorIndex
void* gSelfRegistry = nullptr;

// first/last: the range of CreatorIndex entries to withdraw.
void withdrawSelfRegistration(int32_t first, int32_t last) noexcept {
    std::lock_guard<std::mutex> lock(gSelfMutex);
    for (int32_t i = first; i <= last; ++i)
        if (gSelfRegistered[i] != nullptr) {
            registryDeregister(gSelfRegistry, gSelfRegistered[i]);
            gSelfRegistered[i] = nullptr;
        }
}

struct SelfRegistration {
    SelfRegistration() noexcept {
        try {
            // Opt-out for applications that want to register explicitly (sortpoolInitPlugins).
            char const* off = std::getenv("SORTPOOL_TRT_NO_SELF_REGISTER");
            if (off != nullptr && off[0] != '\0' && off[0] != '0') return;
            if (runtimeMajorVersion() == 0) return;  // no TensorRT loaded yet
            void* registry = loadedPluginRegistry();
            if (registry == nullptr) return;
            std::lock_guard<std::mutex> lock(gSelfMutex);
            gSelfRegistry = registry;
            void* const* list = offeredCreators();
            for (int32_t i = 0; i < kCreatorCount; ++i)
                if (list[i] != nullptr && registryRegister(registry, list[i], "")) gSelfRegistered[i] = list[i];
        } catch (...) {
        }
    }
    // No destructor work: the library is linked with -z nodelete, so it is never unmapped and a
    // self-registered creator can never dangle (and nothing is called into a TensorRT that may
    // already be torn down at process exit).
};
SelfRegistration gSelfRegistration;
}  // namespace

SORTPOOL_EXPORT void setLoggerFinder(void* finder) { setLoggerFinderAny(finder); }

#if SORTPOOL_TRT_HEADERS_HAVE_V3
SORTPOOL_EXPORT nvinfer1::IPluginCreatorInterface* const* getCreators(int32_t& nbCreators) {
    withdrawSelfRegistration(kV3, kV2);
    return creatorList(&nbCreators);
}
#endif

SORTPOOL_EXPORT nvinfer1::IPluginCreator* const* getPluginCreators(int32_t& nbCreators) {
    withdrawSelfRegistration(kV2, kV2);
    return legacyCreatorList(&nbCreators);
}
