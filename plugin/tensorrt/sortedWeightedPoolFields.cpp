// sortedWeightedPoolFields.cpp - see sortedWeightedPoolFields.h.
#include "sortedWeightedPoolFields.h"

#include <cstring>
#include <limits>

#include "common/pluginErrors.h"
#include "common/trtVersion.h"

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
#if SORTPOOL_TRT_HEADERS_HAVE_V3
    case PluginFieldType::kINT64: return "kINT64";
#endif
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
#if SORTPOOL_TRT_HEADERS_HAVE_V3
    } else if (f.type == PluginFieldType::kINT64) {
        for (int32_t i = 0; i < f.length; ++i) {
            int64_t v;
            std::memcpy(&v, static_cast<char const*>(f.data) + sizeof(int64_t) * i, sizeof v);
            out->push_back(v);
        }
#endif
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
        return fieldError(f.name, std::string("has type ") + typeName(f.type) + ", expected kFLOAT32 or kFLOAT64");
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

}  // namespace trt
}  // namespace sortpool
