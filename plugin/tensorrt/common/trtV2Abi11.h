// common/trtV2Abi11.h - TensorRT 11's IPluginV2DynamicExt vtable, declared with the types of the
// TensorRT 10 headers this project builds against.
//
// TensorRT 11 kept IPluginV2, IPluginV2Ext and IPluginV2DynamicExt but removed two deprecated
// virtual functions from IPluginV2Ext (the implicit-batch broadcast queries). Every other virtual
// function and every type they pass (Dims64, DimsExprs, IExprBuilder, PluginTensorDesc,
// DynamicPluginTensorDesc, DataType, IPluginCreator) is unchanged. A plugin compiled against the
// 10 headers therefore has two extra slots in the middle of its vtable when a TensorRT 11 runtime
// calls it. `abi11::IPluginV2DynamicExt` lays the slots out as TensorRT 11 expects, so version "1"
// of the plugin, built once, serves TensorRT 10 (through the headers' class) and 11 (through this
// one): the plugin class is a template over the two (sortedWeightedPoolPluginLegacy.h).
//
// The IPluginV2 slots come from PluginV2Slots (common/trtV2Abi.h, which says how the slots are
// laid out); tests/cpu_test.cpp checks the slot of every function against TensorRT 11's order.
#pragma once

#include <NvInferRuntime.h>

#include "common/trtV2Abi.h"

#include <cstddef>
#include <cstdint>

// Derived from TensorRT 10's classes: only a build with TensorRT 10 headers has it.
#define SORTPOOL_HAS_V2_ABI11 (NV_TENSORRT_MAJOR == 10)

#if SORTPOOL_HAS_V2_ABI11
namespace sortpool {
namespace trt {

// Version reported by getTensorRTVersion for a plugin laid out for TensorRT 11: the loaded
// runtime's version (getInferLibVersion), 110000 when none is loaded. Defined in common/trtHost.cpp.
int32_t abi11ReportedVersion() noexcept;

namespace abi11 {

// Slots 0-18 from PluginV2Slots, then TensorRT 11's IPluginV2Ext and IPluginV2DynamicExt members.
class IPluginV2DynamicExt : public PluginV2Slots<IPluginV2DynamicExt, nvinfer1::Dims, abi11ReportedVersion> {
public:
    // --- as in IPluginV2Ext of TensorRT 11 (slots 19-22): no broadcast queries
    virtual nvinfer1::DataType getOutputDataType(int32_t index, nvinfer1::DataType const* inputTypes,
                                                 int32_t nbInputs) const noexcept = 0;

private:
    virtual void configurePlugin(nvinfer1::Dims const*, int32_t, nvinfer1::Dims const*, int32_t,
                                 nvinfer1::DataType const*, nvinfer1::DataType const*, bool const*, bool const*,
                                 nvinfer1::PluginFormat, int32_t) noexcept final {}

public:
    virtual void attachToContext(::cudnnContext*, ::cublasContext*,
                                 nvinfer1::IGpuAllocator*) noexcept {}
    virtual void detachFromContext() noexcept {}

    // --- as in IPluginV2DynamicExt (slots 23-27)
    virtual nvinfer1::DimsExprs getOutputDimensions(int32_t outputIndex, nvinfer1::DimsExprs const* inputs,
                                                    int32_t nbInputs, nvinfer1::IExprBuilder& exprBuilder) noexcept = 0;
    virtual bool supportsFormatCombination(int32_t pos, nvinfer1::PluginTensorDesc const* inOut, int32_t nbInputs,
                                           int32_t nbOutputs) noexcept = 0;
    virtual void configurePlugin(nvinfer1::DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                 nvinfer1::DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept = 0;
    virtual size_t getWorkspaceSize(nvinfer1::PluginTensorDesc const* inputs, int32_t nbInputs,
                                    nvinfer1::PluginTensorDesc const* outputs, int32_t nbOutputs) const noexcept = 0;
    virtual int32_t enqueue(nvinfer1::PluginTensorDesc const* inputDesc, nvinfer1::PluginTensorDesc const* outputDesc,
                            void const* const* inputs, void* const* outputs, void* workspace,
                            cudaStream_t stream) noexcept = 0;

protected:
    IPluginV2DynamicExt() = default;
    IPluginV2DynamicExt(IPluginV2DynamicExt const&) = default;
    IPluginV2DynamicExt& operator=(IPluginV2DynamicExt const&) & = default;
};

}  // namespace abi11
}  // namespace trt
}  // namespace sortpool
#endif  // SORTPOOL_HAS_V2_ABI11
