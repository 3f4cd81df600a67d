// libFuzzer target: the ONNX Runtime op's own per-task code (the rows of sortpool_ort_rows.inc,
// the 2x2 and 3x3 fast paths included) on exact-size heap buffers, float32 and float16, on every
// CPU path this machine supports (one is picked per input).
//
// The op's source is compiled into this target (it needs the ONNX Runtime headers only, no
// library): the input bytes become a geometry that mostly picks the fast-path windows, with
// strides, pads, ceil mode, small and narrow inputs (an input narrower than the window, padded to
// fit, once sent the fast path past the row), small tasks and a small float16 conversion buffer,
// then the input values. Every output
// is compared with the naive reference (plugin/tests/reference_window.h); a difference, a read
// outside the buffers or any sanitizer report is a crash.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

#include "../tests/reference_window.h"
#include "fuzz_bytes.h"
#include "sortpool_ort_op.cc"
#include "sortpool_ort_rows.cc"

namespace {

using sortpool::PoolConfig;
using sortpool::RawAttributes;
using sortpool::Shape4;

using sortpool_fuzz::Bytes;

void require(bool ok) {
    if (!ok) __builtin_trap();
}

// Small signed values in steps of 1/8 (ties and exact sums are common), and NaN / +-inf.
float value_of(uint8_t b) {
    if (b == 255) return NAN;
    if (b == 254) return INFINITY;
    if (b == 253) return -INFINITY;
    return static_cast<float>(static_cast<int8_t>(b)) / 8.0f;
}

// float32, or float16 as its bits.
float load(float v) { return v; }
float load(uint16_t v) { return sortpool::half_bits_to_float(v); }
template <typename S>
S store(float v) {
    if constexpr (std::is_same_v<S, float>) return v;
    else return sortpool::float_to_half_bits(v);
}

template <typename S>
void pool_and_compare(Bytes& in, const PoolConfig& cfg, int64_t C, int64_t H, int64_t W,
                      const sortpool::ort::CpuPath& path) {
    Shape4 out;
    if (!sortpool::infer_output_shape(cfg, {1, C, H, W}, &out).empty() || out.h == 0 || out.w == 0) return;
    const size_t in_count = static_cast<size_t>(C * H * W), out_count = static_cast<size_t>(C * out.h * out.w);
    std::unique_ptr<S[]> x(new S[in_count]), y(new S[out_count]);  // exact sizes: ASan sees any overrun
    std::vector<float> as_float(in_count);
    for (size_t i = 0; i < in_count; ++i) {
        x[i] = store<S>(value_of(in.next()));
        as_float[i] = load(x[i]);
    }
    sortpool::ort::PoolJob<S> job;
    job.x = x.get();
    job.y = y.get();
    job.in = Shape4{1, C, H, W};
    job.out = out;
    job.cfg = &cfg;
    job.rows_per_task = std::min<int64_t>(out.h, 1 + in.next() % 8);  // small tasks: splits happen
    job.tasks_per_plane = (out.h + job.rows_per_task - 1) / job.rows_per_task;
    // A small float16 conversion buffer: fewer output rows per chunk, and rows read in place.
    if (in.next() % 2) job.half_buffer_floats = in.next() % 64;
    // Through the function the op hands to ONNX Runtime's thread pool (it catches everything).
    sortpool::ort::TaskCall<S> call;
    call.job = &job;
    call.task = sortpool::ort::path_task<S>(path);
    for (int64_t task = 0; task < C * job.tasks_per_plane; ++task)
        sortpool::ort::run_task<S>(&call, static_cast<size_t>(task));
    require(!call.failed.load());
    for (int64_t c = 0; c < C; ++c) {
        const std::vector<float> plane(as_float.begin() + c * H * W, as_float.begin() + (c + 1) * H * W);
        const float* w = cfg.weights.data() + c * cfg.channel_weight_stride();
        for (int64_t oh = 0; oh < out.h; ++oh)
            for (int64_t ow = 0; ow < out.w; ++ow) {
                const float want = load(store<S>(sortpool_test::weighted_sorted_cells(
                    sortpool_test::window_cells(plane, H, W, cfg.geometry, oh, ow), cfg.geometry.pool_range, w)));
                const float got = load(y[static_cast<size_t>((c * out.h + oh) * out.w + ow)]);
                require((std::isnan(got) && std::isnan(want)) || got == want);
            }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Bytes in(data, size);
    RawAttributes raw;
    raw.has_kernel_shape = raw.has_strides = raw.has_pads = raw.has_ceil_mode = true;
    raw.has_pool_range = raw.has_weights = true;
    const uint8_t window = in.next() % 3;  // 2x2 and 3x3 have fast paths; anything up to 4x4 otherwise
    raw.kernel_shape = window == 0 ? std::vector<int64_t>{2, 2}
                       : window == 1 ? std::vector<int64_t>{3, 3}
                                     : std::vector<int64_t>{1 + in.next() % 4, 1 + in.next() % 4};
    raw.strides = {1 + in.next() % 4, 1 + in.next() % 4};
    raw.pads = {in.next() % 3, in.next() % 3, in.next() % 3, in.next() % 3};
    raw.ceil_mode = in.next() % 2;
    const int64_t channels = 1 + in.next() % 2;
    const bool per_channel = in.next() % 2;
    raw.pool_range = 1 + in.next() % 9;
    raw.weights.resize(static_cast<size_t>(raw.pool_range * (per_channel ? channels : 1)));
    for (float& w : raw.weights) w = static_cast<float>(static_cast<int8_t>(in.next())) / 16.0f;
    PoolConfig cfg;
    if (!sortpool::parse_attributes(raw, &cfg).empty()) return 0;  // pads >= kernel, k > window, ...
    const int64_t H = in.next() % 10, W = in.next() % 10;
    static const std::vector<const sortpool::ort::CpuPath*> paths = [] {
        std::vector<const sortpool::ort::CpuPath*> supported;
        for (const auto* path : sortpool::ort::cpu_paths())
            if (path->supported()) supported.push_back(path);
        return supported;
    }();
    const sortpool::ort::CpuPath& path = *paths[in.next() % paths.size()];
    if (in.next() % 2)
        pool_and_compare<float>(in, cfg, channels, H, W, path);
    else
        pool_and_compare<uint16_t>(in, cfg, channels, H, W, path);
    return 0;
}
