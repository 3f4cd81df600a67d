// common/trtV2Abi86.h - the plugin interfaces of TensorRT 8.6 and 9.x that version "1" needs,
// declared without their headers (the project builds against TensorRT 10 headers).
//
// TensorRT 8.6 to 9.3 share one layout of these interfaces (their headers were compared). It has the same IPluginV2 / IPluginV2Ext / IPluginV2DynamicExt vtable as TensorRT 10,
// but different types behind it and a different creator:
//   - Dims is Dims32 (int32_t extents), so PluginTensorDesc is smaller, and
//     DynamicPluginTensorDesc has no `opt` member;
//   - IDimensionExpr / IExprBuilder call into implementation classes whose constant values are
//     int32_t (TensorRT 10: int64_t, plus size tensors);
//   - IPluginCreator is a plain class (getTensorRTVersion first), not an IPluginCreatorInterface;
//   - 8.6's DataType has no kBF16 (9.x has it, with the value 10 gives it); PluginFieldType has no kINT64.
// The enums' values, PluginField and PluginFieldCollection are unchanged, so those come from the
// TensorRT 10 headers. This file lays the rest out as TensorRT 8.6 does, for the TensorRT 8.6/9.x
// instantiation of the version "1" plugin (sortedWeightedPoolPluginLegacy.h). TensorRT 8.0-8.5
// differ (e.g. the expression builder's implementation class) and are not served.
// Slot layout: see common/trtV2Abi.h. tests/cpu_test.cpp checks the slots; tools/check_v2_abi.sh
// checks the whole plugin against real TensorRT 8.6 and 9.x headers.
#pragma once

#include <NvInferRuntime.h>

#include "common/trtV2Abi.h"

#include <cstddef>
#include <cstdint>

namespace sortpool {
namespace trt {
namespace abi86 {

// The version the plugin and creator report (getTensorRTVersion): the loaded runtime's
// getInferLibVersion (major * 1000 + minor * 100 + patch before TensorRT 10, e.g. 8601), 8601 when
// none is loaded. Defined in common/trtHost.cpp.
int32_t reportedVersion() noexcept;

struct Dims32 {
    static constexpr int32_t MAX_DIMS = 8;
    int32_t nbDims;
    int32_t d[MAX_DIMS];
};

struct PluginTensorDesc {
    Dims32 dims;
    nvinfer1::DataType type;
    nvinfer1::TensorFormat format;
    float scale;
};

struct DynamicPluginTensorDesc {
    PluginTensorDesc desc;
    Dims32 min;
    Dims32 max;
};

// The implementation side of IDimensionExpr / IExprBuilder (TensorRT's apiv::VDimensionExpr and
// apiv::VExprBuilder of 8.6): destructor, then the members.
class VDimensionExpr {
public:
    virtual ~VDimensionExpr() noexcept = default;
    virtual bool isConstant() const = 0;
    virtual int32_t getConstantValue() const = 0;
};

class IDimensionExpr;

class VExprBuilder {
public:
    virtual ~VExprBuilder() noexcept = default;
    virtual IDimensionExpr const* constant(int32_t value) = 0;
    virtual IDimensionExpr const* operation(nvinfer1::DimensionOperation op, IDimensionExpr const& first,
                                            IDimensionExpr const& second) = 0;
};

// The objects TensorRT hands to getOutputDimensions: a vtable (destructor only) and the
// implementation pointer. The functions are inline, as in TensorRT's headers.
class IDimensionExpr {
public:
    bool isConstant() const noexcept { return mImpl->isConstant(); }
    int32_t getConstantValue() const noexcept { return mImpl->getConstantValue(); }

protected:
    virtual ~IDimensionExpr() noexcept = default;
    VDimensionExpr* mImpl = nullptr;
};

class IExprBuilder {
public:
    IDimensionExpr const* constant(int32_t value) noexcept { return mImpl->constant(value); }
    IDimensionExpr const* operation(nvinfer1::DimensionOperation op, IDimensionExpr const& first,
                                    IDimensionExpr const& second) noexcept {
        return mImpl->operation(op, first, second);
    }

protected:
    virtual ~IExprBuilder() noexcept = default;
    VExprBuilder* mImpl = nullptr;
};

struct DimsExprs {
    int32_t nbDims;
    IDimensionExpr const* d[Dims32::MAX_DIMS];
};

// IPluginV2 (slots 0-18), IPluginV2Ext (19-24) and IPluginV2DynamicExt (25-29) of TensorRT 8.6/9.x.
class IPluginV2DynamicExt : public PluginV2Slots<IPluginV2DynamicExt, Dims32, reportedVersion> {
public:
    virtual nvinfer1::DataType getOutputDataType(int32_t index, nvinfer1::DataType const* inputTypes,
                                                 int32_t nbInputs) const noexcept = 0;

private:
    virtual bool isOutputBroadcastAcrossBatch(int32_t, bool const*, int32_t) const noexcept final { return false; }
    virtual bool canBroadcastInputAcrossBatch(int32_t) const noexcept final { return true; }
    virtual void configurePlugin(Dims32 const*, int32_t, Dims32 const*, int32_t, nvinfer1::DataType const*,
                                 nvinfer1::DataType const*, bool const*, bool const*, nvinfer1::PluginFormat,
                                 int32_t) noexcept final {}

public:
    virtual void attachToContext(::cudnnContext*, ::cublasContext*, nvinfer1::IGpuAllocator*) noexcept {}
    virtual void detachFromContext() noexcept {}

    virtual DimsExprs getOutputDimensions(int32_t outputIndex, DimsExprs const* inputs, int32_t nbInputs,
                                          IExprBuilder& exprBuilder) noexcept = 0;
    virtual bool supportsFormatCombination(int32_t pos, PluginTensorDesc const* inOut, int32_t nbInputs,
                                           int32_t nbOutputs) noexcept = 0;
    virtual void configurePlugin(DynamicPluginTensorDesc const* in, int32_t nbInputs,
                                 DynamicPluginTensorDesc const* out, int32_t nbOutputs) noexcept = 0;
    virtual size_t getWorkspaceSize(PluginTensorDesc const* inputs, int32_t nbInputs, PluginTensorDesc const* outputs,
                                    int32_t nbOutputs) const noexcept = 0;
    virtual int32_t enqueue(PluginTensorDesc const* inputDesc, PluginTensorDesc const* outputDesc,
                            void const* const* inputs, void* const* outputs, void* workspace,
                            cudaStream_t stream) noexcept = 0;

protected:
    IPluginV2DynamicExt() = default;
    IPluginV2DynamicExt(IPluginV2DynamicExt const&) = default;
    IPluginV2DynamicExt& operator=(IPluginV2DynamicExt const&) & = default;
};

// IPluginCreator of TensorRT 8.6/9.x: slots 0-7, destructor 8-9.
class IPluginCreator {
public:
    virtual int32_t getTensorRTVersion() const noexcept { return reportedVersion(); }
    virtual char const* getPluginName() const noexcept = 0;
    virtual char const* getPluginVersion() const noexcept = 0;
    virtual nvinfer1::PluginFieldCollection const* getFieldNames() noexcept = 0;
    virtual IPluginV2DynamicExt* createPlugin(char const* name, nvinfer1::PluginFieldCollection const* fc) noexcept = 0;
    virtual IPluginV2DynamicExt* deserializePlugin(char const* name, void const* serialData,
                                                   size_t serialLength) noexcept = 0;
    virtual void setPluginNamespace(char const* pluginNamespace) noexcept = 0;
    virtual char const* getPluginNamespace() const noexcept = 0;
    virtual ~IPluginCreator() = default;
};

}  // namespace abi86
}  // namespace trt
}  // namespace sortpool
