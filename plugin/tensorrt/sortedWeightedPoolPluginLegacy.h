// sortedWeightedPoolPluginLegacy.h - SortedWeightedPool version "1": IPluginV2DynamicExt.
//
// Kept for applications on the V2 plugin API; new code should use version "2" (IPluginV3,
// sortedWeightedPoolPlugin.h). The V2 interfaces' vtables differ between TensorRT major versions,
// so the plugin class is a template over the vtable layout: the headers' IPluginV2DynamicExt, and
// (when the headers are TensorRT 10) TensorRT 11's layout from sortpoolTrtV2Abi11.h. The creator,
// whose own vtable is the same in 10 and 11, builds the one that matches the loaded runtime
// (v2LayoutForRuntime) and is not offered to other major versions.
#pragma once

#include "sortpoolTrtCommon.h"
#include "sortpoolTrtV2Abi11.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // the V2 API is deprecated by design
#endif

namespace sortpool {
namespace trt {

// `Abi` is the IPluginV2DynamicExt layout to implement (see above); the members are the same.
template <class Abi>
class SortedWeightedPoolPluginLegacyT : public Abi {
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
    nvinfer1::DimsExprs getOutputDimensions(int32_t outputIndex, nvinfer1::DimsExprs const* inputs, int32_t nbInputs,
                                            nvinfer1::IExprBuilder& exprBuilder) noexcept override;
    bool supportsFormatCombination(int32_t pos, nvinfer1::PluginTensorDesc const* inOut, int32_t nbInputs,
                                   int32_t nbOutputs) noexcept override;
    void configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                         nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept override;
    size_t getWorkspaceSize(nvinfer1::PluginTensorDesc const* inputs, int32_t nbInputs,
                            nvinfer1::PluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept override;
    int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
                    void const* const* inputs, void* const* outputs, void* workspace,
                    cudaStream_t stream) noexcept override;

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

class SortedWeightedPoolPluginLegacyCreator : public nvinfer1::IPluginCreator {
public:
    SortedWeightedPoolPluginLegacyCreator() = default;
    char const* getPluginName() const noexcept override;
    char const* getPluginVersion() const noexcept override;
    nvinfer1::PluginFieldCollection const* getFieldNames() noexcept override;
    nvinfer1::IPluginV2* createPlugin(char const* name, nvinfer1::PluginFieldCollection const* fc) noexcept override;
    nvinfer1::IPluginV2* deserializePlugin(char const* name, void const* serialData,
                                           size_t serialLength) noexcept override;
    void setPluginNamespace(char const* ns) noexcept override;
    char const* getPluginNamespace() const noexcept override;

private:
    // The plugin for a parsed config, laid out for the loaded runtime, or nullptr after reporting
    // `parseError` when it is not "" (or when the runtime's V2 layout is unknown).
    nvinfer1::IPluginV2* makePlugin(std::string const& parseError, PoolConfig cfg) const;

    std::string mNamespace;
};

}  // namespace trt
}  // namespace sortpool

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
