// gpu_harness.cpp - drives the SortedWeightedPool plugins on real CUDA buffers, without a
// TensorRT builder or runtime: plugins come from the creators, then
//   version "1" (IPluginV2DynamicExt): initialize -> clone -> configurePlugin -> enqueue on the clone
//                                      (the headers' layout, as a TensorRT execution context runs it),
//                                      and initialize -> configurePlugin -> enqueue in TensorRT 8.6's
//                                      layout (32-bit dims, common/trtV2Abi86.h)
//   version "2" (IPluginV3):           attachToContext -> onShapeChange -> enqueue
// and every output is compared with the naive CPU reference (plugin/tests/reference_window.h)
// for float32, float16 and bfloat16 over many shapes and attributes. Results must be bit-exact
// (the core fixes the arithmetic); NaN positions must match.
//
//   sortpool_trt_gpu_harness              correctness sweep: a row per run; exit 1 when a plugin run
//                                         mismatches, 4 when only experimental variants do
//   sortpool_trt_gpu_harness --bench      bandwidth benchmark (>= 256 MB inputs, 2x2 s2 k=4)
//   sortpool_trt_gpu_harness --quick      fewer random cases (for compute-sanitizer)
//   ... --runs LIST                       only these runs: v1, v2, v1/8.6, rows-unroll2, rows-half2,
//                                         flat, flat-half2, or plugins / variants / all (default)
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "reference_window.h"
#include "sortedWeightedPoolPlugin.h"
#include "sortedWeightedPoolPluginLegacy.h"

using namespace nvinfer1;
using namespace sortpool;
using namespace sortpool::trt;

namespace {
// What is running, for the message when a CUDA call fails (a fault ends the process).
std::string gContext = "setup";
}  // namespace

#define CUDA_OK(x)                                                                                     \
    do {                                                                                               \
        cudaError_t e_ = (x);                                                                          \
        if (e_ != cudaSuccess) {                                                                       \
            std::fprintf(stderr, "%s:%d: %s: %s (while: %s)\n", __FILE__, __LINE__, #x,                \
                         cudaGetErrorString(e_), gContext.c_str());                                    \
            std::exit(2);                                                                              \
        }                                                                                              \
    } while (0)

namespace {

struct Case {
    int64_t n, c, h, w;
    int kh, kw, sh, sw, pt, pl, pb, pr, ceil, k;
    bool perChannel;
    DataType type;
};

size_t elemSize(DataType t) { return t == DataType::kFLOAT ? 4 : 2; }
char const* typeName(DataType t) { return t == DataType::kFLOAT ? "fp32" : t == DataType::kHALF ? "fp16" : "bf16"; }

float toFloat(DataType t, void const* base, int64_t i) {
    if (t == DataType::kFLOAT) return static_cast<float const*>(base)[i];
    uint16_t const b = static_cast<uint16_t const*>(base)[i];
    return t == DataType::kHALF ? half_bits_to_float(b) : bfloat16_bits_to_float(b);
}
uint32_t fromFloatBits(DataType t, float v) {
    if (t == DataType::kFLOAT) return float_to_bits(v);
    return t == DataType::kHALF ? float_to_half_bits(v) : float_to_bfloat16_bits(v);
}
uint32_t readBits(DataType t, void const* base, int64_t i) {
    if (t == DataType::kFLOAT) return static_cast<uint32_t const*>(base)[i];
    return static_cast<uint16_t const*>(base)[i];
}
bool isNanBits(DataType t, uint32_t b) {
    if (t == DataType::kFLOAT) return (b & 0x7fffffffu) > 0x7f800000u;
    if (t == DataType::kHALF) return (b & 0x7fffu) > 0x7c00u;
    return (b & 0x7fffu) > 0x7f80u;
}

PoolConfig configOf(Case const& cs, std::vector<float> const& weights) {
    RawAttributes raw;
    raw.has_kernel_shape = raw.has_strides = raw.has_pads = raw.has_ceil_mode = raw.has_pool_range = true;
    raw.has_weights = true;
    raw.kernel_shape = {cs.kh, cs.kw};
    raw.strides = {cs.sh, cs.sw};
    raw.pads = {cs.pt, cs.pl, cs.pb, cs.pr};
    raw.ceil_mode = cs.ceil;
    raw.pool_range = cs.k;
    raw.weights = weights;
    PoolConfig cfg;
    std::string err = parse_attributes(raw, &cfg);
    if (!err.empty()) {
        std::fprintf(stderr, "bad case: %s\n", err.c_str());
        std::exit(2);
    }
    return cfg;
}

PluginTensorDesc desc(DataType t, Shape4 s) {
    PluginTensorDesc d{};
    d.dims.nbDims = 4;
    d.dims.d[0] = s.n; d.dims.d[1] = s.c; d.dims.d[2] = s.h; d.dims.d[3] = s.w;
    d.type = t;
    d.format = TensorFormat::kLINEAR;
    d.scale = 1.f;
    return d;
}

// Runs per case: 1 = version "1", 2 = version "2", 3 = version "1" laid out for TensorRT 8.6/9.x,
// 4 to 7 = the experimental kernel variants (launchSortedWeightedPoolAs) where they apply.
constexpr int kPluginRuns = 3;
constexpr int kExperimentalCount = 4;
constexpr int kRuns = kPluginRuns + kExperimentalCount;
constexpr KernelVariant kExperimental[kExperimentalCount] = {
    KernelVariant::kRows2x2Unroll2, KernelVariant::kRows2x2Half2Sort, KernelVariant::kFlat2x2,
    KernelVariant::kFlat2x2Half2Sort};
char const* const kRunNames[kRuns + 1] = {"", "v1", "v2", "v1/8.6", "rows-unroll2", "rows-half2", "flat", "flat-half2"};
// Which runs this process makes (--runs), and per run the cases it ran and its mismatching outputs.
bool gRunOn[kRuns + 1] = {false, true, true, true, true, true, true, true};
int gRunCases[kRuns + 1] = {};
int64_t gRunBad[kRuns + 1] = {};
int gCasesRun = 0;  // valid cases (random ones that break the contract are skipped)

// --runs LIST: comma-separated run names, "plugins" (v1, v2, v1/8.6), "variants" (the four
// experimental ones) or "all". False on an unknown name.
bool selectRuns(std::string const& list) {
    for (int r = 1; r <= kRuns; ++r) gRunOn[r] = false;
    size_t start = 0;
    while (start <= list.size()) {
        size_t const end = std::min(list.find(',', start), list.size());
        std::string const name = list.substr(start, end - start);
        bool known = false;
        for (int r = 1; r <= kRuns; ++r) {
            bool const on = name == kRunNames[r] || name == "all" || (name == "plugins" && r <= kPluginRuns) ||
                            (name == "variants" && r > kPluginRuns);
            gRunOn[r] = gRunOn[r] || on;
            known = known || on;
        }
        if (!known) return false;
        start = end + 1;
    }
    return true;
}

// A TensorRT 10 tensor description as TensorRT 8.6 passes it (the harness's extents fit in 32 bits).
abi86::PluginTensorDesc desc86(PluginTensorDesc const& d) {
    abi86::PluginTensorDesc out{};
    out.dims.nbDims = d.dims.nbDims;
    for (int32_t i = 0; i < d.dims.nbDims; ++i) out.dims.d[i] = static_cast<int32_t>(d.dims.d[i]);
    out.type = d.type;
    out.format = d.format;
    out.scale = d.scale;
    return out;
}

// Runs one case through both plugin versions (version "1" in two layouts); returns the number of
// mismatching outputs.
int64_t runCase(Case const& cs, std::mt19937& rng, bool verbose) {
    std::vector<float> weights(static_cast<size_t>(cs.k) * (cs.perChannel ? cs.c : 1));
    std::uniform_real_distribution<float> wd(-1.f, 1.f);
    for (float& w : weights) w = wd(rng);
    PoolConfig const cfg = configOf(cs, weights);
    Shape4 y;
    std::string err = infer_output_shape(cfg, {cs.n, cs.c, cs.h, cs.w}, &y);
    if (!err.empty()) return 0;  // not a valid case: skipped
    ++gCasesRun;
    int64_t const inCount = cs.n * cs.c * cs.h * cs.w, outCount = y.n * y.c * y.h * y.w;
    size_t const es = elemSize(cs.type);

    // Input: small integers and fractions (many ties), some +-inf, some NaN.
    std::vector<unsigned char> hx(static_cast<size_t>(inCount) * es);
    std::uniform_int_distribution<int> vd(-8, 8), special(0, 199);
    for (int64_t i = 0; i < inCount; ++i) {
        float v = static_cast<float>(vd(rng)) * 0.37f;
        int const s = special(rng);
        if (s == 0) v = std::nanf("");
        if (s == 1) v = INFINITY;
        if (s == 2) v = -INFINITY;
        uint32_t const b = fromFloatBits(cs.type, v);
        std::memcpy(hx.data() + i * es, &b, es);  // little endian: low bytes
    }
    // CPU reference: the naive one (plugin/tests/reference_window.h: gather the real cells, std::sort,
    // sum in rank order), independent of the core the kernels share.
    std::vector<uint32_t> ref(static_cast<size_t>(outCount));
    for (int64_t nc = 0; nc < y.n * y.c; ++nc) {
        int64_t const c = nc % y.c;
        float const* w = cfg.weights.data() + c * cfg.channel_weight_stride();
        std::vector<float> plane(static_cast<size_t>(cs.h * cs.w));
        for (int64_t i = 0; i < cs.h * cs.w; ++i) plane[static_cast<size_t>(i)] = toFloat(cs.type, hx.data(), nc * cs.h * cs.w + i);
        for (int64_t oh = 0; oh < y.h; ++oh)
            for (int64_t ow = 0; ow < y.w; ++ow)
                ref[static_cast<size_t>((nc * y.h + oh) * y.w + ow)] = fromFloatBits(
                    cs.type, sortpool_test::weighted_sorted_cells(
                                 sortpool_test::window_cells(plane, cs.h, cs.w, cfg.geometry, oh, ow), cs.k, w));
    }

    void *dx = nullptr, *dy = nullptr;
    CUDA_OK(cudaMalloc(&dx, std::max<size_t>(hx.size(), 1)));
    CUDA_OK(cudaMalloc(&dy, std::max<size_t>(static_cast<size_t>(outCount) * es, 1)));
    if (!hx.empty()) CUDA_OK(cudaMemcpy(dx, hx.data(), hx.size(), cudaMemcpyHostToDevice));
    cudaStream_t stream;
    CUDA_OK(cudaStreamCreate(&stream));
    PluginTensorDesc const in = desc(cs.type, Shape4{cs.n, cs.c, cs.h, cs.w}), out = desc(cs.type, y);
    FieldsToSerialize const fields(cfg);  // the fields an ONNX parser hands over
    int64_t bad = 0;
    std::vector<unsigned char> hy(static_cast<size_t>(outCount) * es);

    // The launch the plugins build for this case, for the experimental variants.
    PoolLaunch launch;
    DeviceWeights deviceWeights;
    bool const launchOk = describeLaunch(cfg, in, out, &launch).empty() && deviceWeights.prepare(cfg).empty() &&
                          deviceWeights.fill(cfg, &launch);
    launch.x = dx;
    launch.y = dy;

    char caseText[160];
    std::snprintf(caseText, sizeof caseText, "%s N%lld C%lld %lldx%lld k%dx%d s%d,%d pads %d,%d,%d,%d ceil %d range %d %s",
                  typeName(cs.type), (long long)cs.n, (long long)cs.c, (long long)cs.h, (long long)cs.w, cs.kh, cs.kw,
                  cs.sh, cs.sw, cs.pt, cs.pl, cs.pb, cs.pr, cs.ceil, cs.k, cs.perChannel ? "per-channel" : "shared");
    for (int version = 1; version <= kRuns; ++version) {
        if (!gRunOn[version]) continue;
        if (version > kPluginRuns) {
            int const e = version - kPluginRuns - 1;
            if (!experimentalKernelsBuilt() || !launchOk || !experimentalVariantApplies(launch, kExperimental[e])) continue;
        }
        ++gRunCases[version];
        gContext = std::string(kRunNames[version]) + " on " + caseText;
        // Not NaN (0x7b7b... is a large finite value in every type): an output never written
        // cannot pass where the reference is NaN.
        CUDA_OK(cudaMemset(dy, 0x7b, std::max<size_t>(hy.size(), 1)));
        int32_t rc = -1;
        std::string launchError;
        if (version > kPluginRuns) {
            cudaError_t const e = launchSortedWeightedPoolAs(launch, kExperimental[version - kPluginRuns - 1], stream);
            CUDA_OK(cudaStreamSynchronize(stream));
            rc = e == cudaSuccess ? 0 : 1;
            if (e != cudaSuccess) launchError = cudaGetErrorString(e);
        } else if (version == 3) {
            SortedWeightedPoolPluginLegacy86 plugin(cfg);
            abi86::IPluginV2DynamicExt& p = plugin;
            abi86::PluginTensorDesc const in86 = desc86(in), out86 = desc86(out);
            abi86::DynamicPluginTensorDesc din{}, dout{};
            din.desc = in86; din.min = din.max = in86.dims;
            dout.desc = out86; dout.min = dout.max = out86.dims;
            if (p.initialize() == 0) {
                p.configurePlugin(&din, 1, &dout, 1);
                void const* ins[] = {dx};
                void* outs[] = {dy};
                rc = p.enqueue(&in86, &out86, ins, outs, nullptr, stream);
                CUDA_OK(cudaStreamSynchronize(stream));
                p.terminate();
            }
        } else if (version == 1) {
            SortedWeightedPoolPluginLegacyCreator creator;
            IPluginV2* base = creator.createPlugin("h", fields.collection());
            auto* p = static_cast<IPluginV2DynamicExt*>(base);
            DynamicPluginTensorDesc din{}, dout{};
            din.desc = in; din.min = din.max = din.opt = in.dims;
            dout.desc = out; dout.min = dout.max = dout.opt = out.dims;
            // As the TensorRT runtime does: initialize the engine's plugin, then run a clone of it
            // (an execution context's plugin), on which initialize() is never called.
            if (p && p->initialize() == 0) {
                IPluginV2DynamicExt* context = p->clone();
                if (context) {
                    context->configurePlugin(&din, 1, &dout, 1);
                    void const* ins[] = {dx};
                    void* outs[] = {dy};
                    rc = context->enqueue(&in, &out, ins, outs, nullptr, stream);
                    CUDA_OK(cudaStreamSynchronize(stream));
                    context->destroy();
                }
                p->terminate();
            }
            if (p) p->destroy();
        } else {
            SortedWeightedPoolPluginCreator creator;
            IPluginV3* built = creator.createPlugin("h", fields.collection(), TensorRTPhase::kRUNTIME);
            IPluginV3* p = built ? static_cast<IPluginV3OneRuntime*>(
                                       built->getCapabilityInterface(PluginCapabilityType::kRUNTIME))
                                       ->attachToContext(nullptr)
                                 : nullptr;
            if (p) {
                auto* rt = static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
                if (rt->onShapeChange(&in, 1, &out, 1) == 0) {
                    void const* ins[] = {dx};
                    void* outs[] = {dy};
                    rc = rt->enqueue(&in, &out, ins, outs, nullptr, stream);
                    CUDA_OK(cudaStreamSynchronize(stream));
                }
            }
            delete p;
            delete built;
        }
        if (rc != 0) {
            std::fprintf(stderr, "FAIL %s: %s failed: %s\n", kRunNames[version],
                         version > kPluginRuns ? "launch" : "enqueue",
                         version > kPluginRuns ? launchError.c_str() : lastError());
            ++bad;
            ++gRunBad[version];
            continue;
        }
        if (!hy.empty()) CUDA_OK(cudaMemcpy(hy.data(), dy, hy.size(), cudaMemcpyDeviceToHost));
        int64_t caseBad = 0;
        for (int64_t i = 0; i < outCount; ++i) {
            uint32_t const got = readBits(cs.type, hy.data(), i), want = ref[static_cast<size_t>(i)];
            bool const ok = got == want || (isNanBits(cs.type, got) && isNanBits(cs.type, want)) ||
                            ((got | want) << 1) == 0 /* +0 / -0: sign of a zero result is unspecified */ ||
                            (cs.type != DataType::kFLOAT && ((got | want) & 0x7fffu) == 0);
            if (!ok && caseBad++ < 3)
                std::fprintf(stderr, "  %s %s out[%lld] = 0x%x, reference 0x%x\n", kRunNames[version], typeName(cs.type),
                             static_cast<long long>(i), got, want);
        }
        bad += caseBad;
        gRunBad[version] += caseBad;
    }
    if (bad || verbose) std::printf("%s %s: %lld bad\n", bad ? "FAIL" : "ok  ", caseText, static_cast<long long>(bad));
    CUDA_OK(cudaStreamDestroy(stream));
    CUDA_OK(cudaFree(dx));
    CUDA_OK(cudaFree(dy));
    return bad;
}

int correctness(int randomCases) {
    std::mt19937 rng(12345);
    int64_t bad = 0;
    int cases = 0;
    DataType const types[] = {DataType::kFLOAT, DataType::kHALF, DataType::kBF16};
    // 2x2 stride-2 windows, run for every k (1-4) and type (both filled in below).
    constexpr DataType kAnyType = DataType::kFLOAT;
    Case const cases2x2[] = {
        {2, 3, 9, 10, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, false, kAnyType},  // pair fast path
        {2, 3, 9, 11, 2, 2, 2, 2, 1, 1, 1, 1, 1, 0, true, kAnyType},
        // Full-width 2x2: the row path (16-byte loads), with and without top/bottom padding, rows
        // longer than a warp's stride, per-channel weights in the parameter block and in memory.
        {2, 3, 9, 16, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, false, kAnyType},
        {1, 4, 7, 8, 2, 2, 2, 2, 1, 0, 1, 0, 1, 0, true, kAnyType},
        {3, 2, 10, 8, 2, 2, 2, 2, 1, 0, 0, 0, 0, 0, false, kAnyType},
        {1, 3, 6, 328, 2, 2, 2, 2, 0, 0, 1, 0, 1, 0, true, kAnyType},
        {2, 40, 5, 24, 2, 2, 2, 2, 1, 0, 0, 0, 0, 0, true, kAnyType},
        // No clipped row (the flat variants too): one-vector rows, a bottom pad that no window
        // reaches, rows of an odd number of vectors, a grid of many blocks, per-channel weights in
        // the parameter block and in memory.
        {2, 3, 10, 16, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, false, kAnyType},
        {4, 7, 6, 8, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, false, kAnyType},
        {3, 5, 8, 24, 2, 2, 2, 2, 0, 0, 1, 0, 0, 0, false, kAnyType},
        {1, 3, 12, 328, 2, 2, 2, 2, 0, 0, 0, 0, 1, 0, false, kAnyType},
        {8, 16, 32, 200, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, false, kAnyType},
        {4, 7, 6, 8, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, true, kAnyType},
        {3, 40, 4, 24, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, true, kAnyType},
    };
    // Every k of a 2x2, 3x3 and 8x8 window; odd sizes; pads; ceil mode; per-channel (incl. > 64 weights).
    for (DataType t : types) {
        for (int k = 1; k <= 4; ++k) {
            for (Case cs : cases2x2) {
                cs.k = k;
                cs.type = t;
                bad += runCase(cs, rng, false);
                ++cases;
            }
        }
        for (int k = 1; k <= 9; ++k, ++cases) bad += runCase({1, 5, 13, 7, 3, 3, 2, 1, 1, 2, 2, 0, k % 2, k, k % 3 == 0, t}, rng, false);
        for (int k : {1, 7, 33, 64}) {
            bad += runCase({1, 2, 17, 19, 8, 8, 3, 5, 7, 0, 3, 7, 1, k, false, t}, rng, false);
            ++cases;
        }
        bad += runCase({2, 40, 6, 6, 2, 2, 2, 2, 0, 0, 1, 1, 1, 3, true, t}, rng, false);  // 120 weights: device buffer
        bad += runCase({1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, false, t}, rng, false);
        bad += runCase({3, 2, 0, 5, 2, 2, 2, 2, 0, 0, 0, 0, 0, 2, false, t}, rng, false);   // empty axis
        bad += runCase({1, 1, 4, 65, 4, 16, 1, 3, 2, 8, 3, 15, 1, 60, false, t}, rng, false);
        cases += 4;
    }
    std::uniform_int_distribution<int> small(1, 4), ext(1, 23), kd(1, 8), sd(1, 4), coin(0, 1);
    for (int i = 0; i < randomCases; ++i) {
        Case cs{};
        cs.n = small(rng); cs.c = small(rng); cs.h = ext(rng); cs.w = ext(rng);
        do { cs.kh = kd(rng); cs.kw = kd(rng); } while (cs.kh * cs.kw > kMaxWindowCells);
        cs.sh = sd(rng); cs.sw = sd(rng);
        cs.pt = std::uniform_int_distribution<int>(0, cs.kh - 1)(rng);
        cs.pb = std::uniform_int_distribution<int>(0, cs.kh - 1)(rng);
        cs.pl = std::uniform_int_distribution<int>(0, cs.kw - 1)(rng);
        cs.pr = std::uniform_int_distribution<int>(0, cs.kw - 1)(rng);
        cs.ceil = coin(rng);
        cs.k = std::uniform_int_distribution<int>(1, cs.kh * cs.kw)(rng);
        cs.perChannel = coin(rng);
        cs.type = types[i % 3];
        bad += runCase(cs, rng, false);
        ++cases;
    }
    // One row per run: a reader (and tools/gpu_check.sh) can tell a production failure from an
    // experimental one. Exit 1 when a plugin run fails, 4 when only experimental variants do.
    std::printf("correctness: %d cases listed, %d valid and run, %lld mismatching outputs in all\n", cases, gCasesRun,
                (long long)bad);
    bool pluginFailed = false, variantFailed = false;
    for (int r = 1; r <= kRuns; ++r) {
        if (!gRunOn[r]) continue;
        bool const experimental = r > kPluginRuns;
        char const* result = gRunBad[r] != 0 ? "FAIL" : gRunCases[r] == 0 ? "not run" : "ok";
        if (experimental && !experimentalKernelsBuilt()) result = "not built (SORTPOOL_EXPERIMENTAL_KERNELS=OFF)";
        std::printf("run %-13s %-12s %5d cases %8lld mismatching outputs  %s\n", kRunNames[r],
                    experimental ? "experimental" : "plugin", gRunCases[r], (long long)gRunBad[r], result);
        (experimental ? variantFailed : pluginFailed) |= gRunBad[r] != 0;
    }
    return pluginFailed ? 1 : variantFailed ? 4 : 0;
}

float medianMs(std::vector<float> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Median time of one launch over `reps` samples (after 2 untimed ones). Each sample times
// kLaunchesPerSample back-to-back launches between two CUDA events on stream s, so that the host's
// launch overhead (larger for the plugin's enqueue than for a direct launch) is amortised.
constexpr int kLaunchesPerSample = 10;
template <typename Launch>
float medianLaunchMs(cudaStream_t s, int reps, Launch&& launch) {
    cudaEvent_t a, b;
    CUDA_OK(cudaEventCreate(&a));
    CUDA_OK(cudaEventCreate(&b));
    std::vector<float> ms;
    for (int i = 0; i < reps + 2; ++i) {
        CUDA_OK(cudaEventRecord(a, s));
        for (int j = 0; j < kLaunchesPerSample; ++j) launch();
        CUDA_OK(cudaEventRecord(b, s));
        CUDA_OK(cudaEventSynchronize(b));
        float sample;
        CUDA_OK(cudaEventElapsedTime(&sample, a, b));
        if (i >= 2) ms.push_back(sample / kLaunchesPerSample);
    }
    CUDA_OK(cudaEventDestroy(a));
    CUDA_OK(cudaEventDestroy(b));
    return medianMs(ms);
}

// benchOne's part after the copy: the plugin `p` (version "2", attached), or else the experimental
// variants, on x (dx) -> y (dy), one printed row each. 1 if the plugin refuses the launch.
int benchPlugin(DataType t, Shape4 const& x, Shape4 const& y, PoolConfig const& cfg, IPluginV3* p, void* dx, void* dy,
                float copyMs, cudaStream_t s, bool variants) {
    int const reps = 20;
    size_t const es = elemSize(t);
    int64_t const inCount = x.n * x.c * x.h * x.w, outCount = y.n * y.c * y.h * y.w;
    auto* rt = static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
    PluginTensorDesc const in = desc(t, x), out = desc(t, y);
    if (rt->onShapeChange(&in, 1, &out, 1) != 0) return 1;

    // The launch the plugin makes, for the variant's name and the experimental variants.
    PoolLaunch pl;
    DeviceWeights weights;
    if (!describeLaunch(cfg, in, out, &pl).empty() || !weights.prepare(cfg).empty() || !weights.fill(cfg, &pl)) return 1;
    pl.x = dx;
    pl.y = dy;
    KernelVariant const v = selectKernelVariant(pl);
    char const* variant = v == KernelVariant::kRows2x2 ? "rows2x2" : v == KernelVariant::kPair2x2 ? "pair2x2" : "generic";
    double const copyBytes = 2.0 * inCount * es, kernelBytes = double(inCount + outCount) * es;
    double const copyBw = copyBytes / (copyMs * 1e-3) / 1e9;
    char shape[64];
    std::snprintf(shape, sizeof shape, "%lldx%lldx%lldx%lld", (long long)x.n, (long long)x.c, (long long)x.h,
                  (long long)x.w);
    auto row = [&](float ms, char const* what) {
        double const bw = kernelBytes / (ms * 1e-3) / 1e9;
        std::printf("%-6s %-22s %10.1f %10.3f %10.1f %7.1f%% %s\n", typeName(t), shape, kernelBytes / 1e6, ms, bw,
                    100.0 * bw / copyBw, what);
    };
    if (!variants) {
        void const* ins[] = {dx};
        void* outs[] = {dy};
        bool enqueued = true;
        float const kernelMs = medianLaunchMs(s, reps, [&] {
            enqueued = enqueued && rt->enqueue(&in, &out, ins, outs, nullptr, s) == 0;
        });
        if (!enqueued) return 1;
        row(kernelMs, variant);
        std::printf("%-6s %-22s %10.1f %10.3f %10.1f %8s cudaMemcpy D2D\n", typeName(t), shape, copyBytes / 1e6, copyMs,
                    copyBw, "100%");
        return 0;
    }
    // The experimental variants on the same tensors, timed the same way (not selected by the plugin;
    // see sortedWeightedPoolKernel.h), each beside the copy measured in this same pass.
    for (int e = 0; e < kExperimentalCount && experimentalKernelsBuilt(); ++e) {
        if (!gRunOn[kPluginRuns + 1 + e] || !experimentalVariantApplies(pl, kExperimental[e])) continue;
        gContext = std::string("bench ") + kRunNames[kPluginRuns + 1 + e] + " " + typeName(t) + " " + shape;
        float const ms = medianLaunchMs(s, reps, [&] { CUDA_OK(launchSortedWeightedPoolAs(pl, kExperimental[e], s)); });
        std::string const what = std::string(kRunNames[kPluginRuns + 1 + e]) + " (experimental)";
        row(ms, what.c_str());
    }
    return 0;
}

// One input: the D2D copy of it, then the plugin (version "2", the kernel it selects) or every
// experimental variant that applies, timed side by side. 2x2 stride 2, k = 4, shared weights.
int benchOne(DataType t, Shape4 const& x, bool variants) {
    int const reps = 20;
    size_t const es = elemSize(t);
    int64_t const inCount = x.n * x.c * x.h * x.w;
    Shape4 const y{x.n, x.c, x.h / 2, x.w / 2};
    int64_t const outCount = y.n * y.c * y.h * y.w;
    void *dx, *dy, *dcopy;
    CUDA_OK(cudaMalloc(&dx, inCount * es));
    CUDA_OK(cudaMalloc(&dy, outCount * es));
    CUDA_OK(cudaMalloc(&dcopy, inCount * es));
    {  // random values in [-1, 1), not one constant: the sort's data-dependent work is real
        std::vector<uint32_t> host(static_cast<size_t>((inCount * es + 3) / 4));
        uint64_t state = 0x9e3779b97f4a7c15ull;
        for (uint32_t& word : host) {  // xorshift64*: fast enough for 256 MB
            state ^= state >> 12, state ^= state << 25, state ^= state >> 27;
            uint64_t const r = state * 0x2545f4914f6cdd1dull;
            uint32_t const lo = static_cast<uint32_t>(r), hi = static_cast<uint32_t>(r >> 32);
            auto unit = [](uint32_t bits) { return static_cast<float>(bits >> 8) * (2.0f / 16777216.0f) - 1.0f; };
            word = t == DataType::kFLOAT ? float_to_bits(unit(lo))
                                         : (fromFloatBits(t, unit(lo)) | (fromFloatBits(t, unit(hi)) << 16));
        }
        CUDA_OK(cudaMemcpy(dx, host.data(), static_cast<size_t>(inCount) * es, cudaMemcpyHostToDevice));
    }
    cudaStream_t s;
    CUDA_OK(cudaStreamCreate(&s));
    float const copyMs = medianLaunchMs(s, reps, [&] {
        CUDA_OK(cudaMemcpyAsync(dcopy, dx, inCount * es, cudaMemcpyDeviceToDevice, s));
    });

    Case cs{x.n, x.c, x.h, x.w, 2, 2, 2, 2, 0, 0, 0, 0, 0, 4, false, t};
    PoolConfig const cfg = configOf(cs, {0.4f, 0.3f, 0.2f, 0.1f});
    FieldsToSerialize const fields(cfg);
    SortedWeightedPoolPluginCreator creator;
    IPluginV3* built = creator.createPlugin("b", fields.collection(), TensorRTPhase::kRUNTIME);
    IPluginV3* p = built ? static_cast<IPluginV3OneRuntime*>(built->getCapabilityInterface(PluginCapabilityType::kRUNTIME))
                               ->attachToContext(nullptr)
                         : nullptr;
    int const rc = p ? benchPlugin(t, x, y, cfg, p, dx, dy, copyMs, s, variants) : 1;
    if (rc != 0) std::fprintf(stderr, "bench %s: the plugin failed: %s\n", typeName(t), lastError());
    delete p;
    delete built;
    CUDA_OK(cudaFree(dx));
    CUDA_OK(cudaFree(dy));
    CUDA_OK(cudaFree(dcopy));
    CUDA_OK(cudaStreamDestroy(s));
    return rc;
}


int bench() {
    std::printf("%-6s %-22s %10s %10s %10s %8s %s\n", "type", "input", "MB moved", "kernel ms", "GB/s", "vs D2D",
                "variant");
    int rc = 0;
    // >= 256 MB inputs: a wide map (W_out = 128: 64 (float32) or 32 (float16) 16-byte vectors per
    // output row, so the row kernel's lanes run one or two steps per row), then a typical CNN map
    // (112 x 112, W_out = 56: 28 or 14 vectors per row, fewer than a warp's 32 lanes).
    // The plugin on every input first, then the experimental variants: a variant that faults (which
    // ends the process) cannot take the production figures with it.
    for (bool variants : {false, true}) {
        if (variants && std::none_of(gRunOn + kPluginRuns + 1, gRunOn + kRuns + 1, [](bool on) { return on; })) break;
        for (DataType t : {DataType::kFLOAT, DataType::kHALF})
            rc |= benchOne(t, Shape4{t == DataType::kFLOAT ? 16 : 32, 64, 256, 256}, variants);
        for (DataType t : {DataType::kFLOAT, DataType::kHALF})
            rc |= benchOne(t, Shape4{t == DataType::kFLOAT ? 80 : 160, 64, 112, 112}, variants);
    }
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines in order with stderr's in a shared log
    std::string mode;
    for (int i = 1; i < argc; ++i) {
        std::string const arg = argv[i];
        if (arg == "--runs" && i + 1 < argc) {
            if (!selectRuns(argv[++i])) {
                std::fprintf(stderr, "--runs %s: expected names among v1, v2, v1/8.6, rows-unroll2, rows-half2, flat, "
                                     "flat-half2, plugins, variants, all\n", argv[i]);
                return 2;
            }
        } else if (arg == "--bench" || arg == "--quick") {
            mode = arg;
        } else {
            std::fprintf(stderr, "usage: sortpool_trt_gpu_harness [--quick|--bench] [--runs LIST]\n");
            return 2;
        }
    }
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
        std::fprintf(stderr, "sortpool_trt_gpu_harness: no CUDA device\n");
        return 3;
    }
    cudaDeviceProp prop{};
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    if (mode == "--bench") return bench();
    return correctness(mode == "--quick" ? 20 : 400);
}
