// pluginErrors.h - how the plugin library reports a failure: through the logger of the TensorRT
// it runs in (common/trtHost.cpp finds it) and as the calling thread's last error
// (sortpoolTrtLastError() in the public header), so that callers without a logger - tests, the GPU
// harness - can read the message.
#pragma once

#include <string>

namespace sortpool {
namespace trt {

void reportError(std::string const& message) noexcept;
void reportWarning(std::string const& message) noexcept;
void clearLastError() noexcept;
char const* lastError() noexcept;

// The one boundary idiom: every method TensorRT calls is noexcept and ends its body with
//     } catch (...) {
//         reportCaught(version, "method");
//     }
// which reports the exception in flight (its what(), or "unknown exception") as a failure of that
// method of plugin version `version`. Call it only inside a catch block.
void reportCaught(char const* version, char const* where) noexcept;

}  // namespace trt
}  // namespace sortpool
