// v2_abi_check.cpp - talks to plugin version "1" the way a TensorRT runtime does: through the
// IPluginV2DynamicExt declaration of the TensorRT headers this program is compiled with, after
// loading that TensorRT's runtime library, with the plugin library opened by dlopen only (nothing
// of the plugin is linked or included). Each call is checked for an answer only the intended
// method gives, so a vtable slot that is off by any amount fails the check instead of passing by
// accident.
//
// Compiled by CMake against the pinned (TensorRT 10) headers and run by tests/trt_plugin against
// the TensorRT 10 lean runtime. tools/check_v2_abi.sh compiles it against other headers (TensorRT
// 11's, 8.6's) to check the plugin's layouts for those versions (common/trtV2Abi11.h,
// common/trtV2Abi86.h) against them.
//
// Usage: sortpool_trt_v2_abi_check LIBNVINFER LIBSORTPOOL_TRT_PLUGIN
// Exit: 0 all checks passed, 1 a check failed, 2 usage or loading error, 77 the runtime's major
// version differs from the headers' (the check would not mean anything).
#include <NvInferRuntime.h>
#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "const_expr_builder.h"

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif

using namespace nvinfer1;

namespace {
int gChecks = 0, gFailures = 0;

void check(bool ok, std::string const& what) {
    ++gChecks;
    if (!ok) {
        ++gFailures;
        std::printf("FAIL %s\n", what.c_str());
    }
}

char const* (*gLastError)() = nullptr;
std::string lastError() { return gLastError ? gLastError() : ""; }

// The major version in a TensorRT version number: major * 10000 + ... from 10 on, major * 1000 + ... before.
int32_t majorOf(int32_t version) { return version >= 100000 ? version / 10000 : version / 1000; }

// MaxPool's output extent (ONNX operator spec), written out here independently of the op core.
int64_t pooled(int64_t in, int64_t k, int64_t s, int64_t padHead, int64_t padTail, bool ceilMode) {
    int64_t const span = in + padHead + padTail - k;
    int64_t out = (ceilMode ? (span + s - 1) / s : span / s) + 1;
    if (ceilMode && (out - 1) * s >= in + padHead) --out;  // the last window must start inside
    return out;
}

PluginTensorDesc desc(DataType t, std::vector<int64_t> const& dims) {
    PluginTensorDesc d{};
    d.type = t;
    d.format = TensorFormat::kLINEAR;
    d.dims.nbDims = static_cast<int32_t>(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) d.dims.d[i] = static_cast<decltype(+d.dims.d[0])>(dims[i]);
    d.scale = 1.0F;
    return d;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s LIBNVINFER LIBSORTPOOL_TRT_PLUGIN\n", argv[0]);
        return 2;
    }
    void* trt = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
    if (trt == nullptr) {
        std::fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
        return 2;
    }
    // getInferLibMajorVersion since TensorRT 10; before, getInferLibVersion = major * 1000 + ...
    auto libMajor = reinterpret_cast<int32_t (*)()>(dlsym(trt, "getInferLibMajorVersion"));
    auto libVersion = reinterpret_cast<int32_t (*)()>(dlsym(trt, "getInferLibVersion"));
    if (libMajor == nullptr && libVersion == nullptr) {
        std::fprintf(stderr, "%s has neither getInferLibMajorVersion nor getInferLibVersion\n", argv[1]);
        return 2;
    }
    int32_t const runtimeMajor = libMajor ? libMajor() : majorOf(libVersion());
    std::printf("headers: TensorRT %d.%d.%d, runtime major version: %d\n", NV_TENSORRT_MAJOR, NV_TENSORRT_MINOR,
                NV_TENSORRT_PATCH, runtimeMajor);
    if (runtimeMajor != NV_TENSORRT_MAJOR) {
        std::printf("skipped: the runtime's major version differs from the headers'\n");
        return 77;
    }
    void* plugin = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (plugin == nullptr) {
        std::fprintf(stderr, "cannot load %s: %s\n", argv[2], dlerror());
        return 2;
    }
    gLastError = reinterpret_cast<char const* (*)()>(dlsym(plugin, "sortpoolTrtLastError"));
    using GetCreators = IPluginCreator* const* (*)(int32_t&);
    auto getPluginCreators = reinterpret_cast<GetCreators>(dlsym(plugin, "getPluginCreators"));
    if (getPluginCreators == nullptr || gLastError == nullptr) {
        std::fprintf(stderr, "%s lacks getPluginCreators / sortpoolTrtLastError\n", argv[2]);
        return 2;
    }
    int32_t n = 0;
    IPluginCreator* const* creators = getPluginCreators(n);
    IPluginCreator* creator = nullptr;
    for (int32_t i = 0; i < n; ++i)
        if (std::strcmp(creators[i]->getPluginName(), "SortedWeightedPool") == 0 &&
            std::strcmp(creators[i]->getPluginVersion(), "1") == 0)
            creator = creators[i];
    check(creator != nullptr, "getPluginCreators offers SortedWeightedPool version 1");
    if (creator == nullptr) return 1;

    // kernel 3x2, strides (1, 2), pads (top 1, left 0, bottom 2, right 1), ceil_mode, k = 3,
    // per-channel weights for C = 2.
    int32_t kernel[2] = {3, 2}, strides[2] = {1, 2}, pads[4] = {1, 0, 2, 1}, ceil = 1, range = 3;
    float weights[6] = {0.5F, 0.25F, 0.25F, 1.0F, 2.0F, 3.0F};
    PluginField fields[6] = {{"kernel_shape", kernel, PluginFieldType::kINT32, 2},
                             {"strides", strides, PluginFieldType::kINT32, 2},
                             {"pads", pads, PluginFieldType::kINT32, 4},
                             {"ceil_mode", &ceil, PluginFieldType::kINT32, 1},
                             {"pool_range", &range, PluginFieldType::kINT32, 1},
                             {"weights", weights, PluginFieldType::kFLOAT32, 6}};
    PluginFieldCollection fc{6, fields};
    IPluginV2* base = creator->createPlugin("swp", &fc);
    check(base != nullptr, "createPlugin: " + lastError());
    if (base == nullptr) return 1;

    // IPluginV2 part (the same in TensorRT 10 and 11).
    int32_t const version = base->getTensorRTVersion();
    check((static_cast<uint32_t>(version) >> 24) == static_cast<uint32_t>(PluginVersion::kV2_DYNAMICEXT),
          "getTensorRTVersion's upper byte says IPluginV2DynamicExt");
    check(majorOf(version & 0xFFFFFF) == NV_TENSORRT_MAJOR, "getTensorRTVersion reports this major version");
    check(std::strcmp(base->getPluginType(), "SortedWeightedPool") == 0, "getPluginType");
    check(std::strcmp(base->getPluginVersion(), "1") == 0, "getPluginVersion");
    check(base->getNbOutputs() == 1, "getNbOutputs");
    check(base->initialize() == 0, "initialize");
    base->setPluginNamespace("abi_check_ns");
    check(std::strcmp(base->getPluginNamespace(), "abi_check_ns") == 0, "set/getPluginNamespace");
    size_t const blobSize = base->getSerializationSize();
    std::vector<char> blob(blobSize);
    base->serialize(blob.data());
    check(blobSize > 16 && std::memcmp(blob.data(), "SWPL", 4) == 0, "getSerializationSize/serialize write a SWPL blob");

    // Everything after this point sits behind the IPluginV2Ext slots that TensorRT 11 removed.
    auto* p = static_cast<IPluginV2DynamicExt*>(base);
    DataType const half = DataType::kHALF;
    check(p->getOutputDataType(0, &half, 1) == DataType::kHALF, "getOutputDataType(half) is half");
    DataType const fp32 = DataType::kFLOAT;
    check(p->getOutputDataType(0, &fp32, 1) == DataType::kFLOAT, "getOutputDataType(float) is float");
    p->attachToContext(nullptr, nullptr, nullptr);
    p->detachFromContext();

    sortpool::trt::testing::ConstBuilder eb;
    DimsExprs in{};
    in.nbDims = 4;
    int64_t const inDims[4] = {2, 2, 10, 11};
    for (int i = 0; i < 4; ++i) in.d[i] = eb.constant(inDims[i]);
    DimsExprs const out = p->getOutputDimensions(0, &in, 1, eb);
    int64_t const wantH = pooled(10, 3, 1, 1, 2, true), wantW = pooled(11, 2, 2, 0, 1, true);
    bool const shapeOk = out.nbDims == 4 && out.d[0]->getConstantValue() == 2 && out.d[1]->getConstantValue() == 2 &&
                         out.d[2]->getConstantValue() == wantH && out.d[3]->getConstantValue() == wantW;
    check(shapeOk, "getOutputDimensions(2x2x10x11) = 2x2x" + std::to_string(wantH) + "x" + std::to_string(wantW));

    PluginTensorDesc io[2] = {desc(DataType::kFLOAT, {2, 2, 10, 11}), desc(DataType::kFLOAT, {2, 2, wantH, wantW})};
    check(p->supportsFormatCombination(0, io, 1, 1), "supportsFormatCombination: float32 linear input");
    check(p->supportsFormatCombination(1, io, 1, 1), "supportsFormatCombination: float32 output of float32");
    io[1].type = DataType::kHALF;
    check(!p->supportsFormatCombination(1, io, 1, 1), "supportsFormatCombination: float16 output of float32 refused");
    io[0].type = DataType::kINT32;
    check(!p->supportsFormatCombination(0, io, 1, 1), "supportsFormatCombination: int32 input refused");

    DynamicPluginTensorDesc din{}, dout{};
    din.desc = desc(DataType::kFLOAT, {-1, 5, -1, -1});  // weights are for C = 2
    dout.desc = desc(DataType::kFLOAT, {-1, 5, -1, -1});
    p->configurePlugin(&din, 1, &dout, 1);
    check(lastError().find("has C = 5") != std::string::npos, "configurePlugin reports the C mismatch: " + lastError());

    PluginTensorDesc const ioWs[2] = {desc(DataType::kFLOAT, {2, 2, 10, 11}),
                                      desc(DataType::kFLOAT, {2, 2, wantH, wantW})};
    check(p->getWorkspaceSize(&ioWs[0], 1, &ioWs[1], 1) == 0, "getWorkspaceSize is 0");

    // enqueue without tensors: the plugin's enqueue says so (the implicit-batch enqueue of the
    // base class would return 1 without a message).
    check(p->enqueue(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr) != 0, "enqueue(nullptr...) fails");
    check(lastError().find("enqueue") != std::string::npos || lastError().find("tensor") != std::string::npos,
          "enqueue reports why: " + lastError());

    IPluginV2DynamicExt* copy = p->clone();
    check(copy != nullptr && copy->getSerializationSize() == blobSize, "clone keeps the config");
    IPluginV2* restored = creator->deserializePlugin("swp", blob.data(), blob.size());
    check(restored != nullptr && restored->getSerializationSize() == blobSize, "deserializePlugin of the blob");
    if (restored != nullptr) restored->destroy();
    if (copy != nullptr) copy->destroy();
    p->terminate();
    p->destroy();

    std::printf("%d checks, %d failures\n", gChecks, gFailures);
    return gFailures == 0 ? 0 : 1;
}
