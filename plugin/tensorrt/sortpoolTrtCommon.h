// sortpoolTrtCommon.h - pieces shared by the V2 (IPluginV2DynamicExt, version "1") and V3
// (IPluginV3, version "2") SortedWeightedPool plugins: field table and parsing (onto the op
// core's parse_attributes), the versioned serialization format of version "1", the output-shape
// expression, type/format rules, the per-channel weight buffer, error reporting, and the small
// layer that talks to the TensorRT runtime library without linking it (see sortpoolTrtRuntime.cpp).
#pragma once

#include <NvInferRuntime.h>

#include <cstdint>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sortpoolKernel.h"
#include "sortpool_core.h"

namespace sortpool {
namespace trt {

constexpr char const* kPluginName = kOpType;  // "SortedWeightedPool", = ONNX op_type
constexpr char const* kPluginVersionV2Ext = "1";  // IPluginV2DynamicExt
constexpr char const* kPluginVersionV3 = "2";     // IPluginV3

// ---------------------------------------------------------------------------------------------
// Errors: every failure is logged through TensorRT's logger (when one can be found) and kept as
// the thread's last error (sortpoolTrtLastError() in the public header), so that callers without
// a logger - tests, the GPU harness - can read the message.
// ---------------------------------------------------------------------------------------------
void reportError(std::string const& message) noexcept;
// An exception caught at a boundary TensorRT calls (`where`) of plugin version `version`.
void reportPluginException(char const* version, char const* where, std::exception const* e) noexcept;
void reportWarning(std::string const& message) noexcept;
void clearLastError() noexcept;
char const* lastError() noexcept;

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------
// Shapes, types, formats
// ---------------------------------------------------------------------------------------------
// Output dims as expressions: N, C and MaxPool's formula for H and W (ceil_mode included), equal to
// pooled_extent() for valid inputs and 0 for an empty axis. Returns false (after reporting) when
// the input is not rank 4. Templates over the expression types, which differ between TensorRT 8
// (sortpoolTrtV2Abi86.h) and 10+; the geometry constants fit in int32_t (the core bounds them).
template <class Builder>
using ExprOf = std::remove_pointer_t<decltype(std::declval<Builder&>().constant(0))>;  // IDimensionExpr const

// One axis of the above (exposed for the CPU test).
template <class Builder>
ExprOf<Builder>* pooledExtentExpr(ExprOf<Builder>& in, int64_t kernel, int64_t stride, int64_t padHead,
                                  int64_t padTail, int64_t ceilMode, Builder& eb) noexcept {
    // Mirrors pooled_extent() (MaxPool): span = in + pads - kernel;
    //   floor: out = span / s + 1     ceil: out = ceil(span / s) + 1, minus 1 unless (out - 1) * s < in + pad_head
    // then 0 when span < 0 (invalid, reported at configure time) or when the axis is empty.
    using Op = nvinfer1::DimensionOperation;
    using Expr = ExprOf<Builder>;
    auto c = [&](int64_t v) { return eb.constant(static_cast<int32_t>(v)); };
    auto op = [&](Op o, Expr* a, Expr* b) -> Expr* { return (a && b) ? eb.operation(o, *a, *b) : nullptr; };
    Expr* span = op(Op::kSUM, &in, c(padHead + padTail - kernel));
    Expr* out = nullptr;
    if (ceilMode) {
        Expr* q = op(Op::kCEIL_DIV, span, c(stride));  // out - 1 before the fix
        Expr* startsInside = op(Op::kLESS, op(Op::kPROD, q, c(stride)), op(Op::kSUM, &in, c(padHead)));
        out = op(Op::kSUM, q, startsInside);  // q + 1 if the last window starts inside, else q
    } else {
        out = op(Op::kSUM, op(Op::kFLOOR_DIV, span, c(stride)), c(1));
    }
    out = op(Op::kMAX, out, c(0));
    out = op(Op::kPROD, out, op(Op::kLESS, c(-1), span));  // span >= 0
    out = op(Op::kPROD, out, op(Op::kMIN, &in, c(1)));     // empty axis -> 0
    return out;
}

void reportBadRank(int32_t nbDims) noexcept;
void reportShapeExprFailure() noexcept;

template <class DimsExprsT, class Builder>
bool outputDimsExprs(PoolConfig const& cfg, DimsExprsT const& in, Builder& eb, DimsExprsT* out) noexcept {
    if (in.nbDims != 4) {
        reportBadRank(in.nbDims);
        return false;
    }
    PoolGeometry const& g = cfg.geometry;
    out->nbDims = 4;
    out->d[0] = in.d[0];
    out->d[1] = in.d[1];
    out->d[2] = pooledExtentExpr(*in.d[2], g.kernel_h, g.stride_h, g.pad_top, g.pad_bottom, g.ceil_mode, eb);
    out->d[3] = pooledExtentExpr(*in.d[3], g.kernel_w, g.stride_w, g.pad_left, g.pad_right, g.ceil_mode, eb);
    if (out->d[2] == nullptr || out->d[3] == nullptr) {
        reportShapeExprFailure();
        return false;
    }
    return true;
}

bool isSupportedType(nvinfer1::DataType t) noexcept;  // kFLOAT, kHALF, kBF16
bool toElementType(nvinfer1::DataType t, ElementType* out) noexcept;
// The format rule both plugin versions answer supportsFormatCombination with: position 0 (X) is
// linear float32/float16/bfloat16, position 1 (Y) is linear with X's type.
// `types` and `formats` hold the (input, output) pair's entries up to and including `pos`.
bool supportsCombination(int32_t pos, nvinfer1::DataType const* types, nvinfer1::TensorFormat const* formats,
                         int32_t nbInputs, int32_t nbOutputs) noexcept;

// Checks input dims known at build time (-1 = dynamic) against the config with the core's shape
// rule: rank, per-channel C, known spatial extents. Returns "" when nothing known is wrong.
std::string checkInputDims(PoolConfig const& cfg, nvinfer1::Dims const& in);

// Checks a concrete input/output pair against the config (rank, per-channel C, shape rule, types)
// and fills a launch description (pointers and weights excluded). Returns "" on success.
std::string describeLaunch(PoolConfig const& cfg, nvinfer1::PluginTensorDesc const& in,
                           nvinfer1::PluginTensorDesc const& out, PoolLaunch* launch);

// ---------------------------------------------------------------------------------------------
// Weights on the device. Weights that fit in PoolLaunch::inline_weights travel by value in the
// kernel's parameter block; larger per-channel tables (C * k > 64 floats) live in a device buffer
// that is allocated and filled once, outside enqueue (V2: initialize() and clone(), V3:
// attachToContext(), all before any enqueue of that object), and freed with the plugin object.
// enqueue only reads it.
// ---------------------------------------------------------------------------------------------
class DeviceWeights {
public:
    DeviceWeights() = default;
    ~DeviceWeights();
    DeviceWeights(DeviceWeights const&) = delete;
    DeviceWeights& operator=(DeviceWeights const&) = delete;
    static bool fitsInline(PoolConfig const& cfg) noexcept {
        return cfg.weights.size() <= static_cast<size_t>(kMaxInlineWeights);
    }
    // Allocates and uploads (synchronously) if the config needs a buffer and none is there yet.
    // Returns "" on success, else the reason (building it may throw std::bad_alloc: callers catch).
    std::string prepare(PoolConfig const& cfg);
    void release() noexcept;
    // Fills the weight fields of a launch; false if the buffer is needed but was never prepared.
    bool fill(PoolConfig const& cfg, PoolLaunch* launch) const noexcept;

private:
    float* mDevice = nullptr;
    size_t mCount = 0;
};

// The body both plugins' enqueue share: checks the tensors against the config, fills the launch
// (weights inline or from `weights`) and enqueues the kernel on `stream`. `weightsHint` names what
// must have run for a per-channel weight buffer to exist. Returns 0, or 1 after reporting.
int32_t enqueuePooling(PoolConfig const& cfg, DeviceWeights const& weights, nvinfer1::PluginTensorDesc const* inputDesc,
                       nvinfer1::PluginTensorDesc const* outputDesc, void const* const* inputs, void* const* outputs,
                       cudaStream_t stream, char const* weightsHint) noexcept;

// ---------------------------------------------------------------------------------------------
// The TensorRT runtime library, reached without linking it (sortpoolTrtRuntime.cpp).
// ---------------------------------------------------------------------------------------------
// Major version of the TensorRT library loaded in this process (getInferLibMajorVersion), or 0
// when none is loaded. TensorRT for RTX numbers its own versions (1.x): runtimeIsRtx tells it apart.
int32_t runtimeMajorVersion() noexcept;
bool runtimeIsRtx() noexcept;
// Which IPluginV2DynamicExt vtable layout the loaded TensorRT expects of version "1" (the V2
// interfaces' vtables changed between TensorRT 10 and 11; the V3 interfaces did not): the
// headers' (same major version, or no TensorRT loaded: static linking, the GPU harness), TensorRT
// 11's (headers 10, runtime 11: sortpoolTrtV2Abi11.h), TensorRT 8.6's and 9.x's (sortpoolTrtV2Abi86.h), or
// none this build knows (version "1" is then not offered).
enum class V2Layout { kNone, kHeaders, kTrt11, kTrt86 };
V2Layout v2LayoutForRuntime() noexcept;
// Registers / deregisters a creator with the process's plugin registry, through the registry
// layout of the loaded TensorRT major version. `registry` may be null: then the registry of the
// loaded TensorRT library is used (getPluginRegistry looked up in the already-loaded library).
// `creator` is a creator as the loaded runtime receives it (see offeredCreators).
bool registryRegister(void* registry, void* creator, char const* ns) noexcept;
bool registryDeregister(void* registry, void* creator) noexcept;
void* registryFind(void* registry, char const* name, char const* version) noexcept;
void* loadedPluginRegistry() noexcept;
void setLoggerFinderAny(void* finder) noexcept;  // from the exported setLoggerFinder

}  // namespace trt
}  // namespace sortpool
