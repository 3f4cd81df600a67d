// sortedWeightedPoolShared.cpp - see sortedWeightedPoolShared.h.
#include "sortedWeightedPoolShared.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <exception>

namespace sortpool {
namespace trt {

using nvinfer1::DataType;

// ---------------------------------------------------------------------------------------------
// Shapes, types, formats
// ---------------------------------------------------------------------------------------------
void reportBadRank(int32_t nbDims) noexcept {
    try {
        reportError(std::string(kOpType) + ": input X must have rank 4 (N, C, H, W), got rank " +
                    std::to_string(nbDims));
    } catch (...) {
    }
}

void reportShapeExprFailure() noexcept {
    try {
        reportError(std::string(kOpType) + ": could not build the output shape expression");
    } catch (...) {
    }
}

bool isSupportedType(DataType t) noexcept {
#if SORTPOOL_TRT_HEADERS_HAVE_BF16
    if (t == DataType::kBF16) return true;
#endif
    return t == DataType::kFLOAT || t == DataType::kHALF;
}

bool toElementType(DataType t, ElementType* out) noexcept {
    switch (t) {
    case DataType::kFLOAT: *out = ElementType::kFloat32; return true;
    case DataType::kHALF: *out = ElementType::kFloat16; return true;
#if SORTPOOL_TRT_HEADERS_HAVE_BF16
    case DataType::kBF16: *out = ElementType::kBFloat16; return true;
#endif
    default: return false;
    }
}

bool supportsCombination(int32_t pos, DataType const* types, nvinfer1::TensorFormat const* formats, int32_t nbInputs,
                         int32_t nbOutputs) noexcept {
    if (nbInputs != 1 || nbOutputs != 1 || pos < 0 || pos > 1) return false;
    if (formats[pos] != nvinfer1::TensorFormat::kLINEAR) return false;
    if (pos == 0) return isSupportedType(types[0]);
    return types[1] == types[0];  // Y has X's type
}

namespace {
// Dims as the core's int64_t: TensorRT 10's in place, 8.6/9.x headers' 32-bit ones copied.
int64_t const* dimsAsInt64(int64_t const* d, int32_t, int64_t*) noexcept { return d; }
[[maybe_unused]] int64_t const* dimsAsInt64(int32_t const* d, int32_t n, int64_t* buffer) noexcept {
    std::copy(d, d + n, buffer);
    return buffer;
}

// The core's shape rule on TensorRT dims (-1 = not known yet): no allocation unless it fails,
// since enqueue runs it.
std::string inferFromDims(PoolConfig const& cfg, nvinfer1::Dims const& in, Shape4* y) {
    if (in.nbDims < 0 || in.nbDims > nvinfer1::Dims::MAX_DIMS)
        return std::string(kOpType) + ": input X has an invalid rank " + std::to_string(in.nbDims);
    int64_t buffer[nvinfer1::Dims::MAX_DIMS];
    return infer_output_shape(cfg, dimsAsInt64(in.d, in.nbDims, buffer), static_cast<size_t>(in.nbDims), y);
}
}  // namespace

std::string checkInputDims(PoolConfig const& cfg, nvinfer1::Dims const& in) {
    Shape4 y;
    return inferFromDims(cfg, in, &y);
}

std::string describeLaunch(PoolConfig const& cfg, nvinfer1::PluginTensorDesc const& in,
                           nvinfer1::PluginTensorDesc const& out, PoolLaunch* launch) {
    Shape4 y;
    std::string err = inferFromDims(cfg, in.dims, &y);
    if (!err.empty()) return err;
    if (out.dims.nbDims != 4 || out.dims.d[0] != y.n || out.dims.d[1] != y.c || out.dims.d[2] != y.h ||
        out.dims.d[3] != y.w)
        return std::string(kOpType) + ": output Y has shape [" +
               (out.dims.nbDims == 4 ? std::to_string(out.dims.d[0]) + ", " + std::to_string(out.dims.d[1]) + ", " +
                                           std::to_string(out.dims.d[2]) + ", " + std::to_string(out.dims.d[3])
                                     : "rank " + std::to_string(out.dims.nbDims)) +
               "], expected [" + std::to_string(y.n) + ", " + std::to_string(y.c) + ", " + std::to_string(y.h) + ", " +
               std::to_string(y.w) + "]";
    ElementType t;
    if (!toElementType(in.type, &t) || out.type != in.type)
        return std::string(kOpType) + ": unsupported tensor types (X " + std::to_string(static_cast<int>(in.type)) +
               ", Y " + std::to_string(static_cast<int>(out.type)) +
               "); X must be float32, float16 or bfloat16 and Y the same";
    if (in.format != nvinfer1::TensorFormat::kLINEAR || out.format != nvinfer1::TensorFormat::kLINEAR)
        return std::string(kOpType) + ": only the linear (NCHW) tensor format is supported";
    launch->geometry = cfg.geometry;
    launch->in = Shape4{in.dims.d[0], in.dims.d[1], in.dims.d[2], in.dims.d[3]};  // rank 4: checked above
    launch->out = y;
    launch->type = t;
    launch->channel_weight_stride = cfg.channel_weight_stride();
    return "";
}

int32_t enqueuePooling(PoolConfig const& cfg, DeviceWeights const& weights, nvinfer1::PluginTensorDesc const* inputDesc,
                       nvinfer1::PluginTensorDesc const* outputDesc, void const* const* inputs, void* const* outputs,
                       cudaStream_t stream, char const* weightsHint, char const* version) noexcept {
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
    } catch (...) {
        reportCaught(version, "enqueue");
    }
    return 1;
}

}  // namespace trt
}  // namespace sortpool
