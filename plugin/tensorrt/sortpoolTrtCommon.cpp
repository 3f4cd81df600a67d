// sortpoolTrtCommon.cpp - see sortpoolTrtCommon.h.
#include "sortpoolTrtCommon.h"

#include <cuda_runtime_api.h>

#include <cstring>
#include <limits>

namespace sortpool {
namespace trt {

using nvinfer1::DataType;
using nvinfer1::DimensionOperation;
using nvinfer1::IDimensionExpr;
using nvinfer1::PluginField;
using nvinfer1::PluginFieldCollection;
using nvinfer1::PluginFieldType;

// ---------------------------------------------------------------------------------------------
// Field table
// ---------------------------------------------------------------------------------------------
namespace {
// Built once (a function-local static is initialised thread-safely) and never changed.
struct FieldTable {
    std::vector<PluginField> fields;
    PluginFieldCollection fc{};
    FieldTable() {
        fields.emplace_back("kernel_shape", nullptr, PluginFieldType::kINT32, 2);
        fields.emplace_back("strides", nullptr, PluginFieldType::kINT32, 2);
        fields.emplace_back("pads", nullptr, PluginFieldType::kINT32, 4);
        fields.emplace_back("ceil_mode", nullptr, PluginFieldType::kINT32, 1);
        fields.emplace_back("pool_range", nullptr, PluginFieldType::kINT32, 1);
        fields.emplace_back("weights", nullptr, PluginFieldType::kFLOAT32, 0);  // k or C * k values
        fc.nbFields = static_cast<int32_t>(fields.size());
        fc.fields = fields.data();
    }
};

char const* typeName(PluginFieldType t) {
    switch (t) {
    case PluginFieldType::kFLOAT16: return "kFLOAT16";
    case PluginFieldType::kFLOAT32: return "kFLOAT32";
    case PluginFieldType::kFLOAT64: return "kFLOAT64";
    case PluginFieldType::kINT8: return "kINT8";
    case PluginFieldType::kINT16: return "kINT16";
    case PluginFieldType::kINT32: return "kINT32";
    case PluginFieldType::kCHAR: return "kCHAR";
    case PluginFieldType::kINT64: return "kINT64";
    default: return "an unsupported type";
    }
}

std::string fieldError(char const* name, std::string const& why) {
    return std::string(kOpType) + ": plugin field '" + name + "' " + why;
}

// Integer field -> int64 values. Accepts kINT32 (what the ONNX parser produces) and kINT64.
std::string readInts(PluginField const& f, std::vector<int64_t>* out) {
    out->clear();
    if (f.length < 0) return fieldError(f.name, "has a negative length " + std::to_string(f.length));
    if (f.length > 0 && f.data == nullptr) return fieldError(f.name, "has no data");
    if (f.type == PluginFieldType::kINT32) {
        for (int32_t i = 0; i < f.length; ++i) {
            int32_t v;
            std::memcpy(&v, static_cast<char const*>(f.data) + sizeof(int32_t) * i, sizeof v);
            out->push_back(v);
        }
    } else if (f.type == PluginFieldType::kINT64) {
        for (int32_t i = 0; i < f.length; ++i) {
            int64_t v;
            std::memcpy(&v, static_cast<char const*>(f.data) + sizeof(int64_t) * i, sizeof v);
            out->push_back(v);
        }
    } else {
        return fieldError(f.name, std::string("has type ") + typeName(f.type) + ", expected kINT32 or kINT64");
    }
    return "";
}

std::string readScalar(PluginField const& f, int64_t* out) {
    std::vector<int64_t> v;
    std::string err = readInts(f, &v);
    if (!err.empty()) return err;
    if (v.size() != 1) return fieldError(f.name, "must hold exactly 1 value, got " + std::to_string(v.size()));
    *out = v[0];
    return "";
}

std::string readFloats(PluginField const& f, std::vector<float>* out) {
    out->clear();
    if (f.length < 0) return fieldError(f.name, "has a negative length " + std::to_string(f.length));
    if (f.length > 0 && f.data == nullptr) return fieldError(f.name, "has no data");
    if (f.type == PluginFieldType::kFLOAT32) {
        out->resize(static_cast<size_t>(f.length));
        if (f.length > 0) std::memcpy(out->data(), f.data, sizeof(float) * static_cast<size_t>(f.length));
    } else if (f.type == PluginFieldType::kFLOAT64) {
        for (int32_t i = 0; i < f.length; ++i) {
            double v;
            std::memcpy(&v, static_cast<char const*>(f.data) + sizeof(double) * i, sizeof v);
            out->push_back(static_cast<float>(v));
        }
    } else {
        return fieldError(f.name, std::string("has type ") + typeName(f.type) + ", expected kFLOAT32");
    }
    return "";
}
}  // namespace

PluginFieldCollection const* fieldNames() noexcept {
    static FieldTable const table;
    return &table.fc;
}

std::string parseFields(PluginFieldCollection const* fc, PoolConfig* out) {
    if (fc == nullptr) return std::string(kOpType) + ": no plugin field collection was given";
    if (fc->nbFields < 0 || (fc->nbFields > 0 && fc->fields == nullptr))
        return std::string(kOpType) + ": malformed plugin field collection (" + std::to_string(fc->nbFields) + " fields)";
    RawAttributes raw;
    for (int32_t i = 0; i < fc->nbFields; ++i) {
        PluginField const& f = fc->fields[i];
        if (f.name == nullptr) return std::string(kOpType) + ": plugin field " + std::to_string(i) + " has no name";
        std::string const name = f.name;
        std::string err;
        bool* seen = nullptr;
        if (name == "kernel_shape") {
            seen = &raw.has_kernel_shape;
            if (!*seen) err = readInts(f, &raw.kernel_shape);
        } else if (name == "strides") {
            seen = &raw.has_strides;
            if (!*seen) err = readInts(f, &raw.strides);
        } else if (name == "pads") {
            seen = &raw.has_pads;
            if (!*seen) err = readInts(f, &raw.pads);
        } else if (name == "ceil_mode") {
            seen = &raw.has_ceil_mode;
            if (!*seen) err = readScalar(f, &raw.ceil_mode);
        } else if (name == "pool_range") {
            seen = &raw.has_pool_range;
            if (!*seen) err = readScalar(f, &raw.pool_range);
        } else if (name == "weights") {
            seen = &raw.has_weights;
            if (!*seen) err = readFloats(f, &raw.weights);
        } else {
            return fieldError(f.name, "is not an attribute of this op (expected kernel_shape, strides, pads, "
                                      "ceil_mode, pool_range, weights)");
        }
        if (*seen) return fieldError(f.name, "is given more than once");
        if (!err.empty()) return err;
        *seen = true;
    }
    return parse_attributes(raw, out);  // the core's rules and messages
}

FieldsToSerialize::FieldsToSerialize(PoolConfig const& cfg) : mWeights(cfg.weights) {
    PoolGeometry const& g = cfg.geometry;
    // The core bounds every value to int32 range (kernel <= 64, stride <= 2^31 - 1, pad < kernel).
    mKernel[0] = static_cast<int32_t>(g.kernel_h);
    mKernel[1] = static_cast<int32_t>(g.kernel_w);
    mStrides[0] = static_cast<int32_t>(g.stride_h);
    mStrides[1] = static_cast<int32_t>(g.stride_w);
    mPads[0] = static_cast<int32_t>(g.pad_top);
    mPads[1] = static_cast<int32_t>(g.pad_left);
    mPads[2] = static_cast<int32_t>(g.pad_bottom);
    mPads[3] = static_cast<int32_t>(g.pad_right);
    mCeil = static_cast<int32_t>(g.ceil_mode);
    mRange = static_cast<int32_t>(g.pool_range);
    mFields.emplace_back("kernel_shape", mKernel, PluginFieldType::kINT32, 2);
    mFields.emplace_back("strides", mStrides, PluginFieldType::kINT32, 2);
    mFields.emplace_back("pads", mPads, PluginFieldType::kINT32, 4);
    mFields.emplace_back("ceil_mode", &mCeil, PluginFieldType::kINT32, 1);
    mFields.emplace_back("pool_range", &mRange, PluginFieldType::kINT32, 1);
    mFields.emplace_back("weights", mWeights.data(), PluginFieldType::kFLOAT32, static_cast<int32_t>(mWeights.size()));
    mCollection.nbFields = static_cast<int32_t>(mFields.size());
    mCollection.fields = mFields.data();
}

// ---------------------------------------------------------------------------------------------
// Version "1" serialization
// ---------------------------------------------------------------------------------------------
uint32_t serialChecksum(void const* data, size_t length) noexcept {
    // 32-bit FNV-1a.
    auto const* p = static_cast<unsigned char const*>(data);
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < length; ++i) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

namespace {
constexpr size_t kHeaderBytes = 3 * sizeof(uint32_t);
constexpr size_t kGeometryValues = 10;


struct Writer {
    unsigned char* p;
    template <typename T>
    void put(T v) {
        std::memcpy(p, &v, sizeof v);
        p += sizeof v;
    }
};

struct Reader {
    unsigned char const* p;
    size_t left;
    template <typename T>
    bool get(T* v) {
        if (left < sizeof(T)) return false;
        std::memcpy(v, p, sizeof(T));
        p += sizeof(T);
        left -= sizeof(T);
        return true;
    }
};
}  // namespace

size_t serializedSize(PoolConfig const& cfg) noexcept {
    return kHeaderBytes + kGeometryValues * sizeof(int64_t) + sizeof(uint32_t) + cfg.weights.size() * sizeof(float) +
           sizeof(uint32_t);
}

void serializeConfig(PoolConfig const& cfg, void* buffer) noexcept {
    PoolGeometry const& g = cfg.geometry;
    auto* const begin = static_cast<unsigned char*>(buffer);
    Writer w{begin};
    w.put<uint32_t>(kSerialMagic);
    w.put<uint32_t>(kSerialFormatVersion);
    w.put<uint32_t>(static_cast<uint32_t>(serializedSize(cfg)));
    for (int64_t v : {g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.pad_bottom, g.pad_right,
                      g.ceil_mode, g.pool_range})
        w.put<int64_t>(v);
    w.put<uint32_t>(static_cast<uint32_t>(cfg.weights.size()));
    for (float f : cfg.weights) w.put<float>(f);
    w.put<uint32_t>(serialChecksum(begin, static_cast<size_t>(w.p - begin)));
}

std::string deserializeConfig(void const* data, size_t length, PoolConfig* out) {
    std::string const prefix = std::string(kOpType) + ": cannot deserialize plugin version 1: ";
    if (data == nullptr) return prefix + "no data";
    auto const* const begin = static_cast<unsigned char const*>(data);
    Reader r{begin, length};
    uint32_t magic = 0, version = 0, total = 0;
    if (!r.get(&magic) || !r.get(&version) || !r.get(&total))
        return prefix + "blob of " + std::to_string(length) + " bytes is shorter than its header";
    if (magic != kSerialMagic) return prefix + "bad magic number (not a SortedWeightedPool blob)";
    if (version != kSerialFormatVersion)
        return prefix + "unsupported format version " + std::to_string(version) + " (this build reads " +
               std::to_string(kSerialFormatVersion) + ")";
    if (total != length)
        return prefix + "blob is " + std::to_string(length) + " bytes but its header says " + std::to_string(total) +
               " (truncated or padded)";
    int64_t geo[kGeometryValues];
    for (int64_t& v : geo)
        if (!r.get(&v)) return prefix + "truncated geometry";
    uint32_t count = 0;
    if (!r.get(&count)) return prefix + "truncated weight count";
    // The count is checked against the bytes actually left before anything is allocated or read.
    if (static_cast<uint64_t>(count) * sizeof(float) + sizeof(uint32_t) != r.left)
        return prefix + "weight count " + std::to_string(count) + " does not match the blob length";
    RawAttributes raw;
    raw.has_weights = true;
    raw.weights.resize(count);
    for (float& f : raw.weights) r.get(&f);
    size_t const checked = static_cast<size_t>(r.p - begin);
    uint32_t checksum = 0;
    if (!r.get(&checksum) || checksum != serialChecksum(begin, checked)) return prefix + "checksum mismatch (corrupted blob)";
    raw.has_kernel_shape = raw.has_strides = raw.has_pads = raw.has_ceil_mode = raw.has_pool_range = true;
    raw.kernel_shape = {geo[0], geo[1]};
    raw.strides = {geo[2], geo[3]};
    raw.pads = {geo[4], geo[5], geo[6], geo[7]};
    raw.ceil_mode = geo[8];
    raw.pool_range = geo[9];
    std::string err = parse_attributes(raw, out);
    return err.empty() ? err : prefix + err;
}

// ---------------------------------------------------------------------------------------------
// Shapes, types, formats
// ---------------------------------------------------------------------------------------------
void reportBadRank(int32_t nbDims) noexcept {
    try {
        reportError(std::string(kOpType) + ": input X must have rank 4 (N, C, H, W), got rank " +
                    std::to_string(nbDims));
    } catch (...) {
    }
}

void reportShapeExprFailure() noexcept {
    try {
        reportError(std::string(kOpType) + ": could not build the output shape expression");
    } catch (...) {
    }
}

bool isSupportedType(DataType t) noexcept {
    return t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16;
}

bool toElementType(DataType t, ElementType* out) noexcept {
    switch (t) {
    case DataType::kFLOAT: *out = ElementType::kFloat32; return true;
    case DataType::kHALF: *out = ElementType::kFloat16; return true;
    case DataType::kBF16: *out = ElementType::kBFloat16; return true;
    default: return false;
    }
}

bool supportsCombination(int32_t pos, DataType const* types, nvinfer1::TensorFormat const* formats, int32_t nbInputs,
                         int32_t nbOutputs) noexcept {
    if (nbInputs != 1 || nbOutputs != 1 || pos < 0 || pos > 1) return false;
    if (formats[pos] != nvinfer1::TensorFormat::kLINEAR) return false;
    if (pos == 0) return isSupportedType(types[0]);
    return types[1] == types[0];  // Y has X's type
}

namespace {
// The core's shape rule on TensorRT dims (-1 = not known yet), read in place (TensorRT 10's dims
// are int64_t): no allocation unless it fails, since enqueue runs it.
std::string inferFromDims(PoolConfig const& cfg, nvinfer1::Dims const& in, Shape4* y) {
    if (in.nbDims < 0 || in.nbDims > nvinfer1::Dims::MAX_DIMS)
        return std::string(kOpType) + ": input X has an invalid rank " + std::to_string(in.nbDims);
    return infer_output_shape(cfg, in.d, static_cast<size_t>(in.nbDims), y);
}
}  // namespace

std::string checkInputDims(PoolConfig const& cfg, nvinfer1::Dims const& in) {
    Shape4 y;
    return inferFromDims(cfg, in, &y);
}

std::string describeLaunch(PoolConfig const& cfg, nvinfer1::PluginTensorDesc const& in,
                           nvinfer1::PluginTensorDesc const& out, PoolLaunch* launch) {
    Shape4 y;
    std::string err = inferFromDims(cfg, in.dims, &y);
    if (!err.empty()) return err;
    if (out.dims.nbDims != 4 || out.dims.d[0] != y.n || out.dims.d[1] != y.c || out.dims.d[2] != y.h ||
        out.dims.d[3] != y.w)
        return std::string(kOpType) + ": output Y has shape [" +
               (out.dims.nbDims == 4 ? std::to_string(out.dims.d[0]) + ", " + std::to_string(out.dims.d[1]) + ", " +
                                           std::to_string(out.dims.d[2]) + ", " + std::to_string(out.dims.d[3])
                                     : "rank " + std::to_string(out.dims.nbDims)) +
               "], expected [" + std::to_string(y.n) + ", " + std::to_string(y.c) + ", " + std::to_string(y.h) + ", " +
               std::to_string(y.w) + "]";
    ElementType t;
    if (!toElementType(in.type, &t) || out.type != in.type)
        return std::string(kOpType) + ": unsupported tensor types (X " + std::to_string(static_cast<int>(in.type)) +
               ", Y " + std::to_string(static_cast<int>(out.type)) +
               "); X must be float32, float16 or bfloat16 and Y the same";
    if (in.format != nvinfer1::TensorFormat::kLINEAR || out.format != nvinfer1::TensorFormat::kLINEAR)
        return std::string(kOpType) + ": only the linear (NCHW) tensor format is supported";
    launch->geometry = cfg.geometry;
    launch->in = Shape4{in.dims.d[0], in.dims.d[1], in.dims.d[2], in.dims.d[3]};  // rank 4: checked above
    launch->out = y;
    launch->type = t;
    launch->channel_weight_stride = cfg.channel_weight_stride();
    return "";
}

// ---------------------------------------------------------------------------------------------
// Device weights
// ---------------------------------------------------------------------------------------------
DeviceWeights::~DeviceWeights() { release(); }

void DeviceWeights::release() noexcept {
    if (mDevice != nullptr) cudaFree(mDevice);
    mDevice = nullptr;
    mCount = 0;
}

std::string DeviceWeights::prepare(PoolConfig const& cfg) {
    if (fitsInline(cfg) || (mDevice != nullptr && mCount == cfg.weights.size())) return "";
    release();
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, cfg.weights.size() * sizeof(float));
    if (e == cudaSuccess) {
        e = cudaMemcpy(p, cfg.weights.data(), cfg.weights.size() * sizeof(float), cudaMemcpyHostToDevice);
        // From pageable memory cudaMemcpy may return before the DMA lands, and enqueue's stream
        // need not wait for the default stream: wait here (never in enqueue) for the copy.
        if (e == cudaSuccess) e = cudaStreamSynchronize(nullptr);
        if (e != cudaSuccess) cudaFree(p);
    }
    if (e != cudaSuccess)
        return std::string(kOpType) + ": could not place " + std::to_string(cfg.weights.size()) +
               " per-channel weights on the device: " + cudaGetErrorString(e);
    mDevice = static_cast<float*>(p);
    mCount = cfg.weights.size();
    return "";
}

bool DeviceWeights::fill(PoolConfig const& cfg, PoolLaunch* launch) const noexcept {
    if (fitsInline(cfg)) {
        launch->inline_count = static_cast<int32_t>(cfg.weights.size());
        std::memcpy(launch->inline_weights, cfg.weights.data(), cfg.weights.size() * sizeof(float));
        launch->device_weights = nullptr;
        return true;
    }
    launch->inline_count = 0;
    launch->device_weights = mDevice;
    return mDevice != nullptr && mCount == cfg.weights.size();
}


}  // namespace trt
}  // namespace sortpool
