// libFuzzer target: the TensorRT plugin's two ways in from outside data.
//   first byte even: version "1" deserialization (deserializeConfig) of the remaining bytes; a
//                    blob that is accepted must serialize back to itself.
//   first byte odd:  a PluginFieldCollection built from the bytes (names from the real field list
//                    plus unknown ones, any type, any length; each field's data is its own exact-size
//                    allocation so AddressSanitizer sees any over-read) through parseFields.
// Links the plugin's host code only (no GPU, no TensorRT library: errors go to the thread's last
// error when no TensorRT logger can be found).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sortedWeightedPoolFields.h"

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

bool same_config(const sortpool::PoolConfig& a, const sortpool::PoolConfig& b) {
    const auto& x = a.geometry;
    const auto& y = b.geometry;
    return x.kernel_h == y.kernel_h && x.kernel_w == y.kernel_w && x.stride_h == y.stride_h && x.stride_w == y.stride_w &&
           x.pad_top == y.pad_top && x.pad_left == y.pad_left && x.pad_bottom == y.pad_bottom &&
           x.pad_right == y.pad_right && x.ceil_mode == y.ceil_mode && x.pool_range == y.pool_range &&
           a.weights.size() == b.weights.size() &&
           std::memcmp(a.weights.data(), b.weights.data(), a.weights.size() * sizeof(float)) == 0;
}

void fuzz_blob(const uint8_t* data, size_t size) {
    // Exact-size copy: reading past `size` is an ASan report.
    std::unique_ptr<uint8_t[]> blob(new uint8_t[size ? size : 1]);
    if (size) std::memcpy(blob.get(), data, size);
    sortpool::PoolConfig cfg;
    if (!sortpool::trt::deserializeConfig(blob.get(), size, &cfg).empty()) return;
    const size_t n = sortpool::trt::serializedSize(cfg);
    check(n == size);
    std::vector<uint8_t> again(n);
    sortpool::trt::serializeConfig(cfg, again.data());
    check(std::memcmp(again.data(), blob.get(), n) == 0);
    sortpool::PoolConfig back;
    check(sortpool::trt::deserializeConfig(again.data(), n, &back).empty() && same_config(cfg, back));
}

void fuzz_fields(const uint8_t* data, size_t size) {
    static const char* const kNames[] = {"kernel_shape", "strides", "pads", "ceil_mode", "pool_range",
                                         "weights", "dilations", ""};
    size_t pos = 0;
    const auto take = [&]() -> uint8_t { return pos < size ? data[pos++] : 0; };
    const int count = take() % 9;
    std::vector<std::unique_ptr<uint8_t[]>> storage;
    std::vector<nvinfer1::PluginField> fields;
    for (int i = 0; i < count; ++i) {
        nvinfer1::PluginField f;
        f.name = kNames[take() % 8];
        const uint8_t type = take();
        f.type = static_cast<nvinfer1::PluginFieldType>(type % 12);
        f.length = static_cast<int32_t>(take() % 70) - (type >= 250 ? 80 : 0);  // some negative lengths
        const uint8_t null_data = take();
        const size_t elem = (f.type == nvinfer1::PluginFieldType::kINT64 || f.type == nvinfer1::PluginFieldType::kFLOAT64)
                                ? 8
                                : (f.type == nvinfer1::PluginFieldType::kINT8 || f.type == nvinfer1::PluginFieldType::kCHAR ||
                                   f.type == nvinfer1::PluginFieldType::kUNKNOWN)
                                      ? 1
                                      : (f.type == nvinfer1::PluginFieldType::kINT16 ||
                                         f.type == nvinfer1::PluginFieldType::kFLOAT16 ||
                                         f.type == nvinfer1::PluginFieldType::kBF16)
                                            ? 2
                                            : 4;
        const size_t bytes = f.length > 0 ? elem * static_cast<size_t>(f.length) : 0;
        if (null_data % 16 == 0) {
            f.data = nullptr;
        } else {
            storage.emplace_back(new uint8_t[bytes ? bytes : 1]);
            for (size_t b = 0; b < bytes; ++b) {
                const uint8_t v = take();
                // Mostly small values so that some collections are valid.
                storage.back()[b] = (elem >= 4 && b % elem != 0) ? (v > 240 ? v : 0) : static_cast<uint8_t>(v % 6);
            }
            f.data = storage.back().get();
        }
        fields.push_back(f);
    }
    nvinfer1::PluginFieldCollection fc{static_cast<int32_t>(fields.size()), fields.empty() ? nullptr : fields.data()};
    sortpool::PoolConfig cfg;
    if (sortpool::trt::parseFields(&fc, &cfg).empty()) {
        // An accepted collection serializes (version 2 fields) and parses back to the same config.
        sortpool::trt::FieldsToSerialize out(cfg);
        sortpool::PoolConfig back;
        check(sortpool::trt::parseFields(out.collection(), &back).empty() && same_config(cfg, back));
        // Its version 1 blob round-trips; cut short or with bytes appended, it is rejected.
        std::vector<uint8_t> blob(sortpool::trt::serializedSize(cfg));
        sortpool::trt::serializeConfig(cfg, blob.data());
        check(sortpool::trt::deserializeConfig(blob.data(), blob.size(), &back).empty() && same_config(cfg, back));
        const size_t cut = take() % blob.size();
        std::unique_ptr<uint8_t[]> shorter(new uint8_t[cut ? cut : 1]);
        std::memcpy(shorter.get(), blob.data(), cut);
        check(!sortpool::trt::deserializeConfig(shorter.get(), cut, &back).empty());
        blob.push_back(take());
        check(!sortpool::trt::deserializeConfig(blob.data(), blob.size(), &back).empty());
    }
    sortpool::PoolConfig ignored;
    (void)sortpool::trt::parseFields(nullptr, &ignored);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    if (data[0] % 2 == 0)
        fuzz_blob(data + 1, size - 1);
    else
        fuzz_fields(data + 1, size - 1);
    return 0;
}
