// sortedWeightedPoolPluginLegacy.cpp - SortedWeightedPool version "1" (IPluginV2DynamicExt).
// Every method TensorRT calls is noexcept and ends in catch (...) + reportCaught (pluginErrors.h):
// errors are reported (logger + last error) and signalled through the method's return value.
#include "sortedWeightedPoolPluginLegacy.h"

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

namespace sortpool {
namespace trt {

using namespace nvinfer1;


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
    // Called before the engine's plugin executes (its clones upload in clone()): a per-channel
    // table too large for the kernel parameters goes to the device here, never in enqueue.
    try {
        std::string err = mDeviceWeights.prepare(mConfig);
        if (!err.empty()) {
            reportError(err);
            return 1;
        }
        return 0;
    } catch (...) {
        reportCaught("1", "initialize");
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
        try {
            reportError(std::string(kOpType) + ": getOutputDataType expects output 0 of one input");
        } catch (...) {  // no memory even for the message: return the fallback type unreported
        }
        return DataType::kFLOAT;
    }
    return inputTypes[0];  // Y has X's type
}

template <class Abi>
Abi* SortedWeightedPoolPluginLegacyT<Abi>::clone() const noexcept {
    try {
        // TensorRT clones the engine's plugin for each execution context and does not call
        // initialize() on the clone, so the clone uploads its own per-channel table (device
        // weights are per object; a table small enough to travel in the launch needs nothing).
        auto* p = new SortedWeightedPoolPluginLegacyT(mConfig);
        p->setPluginNamespace(mNamespace.c_str());
        if (p->initialize() != 0) {
            delete p;
            return nullptr;
        }
        return p;
    } catch (...) {
        reportCaught("1", "clone");
    }
    return nullptr;
}

template <class Abi>
typename V2Types<Abi>::DimsExprs SortedWeightedPoolPluginLegacyT<Abi>::getOutputDimensions(
    int32_t outputIndex, DimsExprs const* inputs, int32_t nbInputs, ExprBuilder& exprBuilder) noexcept {
    DimsExprs out{};
    try {
        if (outputIndex != 0 || nbInputs != 1 || inputs == nullptr) {
            reportError(std::string(kOpType) + ": expects one input and one output");
            return out;
        }
        if (!outputDimsExprs(mConfig, inputs[0], exprBuilder, &out)) out = DimsExprs{};
    } catch (...) {
        reportCaught("1", "getOutputDimensions");
    }
    return out;
}

template <class Abi>
bool SortedWeightedPoolPluginLegacyT<Abi>::supportsFormatCombination(int32_t pos, TensorDesc const* inOut,
                                                                     int32_t nbInputs, int32_t nbOutputs) noexcept {
    if (inOut == nullptr || nbInputs != 1 || nbOutputs != 1 || pos < 0 || pos > 1) return false;
    DataType const types[2] = {inOut[0].type, pos == 1 ? inOut[1].type : inOut[0].type};
    TensorFormat const formats[2] = {inOut[0].format, pos == 1 ? inOut[1].format : inOut[0].format};
#if SORTPOOL_TRT_HEADERS_HAVE_BF16  // (headers without it: isSupportedType refuses bfloat16 anyway)
    if (std::is_same<Abi, abi86::IPluginV2DynamicExt>::value && types[0] == DataType::kBF16 &&
        runtimeMajorVersion() < 9)
        return false;  // bfloat16 came with TensorRT 9
#endif
    return supportsCombination(pos, types, formats, nbInputs, nbOutputs);
}

namespace {
// TensorRT 8's 32-bit dims and tensor descriptions as the shared (TensorRT 10) ones.
Dims toDims(Dims const& d) noexcept { return d; }
Dims toDims(abi86::Dims32 const& d) noexcept {
    Dims out{};
    out.nbDims = d.nbDims;
    for (int32_t i = 0; i < d.nbDims && i < abi86::Dims32::MAX_DIMS; ++i) out.d[i] = d.d[i];
    return out;
}
PluginTensorDesc toDesc(PluginTensorDesc const& d) noexcept { return d; }
PluginTensorDesc toDesc(abi86::PluginTensorDesc const& d) noexcept {
    PluginTensorDesc out{};
    out.dims = toDims(d.dims);
    out.type = d.type;
    out.format = d.format;
    out.scale = d.scale;
    return out;
}
}  // namespace

template <class Abi>
void SortedWeightedPoolPluginLegacyT<Abi>::configurePlugin(DynamicTensorDesc const* in, int32_t nbInputs,
                                                           DynamicTensorDesc const* out, int32_t nbOutputs) noexcept {
    try {
        if (in == nullptr || out == nullptr || nbInputs != 1 || nbOutputs != 1) {
            reportError(std::string(kOpType) + ": configurePlugin expects one input and one output");
            return;
        }
        // Static checks on what is known before the concrete dims: rank, per-channel C, extents.
        std::string const err = checkInputDims(mConfig, toDims(in[0].desc.dims));
        if (!err.empty()) reportError(err);
    } catch (...) {
        reportCaught("1", "configurePlugin");
    }
}

template <class Abi>
size_t SortedWeightedPoolPluginLegacyT<Abi>::getWorkspaceSize(TensorDesc const*, int32_t, TensorDesc const*,
                                                              int32_t) const noexcept {
    return 0;
}

template <class Abi>
int32_t SortedWeightedPoolPluginLegacyT<Abi>::enqueue(TensorDesc const* inputDesc, TensorDesc const* outputDesc,
                                                      void const* const* inputs, void* const* outputs, void*,
                                                      cudaStream_t stream) noexcept {
    if (inputDesc == nullptr || outputDesc == nullptr)  // enqueuePooling reports it
        return enqueuePooling(mConfig, mDeviceWeights, nullptr, nullptr, inputs, outputs, stream, "", kPluginVersionV2Ext);
    PluginTensorDesc const in = toDesc(inputDesc[0]), out = toDesc(outputDesc[0]);
    return enqueuePooling(mConfig, mDeviceWeights, &in, &out, inputs, outputs, stream,
                          "initialize() must run before enqueue", kPluginVersionV2Ext);
}

template class SortedWeightedPoolPluginLegacyT<nvinfer1::IPluginV2DynamicExt>;
#if SORTPOOL_HAS_V2_ABI11
template class SortedWeightedPoolPluginLegacyT<abi11::IPluginV2DynamicExt>;
#endif
template class SortedWeightedPoolPluginLegacyT<abi86::IPluginV2DynamicExt>;

// ---------------------------------------------------------------------------------------------
void* newLegacyPlugin(V2Layout layout, PoolConfig cfg, std::string const& pluginNamespace) {
    // Each runtime reads the object through its own IPluginV2 declaration: the vptr at offset 0
    // points at that runtime's layout, so the pointer is handed over as it is.
    switch (layout) {
    case V2Layout::kHeaders: {
        auto* p = new SortedWeightedPoolPluginLegacy(std::move(cfg));
        p->setPluginNamespace(pluginNamespace.c_str());
        return static_cast<nvinfer1::IPluginV2*>(p);
    }
#if SORTPOOL_HAS_V2_ABI11
    case V2Layout::kTrt11: {
        auto* p = new SortedWeightedPoolPluginLegacy11(std::move(cfg));
        p->setPluginNamespace(pluginNamespace.c_str());
        return static_cast<abi11::IPluginV2DynamicExt*>(p);
    }
#endif
    case V2Layout::kTrt86: {
        auto* p = new SortedWeightedPoolPluginLegacy86(std::move(cfg));
        p->setPluginNamespace(pluginNamespace.c_str());
        return static_cast<abi86::IPluginV2DynamicExt*>(p);
    }
    default:
        break;
    }
    reportError(std::string(kOpType) + " (version 1): IPluginV2DynamicExt is not available for TensorRT " +
                std::to_string(runtimeMajorVersion()) + "; use version 2 (IPluginV3)");
    return nullptr;
}

namespace {
// The layout a creator's plugins take: TensorRT 8's creator only ever serves TensorRT 8; the
// headers' creator serves the headers' major version and (with TensorRT 10 headers) 11.
V2Layout layoutFor(nvinfer1::IPluginCreator const*) noexcept {
    V2Layout const l = v2LayoutForRuntime();
    return l == V2Layout::kTrt86 ? V2Layout::kNone : l;
}
V2Layout layoutFor(abi86::IPluginCreator const*) noexcept { return V2Layout::kTrt86; }
}  // namespace

template <class C>
char const* SortedWeightedPoolPluginLegacyCreatorT<C>::getPluginName() const noexcept { return kPluginName; }
template <class C>
char const* SortedWeightedPoolPluginLegacyCreatorT<C>::getPluginVersion() const noexcept { return kPluginVersionV2Ext; }
template <class C>
PluginFieldCollection const* SortedWeightedPoolPluginLegacyCreatorT<C>::getFieldNames() noexcept { return fieldNames(); }

template <class C>
auto SortedWeightedPoolPluginLegacyCreatorT<C>::createPlugin(char const*, PluginFieldCollection const* fc) noexcept
    -> PluginPtr {
    try {
        clearLastError();
        PoolConfig cfg;
        std::string const err = parseFields(fc, &cfg);
        return makePlugin(err, std::move(cfg));
    } catch (...) {
        reportCaught("1", "createPlugin");
    }
    return nullptr;
}

template <class C>
auto SortedWeightedPoolPluginLegacyCreatorT<C>::deserializePlugin(char const*, void const* serialData,
                                                                 size_t serialLength) noexcept -> PluginPtr {
    try {
        clearLastError();
        PoolConfig cfg;
        std::string const err = deserializeConfig(serialData, serialLength, &cfg);
        return makePlugin(err, std::move(cfg));
    } catch (...) {
        reportCaught("1", "deserializePlugin");
    }
    return nullptr;
}

template <class C>
auto SortedWeightedPoolPluginLegacyCreatorT<C>::makePlugin(std::string const& parseError, PoolConfig cfg) const
    -> PluginPtr {
    if (!parseError.empty()) {
        reportError(parseError);
        return nullptr;
    }
    return static_cast<PluginPtr>(newLegacyPlugin(layoutFor(static_cast<C const*>(this)), std::move(cfg), mNamespace));
}

template <class C>
void SortedWeightedPoolPluginLegacyCreatorT<C>::setPluginNamespace(char const* ns) noexcept {
    try {
        mNamespace = ns ? ns : "";
    } catch (...) {
    }
}

template <class C>
char const* SortedWeightedPoolPluginLegacyCreatorT<C>::getPluginNamespace() const noexcept { return mNamespace.c_str(); }

template class SortedWeightedPoolPluginLegacyCreatorT<nvinfer1::IPluginCreator>;
template class SortedWeightedPoolPluginLegacyCreatorT<abi86::IPluginCreator>;

}  // namespace trt
}  // namespace sortpool
