// Reading SortedWeightedPool's ONNX attributes in ONNX Runtime, for both places ORT exposes
// them: the kernel info (kernel creation) and the shape-inference context (graph resolution).
// Both go through the C API so that "absent" and "present with the wrong type" can be told apart
// and reported by name; the rules themselves are the core's (parse_attributes).
#pragma once

#include <onnxruntime_cxx_api.h>

#include <string>
#include <vector>

#include "sortpool_core.h"

namespace sortpool::ort {

enum class AttrKind { kInt, kInts, kFloats };

inline const char* kind_name(AttrKind kind) {
    switch (kind) {
        case AttrKind::kInt: return "int";
        case AttrKind::kInts: return "ints";
        case AttrKind::kFloats: return "floats";
    }
    return "?";
}

// Runs an OrtStatus-returning call; true when it succeeded. The status is always released.
inline bool call_ok(const OrtApi& api, OrtStatus* status) {
    if (status == nullptr) return true;
    api.ReleaseStatus(status);
    return false;
}

// Attribute access through OrtKernelInfo.
class KernelInfoAttributes {
   public:
    KernelInfoAttributes(const OrtApi& api, const OrtKernelInfo* info) : api_(api), info_(info) {}

    bool get_int(const char* name, int64_t* v) const { return call_ok(api_, api_.KernelInfoGetAttribute_int64(info_, name, v)); }
    bool get_float(const char* name) const {
        float f = 0;
        return call_ok(api_, api_.KernelInfoGetAttribute_float(info_, name, &f));
    }
    bool get_ints(const char* name, std::vector<int64_t>* v) const {
        size_t n = 0;
        if (!call_ok(api_, api_.KernelInfoGetAttributeArray_int64(info_, name, nullptr, &n))) return false;
        v->assign(n, 0);
        return n == 0 || call_ok(api_, api_.KernelInfoGetAttributeArray_int64(info_, name, v->data(), &n));
    }
    bool get_floats(const char* name, std::vector<float>* v) const {
        size_t n = 0;
        if (!call_ok(api_, api_.KernelInfoGetAttributeArray_float(info_, name, nullptr, &n))) return false;
        v->assign(n, 0.0f);
        return n == 0 || call_ok(api_, api_.KernelInfoGetAttributeArray_float(info_, name, v->data(), &n));
    }
    bool get_string(const char* name) const {
        size_t n = 0;
        return call_ok(api_, api_.KernelInfoGetAttribute_string(info_, name, nullptr, &n));
    }

   private:
    const OrtApi& api_;
    const OrtKernelInfo* info_;
};

// Attribute access through OrtShapeInferContext (ReadOpAttr checks the attribute's type).
class ShapeInferAttributes {
   public:
    ShapeInferAttributes(const OrtApi& api, OrtShapeInferContext* ctx) : api_(api), ctx_(ctx) {}

    bool get_int(const char* name, int64_t* v) const {
        const OrtOpAttr* attr = find(name);
        size_t out = 0;
        return attr && call_ok(api_, api_.ReadOpAttr(attr, ORT_OP_ATTR_INT, v, sizeof(*v), &out));
    }
    bool get_float(const char* name) const {
        const OrtOpAttr* attr = find(name);
        float f = 0;
        size_t out = 0;
        return attr && call_ok(api_, api_.ReadOpAttr(attr, ORT_OP_ATTR_FLOAT, &f, sizeof(f), &out));
    }
    bool get_ints(const char* name, std::vector<int64_t>* v) const { return read_array(name, ORT_OP_ATTR_INTS, v); }
    bool get_floats(const char* name, std::vector<float>* v) const { return read_array(name, ORT_OP_ATTR_FLOATS, v); }
    // ReadOpAttr does not check the type when asked for a string, so a string cannot be told
    // apart here; such an attribute reads as absent and the kernel-creation check names it.
    bool get_string(const char*) const { return false; }

   private:
    const OrtOpAttr* find(const char* name) const {
        const OrtOpAttr* attr = nullptr;
        if (!call_ok(api_, api_.ShapeInferContext_GetAttribute(ctx_, name, &attr))) return nullptr;
        return attr;
    }
    template <typename E>
    bool read_array(const char* name, OrtOpAttrType type, std::vector<E>* v) const {
        const OrtOpAttr* attr = find(name);
        if (!attr) return false;
        size_t bytes = 0;
        E first{};
        OrtStatus* status = api_.ReadOpAttr(attr, type, &first, sizeof(first), &bytes);
        if (status == nullptr) {  // zero or one element fit the probe buffer
            v->assign(bytes / sizeof(E), first);
            return true;
        }
        api_.ReleaseStatus(status);
        if (bytes <= sizeof(E) || bytes % sizeof(E) != 0) return false;  // wrong type, not too small
        v->assign(bytes / sizeof(E), E{});
        return call_ok(api_, api_.ReadOpAttr(attr, type, v->data(), bytes, &bytes));
    }

    const OrtApi& api_;
    OrtShapeInferContext* ctx_;
};

// Reads one attribute of the expected kind. Returns false when it is absent; throws an
// Ort::Exception naming the attribute when it is present with another type. ORT's array getters
// accept a scalar or string attribute and return an empty list, so an empty list only counts
// as "ints"/"floats" when no other type matches.
template <typename Source>
bool read_attribute(const Source& src, const char* name, AttrKind kind, int64_t* i, std::vector<int64_t>* ints,
                    std::vector<float>* floats) {
    int64_t scratch_i = 0;
    std::vector<int64_t> scratch_ints;
    std::vector<float> scratch_floats;
    const bool is_int = src.get_int(name, &scratch_i);
    const bool is_float = src.get_float(name);
    const bool is_string = src.get_string(name);
    const bool scalar = is_int || is_float || is_string;
    const bool is_ints = !scalar && src.get_ints(name, &scratch_ints) && !scratch_ints.empty();
    const bool is_floats = !scalar && src.get_floats(name, &scratch_floats) && !scratch_floats.empty();
    const bool is_empty_list = !scalar && !is_ints && !is_floats && (src.get_ints(name, &scratch_ints) ||
                                                                    src.get_floats(name, &scratch_floats));
    switch (kind) {
        case AttrKind::kInt:
            if (is_int) {
                *i = scratch_i;
                return true;
            }
            break;
        case AttrKind::kInts:
            if (is_ints || is_empty_list) {
                *ints = scratch_ints;
                if (is_empty_list) ints->clear();
                return true;
            }
            break;
        case AttrKind::kFloats:
            if (is_floats || is_empty_list) {
                *floats = scratch_floats;
                if (is_empty_list) floats->clear();
                return true;
            }
            break;
    }
    const char* actual = is_int      ? "int"
                         : is_float  ? "float"
                         : is_string ? "string"
                         : is_ints   ? "ints"
                         : is_floats ? "floats"
                                     : nullptr;
    if (actual == nullptr) return false;  // absent
    ORT_CXX_API_THROW(std::string(kOpType) + ": attribute '" + name + "' must be of type " + kind_name(kind) +
                          ", got " + actual,
                      ORT_INVALID_ARGUMENT);
}

template <typename Source>
RawAttributes read_attributes_from(const Source& src) {
    RawAttributes raw;
    raw.has_kernel_shape = read_attribute(src, "kernel_shape", AttrKind::kInts, nullptr, &raw.kernel_shape, nullptr);
    raw.has_strides = read_attribute(src, "strides", AttrKind::kInts, nullptr, &raw.strides, nullptr);
    raw.has_pads = read_attribute(src, "pads", AttrKind::kInts, nullptr, &raw.pads, nullptr);
    raw.has_ceil_mode = read_attribute(src, "ceil_mode", AttrKind::kInt, &raw.ceil_mode, nullptr, nullptr);
    raw.has_pool_range = read_attribute(src, "pool_range", AttrKind::kInt, &raw.pool_range, nullptr, nullptr);
    raw.has_weights = read_attribute(src, "weights", AttrKind::kFloats, nullptr, nullptr, &raw.weights);
    for (const char* name : kUnsupportedAttributes) {
        int64_t i = 0;
        std::vector<int64_t> ints;
        std::vector<float> floats;
        if (src.get_int(name, &i) || src.get_float(name) || src.get_string(name) || src.get_ints(name, &ints) ||
            src.get_floats(name, &floats))
            raw.unsupported.emplace_back(name);
    }
    return raw;
}

inline RawAttributes read_attributes(const OrtApi& api, const OrtKernelInfo* info) {
    return read_attributes_from(KernelInfoAttributes(api, info));
}

inline RawAttributes read_attributes(const OrtApi& api, OrtShapeInferContext* ctx) {
    return read_attributes_from(ShapeInferAttributes(api, ctx));
}

}  // namespace sortpool::ort
