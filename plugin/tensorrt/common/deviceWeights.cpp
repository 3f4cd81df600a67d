// deviceWeights.cpp - see deviceWeights.h.
#include "common/deviceWeights.h"

#include <cuda_runtime_api.h>

#include <cstring>

namespace sortpool {
namespace trt {

DeviceWeights::~DeviceWeights() { release(); }

void DeviceWeights::release() noexcept {
    if (mDevice != nullptr) cudaFree(mDevice);
    mDevice = nullptr;
    mCount = 0;
}

std::string DeviceWeights::prepare(PoolConfig const& cfg) {
    if (fitsInline(cfg) || (mDevice != nullptr && mCount == cfg.weights.size())) return "";
    release();
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, cfg.weights.size() * sizeof(float));
    if (e == cudaSuccess) {
        e = cudaMemcpy(p, cfg.weights.data(), cfg.weights.size() * sizeof(float), cudaMemcpyHostToDevice);
        // From pageable memory cudaMemcpy may return before the DMA lands, and enqueue's stream
        // need not wait for the default stream: wait here (never in enqueue) for the copy.
        if (e == cudaSuccess) e = cudaStreamSynchronize(nullptr);
        if (e != cudaSuccess) cudaFree(p);
    }
    if (e != cudaSuccess)
        return std::string(kOpType) + ": could not place " + std::to_string(cfg.weights.size()) +
               " per-channel weights on the device: " + cudaGetErrorString(e);
    mDevice = static_cast<float*>(p);
    mCount = cfg.weights.size();
    return "";
}

bool DeviceWeights::fill(PoolConfig const& cfg, PoolLaunch* launch) const noexcept {
    if (fitsInline(cfg)) {
        launch->inline_count = static_cast<int32_t>(cfg.weights.size());
        std::memcpy(launch->inline_weights, cfg.weights.data(), cfg.weights.size() * sizeof(float));
        launch->device_weights = nullptr;
        return true;
    }
    launch->inline_count = 0;
    launch->device_weights = mDevice;
    return mDevice != nullptr && mCount == cfg.weights.size();
}

}  // namespace trt
}  // namespace sortpool
