// common/trtV2Abi.h - the IPluginV2 part of IPluginV2DynamicExt's vtable (slots 0-18), which is
// the same in TensorRT 8.6 to 11 except for the Dims type of its implicit-batch members: the
// common base of the layouts declared by hand for other TensorRT major versions than the headers'
// (common/trtV2Abi11.h, common/trtV2Abi86.h).
//
// Itanium C++ ABI, as gcc and clang implement it: virtual functions take vtable slots in
// declaration order along the chain of primary bases (this class first), a virtual destructor
// takes two, and an override whose covariant return needs no pointer adjustment (clone) takes no
// new slot. tests/cpu_test.cpp checks the slot of every member.
#pragma once

#include <NvInferRuntime.h>

#include <cstddef>
#include <cstdint>

namespace sortpool {
namespace trt {

// Interface: the full plugin interface deriving from this (clone's return type). DimsT: that
// TensorRT's Dims. ReportedVersion: the TensorRT version getTensorRTVersion reports in its lower bytes.
template <class Interface, class DimsT, int32_t (*ReportedVersion)() noexcept>
class PluginV2Slots {
public:
    // The upper byte says "IPluginV2DynamicExt" (PluginVersion::kV2_DYNAMICEXT), as TensorRT's own base does.
    virtual int32_t getTensorRTVersion() const noexcept {
        return static_cast<int32_t>(static_cast<uint32_t>(nvinfer1::PluginVersion::kV2_DYNAMICEXT) << 24U |
                                    (static_cast<uint32_t>(ReportedVersion()) & 0xFFFFFFU));
    }
    virtual char const* getPluginType() const noexcept = 0;
    virtual char const* getPluginVersion() const noexcept = 0;
    virtual int32_t getNbOutputs() const noexcept = 0;

private:  // implicit-batch members: never called for a dynamic-shape plugin (final, as in TensorRT's base)
    virtual DimsT getOutputDimensions(int32_t, DimsT const*, int32_t) noexcept final { return DimsT{-1, {}}; }
    virtual bool supportsFormat(nvinfer1::DataType, nvinfer1::PluginFormat) const noexcept final { return false; }
    virtual void configureWithFormat(DimsT const*, int32_t, DimsT const*, int32_t, nvinfer1::DataType,
                                     nvinfer1::PluginFormat, int32_t) noexcept final {}

public:
    virtual int32_t initialize() noexcept = 0;
    virtual void terminate() noexcept = 0;

private:
    virtual size_t getWorkspaceSize(int32_t) const noexcept final { return 0; }
    virtual int32_t enqueue(int32_t, void const* const*, void* const*, void*, cudaStream_t) noexcept final {
        return 1;
    }

public:
    virtual size_t getSerializationSize() const noexcept = 0;
    virtual void serialize(void* buffer) const noexcept = 0;
    virtual void destroy() noexcept = 0;
    virtual Interface* clone() const noexcept = 0;
    virtual void setPluginNamespace(char const* pluginNamespace) noexcept = 0;
    virtual char const* getPluginNamespace() const noexcept = 0;
    virtual ~PluginV2Slots() noexcept = default;

protected:
    PluginV2Slots() = default;
    PluginV2Slots(PluginV2Slots const&) = default;
    PluginV2Slots& operator=(PluginV2Slots const&) & = default;
};

}  // namespace trt
}  // namespace sortpool
