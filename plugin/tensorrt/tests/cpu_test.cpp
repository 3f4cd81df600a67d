// cpu_test.cpp - CPU-only checks of the TensorRT plugin objects (no GPU, no TensorRT library):
// field parsing and errors, version-1 blob round trip and corruption, version-2 field round trip,
// output types, format combinations, and the output-shape expression against the core's
// pooled_extent (through a small IExprBuilder that evaluates constants).
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <deque>
#include <string>
#include <vector>

#include "sortedWeightedPoolPlugin.h"
#include "sortedWeightedPoolPluginLegacy.h"
#include "reference_window.h"
#include "sortedWeightedPoolHalf2Windows.h"
#include "sortedWeightedPoolKernel.h"
#include "sortedWeightedPoolRowVectors.h"
#include "test_check.h"
#include "tests/const_expr_builder.h"

using namespace nvinfer1;
using namespace sortpool;
using namespace sortpool::trt;
using sortpool::trt::testing::ConstBuilder;
using sortpool::trt::testing::ConstExpr;

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // gcc 12 misreads the malloc-backed pair below
#endif
// Heap allocations on this thread, counted by the replaceable global operator new (the array
// forms forward to it), so that a test can show enqueue's host work allocates nothing.
static thread_local long tAllocations = 0;
void* operator new(std::size_t n) {
    ++tAllocations;
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

// --- helpers ----------------------------------------------------------------------------------------
struct Fields {
    std::vector<PluginField> f;
    std::deque<std::vector<int32_t>> ints;
    std::deque<std::vector<float>> floats;
    PluginFieldCollection fc{};
    Fields& i32(char const* name, std::vector<int32_t> v) {
        ints.push_back(std::move(v));
        f.emplace_back(name, ints.back().data(), PluginFieldType::kINT32, static_cast<int32_t>(ints.back().size()));
        return *this;
    }
    Fields& f32(char const* name, std::vector<float> v) {
        floats.push_back(std::move(v));
        f.emplace_back(name, floats.back().data(), PluginFieldType::kFLOAT32, static_cast<int32_t>(floats.back().size()));
        return *this;
    }
    PluginFieldCollection const* get() {
        fc.nbFields = static_cast<int32_t>(f.size());
        fc.fields = f.data();
        return &fc;
    }
};

static bool sameConfig(PoolConfig const& a, PoolConfig const& b) {
    PoolGeometry const &x = a.geometry, &y = b.geometry;
    return x.kernel_h == y.kernel_h && x.kernel_w == y.kernel_w && x.stride_h == y.stride_h && x.stride_w == y.stride_w &&
           x.pad_top == y.pad_top && x.pad_left == y.pad_left && x.pad_bottom == y.pad_bottom &&
           x.pad_right == y.pad_right && x.ceil_mode == y.ceil_mode && x.pool_range == y.pool_range &&
           a.weights == b.weights;
}

static void testFields() {
    SortedWeightedPoolPluginCreator v3;
    PluginFieldCollection const* names = v3.getFieldNames();
    CHECK(names->nbFields == 6);
    Fields ok;
    ok.i32("kernel_shape", {3, 2}).i32("strides", {1, 2}).i32("pads", {1, 0, 2, 1}).i32("ceil_mode", {1});
    ok.i32("pool_range", {3}).f32("weights", {0.5f, 0.3f, 0.2f});
    IPluginV3* p = v3.createPlugin("x", ok.get(), TensorRTPhase::kBUILD);
    CHECK(p != nullptr);
    if (p) {
        auto* sp = static_cast<SortedWeightedPoolPlugin*>(p);
        CHECK(sp->config().geometry.kernel_h == 3 && sp->config().geometry.pad_bottom == 2);
        // v2 fields round trip through kRUNTIME
        auto* rt = static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
        IPluginV3* q = v3.createPlugin("x", rt->getFieldsToSerialize(), TensorRTPhase::kRUNTIME);
        CHECK(q != nullptr && sameConfig(static_cast<SortedWeightedPoolPlugin*>(q)->config(), sp->config()));
        delete q;
        delete p;
    }
    struct Bad { Fields f; char const* needle; };
    std::vector<Bad> bad(9);
    bad[0].f.i32("pool_range", {5}).f32("weights", {1, 1, 1, 1, 1}); bad[0].needle = "pool_range";
    bad[1].f.i32("pool_range", {2}).f32("weights", {1, 1, 1}); bad[1].needle = "weights";
    bad[2].f.i32("pool_range", {1}); bad[2].needle = "weights";
    bad[3].f.i32("pool_range", {1}).f32("weights", {1}).i32("dilations", {1, 1}); bad[3].needle = "dilations";
    bad[4].f.i32("pool_range", {1}).f32("weights", {1}).f32("strides", {1, 1}); bad[4].needle = "kINT32";
    bad[5].f.i32("kernel_shape", {2, 2}).i32("pads", {0, 0, 2, 0}).i32("pool_range", {1}).f32("weights", {1}); bad[5].needle = "pads";
    bad[6].f.i32("pool_range", {1}).i32("pool_range", {1}).f32("weights", {1}); bad[6].needle = "more than once";
    bad[7].f.i32("kernel_shape", {9, 8}).i32("pool_range", {1}).f32("weights", {1}); bad[7].needle = "kernel_shape";
    bad[8].f.i32("pool_range", {1}).i32("weights", {1}); bad[8].needle = "expected kFLOAT32 or kFLOAT64";
    SortedWeightedPoolPluginLegacyCreator v2;
    for (auto& b : bad) {
        IPluginV3* p3 = v3.createPlugin("x", b.f.get(), TensorRTPhase::kBUILD);
        CHECK(p3 == nullptr);
        CHECK(std::strstr(lastError(), b.needle) != nullptr);
        if (std::strstr(lastError(), b.needle) == nullptr) std::fprintf(stderr, "  message: %s\n", lastError());
        IPluginV2* p2 = v2.createPlugin("x", b.f.get());
        CHECK(p2 == nullptr);
        delete p3;
    }
}

static void testSerializationV1() {
    SortedWeightedPoolPluginLegacyCreator v2;
    Fields f;
    f.i32("kernel_shape", {2, 3}).i32("pads", {1, 2, 0, 0}).i32("pool_range", {2}).f32("weights", {1, 2, 3, 4, 5, 6});
    IPluginV2* p = v2.createPlugin("x", f.get());
    CHECK(p != nullptr);
    if (!p) return;
    std::vector<unsigned char> blob(p->getSerializationSize());
    p->serialize(blob.data());
    IPluginV2* q = v2.deserializePlugin("x", blob.data(), blob.size());
    CHECK(q != nullptr);
    if (q) {
        CHECK(sameConfig(static_cast<SortedWeightedPoolPluginLegacy*>(q)->config(),
                         static_cast<SortedWeightedPoolPluginLegacy*>(p)->config()));
        q->destroy();
    }
    for (size_t n = 0; n < blob.size(); ++n) CHECK(v2.deserializePlugin("x", blob.data(), n) == nullptr);  // truncated
    for (size_t i = 0; i < blob.size(); ++i) {  // every single-byte corruption is caught
        std::vector<unsigned char> c = blob;
        c[i] ^= 0x5a;
        IPluginV2* r = v2.deserializePlugin("x", c.data(), c.size());
        CHECK(r == nullptr);
        if (r) r->destroy();
    }
    std::vector<unsigned char> longer = blob;
    longer.push_back(0);
    CHECK(v2.deserializePlugin("x", longer.data(), longer.size()) == nullptr);
    CHECK(v2.deserializePlugin("x", nullptr, 0) == nullptr);
    p->destroy();
}

// TensorRT clones the engine's plugin for each execution context and never calls initialize()
// on the clone, so a version "1" clone must come back with its per-channel table on the device
// when the table is too large to travel in the launch. Without a GPU the upload fails, and
// clone() must say so instead of returning a plugin that cannot enqueue.
static void testCloneUploadsLargeWeightTables() {
    int devices = 0;
    bool const haveGpu = cudaGetDeviceCount(&devices) == cudaSuccess && devices > 0;
    SortedWeightedPoolPluginLegacyCreator creator;
    for (int32_t channels : {1, 32}) {  // 4 weights travel in the launch; 128 need a device buffer
        Fields f;
        f.i32("pool_range", {4}).f32("weights", std::vector<float>(static_cast<size_t>(4 * channels), 0.25f));
        IPluginV2* p = creator.createPlugin("x", f.get());
        CHECK(p != nullptr);
        if (!p) continue;
        bool const needsBuffer = !DeviceWeights::fitsInline(static_cast<SortedWeightedPoolPluginLegacy*>(p)->config());
        CHECK(needsBuffer == (channels == 32));
        clearLastError();
        IPluginV2* copy = static_cast<IPluginV2DynamicExt*>(p)->clone();
        if (!needsBuffer || haveGpu) {
            CHECK_MSG(copy != nullptr, lastError());
        } else {
            CHECK(copy == nullptr);
            CHECK_MSG(std::string(lastError()).find("128 per-channel weights on the device") != std::string::npos,
                      lastError());
        }
        if (copy) copy->destroy();
        p->destroy();
    }
}

// enqueue's host work (the shape check and the launch description, weights included) must not
// allocate: TensorRT calls it on the inference path. Errors may allocate for their message.
static void testLaunchDescriptionAllocatesNothing() {
    SortedWeightedPoolPluginLegacyCreator creator;
    Fields f;
    f.i32("kernel_shape", {3, 3}).i32("strides", {2, 2}).i32("pads", {1, 1, 1, 1}).i32("pool_range", {3});
    f.f32("weights", std::vector<float>(3 * 16, 0.5f));  // per-channel, C = 16: travels in the launch
    IPluginV2* p = creator.createPlugin("x", f.get());
    CHECK(p != nullptr);
    if (!p) return;
    PoolConfig const cfg = static_cast<SortedWeightedPoolPluginLegacy*>(p)->config();
    PluginTensorDesc in{}, out{};
    in.type = out.type = DataType::kHALF;
    in.format = out.format = TensorFormat::kLINEAR;
    in.dims.nbDims = out.dims.nbDims = 4;
    int64_t const x[4] = {8, 16, 111, 112}, y[4] = {8, 16, 56, 56};
    for (int i = 0; i < 4; ++i) {
        in.dims.d[i] = x[i];
        out.dims.d[i] = y[i];
    }
    DeviceWeights weights;
    PoolLaunch launch;
    long const before = tAllocations;
    bool const described = describeLaunch(cfg, in, out, &launch).empty() && weights.fill(cfg, &launch);
    bool const checked = checkInputDims(cfg, in.dims).empty();
    long const allocations = tAllocations - before;
    CHECK(described && checked);
    CHECK_MSG(allocations == 0, std::to_string(allocations) + " allocations");
    CHECK(launch.out.h == 56 && launch.out.w == 56 && launch.inline_count == 48);
    out.dims.d[3] = 57;  // an error still gets its message
    CHECK(describeLaunch(cfg, in, out, &launch).find("expected [8, 16, 56, 56]") != std::string::npos);
    p->destroy();
}

// Version "1"'s types and formats, through the interface TensorRT calls (the headers' layout and
// TensorRT 11's): the same table as version "2" (float32/float16/bfloat16, Y of X's type, linear).
template <class Abi>
static void checkV1TypesAndFormats(Abi& plugin) {
    for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kINT8, DataType::kINT32}) {
        bool const supported = t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16;
        if (supported) CHECK(plugin.getOutputDataType(0, &t, 1) == t);
        PluginTensorDesc io[2]{};
        io[0].type = t;
        io[0].format = TensorFormat::kLINEAR;
        CHECK(plugin.supportsFormatCombination(0, io, 1, 1) == supported);
        for (DataType o : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
            io[1].type = o;
            io[1].format = TensorFormat::kLINEAR;
            CHECK_MSG(plugin.supportsFormatCombination(1, io, 1, 1) == (supported && o == t),
                      "X type " + std::to_string(static_cast<int>(t)) + ", Y type " + std::to_string(static_cast<int>(o)));
            io[1].format = TensorFormat::kCHW32;
            CHECK(!plugin.supportsFormatCombination(1, io, 1, 1));
        }
        io[0].format = TensorFormat::kHWC8;
        CHECK(!plugin.supportsFormatCombination(0, io, 1, 1));
    }
}

static void testV1TypesAndFormats() {
    SortedWeightedPoolPluginLegacyCreator creator;
    Fields f;
    f.i32("pool_range", {1}).f32("weights", {1});
    IPluginV2* p = creator.createPlugin("x", f.get());
    CHECK(p != nullptr);
    if (!p) return;
    checkV1TypesAndFormats<IPluginV2DynamicExt>(*static_cast<IPluginV2DynamicExt*>(p));
    SortedWeightedPoolPluginLegacy11 p11(static_cast<SortedWeightedPoolPluginLegacy*>(p)->config());
    checkV1TypesAndFormats<abi11::IPluginV2DynamicExt>(p11);
    p->destroy();
}

static void testShapesAndFormats() {
    // Output-shape expression == core pooled_extent / infer_output_shape, over many geometries.
    int cases = 0;
    for (int k = 1; k <= 4; ++k)
        for (int s = 1; s <= 3; ++s)
            for (int ph = 0; ph < k; ++ph)
                for (int pt = 0; pt < k; ++pt)
                    for (int ceil = 0; ceil <= 1; ++ceil)
                        for (int64_t in = 0; in <= 12; ++in) {
                            ConstBuilder eb;
                            ConstExpr inExpr(in);
                            IDimensionExpr const* e = pooledExtentExpr(inExpr, k, s, ph, pt, ceil, eb);
                            PoolConfig cfg;
                            cfg.geometry.kernel_h = k; cfg.geometry.kernel_w = 1;
                            cfg.geometry.stride_h = s; cfg.geometry.stride_w = 1;
                            cfg.geometry.pad_top = ph; cfg.geometry.pad_bottom = pt;
                            cfg.geometry.ceil_mode = ceil; cfg.geometry.pool_range = 1;
                            cfg.weights = {1.f};
                            Shape4 y;
                            std::string err = infer_output_shape(cfg, {1, 1, in, 3}, &y);
                            int64_t const want = err.empty() ? y.h : 0;  // invalid inputs: 0 (rejected at configure)
                            CHECK(e != nullptr && e->getConstantValue() == want);
                            if (e && e->getConstantValue() != want)
                                std::fprintf(stderr, "  k=%d s=%d pads=%d,%d ceil=%d in=%lld: expr %lld, core %lld\n", k, s,
                                             ph, pt, ceil, (long long)in, (long long)e->getConstantValue(), (long long)want);
                            ++cases;
                        }
    std::printf("shape expression cases: %d\n", cases);

    SortedWeightedPoolPluginCreator v3;
    Fields f;
    f.i32("pool_range", {1}).f32("weights", {1});
    IPluginV3* p = v3.createPlugin("x", f.get(), TensorRTPhase::kBUILD);
    CHECK(p != nullptr);
    if (!p) return;
    auto* build = static_cast<IPluginV3OneBuild*>(p->getCapabilityInterface(PluginCapabilityType::kBUILD));
    for (DataType t : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kINT8, DataType::kINT32}) {
        DataType out = DataType::kINT64;
        int32_t rc = build->getOutputDataTypes(&out, 1, &t, 1);
        bool const supported = t == DataType::kFLOAT || t == DataType::kHALF || t == DataType::kBF16;
        CHECK((rc == 0) == supported);
        if (supported) CHECK(out == t);
        DynamicPluginTensorDesc io[2]{};
        io[0].desc.type = t;
        io[0].desc.format = TensorFormat::kLINEAR;
        CHECK(build->supportsFormatCombination(0, io, 1, 1) == supported);
        for (DataType o : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
            io[1].desc.type = o;
            io[1].desc.format = TensorFormat::kLINEAR;
            CHECK(build->supportsFormatCombination(1, io, 1, 1) == (o == t));
            io[1].desc.format = TensorFormat::kCHW32;
            CHECK(!build->supportsFormatCombination(1, io, 1, 1));
        }
        io[0].desc.format = TensorFormat::kHWC8;
        CHECK(!build->supportsFormatCombination(0, io, 1, 1));
    }
    // onShapeChange validates concrete shapes.
    auto* rt = static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    PluginTensorDesc in{}, out{};
    in.dims.nbDims = 4; in.dims.d[0] = 2; in.dims.d[1] = 3; in.dims.d[2] = 5; in.dims.d[3] = 7;
    in.type = out.type = DataType::kHALF;
    in.format = out.format = TensorFormat::kLINEAR;
    out.dims = in.dims; out.dims.d[2] = 2; out.dims.d[3] = 3;
    CHECK(rt->onShapeChange(&in, 1, &out, 1) == 0);
    out.dims.d[3] = 4;
    CHECK(rt->onShapeChange(&in, 1, &out, 1) != 0);
    delete p;
}

// --- version "1" vtable layouts --------------------------------------------------------------------
// Itanium C++ ABI: a pointer to a virtual member function holds 1 + the byte offset of its vtable
// slot, so the slot each function occupies can be read back and compared with the layout the
// TensorRT runtime of each major version calls (see common/trtV2Abi11.h).
template <class F>
static long slotOf(F pmf) {
    static_assert(sizeof(F) == 2 * sizeof(std::ptrdiff_t), "Itanium pointer to member function");
    std::ptrdiff_t raw = 0;
    std::memcpy(&raw, &pmf, sizeof raw);
    return (raw & 1) != 0 ? static_cast<long>((raw - 1) / static_cast<std::ptrdiff_t>(sizeof(void*))) : -1;
}

// The slots of the public IPluginV2DynamicExt members, in the order the layouts list them; the
// IPluginV2 part (slots 0-18) is the same in TensorRT 10 and 11, the rest differs by the two
// IPluginV2Ext slots TensorRT 11 removed.
template <class Abi>
static std::vector<long> publicSlots() {
    using T = V2Types<Abi>;
    using Dyn = typename T::DimsExprs (Abi::*)(int32_t, typename T::DimsExprs const*, int32_t,
                                               typename T::ExprBuilder&) noexcept;
    using Cfg = void (Abi::*)(typename T::DynamicTensorDesc const*, int32_t, typename T::DynamicTensorDesc const*,
                              int32_t) noexcept;
    using Ws = size_t (Abi::*)(typename T::TensorDesc const*, int32_t, typename T::TensorDesc const*, int32_t)
        const noexcept;
    using Enq = int32_t (Abi::*)(typename T::TensorDesc const*, typename T::TensorDesc const*, void const* const*,
                                 void* const*, void*, cudaStream_t) noexcept;
    return {slotOf(&Abi::getPluginType),        slotOf(&Abi::getPluginVersion),
            slotOf(&Abi::getNbOutputs),         slotOf(&Abi::initialize),
            slotOf(&Abi::terminate),            slotOf(&Abi::getSerializationSize),
            slotOf(&Abi::serialize),            slotOf(&Abi::destroy),
            slotOf(&Abi::clone),                slotOf(&Abi::setPluginNamespace),
            slotOf(&Abi::getPluginNamespace),   slotOf(&Abi::getOutputDataType),
            slotOf(&Abi::attachToContext),      slotOf(&Abi::detachFromContext),
            slotOf(static_cast<Dyn>(&Abi::getOutputDimensions)), slotOf(&Abi::supportsFormatCombination),
            slotOf(static_cast<Cfg>(&Abi::configurePlugin)),     slotOf(static_cast<Ws>(&Abi::getWorkspaceSize)),
            slotOf(static_cast<Enq>(&Abi::enqueue))};
}

// An expression builder over constants with TensorRT 8.6's expression classes (abi86).
using ConstBuilder86 = testing::BasicConstBuilder<testing::ExprTypes<
    abi86::IDimensionExpr, abi86::VDimensionExpr, abi86::IExprBuilder, abi86::VExprBuilder, int32_t, false>>;

// The TensorRT 8.6/9.x instantiation answers as the headers' one does, through 8.6's types.
static void testV2Layout86(SortedWeightedPoolPluginLegacy& p10, std::vector<char> const& b10, DimsExprs const& o10) {
    SortedWeightedPoolPluginLegacy86 p86(p10.config());
    abi86::IPluginV2DynamicExt& i86 = p86;
    CHECK((static_cast<uint32_t>(i86.getTensorRTVersion()) >> 24) == 3U);
    CHECK((i86.getTensorRTVersion() & 0xFFFFFF) == 8601);  // no TensorRT loaded: 8.6.1
    std::vector<char> b86(i86.getSerializationSize());
    i86.serialize(b86.data());
    CHECK(b86 == b10);
    ConstBuilder86 eb;
    abi86::DimsExprs in{};
    in.nbDims = 4;
    for (int i = 0; i < 4; ++i) in.d[i] = eb.constant(7 + i);
    abi86::DimsExprs const o86 = i86.getOutputDimensions(0, &in, 1, eb);
    CHECK(o86.nbDims == 4);
    for (int i = 0; i < 4 && o86.nbDims == 4 && o10.nbDims == 4; ++i)
        CHECK(o86.d[i]->getConstantValue() == o10.d[i]->getConstantValue());
    abi86::PluginTensorDesc io[2]{};
    io[0].type = io[1].type = DataType::kHALF;
    io[0].format = io[1].format = TensorFormat::kLINEAR;
    CHECK(i86.supportsFormatCombination(0, io, 1, 1) && i86.supportsFormatCombination(1, io, 1, 1));
    io[0].type = DataType::kINT8;
    CHECK(!i86.supportsFormatCombination(0, io, 1, 1));
    // configurePlugin / enqueue read 32-bit dims: a known C that does not fit the weights is reported.
    abi86::DynamicPluginTensorDesc din{}, dout{};
    din.desc.dims.nbDims = 4;
    din.desc.dims.d[0] = -1; din.desc.dims.d[1] = 3; din.desc.dims.d[2] = -1; din.desc.dims.d[3] = -1;
    din.desc.type = DataType::kFLOAT;
    dout = din;
    clearLastError();
    i86.configurePlugin(&din, 1, &dout, 1);
    CHECK(std::string(lastError()).empty());  // shared weights: any C
    din.desc.dims.nbDims = 3;
    i86.configurePlugin(&din, 1, &dout, 1);
    CHECK(std::string(lastError()).find("rank") != std::string::npos);
    abi86::PluginTensorDesc x{}, y{};
    x.dims.nbDims = 4; x.dims.d[0] = 1; x.dims.d[1] = 1; x.dims.d[2] = 7; x.dims.d[3] = 8;
    y = x;
    y.dims.d[3] = 99;  // not the pooled shape: rejected before any device work
    CHECK(i86.enqueue(&x, &y, nullptr, nullptr, nullptr, nullptr) != 0);
    abi86::IPluginV2DynamicExt* copy = i86.clone();
    CHECK(copy != nullptr && copy->getSerializationSize() == b10.size());
    if (copy) copy->destroy();
    // The 8.6 creator: fields in, an 8.6-layout plugin out.
    SortedWeightedPoolPluginLegacyCreator86 creator;
    abi86::IPluginCreator& c86 = creator;
    CHECK(std::strcmp(c86.getPluginName(), "SortedWeightedPool") == 0 && std::strcmp(c86.getPluginVersion(), "1") == 0);
    abi86::IPluginV2DynamicExt* q = c86.deserializePlugin("x", b10.data(), b10.size());
    CHECK(q != nullptr && q->getSerializationSize() == b10.size());
    if (q) q->destroy();
}

static void testV2Layouts() {
    // IPluginV2: getPluginType 1 .. getNbOutputs 3, initialize 7, terminate 8, getSerializationSize 11 ..
    // getPluginNamespace 16 (destructor 17-18). Then IPluginV2Ext and IPluginV2DynamicExt.
    std::vector<long> const v2Part = {1, 2, 3, 7, 8, 11, 12, 13, 14, 15, 16};
    auto layout = [&](std::vector<long> rest) {
        std::vector<long> all = v2Part;
        all.insert(all.end(), rest.begin(), rest.end());
        return all;
    };
    // TensorRT 10: getOutputDataType 19, (broadcast queries 20-21, configurePlugin(Dims) 22),
    // attachToContext 23, detachFromContext 24, then the five dynamic-shape members 25-29.
    std::vector<long> const trt10 = layout({19, 23, 24, 25, 26, 27, 28, 29});
    // TensorRT 11: getOutputDataType 19, (configurePlugin(Dims) 20), attachToContext 21, detachFromContext 22,
    // then 23-27.
    std::vector<long> const trt11 = layout({19, 21, 22, 23, 24, 25, 26, 27});
    std::vector<long> const headers = publicSlots<IPluginV2DynamicExt>();
    CHECK(headers == (NV_TENSORRT_MAJOR >= 11 ? trt11 : trt10));
    CHECK(publicSlots<abi86::IPluginV2DynamicExt>() == trt10);  // 8.6/9.x: the same slots, other types
    // IPluginCreator of 8.6/9.x: getTensorRTVersion 0, getPluginName 1 .. getPluginNamespace 7.
    using C86 = abi86::IPluginCreator;
    std::vector<long> const creator86 = {slotOf(&C86::getTensorRTVersion), slotOf(&C86::getPluginName),
                                         slotOf(&C86::getPluginVersion),   slotOf(&C86::getFieldNames),
                                         slotOf(&C86::createPlugin),       slotOf(&C86::deserializePlugin),
                                         slotOf(&C86::setPluginNamespace), slotOf(&C86::getPluginNamespace)};
    CHECK((creator86 == std::vector<long>{0, 1, 2, 3, 4, 5, 6, 7}));
    Fields f;
    f.i32("kernel_shape", {3, 2}).i32("strides", {1, 2}).i32("pads", {1, 0, 2, 1}).i32("ceil_mode", {1});
    f.i32("pool_range", {3}).f32("weights", {0.5F, 0.25F, 0.25F});
    PoolConfig cfg;
    std::string const err = parseFields(f.get(), &cfg);
    CHECK(err.empty());
    SortedWeightedPoolPluginLegacy p10(cfg);
    std::vector<char> b10(p10.getSerializationSize());
    p10.serialize(b10.data());
    ConstBuilder eb;
    DimsExprs in{};
    in.nbDims = 4;
    for (int i = 0; i < 4; ++i) in.d[i] = eb.constant(7 + i);
    DimsExprs const o10 = p10.getOutputDimensions(0, &in, 1, eb);
    CHECK(o10.nbDims == 4);
#if SORTPOOL_HAS_V2_ABI11
    CHECK(publicSlots<abi11::IPluginV2DynamicExt>() == trt11);
    // Same answers through both layouts.
    SortedWeightedPoolPluginLegacy11 p11(cfg);
    abi11::IPluginV2DynamicExt& i11 = p11;
    CHECK((static_cast<uint32_t>(i11.getTensorRTVersion()) >> 24) == 3U);  // kV2_DYNAMICEXT
    std::vector<char> b11(i11.getSerializationSize());
    i11.serialize(b11.data());
    CHECK(b10 == b11);
    DimsExprs const o11 = i11.getOutputDimensions(0, &in, 1, eb);
    CHECK(o11.nbDims == 4 && o10.nbDims == 4);
    for (int i = 0; i < 4 && o11.nbDims == 4 && o10.nbDims == 4; ++i)
        CHECK(o11.d[i]->getConstantValue() == o10.d[i]->getConstantValue());
    DataType const half = DataType::kHALF;
    CHECK(i11.getOutputDataType(0, &half, 1) == DataType::kHALF);
    abi11::IPluginV2DynamicExt* copy = i11.clone();
    CHECK(copy != nullptr && copy->getSerializationSize() == b11.size());
    if (copy) copy->destroy();
#endif
    testV2Layout86(p10, b10, o10);
}

// --- output shapes of every plugin interface against the core's shape rule ------------------------------
// The (N, C, H, W) constants a plugin's shape expression gives for input dims `x`; -1 where it gave no
// expression.
template <class Builder, class DimsExprsT, class Call>
static std::array<int64_t, 4> pluginOutputDims(int64_t const (&x)[4], Call call) {
    Builder eb;
    DimsExprsT in{};
    in.nbDims = 4;
    for (int i = 0; i < 4; ++i) in.d[i] = eb.constant(static_cast<int32_t>(x[i]));
    DimsExprsT const out = call(in, eb);
    std::array<int64_t, 4> dims{-1, -1, -1, -1};
    for (int i = 0; i < 4 && out.nbDims == 4; ++i)
        if (out.d[i] != nullptr) dims[static_cast<size_t>(i)] = out.d[i]->getConstantValue();
    return dims;
}

// The core's output extent for one axis, asked with the other spatial axis unknown so that each axis
// is judged alone; an axis the core rejects (padded input smaller than the window) expects 0, the value
// the expressions give before configure time reports it.
static int64_t coreExtent(PoolConfig const& cfg, int64_t n, int64_t c, int64_t h, int64_t w, int axis) {
    Shape4 y;
    std::vector<int64_t> const dims = axis == 0 ? std::vector<int64_t>{n, c, h, kUnknownDim}
                                                : std::vector<int64_t>{n, c, kUnknownDim, w};
    if (!infer_output_shape(cfg, dims, &y).empty()) return 0;
    return axis == 0 ? y.h : y.w;
}

// getOutputShapes (version "2") and getOutputDimensions through each version "1" layout, for both
// spatial axes with their own kernel, stride and asymmetric pads, in both ceil modes, against the
// core's infer_output_shape. Floor mode depends on the pad sum only, so ceil mode is what tells a
// head pad from a tail pad.
static void testOutputShapesBothAxes() {
    struct Axis {
        int64_t kernel, stride, head, tail;
    };
    std::vector<Axis> axes;
    for (int64_t k = 1; k <= 4; ++k)
        for (int64_t s = 1; s <= 3; ++s)
            for (int64_t head = 0; head < k; ++head)
                for (int64_t tail = 0; tail < k; ++tail) axes.push_back({k, s, head, tail});
    long compared = 0, wrong = 0;
    std::vector<std::string> interfaces;
    for (int64_t ceil = 0; ceil <= 1; ++ceil)
        for (Axis const& ah : axes)
            for (Axis const& aw : axes) {
                PoolConfig cfg;
                PoolGeometry& g = cfg.geometry;
                g.kernel_h = ah.kernel; g.stride_h = ah.stride; g.pad_top = ah.head; g.pad_bottom = ah.tail;
                g.kernel_w = aw.kernel; g.stride_w = aw.stride; g.pad_left = aw.head; g.pad_right = aw.tail;
                g.ceil_mode = ceil;
                g.pool_range = 1;
                cfg.weights = {1.f};
                SortedWeightedPoolPlugin v3(cfg);
                SortedWeightedPoolPluginLegacy p10(cfg);
                SortedWeightedPoolPluginLegacy86 p86(cfg);
                abi86::IPluginV2DynamicExt& i86 = p86;
#if SORTPOOL_HAS_V2_ABI11
                SortedWeightedPoolPluginLegacy11 p11(cfg);
                abi11::IPluginV2DynamicExt& i11 = p11;
#endif
                for (int64_t h = 0; h <= 7; ++h)
                    for (int64_t w = 0; w <= 7; ++w) {
                        int64_t const x[4] = {2, 3, h, w};
                        std::array<int64_t, 4> const want = {2, 3, coreExtent(cfg, 2, 3, h, w, 0),
                                                             coreExtent(cfg, 2, 3, h, w, 1)};
                        std::vector<std::pair<char const*, std::array<int64_t, 4>>> got;
                        got.emplace_back("v2 getOutputShapes", pluginOutputDims<ConstBuilder, DimsExprs>(
                            x, [&](DimsExprs const& in, ConstBuilder& eb) {
                                DimsExprs o{};
                                if (v3.getOutputShapes(&in, 1, nullptr, 0, &o, 1, eb) != 0) o.nbDims = 0;
                                return o;
                            }));
                        got.emplace_back("v1 headers' layout", pluginOutputDims<ConstBuilder, DimsExprs>(
                            x, [&](DimsExprs const& in, ConstBuilder& eb) { return p10.getOutputDimensions(0, &in, 1, eb); }));
                        got.emplace_back("v1 8.6 layout", pluginOutputDims<ConstBuilder86, abi86::DimsExprs>(
                            x, [&](abi86::DimsExprs const& in, ConstBuilder86& eb) { return i86.getOutputDimensions(0, &in, 1, eb); }));
#if SORTPOOL_HAS_V2_ABI11
                        got.emplace_back("v1 TensorRT 11 layout", pluginOutputDims<ConstBuilder, DimsExprs>(
                            x, [&](DimsExprs const& in, ConstBuilder& eb) { return i11.getOutputDimensions(0, &in, 1, eb); }));
#endif
                        if (interfaces.empty())
                            for (auto const& r : got) interfaces.emplace_back(r.first);
                        for (auto const& r : got) {
                            ++compared;
                            if (r.second == want) continue;
                            if (wrong++ < 5)
                                std::fprintf(stderr, "  %s: kernel %lldx%lld stride %lldx%lld pads t%lld l%lld b%lld r%lld "
                                             "ceil %lld, input 2x3x%lldx%lld: plugin 2x3x%lldx%lld (N %lld C %lld), core %lldx%lld\n",
                                             r.first, (long long)ah.kernel, (long long)aw.kernel, (long long)ah.stride,
                                             (long long)aw.stride, (long long)ah.head, (long long)aw.head, (long long)ah.tail,
                                             (long long)aw.tail, (long long)ceil, (long long)h, (long long)w,
                                             (long long)r.second[2], (long long)r.second[3], (long long)r.second[0],
                                             (long long)r.second[1], (long long)want[2], (long long)want[3]);
                        }
                    }
            }
    long const expected = 2L * static_cast<long>(axes.size() * axes.size()) * 64 * static_cast<long>(interfaces.size());
    CHECK(interfaces.size() == (SORTPOOL_HAS_V2_ABI11 ? 4U : 3U));
    CHECK(compared == expected);
    CHECK_MSG(wrong == 0, std::to_string(wrong) + " of " + std::to_string(compared) + " output shapes differ from the core");
    std::printf("output shapes, both axes, %zu interfaces: %ld compared with the core, %ld wrong\n", interfaces.size(),
                compared, wrong);
}

// --- the experimental half2 window pair (sortedWeightedPoolHalf2Windows.h) against the core -------------------
// Every 4-cell window over a value set with NaN, +-inf, +-0, a subnormal, ties and the largest half,
// paired with a random window, for every K: the pair's two results equal the core's
// weighted_top_k_fixed<4, K> on the same cells, bit for bit (NaN results: the core's quiet NaN).
template <int K>
static void checkHalf2Windows(std::vector<uint16_t> const& values, std::mt19937& rng, long* compared) {
    float w[K];
    std::uniform_real_distribution<float> wd(-1.f, 1.f);
    for (float& x : w) x = wd(rng);
    const size_t n = values.size();
    std::uniform_int_distribution<size_t> pick(0, n - 1);
    auto bitsOf = [](float f) { uint32_t b; std::memcpy(&b, &f, 4); return b; };
    for (size_t i0 = 0; i0 < n; ++i0)
        for (size_t i1 = 0; i1 < n; ++i1)
            for (size_t i2 = 0; i2 < n; ++i2)
                for (size_t i3 = 0; i3 < n; ++i3) {
                    // window 0 (lane lo): the enumerated cells; window 1 (lane hi): random cells.
                    uint16_t const c0[4] = {values[i0], values[i1], values[i2], values[i3]};
                    uint16_t const c1[4] = {values[pick(rng)], values[pick(rng)], values[pick(rng)], values[pick(rng)]};
                    // Top row words hold the two windows' top cells, bottom row words the bottom ones.
                    uint32_t const a01 = c0[0] | (uint32_t{c0[1]} << 16), a23 = c1[0] | (uint32_t{c1[1]} << 16);
                    uint32_t const b01 = c0[2] | (uint32_t{c0[3]} << 16), b23 = c1[2] | (uint32_t{c1[3]} << 16);
                    float lo = 0.f, hi = 0.f;
                    twoWindowsHalf2<K>(a01, a23, b01, b23, w, lo, hi);
                    float f0[4], f1[4];
                    for (int c = 0; c < 4; ++c) {
                        f0[c] = half_bits_to_float(c0[c]);
                        f1[c] = half_bits_to_float(c1[c]);
                    }
                    float const want0 = weighted_top_k_fixed<4, K>(f0, w), want1 = weighted_top_k_fixed<4, K>(f1, w);
                    CHECK(bitsOf(lo) == bitsOf(want0));
                    CHECK(bitsOf(hi) == bitsOf(want1));
                    if (bitsOf(lo) != bitsOf(want0) && sortpool_test::check_counts().failures < 10)
                        std::fprintf(stderr, "  K=%d cells %04x %04x %04x %04x: half2 %08x, core %08x\n", K, c0[0], c0[1],
                                     c0[2], c0[3], bitsOf(lo), bitsOf(want0));
                    *compared += 2;
                }
}

static void testHalf2Windows() {
    // NaN (two payloads), -inf, -65504, -1, -0, +0, the smallest subnormal, 1, 1.5, 65504, +inf.
    std::vector<uint16_t> const values = {0x7e00, 0xfc01, 0xfc00, 0xfbff, 0xbc00, 0x8000, 0x0000,
                                          0x0001, 0x3c00, 0x3e00, 0x7bff, 0x7c00};
    std::mt19937 rng(7);
    long compared = 0;
    checkHalf2Windows<1>(values, rng, &compared);
    checkHalf2Windows<2>(values, rng, &compared);
    checkHalf2Windows<3>(values, rng, &compared);
    checkHalf2Windows<4>(values, rng, &compared);
    std::printf("half2 window pairs compared with the core: %ld windows\n", compared);
}

// --- the experimental flat 2x2 kernel (sortedWeightedPoolRowVectors.h, sortedWeightedPoolDivide.h) on the host -------------
// DivideByConstant against the `/` operator: small divisors, powers of two and their neighbours up to
// 2^63, random 64-bit divisors; numerators at 0, around multiples of the divisor, at the top of the
// range, and random.
static void testDivideByConstant() {
    std::mt19937_64 rng(11);
    std::vector<uint64_t> divisors;
    for (uint64_t d = 1; d <= 300; ++d) divisors.push_back(d);
    for (int b = 1; b < 64; ++b)
        for (int64_t delta : {-1, 0, 1}) divisors.push_back((uint64_t{1} << b) + static_cast<uint64_t>(delta));
    divisors.push_back(~uint64_t{0});
    for (int i = 0; i < 200; ++i) divisors.push_back(std::max<uint64_t>(1, rng() >> (rng() % 64)));
    long compared = 0, wrong = 0;
    for (uint64_t d : divisors) {
        DivideByConstant const div(d);
        std::vector<uint64_t> numerators = {0, 1, d - 1, d, d + 1, 2 * d - 1, 2 * d, ~uint64_t{0}, ~uint64_t{0} - 1,
                                            uint64_t{1} << 63, (uint64_t{1} << 63) - 1, ~uint64_t{0} / d * d,
                                            ~uint64_t{0} / d * d - 1};
        for (int i = 0; i < 2000; ++i) numerators.push_back(rng() >> (rng() % 64));
        for (uint64_t n : numerators) {
            ++compared;
            if (div.quotient(n) != n / d && wrong++ < 5)
                std::fprintf(stderr, "  %llu / %llu: got %llu\n", (unsigned long long)n, (unsigned long long)d,
                             (unsigned long long)div.quotient(n));
        }
    }
    CHECK(wrong == 0);
    std::printf("DivideByConstant: %ld quotients, %ld wrong\n", compared, wrong);
}

// Which launches the flat variants take: the row path's, with no clipped row (pad_top = 0, H = 2 H_out)
// and shared weights; the half2 sort for float16 only.
static void testFlatVariantPreconditions() {
    alignas(16) static unsigned char buffer[64];
    auto launch = [&](ElementType t, int64_t h, int64_t padTop, int64_t hOut, int64_t weightStride) {
        PoolLaunch p;
        p.geometry.kernel_h = p.geometry.kernel_w = p.geometry.stride_h = p.geometry.stride_w = 2;
        p.geometry.pad_top = padTop;
        p.geometry.pool_range = 4;
        p.in = Shape4{2, 3, h, 16};
        p.out = Shape4{2, 3, hOut, 8};
        p.type = t;
        p.channel_weight_stride = weightStride;
        p.x = buffer;
        p.y = buffer;
        return p;
    };
    CHECK(experimentalVariantApplies(launch(ElementType::kFloat16, 8, 0, 4, 0), KernelVariant::kFlat2x2));
    CHECK(experimentalVariantApplies(launch(ElementType::kFloat16, 8, 0, 4, 0), KernelVariant::kFlat2x2Half2Sort));
    CHECK(experimentalVariantApplies(launch(ElementType::kFloat32, 8, 0, 4, 0), KernelVariant::kFlat2x2));
    CHECK(experimentalVariantApplies(launch(ElementType::kBFloat16, 8, 0, 4, 0), KernelVariant::kFlat2x2));
    CHECK(!experimentalVariantApplies(launch(ElementType::kFloat32, 8, 0, 4, 0), KernelVariant::kFlat2x2Half2Sort));
    CHECK(!experimentalVariantApplies(launch(ElementType::kBFloat16, 8, 0, 4, 0), KernelVariant::kFlat2x2Half2Sort));
    CHECK(!experimentalVariantApplies(launch(ElementType::kFloat16, 9, 0, 4, 0), KernelVariant::kFlat2x2));  // row 8 unused
    CHECK(!experimentalVariantApplies(launch(ElementType::kFloat16, 7, 0, 4, 0), KernelVariant::kFlat2x2));  // last row clipped
    CHECK(!experimentalVariantApplies(launch(ElementType::kFloat16, 8, 1, 4, 0), KernelVariant::kFlat2x2));  // top padding
    CHECK(experimentalVariantApplies(launch(ElementType::kFloat16, 8, 0, 4, 4), KernelVariant::kFlat2x2));  // per channel
    CHECK(experimentalVariantApplies(launch(ElementType::kFloat16, 8, 0, 4, 4), KernelVariant::kRows2x2Unroll2));
    CHECK(!experimentalVariantApplies(launch(ElementType::kFloat16, 8, 0, 4, 0), KernelVariant::kRows2x2));
}

// Every thread of a grid of `threads` threads runs flatRowPairsThread on the host over a random
// N x C x H x W input (many ties, NaN, +-inf) with W = 2 W_out, H = 2 H_out, shared or per-channel
// weights; each output is compared with the naive reference (reference_window.h). Grids smaller
// and larger than the work cover the grid-stride loop, the unrolled step and its tail.
template <typename Storage, int K, bool kHalf2Sort, bool kPerChannel>
static void checkFlatGrid(Shape4 x, int64_t threads, std::mt19937& rng, long* compared) {
    using Vec = typename Storage::Vec;
    using Out = typename Storage::Out;
    using T = typename Storage::T;
    constexpr int64_t kOuts = Storage::kVecElems / 2;
    Shape4 const y{x.n, x.c, x.h / 2, x.w / 2};
    int64_t const inCount = x.n * x.c * x.h * x.w, outCount = y.n * y.c * y.h * y.w;
    std::vector<T> xs(static_cast<size_t>(inCount));
    std::uniform_int_distribution<int> vd(-6, 6), special(0, 99);
    std::vector<float> plane(static_cast<size_t>(inCount));
    for (int64_t i = 0; i < inCount; ++i) {
        int const s = special(rng);
        float const v = s == 0 ? std::nanf("") : s == 1 ? INFINITY : s == 2 ? -INFINITY : vd(rng) * 0.375f;
        xs[static_cast<size_t>(i)] = Storage::fromFloat(v);
        plane[static_cast<size_t>(i)] = Storage::toFloat(xs[static_cast<size_t>(i)]);
    }
    // The kernel's view: 16-byte vectors in, 8-byte stores out (copied, not aliased).
    std::vector<Vec> in(static_cast<size_t>(inCount / Storage::kVecElems));
    std::memcpy(in.data(), xs.data(), xs.size() * sizeof(T));
    std::vector<Out> out(static_cast<size_t>(outCount / kOuts));
    std::memset(out.data(), 0xa5, out.size() * sizeof(Out));
    // Per channel: C rows of K weights, stride K+1 (a padding weight the kernel must skip).
    int64_t const stride = kPerChannel ? K + 1 : 0;
    std::vector<float> weights(static_cast<size_t>(kPerChannel ? x.c * stride : K));
    std::uniform_real_distribution<float> wd(-1.f, 1.f);
    for (float& w : weights) w = wd(rng);

    FlatRowPairs const f = FlatRowPairs::forOutput(y, kOuts);  // as launchFlat builds it
    for (int64_t t = 0; t < threads; ++t)
        flatRowPairsThread<Storage, K, 2, kHalf2Sort, kPerChannel>(in.data(), out.data(), f, weights.data(), stride, t,
                                                                   threads);
    std::vector<T> ys(static_cast<size_t>(outCount));
    std::memcpy(ys.data(), out.data(), ys.size() * sizeof(T));

    PoolGeometry g;
    g.kernel_h = g.kernel_w = g.stride_h = g.stride_w = 2;
    long wrong = 0;
    for (int64_t nc = 0; nc < y.n * y.c; ++nc) {
        std::vector<float> const one(plane.begin() + nc * x.h * x.w, plane.begin() + (nc + 1) * x.h * x.w);
        for (int64_t oh = 0; oh < y.h; ++oh)
            for (int64_t ow = 0; ow < y.w; ++ow) {
                float const want = sortpool_test::weighted_sorted_cells(
                    sortpool_test::window_cells(one, x.h, x.w, g, oh, ow), K, weights.data() + (nc % x.c) * stride);
                T const wantBits = Storage::fromFloat(want), got = ys[static_cast<size_t>((nc * y.h + oh) * y.w + ow)];
                float const gotF = Storage::toFloat(got), wantF = Storage::toFloat(wantBits);
                bool const ok = std::memcmp(&got, &wantBits, sizeof(T)) == 0 || (gotF != gotF && wantF != wantF) ||
                                (gotF == 0.f && wantF == 0.f);
                if (!ok && wrong++ < 3)
                    std::fprintf(stderr, "  flat K=%d half2=%d per-channel=%d %lldx%lldx%lldx%lld grid %lld: out "
                                 "(%lld,%lld,%lld) = %g, reference %g\n", K, int{kHalf2Sort}, int{kPerChannel}, (long long)x.n, (long long)x.c, (long long)x.h,
                                 (long long)x.w, (long long)threads, (long long)nc, (long long)oh, (long long)ow,
                                 gotF, wantF);
                ++*compared;
            }
    }
    CHECK(wrong == 0);
}

template <typename Storage, bool kHalf2Sort, bool kPerChannel>
static void checkFlatGrids(std::mt19937& rng, long* compared) {
    // W multiple of 8: one input row is a whole number of 16-byte vectors for every type.
    Shape4 const shapes[] = {{1, 1, 2, 8}, {2, 3, 6, 8}, {1, 5, 4, 24}, {3, 2, 10, 40}, {2, 3, 8, 264}, {2, 7, 4, 8}};
    for (Shape4 const& s : shapes)
        for (int64_t threads : {1, 3, 32, 37, 256, 4096}) {
            checkFlatGrid<Storage, 1, kHalf2Sort, kPerChannel>(s, threads, rng, compared);
            checkFlatGrid<Storage, 2, kHalf2Sort, kPerChannel>(s, threads, rng, compared);
            checkFlatGrid<Storage, 3, kHalf2Sort, kPerChannel>(s, threads, rng, compared);
            checkFlatGrid<Storage, 4, kHalf2Sort, kPerChannel>(s, threads, rng, compared);
        }
}

template <typename Storage, bool kHalf2Sort>
static void checkFlatGridsBothWeights(std::mt19937& rng, long* compared) {
    checkFlatGrids<Storage, kHalf2Sort, false>(rng, compared);
    checkFlatGrids<Storage, kHalf2Sort, true>(rng, compared);
}

static void testFlatKernelOnHost() {
    std::mt19937 rng(5);
    long compared = 0;
    checkFlatGridsBothWeights<Float32Storage, false>(rng, &compared);
    checkFlatGridsBothWeights<Float16Storage, false>(rng, &compared);
    checkFlatGridsBothWeights<Float16Storage, true>(rng, &compared);
    checkFlatGridsBothWeights<BFloat16Storage, false>(rng, &compared);
    std::printf("flat 2x2 kernel, every thread run on the host: %ld outputs compared with the naive reference\n",
                compared);
}

int main() {
    testFields();
    testSerializationV1();
    testCloneUploadsLargeWeightTables();
    testLaunchDescriptionAllocatesNothing();
    testShapesAndFormats();
    testV1TypesAndFormats();
    testV2Layouts();
    testOutputShapesBothAxes();
    testHalf2Windows();
    testDivideByConstant();
    testFlatVariantPreconditions();
    testFlatKernelOnHost();
    return sortpool_test::finish_checks("sortpool_trt_cpu_test");
}
