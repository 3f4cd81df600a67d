// sortpoolTrtEnqueue.cpp - the enqueue body shared by both plugin versions (kept apart from
// sortpoolTrtCommon.cpp so that the host-only users of that file, such as the fuzz target, need
// no kernel).
#include <cuda_runtime_api.h>

#include <exception>
#include <string>

#include "sortpoolKernel.h"
#include "sortpoolTrtCommon.h"

namespace sortpool {
namespace trt {

int32_t enqueuePooling(PoolConfig const& cfg, DeviceWeights const& weights, nvinfer1::PluginTensorDesc const* inputDesc,
                       nvinfer1::PluginTensorDesc const* outputDesc, void const* const* inputs, void* const* outputs,
                       cudaStream_t stream, char const* weightsHint) noexcept {
    try {
        if (inputDesc == nullptr || outputDesc == nullptr || inputs == nullptr || outputs == nullptr) {
            reportError(std::string(kOpType) + ": enqueue got null tensors");
            return 1;
        }
        PoolLaunch launch;
        std::string const err = describeLaunch(cfg, inputDesc[0], outputDesc[0], &launch);
        if (!err.empty()) {
            reportError(err);
            return 1;
        }
        if (!weights.fill(cfg, &launch)) {
            reportError(std::string(kOpType) + ": per-channel weights are not on the device; " + weightsHint);
            return 1;
        }
        launch.x = inputs[0];
        launch.y = outputs[0];
        cudaError_t const e = launchSortedWeightedPool(launch, stream);
        if (e != cudaSuccess) {
            reportError(std::string(kOpType) + ": kernel launch failed: " + cudaGetErrorString(e));
            return 1;
        }
        return 0;
    } catch (std::exception const& e) {
        reportError(std::string(kOpType) + ": enqueue: " + e.what());
    } catch (...) {
        reportError(std::string(kOpType) + ": enqueue: unknown exception");
    }
    return 1;
}

}  // namespace trt
}  // namespace sortpool
