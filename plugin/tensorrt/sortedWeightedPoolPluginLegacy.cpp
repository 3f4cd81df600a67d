// sortedWeightedPoolPluginLegacy.cpp - SortedWeightedPool version "1" (IPluginV2DynamicExt).
// Every method TensorRT calls is noexcept and catches everything: errors are reported (logger +
// last error) and signalled through the method's return value.
#include "sortedWeightedPoolPluginLegacy.h"

#include <exception>

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace sortpool {
namespace trt {

using namespace nvinfer1;

namespace {
void reportException(char const* where, std::exception const* e) noexcept { reportPluginException("1", where, e); }
}  // namespace

template <class Abi>
SortedWeightedPoolPluginLegacyT<Abi>::SortedWeightedPoolPluginLegacyT(PoolConfig cfg) : mConfig(std::move(cfg)) {}

template <class Abi>
char const* SortedWeightedPoolPluginLegacyT<Abi>::getPluginType() const noexcept { return kPluginName; }
template <class Abi>
char const* SortedWeightedPoolPluginLegacyT<Abi>::getPluginVersion() const noexcept { return kPluginVersionV2Ext; }
template <class Abi>
int32_t SortedWeightedPoolPluginLegacyT<Abi>::getNbOutputs() const noexcept { return 1; }

template <class Abi>
int32_t SortedWeightedPoolPluginLegacyT<Abi>::initialize() noexcept {
    // Called before the plugin executes: the only place besides configurePlugin where V2 may touch
    // the device; a per-channel table too large for the kernel parameters is uploaded here.
    try {
        std::string err = mDeviceWeights.prepare(mConfig);
        if (!err.empty()) {
            reportError(err);
            return 1;
        }
        return 0;
    } catch (std::exception const& e) {
        reportException("initialize", &e);
    } catch (...) {
        reportException("initialize", nullptr);
    }
    return 1;
}

template <class Abi>
void SortedWeightedPoolPluginLegacyT<Abi>::terminate() noexcept { mDeviceWeights.release(); }

template <class Abi>
size_t SortedWeightedPoolPluginLegacyT<Abi>::getSerializationSize() const noexcept { return serializedSize(mConfig); }

template <class Abi>
void SortedWeightedPoolPluginLegacyT<Abi>::serialize(void* buffer) const noexcept {
    if (buffer != nullptr) serializeConfig(mConfig, buffer);
}

template <class Abi>
void SortedWeightedPoolPluginLegacyT<Abi>::destroy() noexcept { delete this; }

template <class Abi>
void SortedWeightedPoolPluginLegacyT<Abi>::setPluginNamespace(char const* ns) noexcept {
    try {
        mNamespace = ns ? ns : "";
    } catch (...) {
    }
}

template <class Abi>
char const* SortedWeightedPoolPluginLegacyT<Abi>::getPluginNamespace() const noexcept { return mNamespace.c_str(); }

template <class Abi>
DataType SortedWeightedPoolPluginLegacyT<Abi>::getOutputDataType(int32_t index, DataType const* inputTypes,
                                                           int32_t nbInputs) const noexcept {
    if (index != 0 || nbInputs != 1 || inputTypes == nullptr) {
        reportError(std::string(kOpType) + ": getOutputDataType expects output 0 of one input");
        return DataType::kFLOAT;
    }
    return inputTypes[0];  // Y has X's type
}

template <class Abi>
Abi* SortedWeightedPoolPluginLegacyT<Abi>::clone() const noexcept {
    try {
        auto* p = new SortedWeightedPoolPluginLegacyT(mConfig);  // device weights are per object
        p->setPluginNamespace(mNamespace.c_str());
        return p;
    } catch (std::exception const& e) {
        reportException("clone", &e);
    } catch (...) {
        reportException("clone", nullptr);
    }
    return nullptr;
}

template <class Abi>
DimsExprs SortedWeightedPoolPluginLegacyT<Abi>::getOutputDimensions(int32_t outputIndex, DimsExprs const* inputs,
                                                              int32_t nbInputs, IExprBuilder& exprBuilder) noexcept {
    DimsExprs out{};
    try {
        if (outputIndex != 0 || nbInputs != 1 || inputs == nullptr) {
            reportError(std::string(kOpType) + ": expects one input and one output");
            return out;
        }
        if (!outputDimsExprs(mConfig, inputs[0], exprBuilder, &out)) out = DimsExprs{};
    } catch (std::exception const& e) {
        reportException("getOutputDimensions", &e);
    } catch (...) {
        reportException("getOutputDimensions", nullptr);
    }
    return out;
}

template <class Abi>
bool SortedWeightedPoolPluginLegacyT<Abi>::supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut,
                                                               int32_t nbInputs, int32_t nbOutputs) noexcept {
    if (inOut == nullptr || nbInputs != 1 || nbOutputs != 1 || pos < 0 || pos > 1) return false;
    DataType const types[2] = {inOut[0].type, pos == 1 ? inOut[1].type : inOut[0].type};
    TensorFormat const formats[2] = {inOut[0].format, pos == 1 ? inOut[1].format : inOut[0].format};
    return supportsCombination(pos, types, formats, nbInputs, nbOutputs);
}

template <class Abi>
void SortedWeightedPoolPluginLegacyT<Abi>::configurePlugin(DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                                     DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept {
    try {
        if (in == nullptr || out == nullptr || nbInputs != 1 || nbOutputs != 1) {
            reportError(std::string(kOpType) + ": configurePlugin expects one input and one output");
            return;
        }
        // Static checks on what is known before the concrete dims: rank, per-channel C, extents.
        std::string const err = checkInputDims(mConfig, in[0].desc.dims);
        if (!err.empty()) reportError(err);
    } catch (std::exception const& e) {
        reportException("configurePlugin", &e);
    } catch (...) {
        reportException("configurePlugin", nullptr);
    }
}

template <class Abi>
size_t SortedWeightedPoolPluginLegacyT<Abi>::getWorkspaceSize(PluginTensorDesc const*, int32_t, PluginTensorDesc const*,
                                                        int32_t) const noexcept {
    return 0;
}

template <class Abi>
int32_t SortedWeightedPoolPluginLegacyT<Abi>::enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* outputDesc,
                                void const* const* inputs, void* const* outputs, void*,
                                cudaStream_t stream) noexcept {
    return enqueuePooling(mConfig, mDeviceWeights, inputDesc, outputDesc, inputs, outputs, stream,
                          "initialize() must run before enqueue");
}

template class SortedWeightedPoolPluginLegacyT<nvinfer1::IPluginV2DynamicExt>;
#if SORTPOOL_HAS_V2_ABI11
template class SortedWeightedPoolPluginLegacyT<abi11::IPluginV2DynamicExt>;
#endif

// ---------------------------------------------------------------------------------------------
char const* SortedWeightedPoolPluginLegacyCreator::getPluginName() const noexcept { return kPluginName; }
char const* SortedWeightedPoolPluginLegacyCreator::getPluginVersion() const noexcept { return kPluginVersionV2Ext; }
PluginFieldCollection const* SortedWeightedPoolPluginLegacyCreator::getFieldNames() noexcept { return fieldNames(); }

IPluginV2* SortedWeightedPoolPluginLegacyCreator::createPlugin(char const*, PluginFieldCollection const* fc) noexcept {
    try {
        clearLastError();
        PoolConfig cfg;
        std::string const err = parseFields(fc, &cfg);
        return makePlugin(err, std::move(cfg));
    } catch (std::exception const& e) {
        reportException("createPlugin", &e);
    } catch (...) {
        reportException("createPlugin", nullptr);
    }
    return nullptr;
}

IPluginV2* SortedWeightedPoolPluginLegacyCreator::deserializePlugin(char const*, void const* serialData,
                                                                    size_t serialLength) noexcept {
    try {
        clearLastError();
        PoolConfig cfg;
        std::string const err = deserializeConfig(serialData, serialLength, &cfg);
        return makePlugin(err, std::move(cfg));
    } catch (std::exception const& e) {
        reportException("deserializePlugin", &e);
    } catch (...) {
        reportException("deserializePlugin", nullptr);
    }
    return nullptr;
}

IPluginV2* SortedWeightedPoolPluginLegacyCreator::makePlugin(std::string const& parseError, PoolConfig cfg) const {
    if (!parseError.empty()) {
        reportError(parseError);
        return nullptr;
    }
    switch (v2LayoutForRuntime()) {
        case V2Layout::kHeaders: {
            auto* p = new SortedWeightedPoolPluginLegacy(std::move(cfg));
            p->setPluginNamespace(mNamespace.c_str());
            return p;
        }
#if SORTPOOL_HAS_V2_ABI11
        case V2Layout::kTrt11: {
            // TensorRT 11 reads the object through its own IPluginV2 declaration: the vptr at offset
            // 0 points at the TensorRT 11 layout, so the pointer is handed over as it is.
            auto* p = new SortedWeightedPoolPluginLegacy11(std::move(cfg));
            p->setPluginNamespace(mNamespace.c_str());
            return reinterpret_cast<IPluginV2*>(static_cast<abi11::IPluginV2DynamicExt*>(p));
        }
#endif
        default:
            break;
    }
    reportError(std::string(kOpType) + " (version 1): IPluginV2DynamicExt is not available for TensorRT " +
                std::to_string(runtimeMajorVersion()) + "; use version 2 (IPluginV3)");
    return nullptr;
}

void SortedWeightedPoolPluginLegacyCreator::setPluginNamespace(char const* ns) noexcept {
    try {
        mNamespace = ns ? ns : "";
    } catch (...) {
    }
}

char const* SortedWeightedPoolPluginLegacyCreator::getPluginNamespace() const noexcept { return mNamespace.c_str(); }

}  // namespace trt
}  // namespace sortpool
