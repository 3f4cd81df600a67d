// sortedWeightedPoolPluginLegacy.h - SortedWeightedPool version "1": IPluginV2DynamicExt.
//
// Kept for applications on the V2 plugin API (TensorRT 10 and earlier deployments); new code
// should use version "2" (IPluginV3, sortedWeightedPoolPlugin.h). The V2 interfaces' vtables
// differ between TensorRT major versions, so this creator is only offered to a TensorRT runtime of
// the major version the library was compiled against (see v2AbiMatchesRuntime).
#pragma once

#include "sortpoolTrtCommon.h"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // the V2 API is deprecated by design
#endif

namespace sortpool {
namespace trt {

class SortedWeightedPoolPluginLegacy : public nvinfer1::IPluginV2DynamicExt {
public:
    explicit SortedWeightedPoolPluginLegacy(PoolConfig cfg);
    ~SortedWeightedPoolPluginLegacy() override = default;

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
    nvinfer1::IPluginV2DynamicExt* clone() const noexcept override;
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
    // The plugin for a parsed config, or nullptr after reporting `parseError` when it is not "".
    nvinfer1::IPluginV2* makePlugin(std::string const& parseError, PoolConfig cfg) const;

    std::string mNamespace;
};

}  // namespace trt
}  // namespace sortpool

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
