// sortedWeightedPoolPlugin.cpp - SortedWeightedPool version "2" (IPluginV3).
// Every method TensorRT calls is noexcept and ends in catch (...) + reportCaught (pluginErrors.h):
// errors are reported (logger + last error) and signalled through the method's return value.
#include "sortedWeightedPoolPlugin.h"

#include <exception>

#if SORTPOOL_TRT_HEADERS_HAVE_V3
namespace sortpool {
namespace trt {

using namespace nvinfer1;


SortedWeightedPoolPlugin::SortedWeightedPoolPlugin(PoolConfig cfg) : mConfig(std::move(cfg)) {}

IPluginCapability* SortedWeightedPoolPlugin::getCapabilityInterface(PluginCapabilityType type) noexcept {
    switch (type) {
    case PluginCapabilityType::kCORE: return static_cast<IPluginV3OneCore*>(this);
    case PluginCapabilityType::kBUILD: return static_cast<IPluginV3OneBuild*>(this);
    case PluginCapabilityType::kRUNTIME: return static_cast<IPluginV3OneRuntime*>(this);
    }
    return nullptr;
}

IPluginV3* SortedWeightedPoolPlugin::clone() noexcept {
    try {
        auto* p = new SortedWeightedPoolPlugin(mConfig);  // device weights are per object
        p->setPluginNamespace(mNamespace.c_str());
        return p;
    } catch (...) {
        reportCaught("2", "clone");
    }
    return nullptr;
}

char const* SortedWeightedPoolPlugin::getPluginName() const noexcept { return kPluginName; }
char const* SortedWeightedPoolPlugin::getPluginVersion() const noexcept { return kPluginVersionV3; }
char const* SortedWeightedPoolPlugin::getPluginNamespace() const noexcept { return mNamespace.c_str(); }

int32_t SortedWeightedPoolPlugin::configurePlugin(DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                                  DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept {
    try {
        if (in == nullptr || out == nullptr || nbInputs != 1 || nbOutputs != 1) {
            reportError(std::string(kOpType) + ": configurePlugin expects one input and one output");
            return 1;
        }
        // Static checks on what is known before the concrete dims: rank, per-channel C, extents.
        std::string const err = checkInputDims(mConfig, in[0].desc.dims);
        if (!err.empty()) {
            reportError(err);
            return 1;
        }
        return 0;
    } catch (...) {
        reportCaught("2", "configurePlugin");
    }
    return 1;
}

int32_t SortedWeightedPoolPlugin::getOutputDataTypes(DataType* outputTypes, int32_t nbOutputs,
                                                     DataType const* inputTypes, int32_t nbInputs) const noexcept {
    try {
        if (outputTypes == nullptr || inputTypes == nullptr || nbOutputs != 1 || nbInputs != 1) {
            reportError(std::string(kOpType) + ": getOutputDataTypes expects one input and one output");
            return 1;
        }
        if (!isSupportedType(inputTypes[0])) {
            reportError(std::string(kOpType) + ": input X must be float32, float16 or bfloat16 (got DataType " +
                        std::to_string(static_cast<int>(inputTypes[0])) + ")");
            return 1;
        }
        outputTypes[0] = inputTypes[0];
        return 0;
    } catch (...) {
        reportCaught("2", "getOutputDataTypes");
    }
    return 1;
}

int32_t SortedWeightedPoolPlugin::getOutputShapes(DimsExprs const* inputs, int32_t nbInputs, DimsExprs const*, int32_t,
                                                  DimsExprs* outputs, int32_t nbOutputs,
                                                  IExprBuilder& exprBuilder) noexcept {
    try {
        if (inputs == nullptr || outputs == nullptr || nbInputs != 1 || nbOutputs != 1) {
            reportError(std::string(kOpType) + ": getOutputShapes expects one input and one output");
            return 1;
        }
        return outputDimsExprs(mConfig, inputs[0], exprBuilder, &outputs[0]) ? 0 : 1;
    } catch (...) {
        reportCaught("2", "getOutputShapes");
    }
    return 1;
}

bool SortedWeightedPoolPlugin::supportsFormatCombination(int32_t pos, DynamicPluginTensorDesc const* inOut,
                                                         int32_t nbInputs, int32_t nbOutputs) noexcept {
    if (inOut == nullptr || nbInputs != 1 || nbOutputs != 1 || pos < 0 || pos > 1) return false;
    DataType const types[2] = {inOut[0].desc.type, pos == 1 ? inOut[1].desc.type : inOut[0].desc.type};
    TensorFormat const formats[2] = {inOut[0].desc.format, pos == 1 ? inOut[1].desc.format : inOut[0].desc.format};
    return supportsCombination(pos, types, formats, nbInputs, nbOutputs);
}

int32_t SortedWeightedPoolPlugin::getNbOutputs() const noexcept { return 1; }

size_t SortedWeightedPoolPlugin::getWorkspaceSize(DynamicPluginTensorDesc const*, int32_t,
                                                  DynamicPluginTensorDesc const*, int32_t) const noexcept {
    return 0;
}

int32_t SortedWeightedPoolPlugin::onShapeChange(PluginTensorDesc const* in, int32_t nbInputs,
                                                PluginTensorDesc const* out, int32_t nbOutputs) noexcept {
    // Validates the concrete shapes (rank, per-channel C, shape rule, types); no device work here:
    // TensorRT may call this on the enqueue path.
    try {
        if (in == nullptr || out == nullptr || nbInputs != 1 || nbOutputs != 1) {
            reportError(std::string(kOpType) + ": onShapeChange expects one input and one output");
            return 1;
        }
        PoolLaunch launch;
        std::string err = describeLaunch(mConfig, in[0], out[0], &launch);
        if (!err.empty()) {
            reportError(err);
            return 1;
        }
        return 0;
    } catch (...) {
        reportCaught("2", "onShapeChange");
    }
    return 1;
}

int32_t SortedWeightedPoolPlugin::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* outputDesc,
                                void const* const* inputs, void* const* outputs, void*,
                                cudaStream_t stream) noexcept {
    return enqueuePooling(mConfig, mDeviceWeights, inputDesc, outputDesc, inputs, outputs, stream,
                          "the plugin must be attached to a context (attachToContext) before enqueue", kPluginVersionV3);
}

IPluginV3* SortedWeightedPoolPlugin::attachToContext(IPluginResourceContext*) noexcept {
    // TensorRT calls this once per execution context, before that context's first enqueue: the
    // clone it returns owns its own copy of a large per-channel weight table (uploaded here,
    // synchronously, so that enqueue never allocates or copies).
    try {
        auto* p = static_cast<SortedWeightedPoolPlugin*>(clone());
        if (p == nullptr) return nullptr;
        std::string err = p->mDeviceWeights.prepare(p->mConfig);
        if (!err.empty()) {
            reportError(err);
            delete p;
            return nullptr;
        }
        return p;
    } catch (...) {
        reportCaught("2", "attachToContext");
    }
    return nullptr;
}

PluginFieldCollection const* SortedWeightedPoolPlugin::getFieldsToSerialize() noexcept {
    try {
        if (!mSerialFields) mSerialFields = std::make_unique<FieldsToSerialize>(mConfig);
        return mSerialFields->collection();
    } catch (...) {
        reportCaught("2", "getFieldsToSerialize");
    }
    return nullptr;
}

// ---------------------------------------------------------------------------------------------
IPluginV3* SortedWeightedPoolPluginCreator::createPlugin(char const*, PluginFieldCollection const* fc,
                                                         TensorRTPhase) noexcept {
    // The build phase gets the ONNX attributes, the runtime phase the fields getFieldsToSerialize
    // wrote: the same names and types, so one parser serves both.
    try {
        clearLastError();
        PoolConfig cfg;
        std::string err = parseFields(fc, &cfg);
        if (!err.empty()) {
            reportError(err);
            return nullptr;
        }
        return new SortedWeightedPoolPlugin(std::move(cfg));
    } catch (...) {
        reportCaught("2", "createPlugin");
    }
    return nullptr;
}

PluginFieldCollection const* SortedWeightedPoolPluginCreator::getFieldNames() noexcept { return fieldNames(); }
char const* SortedWeightedPoolPluginCreator::getPluginName() const noexcept { return kPluginName; }
char const* SortedWeightedPoolPluginCreator::getPluginVersion() const noexcept { return kPluginVersionV3; }
char const* SortedWeightedPoolPluginCreator::getPluginNamespace() const noexcept { return ""; }

}  // namespace trt
}  // namespace sortpool
#endif
