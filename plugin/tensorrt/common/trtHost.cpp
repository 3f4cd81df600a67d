// common/trtHost.cpp - error reporting and the link to the TensorRT runtime library.
//
// The plugin library does not link libnvinfer: it only needs the plugin registry (for
// self-registration) and a logger, and finds both in the TensorRT library already loaded in the
// process (libnvinfer, libnvinfer_lean, libnvinfer_dispatch or TensorRT for RTX's
// libtensorrt_rtx, whichever is there; one host per process, the first loaded on a tie). That
// keeps the .so usable with every runtime, and lets the static library be linked into programs
// that have no TensorRT at all (the GPU harness).
//
// TensorRT 11 removed the IPluginCreator overloads of IPluginRegistry and made ILogger and
// ILoggerFinder IVersionedInterfaces, so the vtables of those three classes differ between
// TensorRT 10 and 11. The calls below therefore go through the layout of the major version that is
// actually loaded (read with getInferLibMajorVersion), not through whichever headers this file was
// compiled with. The IPluginV3 family and IPluginCreatorInterface are identical in 10 and 11.
#include "common/trtHost.h"

#include "common/pluginErrors.h"
#include "common/trtV2Abi11.h"
#include "common/trtV2Abi86.h"
#include "sortpool_core.h"

#include <dlfcn.h>
#include <link.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

namespace sortpool {
namespace trt {
namespace {

// --- the registry / logger vtable slots of TensorRT 10.x and 11.x ------------------------------
// Itanium C++ ABI: virtual functions occupy vtable slots in declaration order, a virtual
// destructor takes two, and a call passes the object as the first argument. The calls go through
// these explicit slots rather than through hand-declared classes, which the optimiser could
// devirtualise (it may assume it sees every implementation of an internal class).
//   IPluginRegistry 10.x: registerCreator(IPluginCreator&) 0, getPluginCreatorList 1,
//     getPluginCreator 2, ~ 3-4, setErrorRecorder 5, getErrorRecorder 6, deregisterCreator(V1) 7,
//     isParentSearchEnabled 8, setParentSearchEnabled 9, loadLibrary 10, deregisterLibrary 11,
//     registerCreator(IPluginCreatorInterface&) 12, getAllCreators 13, getCreator 14,
//     deregisterCreator(IPluginCreatorInterface const&) 15
//   IPluginRegistry 11.x: the four IPluginCreator members are gone, so ~ 0-1, ... registerCreator 8,
//     getAllCreators 9, getCreator 10, deregisterCreator 11
//   IPluginRegistry 8.6 / 9.x: slots 0-11 as in 10.x, and there the creators are (8.6) IPluginCreators:
//     registerCreator 0, getPluginCreator 2, deregisterCreator 7. ILogger::log is slot 0.
//   ILogger / ILoggerFinder 10.x: log / findLogger is slot 0. 11.x: both derive from
//     IVersionedInterface (getAPILanguage 0, getInterfaceInfo 1, ~ 2-3), so log / findLogger is 4.
//   TensorRT for RTX 1.x (its own version numbers) has 11.x's registry and logger layout: the same
//     IVersionedInterface ILogger / ILoggerFinder in namespace v_1_0 and no IPluginCreator members
//     (tests/trt_rtx checks each slot through its real registry and parser).
struct Slots {
    int registerCreator, getCreator, deregisterCreator, log, findLogger;
};
constexpr Slots kSlots10{12, 14, 15, 0, 0};
constexpr Slots kSlots11{8, 10, 11, 4, 4};
constexpr Slots kSlots8{0, 2, 7, 0, 0};

// The slot table of a TensorRT major version (TensorRT for RTX: `rtx`); nullptr for one this
// library does not know.
Slots const* slotsForMajor(int32_t major, bool rtx) noexcept {
    if (rtx || major >= 11) return &kSlots11;
    if (major == 10) return &kSlots10;
    if (major == 8 || major == 9) return &kSlots8;
    return nullptr;
}

template <typename Fn>
Fn slot(void* object, int index) {
    void** const vtable = *static_cast<void***>(object);
    return reinterpret_cast<Fn>(vtable[index]);
}

constexpr int32_t kSeverityError = 1;
constexpr int32_t kSeverityWarning = 2;

// --- the loaded TensorRT library ----------------------------------------------------------------
struct TrtLibrary {
    void* handle = nullptr;
    int32_t major = 0;
    int32_t version = 0;  // getInferLibVersion: major * 10000 + minor * 100 + patch (10 and later)
    bool rtx = false;     // TensorRT for RTX: its own version numbers, 11.x's layouts, IPluginV3 only
    void* (*getPluginRegistry)() = nullptr;
    void* (*getLogger)() = nullptr;
};

char const* baseName(char const* path) {
    char const* slash = std::strrchr(path, '/');
    return slash ? slash + 1 : path;
}

bool isRtxLibrary(char const* path) {
    constexpr char kRtxLibrary[] = "libtensorrt_rtx.so";
    return std::strncmp(baseName(path), kRtxLibrary, sizeof(kRtxLibrary) - 1) == 0;
}

int rank(char const* path) {
    if (isRtxLibrary(path)) return 3;  // a builder, like libnvinfer
    char const* base = baseName(path);
    if (std::strncmp(base, "libnvinfer", 10) != 0 || std::strstr(base, "plugin") != nullptr) return 0;
    if (std::strncmp(base, "libnvinfer.so", 13) == 0) return 3;
    if (std::strncmp(base, "libnvinfer_lean.so", 18) == 0) return 2;
    if (std::strncmp(base, "libnvinfer_dispatch.so", 22) == 0) return 1;
    return 0;
}

int pickLibrary(dl_phdr_info* info, size_t, void* data) {
    auto* best = static_cast<std::pair<int, std::string>*>(data);
    if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0') {
        int const r = rank(info->dlpi_name);
        if (r > best->first) *best = {r, info->dlpi_name};
    }
    return 0;
}

// Looked up on each use until found (TensorRT may be loaded after this library), then cached.
// Returns a copy taken under the lock: another thread may be filling the cache meanwhile.
TrtLibrary trtLibrary() noexcept {
    static std::mutex mutex;
    static TrtLibrary lib;
    std::lock_guard<std::mutex> lock(mutex);
    if (lib.handle != nullptr) return lib;
    std::pair<int, std::string> best{0, {}};
    dl_iterate_phdr(pickLibrary, &best);
    if (best.first == 0) return lib;
    void* h = dlopen(best.second.c_str(), RTLD_NOLOAD | RTLD_LAZY);  // only if already loaded
    if (h == nullptr) return lib;
    auto major = reinterpret_cast<int32_t (*)()>(dlsym(h, "getInferLibMajorVersion"));
    lib.getPluginRegistry = reinterpret_cast<void* (*)()>(dlsym(h, "getPluginRegistry"));
    lib.getLogger = reinterpret_cast<void* (*)()>(dlsym(h, "getLogger"));
    auto version = reinterpret_cast<int32_t (*)()>(dlsym(h, "getInferLibVersion"));
    lib.version = version ? version() : 0;
    // getInferLibMajorVersion exists since TensorRT 10; before it, getInferLibVersion was
    // major * 1000 + minor * 100 + patch (8601 for 8.6.1). A TensorRT 8/9 must be recognised as
    // such, or version "1" would be handed over with the headers' (10.x) vtable layout.
    lib.major = major ? major() : (lib.version >= 100000 ? lib.version / 10000 : lib.version / 1000);
    lib.rtx = isRtxLibrary(best.second.c_str());
    lib.handle = h;  // kept for the life of the process
    return lib;
}

std::mutex gLoggerMutex;
void* gLoggerFinder = nullptr;
thread_local std::string tLastError;

void logMessage(int32_t severity, std::string const& message) noexcept {
    try {
        TrtLibrary const& lib = trtLibrary();
        Slots const* sl = slotsForMajor(lib.major, lib.rtx);
        void* logger = nullptr;
        {
            std::lock_guard<std::mutex> lock(gLoggerMutex);
            // setLoggerFinder: TensorRT 10 and later, TensorRT for RTX
            if (gLoggerFinder != nullptr && sl != nullptr && (lib.major >= 10 || lib.rtx))
                logger = slot<void* (*)(void*)>(gLoggerFinder, sl->findLogger)(gLoggerFinder);
        }
        if (logger == nullptr && lib.getLogger != nullptr) logger = lib.getLogger();
        if (logger != nullptr && sl != nullptr)
            slot<void (*)(void*, int32_t, char const*)>(logger, sl->log)(logger, severity, message.c_str());
        else if (severity <= kSeverityError)
            std::fprintf(stderr, "[sortpool] %s\n", message.c_str());
    } catch (...) {
    }
}
}  // namespace

void reportError(std::string const& message) noexcept {
    try {
        tLastError = message;
    } catch (...) {
    }
    logMessage(kSeverityError, message);
}

void reportCaught(char const* version, char const* where) noexcept {
    std::string what = "unknown exception";
    try {
        throw;
    } catch (std::exception const& e) {
        what = e.what();
    } catch (...) {
    }
    try {
        reportError(std::string(kOpType) + " (version " + version + "): " + where + ": " + what);
    } catch (...) {
    }
}

void reportWarning(std::string const& message) noexcept { logMessage(kSeverityWarning, message); }

void clearLastError() noexcept { tLastError.clear(); }

char const* lastError() noexcept { return tLastError.c_str(); }

int32_t runtimeMajorVersion() noexcept {
    try {
        return trtLibrary().major;
    } catch (...) {
        return 0;
    }
}

bool runtimeIsRtx() noexcept {
    try {
        return trtLibrary().rtx;
    } catch (...) {
        return false;
    }
}

V2Layout v2LayoutForRuntime() noexcept {
    if (runtimeIsRtx()) return V2Layout::kNone;  // it imports IPluginV3 only
    int32_t const major = runtimeMajorVersion();
    if (major == 0 || major == NV_TENSORRT_MAJOR) return V2Layout::kHeaders;
#if SORTPOOL_HAS_V2_ABI11
    if (major == 11) return V2Layout::kTrt11;
#endif
    if ((major == 8 && trtLibrary().version >= 8600) || major == 9) return V2Layout::kTrt86;  // 8.6 to 9.x
    return V2Layout::kNone;
}

namespace {
// The loaded TensorRT's getInferLibVersion when it lies in [lowest, below), else `fallback`: the
// version a plugin laid out for that TensorRT reports (getTensorRTVersion).
int32_t loadedVersionWithin(int32_t lowest, int32_t below, int32_t fallback) noexcept {
    try {
        int32_t const v = trtLibrary().version;
        return v >= lowest && v < below ? v : fallback;
    } catch (...) {
        return fallback;
    }
}
}  // namespace

int32_t abi86::reportedVersion() noexcept { return loadedVersionWithin(8600, 10000, 8601); }

#if SORTPOOL_HAS_V2_ABI11
int32_t abi11ReportedVersion() noexcept { return loadedVersionWithin(110000, 120000, 110000); }
#endif

void* loadedPluginRegistry() noexcept {
    try {
        TrtLibrary const& lib = trtLibrary();
        return lib.getPluginRegistry ? lib.getPluginRegistry() : nullptr;
    } catch (...) {
        return nullptr;
    }
}

namespace {
// The slot table for the registry in hand: the loaded TensorRT's major version, or (nothing loaded,
// e.g. a registry handed to sortpoolInitPlugins by a statically linked application) the headers'.
Slots const* registrySlots(void** registry) noexcept {
    int32_t const major = runtimeMajorVersion();
    if (*registry == nullptr) *registry = loadedPluginRegistry();
    if (*registry == nullptr) return nullptr;
    return slotsForMajor(major == 0 ? NV_TENSORRT_MAJOR : major, runtimeIsRtx());
}
}  // namespace

// The registry's creator parameters are references / pointers: one pointer in the ABI.
bool registryRegister(void* registry, void* creator, char const* ns) noexcept {
    Slots const* sl = registrySlots(&registry);
    if (sl == nullptr || creator == nullptr) return false;
    using Fn = bool (*)(void*, void*, char const*);
    return slot<Fn>(registry, sl->registerCreator)(registry, creator, ns);
}

bool registryDeregister(void* registry, void* creator) noexcept {
    Slots const* sl = registrySlots(&registry);
    if (sl == nullptr || creator == nullptr) return false;
    using Fn = bool (*)(void*, void*);
    return slot<Fn>(registry, sl->deregisterCreator)(registry, creator);
}

void* registryFind(void* registry, char const* name, char const* version) noexcept {
    Slots const* sl = registrySlots(&registry);
    if (sl == nullptr) return nullptr;
    using Fn = void* (*)(void*, char const*, char const*, char const*);
    return slot<Fn>(registry, sl->getCreator)(registry, name, version, "");
}

void setLoggerFinderAny(void* finder) noexcept {
    std::lock_guard<std::mutex> lock(gLoggerMutex);
    gLoggerFinder = finder;
}

}  // namespace trt
}  // namespace sortpool
