// deviceWeights.h - per-channel weights on the device for the kernel launch.
#pragma once

#include <cstddef>
#include <string>

#include "sortedWeightedPoolKernel.h"

namespace sortpool {
namespace trt {

// Weights on the device. Weights that fit in PoolLaunch::inline_weights travel by value in the
// kernel's parameter block; larger per-channel tables (C * k > 64 floats) live in a device buffer
// that is allocated and filled once, outside enqueue (V2: initialize() and clone(), V3:
// attachToContext(), all before any enqueue of that object), and freed with the plugin object.
// enqueue only reads it.
// ---------------------------------------------------------------------------------------------
class DeviceWeights {
public:
    DeviceWeights() = default;
    ~DeviceWeights();
    DeviceWeights(DeviceWeights const&) = delete;
    DeviceWeights& operator=(DeviceWeights const&) = delete;
    static bool fitsInline(PoolConfig const& cfg) noexcept {
        return cfg.weights.size() <= static_cast<size_t>(kMaxInlineWeights);
    }
    // Allocates and uploads (synchronously) if the config needs a buffer and none is there yet.
    // Returns "" on success, else the reason (building it may throw std::bad_alloc: callers catch).
    std::string prepare(PoolConfig const& cfg);
    void release() noexcept;
    // Fills the weight fields of a launch; false if the buffer is needed but was never prepared.
    bool fill(PoolConfig const& cfg, PoolLaunch* launch) const noexcept;

private:
    float* mDevice = nullptr;
    size_t mCount = 0;
};

}  // namespace trt
}  // namespace sortpool
