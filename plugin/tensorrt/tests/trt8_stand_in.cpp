// trt8_stand_in.cpp - a stand-in for a TensorRT 8.6 runtime library (built as libnvinfer.so.8),
// for checks that need "TensorRT 8.6 is loaded" where no TensorRT 8.6 can be installed.
//
// It exports what the plugin library reads from a loaded TensorRT: getInferLibVersion (8601, as
// 8.6.1 reports it; TensorRT 8 has no getInferLibMajorVersion), getPluginRegistry and getLogger.
// The registry has TensorRT 8.6's IPluginRegistry vtable and keeps the creators registered with
// it; the logger keeps the last message. standIn* functions let a test read what happened, through
// TensorRT 8.6's IPluginCreator / IPluginV2 vtable order.
// Used by tests/trt_plugin/test_trt8_runtime.py and, with TensorRT 8.6 headers, tools/check_v2_abi.sh.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

// TensorRT 8.6's IPluginCreator vtable, as far as the checks call it.
struct Creator86 {
    virtual int32_t getTensorRTVersion() const noexcept = 0;
    virtual char const* getPluginName() const noexcept = 0;
    virtual char const* getPluginVersion() const noexcept = 0;
    virtual void const* getFieldNames() noexcept = 0;
    virtual void* createPlugin(char const* name, void const* fields) noexcept = 0;
};

// TensorRT 8.6's IPluginRegistry vtable: registerCreator 0, getPluginCreatorList 1, getPluginCreator 2,
// destructor 3-4, setErrorRecorder 5, getErrorRecorder 6, deregisterCreator 7, isParentSearchEnabled 8,
// setParentSearchEnabled 9, loadLibrary 10, deregisterLibrary 11.
class Registry86 {
public:
    virtual bool registerCreator(Creator86& creator, char const* ns) noexcept {
        for (Creator86* c : creators)
            if (std::strcmp(c->getPluginName(), creator.getPluginName()) == 0 &&
                std::strcmp(c->getPluginVersion(), creator.getPluginVersion()) == 0)
                return false;  // duplicates are refused, as TensorRT does
        creators.push_back(&creator);
        lastNamespace = ns ? ns : "";
        return true;
    }
    virtual Creator86* const* getPluginCreatorList(int32_t* n) const noexcept {
        *n = static_cast<int32_t>(creators.size());
        return creators.data();
    }
    virtual Creator86* getPluginCreator(char const* name, char const* version, char const*) noexcept {
        for (Creator86* c : creators)
            if (std::strcmp(c->getPluginName(), name) == 0 && std::strcmp(c->getPluginVersion(), version) == 0)
                return c;
        return nullptr;
    }
    virtual ~Registry86() noexcept = default;
    virtual void setErrorRecorder(void*) noexcept {}
    virtual void* getErrorRecorder() const noexcept { return nullptr; }
    virtual bool deregisterCreator(Creator86 const& creator) noexcept {
        for (size_t i = 0; i < creators.size(); ++i)
            if (creators[i] == &creator) {
                creators.erase(creators.begin() + static_cast<std::ptrdiff_t>(i));
                ++deregistered;
                return true;
            }
        return false;
    }
    virtual bool isParentSearchEnabled() const { return true; }
    virtual void setParentSearchEnabled(bool) {}
    virtual void* loadLibrary(char const*) noexcept { return nullptr; }
    virtual void deregisterLibrary(void*) noexcept {}

    std::vector<Creator86*> creators;
    std::string lastNamespace;
    int deregistered = 0;
};

// TensorRT 8.6's ILogger: log is slot 0.
class Logger86 {
public:
    virtual void log(int32_t severity, char const* msg) noexcept {
        lastSeverity = severity;
        lastMessage = msg ? msg : "";
    }
    virtual ~Logger86() = default;
    int32_t lastSeverity = -1;
    std::string lastMessage;
};

Registry86 gRegistry;
Logger86 gLogger;
std::string gText;

}  // namespace

// -DSTAND_IN_VERSION=9300 makes it a TensorRT 9.3 (a major version the plugin library does not serve).
#ifndef STAND_IN_VERSION
#define STAND_IN_VERSION 8601
#endif

extern "C" {
int32_t getInferLibVersion() noexcept { return STAND_IN_VERSION; }
void* getPluginRegistry() noexcept { return &gRegistry; }
void* getLogger() noexcept { return &gLogger; }

// "name/version" of each registered creator, separated by ';'.
char const* standInRegisteredCreators() noexcept {
    gText.clear();
    for (Creator86* c : gRegistry.creators) {
        if (!gText.empty()) gText += ";";
        gText += std::string(c->getPluginName()) + "/" + c->getPluginVersion();
    }
    return gText.c_str();
}
int32_t standInDeregisteredCount() noexcept { return gRegistry.deregistered; }
char const* standInLastLogMessage() noexcept { return gLogger.lastMessage.c_str(); }
// getTensorRTVersion of the registered creator `name`/`version` (slot 0), or -1.
int32_t standInCreatorTensorRTVersion(char const* name, char const* version) noexcept {
    Creator86* c = gRegistry.getPluginCreator(name, version, "");
    return c ? c->getTensorRTVersion() : -1;
}
}
