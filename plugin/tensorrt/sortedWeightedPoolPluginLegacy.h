// sortedWeightedPoolPluginLegacy.h - SortedWeightedPool version "1": IPluginV2DynamicExt.
//
// Kept for applications on the V2 plugin API (TensorRT 8.6 to 11); new code should use version "2"
// (IPluginV3, sortedWeightedPoolPlugin.h). The V2 interfaces' vtables and types differ between
// TensorRT major versions, so the plugin and its creator are templates over the layout: the
// headers' (TensorRT 10 with the pinned headers), TensorRT 11's (common/trtV2Abi11.h) and
// TensorRT 8.6/9.x's (common/trtV2Abi86.h). The library hands each runtime the instantiation of its
// major version (v2LayoutForRuntime) and offers version "1" to no other.
#pragma once

#include "sortedWeightedPoolShared.h"
#include "common/trtV2Abi11.h"
#include "common/trtV2Abi86.h"

#include <string>
#include <utility>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // the V2 API is deprecated by design
#endif

namespace sortpool {
namespace trt {

// The types an IPluginV2DynamicExt layout's members take: TensorRT 10's (also 11's) and 8.6/9.x's.
template <class Abi>
struct V2Types {
    using DimsExprs = nvinfer1::DimsExprs;
    using ExprBuilder = nvinfer1::IExprBuilder;
    using TensorDesc = nvinfer1::PluginTensorDesc;
    using DynamicTensorDesc = nvinfer1::DynamicPluginTensorDesc;
};
template <>
struct V2Types<abi86::IPluginV2DynamicExt> {
    using DimsExprs = abi86::DimsExprs;
    using ExprBuilder = abi86::IExprBuilder;
    using TensorDesc = abi86::PluginTensorDesc;
    using DynamicTensorDesc = abi86::DynamicPluginTensorDesc;
};

// `Abi` is the IPluginV2DynamicExt layout to implement (see above); the members are the same.
template <class Abi>
class SortedWeightedPoolPluginLegacyT : public Abi {
    using DimsExprs = typename V2Types<Abi>::DimsExprs;
    using ExprBuilder = typename V2Types<Abi>::ExprBuilder;
    using TensorDesc = typename V2Types<Abi>::TensorDesc;
    using DynamicTensorDesc = typename V2Types<Abi>::DynamicTensorDesc;

public:
    explicit SortedWeightedPoolPluginLegacyT(PoolConfig cfg);
    ~SortedWeightedPoolPluginLegacyT() override = default;

    // IPluginV2
    char const* getPluginType() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    int32_t getNbOutputs() const noexcept override;
    int32_t initialize() noexcept override;
    void terminate() noexcept override;
    size_t getSerializationSize() const noexcept override;
    void serialize(void* buffer) const noexcept override;
    void destroy() noexcept override;
    void setPluginNamespace(char const* ns) noexcept override;
    char const* getPluginNamespace() const noexcept override;

    // IPluginV2Ext
    nvinfer1::DataType getOutputDataType(int32_t index, nvinfer1::DataType const* inputTypes,
                                         int32_t nbInputs) const noexcept override;

    // IPluginV2DynamicExt
    Abi* clone() const noexcept override;
    DimsExprs getOutputDimensions(int32_t outputIndex, DimsExprs const* inputs, int32_t nbInputs,
                                  ExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, TensorDesc const* inOut, int32_t nbInputs,
                                   int32_t nbOutputs) noexcept override;
    void configurePlugin(DynamicTensorDesc const* in, int32_t nbInputs, DynamicTensorDesc const* out,
                         int32_t nbOutputs) noexcept override;
    size_t getWorkspaceSize(TensorDesc const* inputs, int32_t nbInputs, TensorDesc const* outputs,
                            int32_t nbOutputs) const noexcept override;
    int32_t enqueue(TensorDesc const* inputDesc, TensorDesc const* outputDesc, void const* const* inputs,
                    void* const* outputs, void* workspace, cudaStream_t stream) noexcept override;

    PoolConfig const& config() const noexcept { return mConfig; }

private:
    PoolConfig mConfig;
    std::string mNamespace;
    DeviceWeights mDeviceWeights;
};

// The plugin as the headers lay it out (TensorRT 10 with the pinned headers).
using SortedWeightedPoolPluginLegacy = SortedWeightedPoolPluginLegacyT<nvinfer1::IPluginV2DynamicExt>;
#if SORTPOOL_HAS_V2_ABI11
// The plugin as TensorRT 11 calls it.
using SortedWeightedPoolPluginLegacy11 = SortedWeightedPoolPluginLegacyT<abi11::IPluginV2DynamicExt>;
#endif
// The plugin as TensorRT 8.6 and 9.x call it.
using SortedWeightedPoolPluginLegacy86 = SortedWeightedPoolPluginLegacyT<abi86::IPluginV2DynamicExt>;

// A version "1" plugin for `cfg`, laid out for `layout`, as the runtime of that layout receives it
// (its IPluginV2*); nullptr after reporting when the layout is kNone.
void* newLegacyPlugin(V2Layout layout, PoolConfig cfg, std::string const& pluginNamespace);

// The creator, over the creator layout: nvinfer1::IPluginCreator (TensorRT 10 and 11 share it;
// the plugin it makes follows the loaded runtime) or abi86::IPluginCreator (TensorRT 8.6 and 9.x).
template <class CreatorAbi>
class SortedWeightedPoolPluginLegacyCreatorT : public CreatorAbi {
    using PluginPtr = decltype(std::declval<CreatorAbi&>().createPlugin(nullptr, nullptr));

public:
    SortedWeightedPoolPluginLegacyCreatorT() = default;
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
    PluginPtr createPlugin(char const* name, nvinfer1::PluginFieldCollection const* fc) noexcept override;
    PluginPtr deserializePlugin(char const* name, void const* serialData, size_t serialLength) noexcept override;
    void setPluginNamespace(char const* ns) noexcept override;
    char const* getPluginNamespace() const noexcept override;

private:
    // The plugin for a parsed config, laid out for the runtime this creator serves, or nullptr
    // after reporting `parseError` when it is not "".
    PluginPtr makePlugin(std::string const& parseError, PoolConfig cfg) const;

    std::string mNamespace;
};

using SortedWeightedPoolPluginLegacyCreator = SortedWeightedPoolPluginLegacyCreatorT<nvinfer1::IPluginCreator>;
using SortedWeightedPoolPluginLegacyCreator86 = SortedWeightedPoolPluginLegacyCreatorT<abi86::IPluginCreator>;

}  // namespace trt
}  // namespace sortpool

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
