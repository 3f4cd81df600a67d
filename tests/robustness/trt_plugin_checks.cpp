// trt_plugin_checks.cpp - the bad-input rows of docs/robustness.md for the TensorRT plugin objects,
// driven directly through the TensorRT plugin interfaces (no TensorRT library, no builder).
// Compiled and run by tests/robustness/test_trt.py against libsortpool_trt_plugin_static.a.
//
//   trt_plugin_checks fields        bad field collections, both creators (version "2" and "1")
//   trt_plugin_checks blobs         bad version "1" serialized blobs
//   trt_plugin_checks shapes        bad shapes/types/formats at configurePlugin / getOutputShapes /
//                                   onShapeChange / enqueue (both versions; never reaches the GPU)
//   trt_plugin_checks large-index   GPU only: inputs of more than 2^31 elements (the kernel's
//                                   32/64-bit index switch), every output checked on the host
//
// Each check prints "ok <id>" or "FAIL <id>: ..."; the exit status is 1 when one failed. A check
// that must fail names the expected piece of the error message (sortpoolTrtLastError()).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "sortedWeightedPoolPlugin.h"
#include "sortedWeightedPoolPluginLegacy.h"
#include "sortpool_trt_plugin.h"
#include "tests/const_expr_builder.h"  // plugin/tensorrt/tests/

using namespace nvinfer1;
using namespace sortpool;
using namespace sortpool::trt;
using sortpool::trt::testing::ConstBuilder;
using sortpool::trt::testing::ConstExpr;

namespace {

int gFailures = 0;

void report(bool ok, std::string const& id, std::string const& detail = "") {
    if (ok) {
        std::printf("ok %s\n", id.c_str());
    } else {
        ++gFailures;
        std::printf("FAIL %s: %s\n", id.c_str(), detail.c_str());
    }
    std::fflush(stdout);
}

bool contains(char const* haystack, std::string const& needle) {
    return haystack != nullptr && std::strstr(haystack, needle.c_str()) != nullptr;
}

// --- field collections -----------------------------------------------------------------------
struct Fields {
    std::vector<PluginField> f;
    std::deque<std::vector<unsigned char>> data;  // each field's bytes: their own allocation
    PluginFieldCollection fc{};

    template <typename T>
    Fields& add(char const* name, PluginFieldType type, std::vector<T> values) {
        data.emplace_back(values.size() * sizeof(T) + 1);
        if (!values.empty()) std::memcpy(data.back().data(), values.data(), values.size() * sizeof(T));
        f.emplace_back(name, data.back().data(), type, static_cast<int32_t>(values.size()));
        return *this;
    }
    Fields& i32(char const* name, std::vector<int32_t> v) { return add(name, PluginFieldType::kINT32, std::move(v)); }
    Fields& i64(char const* name, std::vector<int64_t> v) { return add(name, PluginFieldType::kINT64, std::move(v)); }
    Fields& f32(char const* name, std::vector<float> v) { return add(name, PluginFieldType::kFLOAT32, std::move(v)); }
    Fields& raw(PluginField field) {
        f.push_back(field);
        return *this;
    }
    PluginFieldCollection const* get() {
        fc.nbFields = static_cast<int32_t>(f.size());
        fc.fields = f.data();
        return &fc;
    }
};

// Both creators must refuse `fields`, and the message must contain `needle`.
void expectRejected(std::string const& id, Fields& fields, std::string const& needle) {
    SortedWeightedPoolPluginCreator v3;
    SortedWeightedPoolPluginLegacyCreator v2;
    IPluginV3* p3 = v3.createPlugin("x", fields.get(), TensorRTPhase::kBUILD);
    std::string const msg3 = sortpoolTrtLastError();
    IPluginV3* r3 = v3.createPlugin("x", fields.get(), TensorRTPhase::kRUNTIME);
    IPluginV2* p2 = v2.createPlugin("x", fields.get());
    std::string const msg2 = sortpoolTrtLastError();
    bool const ok = p3 == nullptr && r3 == nullptr && p2 == nullptr && contains(msg3.c_str(), needle) &&
                    contains(msg2.c_str(), needle);
    report(ok, "fields:" + id, "created v3=" + std::to_string(p3 != nullptr) + " v2=" + std::to_string(p2 != nullptr) +
                                  ", message '" + msg3 + "', expected '" + needle + "'");
    delete p3;
    delete r3;
    if (p2) p2->destroy();
}

// Adds pool_range 1 and weights [1] (everything else from the defaults). Fields hold pointers
// into their own storage, so they are built in place, never copied.
Fields& base(Fields& f) { return f.i32("pool_range", {1}).f32("weights", {1.0f}); }

void checkFields() {
    float const inf = std::numeric_limits<float>::infinity();
    float const nan = std::numeric_limits<float>::quiet_NaN();
    struct Case {
        char const* id;
        std::function<void(Fields&)> make;
        char const* needle;
    };
    std::vector<Case> const cases = {
        // each attribute missing (kernel_shape, strides, pads, ceil_mode have defaults)
        {"missing_pool_range", [](Fields& f) { f.f32("weights", {1}); }, "'pool_range' = (missing)"},
        {"missing_weights", [](Fields& f) { f.i32("pool_range", {1}); }, "'weights' = (missing)"},
        {"empty_collection", [](Fields&) {}, "'pool_range' = (missing)"},
        // out of range
        {"kernel_zero", [](Fields& f) { base(f); f.i32("kernel_shape", {0, 2}); }, "'kernel_shape' = [0, 2]"},
        {"kernel_negative", [](Fields& f) { base(f); f.i32("kernel_shape", {-3, 2}); }, "must be >= 1"},
        {"kernel_65_cells", [](Fields& f) { base(f); f.i32("kernel_shape", {1, 65}); }, "at most 64 cells"},
        {"kernel_huge_int64", [](Fields& f) { base(f); f.i64("kernel_shape", {int64_t(1) << 40, int64_t(1) << 40}); },
         "at most 64 cells"},
        {"stride_zero", [](Fields& f) { base(f); f.i32("strides", {0, 1}); }, "'strides' = [0, 1]"},
        {"stride_2pow31", [](Fields& f) { base(f); f.i64("strides", {1, int64_t(1) << 31}); }, "each stride must be in"},
        {"pad_eq_kernel", [](Fields& f) { base(f); f.i32("pads", {0, 0, 0, 2}); }, "0 <= pad < kernel"},
        {"pad_negative", [](Fields& f) { base(f); f.i32("pads", {-1, 0, 0, 0}); }, "'pads' = [-1, 0, 0, 0]"},
        {"ceil_mode_2", [](Fields& f) { base(f); f.i32("ceil_mode", {2}); }, "'ceil_mode' = 2"},
        {"pool_range_0", [](Fields& f) { f.i32("pool_range", {0}).f32("weights", {1}); }, "'pool_range' = 0"},
        {"pool_range_gt_window", [](Fields& f) { f.i32("pool_range", {5}).f32("weights", {1, 1, 1, 1, 1}); },
         "'pool_range' = 5"},
        {"weights_not_multiple_of_k", [](Fields& f) { f.i32("pool_range", {2}).f32("weights", {1, 2, 3}); },
         "'weights' = 3 values"},
        {"weights_empty", [](Fields& f) { f.i32("pool_range", {1}).f32("weights", {}); }, "'weights' = 0 values"},
        {"weights_nan", [nan](Fields& f) { f.i32("pool_range", {2}).f32("weights", {1, nan}); }, "must be finite"},
        {"weights_inf", [inf](Fields& f) { f.i32("pool_range", {1}).f32("weights", {inf}); }, "must be finite"},
        {"weights_minus_inf", [inf](Fields& f) { f.i32("pool_range", {1}).f32("weights", {-inf}); }, "must be finite"},
        // wrong length (a field's element count disagrees with the attribute)
        {"kernel_len_1", [](Fields& f) { base(f); f.i32("kernel_shape", {2}); }, "expected 2 values"},
        {"kernel_len_3", [](Fields& f) { base(f); f.i32("kernel_shape", {2, 2, 2}); }, "expected 2 values"},
        {"strides_len_3", [](Fields& f) { base(f); f.i32("strides", {1, 1, 1}); }, "expected 2 values"},
        {"pads_len_2", [](Fields& f) { base(f); f.i32("pads", {1, 1}); }, "expected 4 values"},
        {"ceil_mode_len_2", [](Fields& f) { base(f); f.i32("ceil_mode", {0, 0}); }, "must hold exactly 1 value, got 2"},
        {"pool_range_len_0", [](Fields& f) { f.i32("pool_range", {}).f32("weights", {1}); }, "must hold exactly 1 value, got 0"},
        // wrong type
        {"weights_int32", [](Fields& f) { f.i32("pool_range", {1}).i32("weights", {1}); }, "'weights' has type kINT32"},
        {"pool_range_float", [](Fields& f) { f.f32("pool_range", {1}).f32("weights", {1}); }, "'pool_range' has type kFLOAT32"},
        {"kernel_char", [](Fields& f) { base(f); f.add<char>("kernel_shape", PluginFieldType::kCHAR, {'2', '2'}); },
         "'kernel_shape' has type kCHAR"},
        {"kernel_int8", [](Fields& f) { base(f); f.add<int8_t>("kernel_shape", PluginFieldType::kINT8, {2, 2}); },
         "has type kINT8"},
        {"strides_unknown_type", [](Fields& f) { base(f); f.add<uint8_t>("strides", PluginFieldType::kUNKNOWN, {1, 1}); },
         "an unsupported type"},
        // malformed collections
        {"negative_length",
         [](Fields& f) { base(f); f.raw(PluginField("strides", f.data.front().data(), PluginFieldType::kINT32, -1)); },
         "negative length -1"},
        {"null_data", [](Fields& f) { base(f); f.raw(PluginField("pads", nullptr, PluginFieldType::kINT32, 4)); },
         "has no data"},
        {"nameless_field", [](Fields& f) { base(f); f.raw(PluginField(nullptr, nullptr, PluginFieldType::kINT32, 0)); },
         "has no name"},
        {"duplicate_field", [](Fields& f) { base(f); f.i32("pool_range", {1}); }, "given more than once"},
        {"unknown_field", [](Fields& f) { base(f); f.i32("dilations", {1, 1}); }, "'dilations' is not an attribute"},
    };
    for (auto const& c : cases) {
        Fields f;
        c.make(f);
        expectRejected(c.id, f, c.needle);
    }
    // A null collection and a malformed count.
    {
        SortedWeightedPoolPluginCreator v3;
        SortedWeightedPoolPluginLegacyCreator v2;
        bool ok = v3.createPlugin("x", nullptr, TensorRTPhase::kBUILD) == nullptr &&
                  contains(sortpoolTrtLastError(), "no plugin field collection");
        ok = ok && v2.createPlugin("x", nullptr) == nullptr && contains(sortpoolTrtLastError(), "no plugin field collection");
        report(ok, "fields:null_collection", sortpoolTrtLastError());
        PluginFieldCollection bad{-1, nullptr};
        ok = v3.createPlugin("x", &bad, TensorRTPhase::kBUILD) == nullptr && contains(sortpoolTrtLastError(), "malformed");
        PluginFieldCollection missing{3, nullptr};
        ok = ok && v2.createPlugin("x", &missing) == nullptr && contains(sortpoolTrtLastError(), "malformed");
        report(ok, "fields:malformed_count", sortpoolTrtLastError());
    }
    // Documented results: float64 weights and int64 integers are accepted; 10^6 per-channel
    // weights (pool_range 1) are a valid collection for C = 10^6 and round-trip through the
    // version "2" fields and the version "1" blob.
    {
        Fields f;
        f.i64("kernel_shape", {2, 2}).i64("pool_range", {2}).add<double>("weights", PluginFieldType::kFLOAT64, {0.75, 0.25});
        SortedWeightedPoolPluginCreator v3;
        IPluginV3* p = v3.createPlugin("x", f.get(), TensorRTPhase::kBUILD);
        report(p != nullptr && static_cast<SortedWeightedPoolPlugin*>(p)->config().weights[0] == 0.75f,
               "fields:int64_and_float64_accepted", sortpoolTrtLastError());
        delete p;
    }
    {
        std::vector<float> w(1000000);
        for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 1000) / 1000.0f;
        Fields f;
        f.i32("pool_range", {1}).f32("weights", w);
        SortedWeightedPoolPluginCreator v3;
        SortedWeightedPoolPluginLegacyCreator v2;
        IPluginV3* p = v3.createPlugin("x", f.get(), TensorRTPhase::kBUILD);
        bool ok = p != nullptr && static_cast<SortedWeightedPoolPlugin*>(p)->config().weight_channels() == 1000000;
        if (p) {
            auto* rt = static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
            IPluginV3* q = v3.createPlugin("x", rt->getFieldsToSerialize(), TensorRTPhase::kRUNTIME);
            ok = ok && q != nullptr && static_cast<SortedWeightedPoolPlugin*>(q)->config().weights == w;
            delete q;
        }
        delete p;
        IPluginV2* p2 = v2.createPlugin("x", f.get());
        ok = ok && p2 != nullptr;
        if (p2) {
            std::vector<unsigned char> blob(p2->getSerializationSize());
            p2->serialize(blob.data());
            ok = ok && blob.size() == 4000000 + 3 * 4 + 10 * 8 + 4 + 4;
            IPluginV2* q2 = v2.deserializePlugin("x", blob.data(), blob.size());
            ok = ok && q2 != nullptr &&
                 static_cast<SortedWeightedPoolPluginLegacy*>(q2)->config().weights == w;
            if (q2) q2->destroy();
            IPluginV2* cut = v2.deserializePlugin("x", blob.data(), blob.size() - 1);
            ok = ok && cut == nullptr && contains(sortpoolTrtLastError(), "truncated or padded");
            p2->destroy();
        }
        report(ok, "fields:oversized_weights_1e6", sortpoolTrtLastError());
    }
}

// --- version "1" blobs -----------------------------------------------------------------------
void putU32(std::vector<unsigned char>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
void putI64(std::vector<unsigned char>& b, size_t at, int64_t v) { std::memcpy(b.data() + at, &v, 8); }
void reseal(std::vector<unsigned char>& b) { putU32(b, b.size() - 4, serialChecksum(b.data(), b.size() - 4)); }

void expectBlobRejected(std::string const& id, std::vector<unsigned char> const& blob, std::string const& needle) {
    SortedWeightedPoolPluginLegacyCreator v2;
    // Exact-size heap copy, so that a sanitizer build would see any over-read.
    std::vector<unsigned char> copy(blob);
    IPluginV2* p = v2.deserializePlugin("x", copy.empty() ? nullptr : copy.data(), copy.size());
    std::string const msg = sortpoolTrtLastError();
    report(p == nullptr && contains(msg.c_str(), needle), "blobs:" + id,
           "deserialized=" + std::to_string(p != nullptr) + ", message '" + msg + "', expected '" + needle + "'");
    if (p) p->destroy();
}

void checkBlobs() {
    // Layout (sortedWeightedPoolShared.h): magic | version | total | 10 x i64 | count | count x f32 | fnv1a
    Fields f;
    f.i32("kernel_shape", {2, 3}).i32("pads", {1, 2, 0, 0}).i32("pool_range", {2}).f32("weights", {1, 2, 3, 4});
    SortedWeightedPoolPluginLegacyCreator v2;
    IPluginV2* p = v2.createPlugin("x", f.get());
    if (p == nullptr) {
        report(false, "blobs:setup", sortpoolTrtLastError());
        return;
    }
    std::vector<unsigned char> good(p->getSerializationSize());
    p->serialize(good.data());
    p->destroy();
    size_t const kCount = 12 + 80, kFirstWeight = kCount + 4;
    {
        IPluginV2* q = v2.deserializePlugin("x", good.data(), good.size());
        report(q != nullptr, "blobs:valid_roundtrip", sortpoolTrtLastError());
        if (q) q->destroy();
    }
    expectBlobRejected("null", {}, "no data");
    expectBlobRejected("shorter_than_header", std::vector<unsigned char>(good.begin(), good.begin() + 11),
                       "shorter than its header");
    {
        bool all = true;
        for (size_t n = 0; n < good.size(); ++n)
            all = all && v2.deserializePlugin("x", good.data(), n) == nullptr && sortpoolTrtLastError()[0] != '\0';
        report(all, "blobs:every_truncation");
    }
    {
        auto b = good;
        b.push_back(0);
        expectBlobRejected("one_byte_appended", b, "truncated or padded");
        b.resize(good.size() + 4096, 0xAB);
        expectBlobRejected("4k_appended", b, "truncated or padded");
    }
    {
        auto b = good;
        putU32(b, 0, 0x12345678u);
        expectBlobRejected("bad_magic", b, "bad magic number");
    }
    {
        auto b = good;  // a future format, correctly sealed: refused by version, not by checksum
        putU32(b, 4, 2);
        reseal(b);
        expectBlobRejected("unknown_format_version", b, "unsupported format version 2");
    }
    {
        auto b = good;
        putU32(b, 8, static_cast<uint32_t>(good.size() + 8));
        expectBlobRejected("total_field_too_large", b, "truncated or padded");
    }
    {
        auto b = good;  // a weight count of 2^32 - 1 must not allocate or read 16 GiB
        putU32(b, kCount, 0xFFFFFFFFu);
        reseal(b);
        expectBlobRejected("huge_weight_count", b, "weight count 4294967295 does not match");
    }
    {
        auto b = good;
        putU32(b, kCount, 3);
        reseal(b);
        expectBlobRejected("weight_count_off_by_one", b, "weight count 3 does not match");
    }
    {
        auto b = good;
        b[kFirstWeight] ^= 0x01;  // one flipped bit in a weight
        expectBlobRejected("flipped_weight_bit", b, "checksum mismatch");
    }
    {
        auto b = good;  // well-sealed blob whose geometry breaks the contract
        putI64(b, 12 + 9 * 8, 0);  // pool_range = 0
        reseal(b);
        expectBlobRejected("sealed_bad_pool_range", b, "'pool_range' = 0");
        b = good;
        putI64(b, 12, int64_t(1) << 40);  // kernel_h = 2^40
        reseal(b);
        expectBlobRejected("sealed_huge_kernel", b, "'kernel_shape'");
        b = good;
        float const nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(b.data() + kFirstWeight, &nan, 4);
        reseal(b);
        expectBlobRejected("sealed_nan_weight", b, "must be finite");
    }
}

// --- shapes, types, formats --------------------------------------------------------------------
PluginTensorDesc tensor(std::vector<int64_t> dims, DataType t = DataType::kFLOAT,
                        TensorFormat fmt = TensorFormat::kLINEAR) {
    PluginTensorDesc d{};
    d.dims.nbDims = static_cast<int32_t>(dims.size());
    for (size_t i = 0; i < dims.size() && i < static_cast<size_t>(Dims::MAX_DIMS); ++i) d.dims.d[i] = dims[i];
    d.type = t;
    d.format = fmt;
    return d;
}

struct Plugins {
    IPluginV3* v3 = nullptr;
    IPluginV2DynamicExt* v2 = nullptr;
    explicit Plugins(Fields& f) {
        SortedWeightedPoolPluginCreator c3;
        SortedWeightedPoolPluginLegacyCreator c2;
        v3 = c3.createPlugin("x", f.get(), TensorRTPhase::kRUNTIME);
        v2 = static_cast<IPluginV2DynamicExt*>(c2.createPlugin("x", f.get()));
    }
    ~Plugins() {
        delete v3;
        if (v2) v2->destroy();
    }
    IPluginV3OneRuntime* rt() const {
        return static_cast<IPluginV3OneRuntime*>(v3->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    }
    IPluginV3OneBuild* build() const {
        return static_cast<IPluginV3OneBuild*>(v3->getCapabilityInterface(PluginCapabilityType::kBUILD));
    }
};

// onShapeChange (v3) and enqueue (v3 and v2; dummy device pointers: a bad shape must be refused
// before anything touches them) must all refuse (in, out) with `needle` in the message.
void expectShapeRejected(std::string const& id, Fields& f, PluginTensorDesc in, PluginTensorDesc out,
                         std::string const& needle) {
    Plugins p(f);
    if (!p.v3 || !p.v2) {
        report(false, "shapes:" + id, std::string("setup: ") + sortpoolTrtLastError());
        return;
    }
    int dummy = 0;
    void const* ins[] = {&dummy};
    void* outs[] = {&dummy};
    int32_t const a = p.rt()->onShapeChange(&in, 1, &out, 1);
    std::string const m1 = sortpoolTrtLastError();
    int32_t const b = p.rt()->enqueue(&in, &out, ins, outs, nullptr, nullptr);
    std::string const m2 = sortpoolTrtLastError();
    int32_t const c = p.v2->enqueue(&in, &out, ins, outs, nullptr, nullptr);
    std::string const m3 = sortpoolTrtLastError();
    bool const ok = a != 0 && b != 0 && c != 0 && contains(m1.c_str(), needle) && contains(m2.c_str(), needle) &&
                    contains(m3.c_str(), needle);
    report(ok, "shapes:" + id, "rc " + std::to_string(a) + "/" + std::to_string(b) + "/" + std::to_string(c) +
                                   ", messages '" + m1 + "' | '" + m3 + "', expected '" + needle + "'");
}

void checkShapes() {
    Fields k3;  // 3x3 window, shared weights
    k3.i32("kernel_shape", {3, 3}).i32("pool_range", {2}).f32("weights", {0.5f, 0.5f});
    Fields pc;  // per-channel weights for C = 2
    pc.i32("pool_range", {1}).f32("weights", {1.0f, 2.0f});
    Fields many;  // 70 per-channel weights: needs the device buffer (initialize/attachToContext)
    many.i32("pool_range", {1}).f32("weights", std::vector<float>(70, 0.5f));

    expectShapeRejected("rank5", k3, tensor({1, 1, 4, 4, 4}), tensor({1, 1, 1, 1}), "must have rank 4");
    expectShapeRejected("rank3", k3, tensor({1, 4, 4}), tensor({1, 1, 1, 1}), "must have rank 4");
    expectShapeRejected("rank0", k3, tensor({}), tensor({1, 1, 1, 1}), "must have rank 4");
    {
        PluginTensorDesc in = tensor({1, 1, 4, 4});
        in.dims.nbDims = 9;  // more than Dims::MAX_DIMS
        expectShapeRejected("rank_gt_max_dims", k3, in, tensor({1, 1, 1, 1}), "invalid rank 9");
        in.dims.nbDims = -1;
        expectShapeRejected("rank_negative", k3, in, tensor({1, 1, 1, 1}), "invalid rank -1");
    }
    expectShapeRejected("window_larger_than_input", k3, tensor({1, 1, 2, 5}), tensor({1, 1, 0, 1}),
                        "smaller than the window along H");
    expectShapeRejected("window_larger_than_input_w", k3, tensor({1, 1, 5, 1}), tensor({1, 1, 1, 0}),
                        "smaller than the window along W");
    expectShapeRejected("h_2pow31", k3, tensor({1, 1, int64_t(1) << 31, 3}), tensor({1, 1, 715827882, 1}),
                        "exceeds the supported maximum 2147483647");
    expectShapeRejected("per_channel_c_mismatch", pc, tensor({1, 3, 4, 4}), tensor({1, 3, 2, 2}),
                        "per-channel weights were given for 2 channels");
    expectShapeRejected("output_shape_mismatch", k3, tensor({1, 1, 6, 6}), tensor({1, 1, 3, 2}), "output Y has shape");
    expectShapeRejected("int8_input", k3, tensor({1, 1, 6, 6}, DataType::kINT8), tensor({1, 1, 2, 2}, DataType::kINT8),
                        "unsupported tensor types");
    expectShapeRejected("int32_input", k3, tensor({1, 1, 6, 6}, DataType::kINT32),
                        tensor({1, 1, 2, 2}, DataType::kINT32), "unsupported tensor types");
    expectShapeRejected("output_type_differs", k3, tensor({1, 1, 6, 6}, DataType::kHALF),
                        tensor({1, 1, 2, 2}, DataType::kFLOAT), "unsupported tensor types");
    expectShapeRejected("chw32_format", k3, tensor({1, 1, 6, 6}, DataType::kFLOAT, TensorFormat::kCHW32),
                        tensor({1, 1, 2, 2}, DataType::kFLOAT, TensorFormat::kCHW32), "only the linear (NCHW)");

    // Empty inputs are valid: an empty output, nothing launched (no GPU is touched).
    {
        Plugins p(k3);
        int dummy = 0;
        void const* ins[] = {&dummy};
        void* outs[] = {&dummy};
        bool ok = true;
        for (auto const& shapes : std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
                 {{0, 1, 6, 6}, {0, 1, 2, 2}}, {{2, 0, 6, 6}, {2, 0, 2, 2}},
                 {{2, 1, 0, 6}, {2, 1, 0, 2}}, {{2, 1, 6, 0}, {2, 1, 2, 0}}}) {
            PluginTensorDesc in = tensor(shapes.first), out = tensor(shapes.second);
            ok = ok && p.rt()->onShapeChange(&in, 1, &out, 1) == 0 &&
                 p.rt()->enqueue(&in, &out, ins, outs, nullptr, nullptr) == 0 &&
                 p.v2->enqueue(&in, &out, ins, outs, nullptr, nullptr) == 0;
        }
        report(ok, "shapes:zero_sized_dims_give_empty_output", sortpoolTrtLastError());
    }
    // Build-time checks: configurePlugin (rank, per-channel C), getOutputShapes (rank),
    // getOutputDataTypes (type).
    {
        Plugins p(pc);
        DynamicPluginTensorDesc in{}, out{};
        in.desc = tensor({1, 1, 4, 4, 4});
        out.desc = tensor({1, 1, 2, 2});
        bool ok = p.build()->configurePlugin(&in, 1, &out, 1) != 0 && contains(sortpoolTrtLastError(), "rank 4");
        in.desc = tensor({-1, 5, -1, -1});
        ok = ok && p.build()->configurePlugin(&in, 1, &out, 1) != 0 &&
             contains(sortpoolTrtLastError(), "input X has C = 5");
        in.desc = tensor({-1, 2, -1, -1});
        ok = ok && p.build()->configurePlugin(&in, 1, &out, 1) == 0;
        report(ok, "shapes:configure_plugin", sortpoolTrtLastError());

        ConstBuilder eb;
        ConstExpr d4(4);
        DimsExprs rank3{};
        rank3.nbDims = 3;
        rank3.d[0] = rank3.d[1] = rank3.d[2] = &d4;
        DimsExprs outs{};
        ok = p.build()->getOutputShapes(&rank3, 1, nullptr, 0, &outs, 1, eb) != 0 &&
             contains(sortpoolTrtLastError(), "must have rank 4");
        DimsExprs legacy = p.v2->getOutputDimensions(0, &rank3, 1, eb);
        ok = ok && legacy.nbDims == 0 && contains(sortpoolTrtLastError(), "must have rank 4");
        report(ok, "shapes:get_output_shapes_rank", sortpoolTrtLastError());

        DataType t = DataType::kINT32, o = DataType::kFLOAT;
        ok = p.build()->getOutputDataTypes(&o, 1, &t, 1) != 0 &&
             contains(sortpoolTrtLastError(), "must be float32, float16 or bfloat16");
        report(ok, "shapes:output_type_of_int32", sortpoolTrtLastError());
    }
    // A per-channel weight table larger than the kernel parameters, enqueued on a version "1"
    // plugin that was never initialize()d: refused with a message, not a null dereference.
    {
        Plugins p(many);
        int dummy = 0;
        void const* ins[] = {&dummy};
        void* outs[] = {&dummy};
        PluginTensorDesc in = tensor({1, 70, 4, 4}), out = tensor({1, 70, 2, 2});
        bool const ok = p.v2->enqueue(&in, &out, ins, outs, nullptr, nullptr) != 0 &&
                        contains(sortpoolTrtLastError(), "initialize() must run before enqueue") &&
                        p.rt()->enqueue(&in, &out, ins, outs, nullptr, nullptr) != 0 &&
                        contains(sortpoolTrtLastError(), "per-channel weights are not on the device");
        report(ok, "shapes:device_weights_not_prepared", sortpoolTrtLastError());
    }
}

// --- GPU: more than 2^31 elements ------------------------------------------------------------------
#define CUDA_OK(x)                                                                                  \
    do {                                                                                            \
        cudaError_t e_ = (x);                                                                       \
        if (e_ != cudaSuccess) {                                                                    \
            std::printf("FAIL cuda: %s: %s\n", #x, cudaGetErrorString(e_));                         \
            std::exit(2);                                                                           \
        }                                                                                           \
    } while (0)

template <typename Fn>
void parallelFor(int64_t n, Fn fn) {
    unsigned const threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            int64_t const begin = n * t / threads, end = n * (t + 1) / threads;
            fn(begin, end);
        });
    for (auto& th : pool) th.join();
}

uint64_t mix(uint64_t x) {  // splitmix64
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct LargeCase {
    char const* id;
    DataType type;
    Shape4 x;
    int kh, kw, sh, sw, pt, pl, pb, pr, ceil, k;
    bool perChannel;
    char const* expectIndex;  // "32" or "64": which index width launchSortedWeightedPool picks
};

void runLargeCase(LargeCase const& cs) {
    size_t const es = cs.type == DataType::kFLOAT ? 4 : 2;
    Fields f;
    f.i32("kernel_shape", {cs.kh, cs.kw}).i32("strides", {cs.sh, cs.sw}).i32("pads", {cs.pt, cs.pl, cs.pb, cs.pr});
    f.i32("ceil_mode", {cs.ceil}).i32("pool_range", {cs.k});
    std::vector<float> w(static_cast<size_t>(cs.k * (cs.perChannel ? cs.x.c : 1)));
    for (size_t i = 0; i < w.size(); ++i) w[i] = 0.125f * static_cast<float>((i * 7) % 9) - 0.5f;
    f.f32("weights", w);
    SortedWeightedPoolPluginCreator creator;
    IPluginV3* built = creator.createPlugin("x", f.get(), TensorRTPhase::kRUNTIME);
    if (!built) return report(false, std::string("large:") + cs.id, sortpoolTrtLastError());
    PoolConfig const cfg = static_cast<SortedWeightedPoolPlugin*>(built)->config();
    Shape4 y;
    std::string err = infer_output_shape(cfg, {cs.x.n, cs.x.c, cs.x.h, cs.x.w}, &y);
    if (!err.empty()) return report(false, std::string("large:") + cs.id, err);
    int64_t const inCount = cs.x.n * cs.x.c * cs.x.h * cs.x.w, outCount = y.n * y.c * y.h * y.w;
    int64_t const limit = (int64_t{1} << 31) - 256 * (int64_t{1} << 20);  // sortedWeightedPoolKernel.cu
    bool const small = outCount < limit && inCount < limit;
    if ((small ? "32" : "64") != std::string(cs.expectIndex))
        return report(false, std::string("large:") + cs.id, "case does not select the intended index width");

    std::vector<uint16_t> hx16;
    std::vector<float> hx32;
    if (es == 2) hx16.resize(static_cast<size_t>(inCount)); else hx32.resize(static_cast<size_t>(inCount));
    parallelFor(inCount, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            uint64_t const h = mix(static_cast<uint64_t>(i));
            // distinct-ish finite values in [-8, 8) exactly representable in bfloat16 and float16
            float v = static_cast<float>(static_cast<int32_t>(h & 0x3ff) - 512) / 64.0f;
            if ((h >> 40) % 4096 == 0) v = std::numeric_limits<float>::infinity();  // some +-inf, NaN
            if ((h >> 40) % 4096 == 1) v = -std::numeric_limits<float>::infinity();
            if ((h >> 40) % 65536 == 2) v = std::numeric_limits<float>::quiet_NaN();
            if (es == 4) hx32[i] = v;
            else hx16[i] = static_cast<uint16_t>(cs.type == DataType::kHALF ? float_to_half_bits(v) : float_to_bfloat16_bits(v));
        }
    });
    void *dx = nullptr, *dy = nullptr;
    CUDA_OK(cudaMalloc(&dx, static_cast<size_t>(inCount) * es));
    CUDA_OK(cudaMalloc(&dy, static_cast<size_t>(outCount) * es));
    CUDA_OK(cudaMemcpy(dx, es == 4 ? static_cast<void const*>(hx32.data()) : hx16.data(),
                       static_cast<size_t>(inCount) * es, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemset(dy, 0xFF, static_cast<size_t>(outCount) * es));  // NaN pattern: unwritten outputs show
    auto* rt0 = static_cast<IPluginV3OneRuntime*>(built->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    IPluginV3* p = rt0->attachToContext(nullptr);
    auto* rt = static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    PluginTensorDesc const in = tensor({cs.x.n, cs.x.c, cs.x.h, cs.x.w}, cs.type),
                           out = tensor({y.n, y.c, y.h, y.w}, cs.type);
    void const* ins[] = {dx};
    void* outs[] = {dy};
    bool ok = rt->onShapeChange(&in, 1, &out, 1) == 0 && rt->enqueue(&in, &out, ins, outs, nullptr, nullptr) == 0;
    CUDA_OK(cudaDeviceSynchronize());
    std::vector<uint16_t> hy16;
    std::vector<float> hy32;
    if (es == 2) hy16.resize(static_cast<size_t>(outCount)); else hy32.resize(static_cast<size_t>(outCount));
    CUDA_OK(cudaMemcpy(es == 4 ? static_cast<void*>(hy32.data()) : hy16.data(), dy, static_cast<size_t>(outCount) * es,
                       cudaMemcpyDeviceToHost));
    cudaFree(dx);
    cudaFree(dy);
    // Every output against the core's pool_window on the host (bit-exact; NaN where NaN).
    std::vector<int64_t> bad(std::max(1u, std::thread::hardware_concurrency()), 0);
    std::vector<int64_t> firstBad(bad.size(), -1);
    unsigned const threads = static_cast<unsigned>(bad.size());
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            int64_t const begin = outCount * t / threads, end = outCount * (t + 1) / threads;
            for (int64_t i = begin; i < end; ++i) {
                int64_t const ow = i % y.w, oh = (i / y.w) % y.h, nc = i / (y.w * y.h), c = nc % y.c;
                int64_t const base = nc * cs.x.h * cs.x.w;
                auto load = [&](int64_t h, int64_t x) -> float {
                    int64_t const j = base + h * cs.x.w + x;
                    if (es == 4) return hx32[j];
                    return cs.type == DataType::kHALF ? half_bits_to_float(hx16[j]) : bfloat16_bits_to_float(hx16[j]);
                };
                float const ref = pool_window<kMaxWindowCells>(load, cs.x.h, cs.x.w, cfg.geometry, oh, ow,
                                                              cfg.weights.data() + c * cfg.channel_weight_stride());
                bool same;
                if (es == 4) {
                    float const got = hy32[i];
                    same = (std::isnan(got) && std::isnan(ref)) || float_to_bits(got) == float_to_bits(ref);
                } else {
                    uint16_t const want = cs.type == DataType::kHALF ? float_to_half_bits(ref) : float_to_bfloat16_bits(ref);
                    uint16_t const got = hy16[i];
                    bool const gotNan = cs.type == DataType::kHALF ? (got & 0x7fff) > 0x7c00 : (got & 0x7fff) > 0x7f80;
                    same = (gotNan && std::isnan(ref)) || got == want;
                }
                if (!same) {
                    if (firstBad[t] < 0) firstBad[t] = i;
                    ++bad[t];
                }
            }
        });
    for (auto& th : pool) th.join();
    int64_t nbad = 0, first = -1;
    for (unsigned t = 0; t < threads; ++t) {
        nbad += bad[t];
        if (first < 0 && firstBad[t] >= 0) first = firstBad[t];
    }
    delete p;
    delete built;
    char detail[256];
    std::snprintf(detail, sizeof detail, "%lld input elements, %lld outputs, %s-bit indices, %lld mismatches (first at %lld)",
                  (long long)inCount, (long long)outCount, small ? "32" : "64", (long long)nbad, (long long)first);
    std::printf("   %s: %s\n", cs.id, detail);
    report(ok && nbad == 0, std::string("large:") + cs.id, std::string(detail) + " " + sortpoolTrtLastError());
}

int checkLargeIndex() {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::printf("SKIP large-index: no CUDA device\n");
        return 3;
    }
    cudaDeviceProp prop{};
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    std::printf("device: %s, %.0f GiB\n", prop.name, prop.totalGlobalMem / 1073741824.0);
    std::vector<LargeCase> const cases = {
        // 2x2 stride 2, even W, pad_left 0: the paired-load fast path, 64-bit indices (2^31 + 93k elements).
        {"fp16_pair2x2_64bit", DataType::kHALF, {1, 1, 46342, 46342}, 2, 2, 2, 2, 0, 0, 1, 0, 1, 3, false, "64"},
        // 3x3 stride 2, padded, per-channel weights, 4 planes: plane offsets beyond 2^31 elements.
        {"fp32_3x3_per_channel_64bit", DataType::kFLOAT, {2, 2, 23171, 23171}, 3, 3, 2, 2, 1, 1, 1, 1, 1, 5, true, "64"},
        // Just under the 32-bit limit (2^31 - 2^28): the 32-bit variant at its largest.
        {"bf16_2x2_stride1_32bit_at_limit", DataType::kBF16, {1, 1, 43347, 43347}, 2, 2, 1, 1, 0, 0, 0, 0, 0, 2, false, "32"},
    };
    for (auto const& cs : cases) runLargeCase(cs);
    return gFailures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string const mode = argc > 1 ? argv[1] : "all";
    if (mode == "large-index") return checkLargeIndex();
    if (mode == "fields" || mode == "all") checkFields();
    if (mode == "blobs" || mode == "all") checkBlobs();
    if (mode == "shapes" || mode == "all") checkShapes();
    std::printf("%d failed\n", gFailures);
    return gFailures == 0 ? 0 : 1;
}
