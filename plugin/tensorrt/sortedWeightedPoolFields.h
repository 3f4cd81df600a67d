// sortedWeightedPoolFields.h - the plugin's fields (= the ONNX attributes): the field table both
// creators advertise, parsing a field collection onto the op core's parse_attributes, the
// collection version "2" serializes, and the versioned blob format of version "1".
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sortpool_core.h"

namespace sortpool {
namespace trt {

constexpr char const* kPluginName = kOpType;  // "SortedWeightedPool", = ONNX op_type
constexpr char const* kPluginVersionV2Ext = "1";  // IPluginV2DynamicExt
constexpr char const* kPluginVersionV3 = "2";     // IPluginV3

// Plugin fields (= ONNX attributes)
// ---------------------------------------------------------------------------------------------
// The field list both creators advertise through getFieldNames(). TensorRT's ONNX parser passes
// only attributes named here, INT/INTS as kINT32 and FLOATS as kFLOAT32.
nvinfer1::PluginFieldCollection const* fieldNames() noexcept;

// Reads a field collection into the core's RawAttributes and validates it with parse_attributes.
// Integer fields may be kINT32 or kINT64, weights kFLOAT32 (or kFLOAT64). Unknown names,
// duplicates, wrong types and bad lengths are errors. Returns "" on success.
std::string parseFields(nvinfer1::PluginFieldCollection const* fc, PoolConfig* out);

// Owns the data behind a PluginFieldCollection describing a PoolConfig (what version "2"
// serializes through getFieldsToSerialize: the same names and types the ONNX parser produces).
class FieldsToSerialize {
public:
    explicit FieldsToSerialize(PoolConfig const& cfg);
    nvinfer1::PluginFieldCollection const* collection() const noexcept { return &mCollection; }

private:
    int32_t mKernel[2], mStrides[2], mPads[4], mCeil, mRange;
    std::vector<float> mWeights;
    std::vector<nvinfer1::PluginField> mFields;
    nvinfer1::PluginFieldCollection mCollection{};
};

// ---------------------------------------------------------------------------------------------
// Version "1" serialization: versioned, length-checked, checksummed.
//   u32 magic 'SWPL' | u32 format version | u32 total byte length | 10 x i64 geometry
//   (kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, ceil_mode,
//   pool_range) | u32 weight count | weight count x f32 | u32 FNV-1a checksum of all bytes before it
// Deserialization checks every length before reading and re-validates the attributes with the
// core, so a truncated or corrupted blob is an error, never an out-of-bounds read.
// ---------------------------------------------------------------------------------------------
constexpr uint32_t kSerialMagic = 0x4c505753u;  // "SWPL" little endian
constexpr uint32_t kSerialFormatVersion = 1;
size_t serializedSize(PoolConfig const& cfg) noexcept;
void serializeConfig(PoolConfig const& cfg, void* buffer) noexcept;  // buffer >= serializedSize
std::string deserializeConfig(void const* data, size_t length, PoolConfig* out);
// The checksum that closes a version "1" blob, over the `length` bytes before it.
uint32_t serialChecksum(void const* data, size_t length) noexcept;

}  // namespace trt
}  // namespace sortpool
