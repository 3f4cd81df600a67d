// libFuzzer target: attribute parsing, the shape rule and the per-window math of the op core.
//
// The input bytes become a set of attributes (presence flags, list lengths and arbitrary int64 /
// float bit patterns), then an input shape and, when the shape is small, the input plane itself.
// Every window is computed by the core and by the naive reference (plugin/tests/reference_window.h);
// any disagreement, any read outside the plane (checked by the loader) or any sanitizer report
// is a crash.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../tests/reference_window.h"
#include "fuzz_bytes.h"
#include "sortpool_core.h"

namespace {

using sortpool_fuzz::Bytes;

// Small values most of the time (so parsing succeeds and the math runs), any int64 sometimes.
int64_t take_int(Bytes& in) {
    const uint8_t mode = in.take<uint8_t>();
    if (mode < 200) return static_cast<int64_t>(mode % 8) - 1;
    return in.take<int64_t>();
}

std::vector<int64_t> take_ints(Bytes& in) {
    std::vector<int64_t> v(in.take<uint8_t>() % 6);
    for (auto& x : v) x = take_int(in);
    return v;
}

void check(bool ok) {
    if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Bytes in(data, size);
    sortpool::RawAttributes raw;
    const uint8_t present = in.take<uint8_t>();
    raw.has_kernel_shape = present & 1;
    raw.has_strides = present & 2;
    raw.has_pads = present & 4;
    raw.has_ceil_mode = present & 8;
    raw.has_pool_range = !(present & 16);
    raw.has_weights = !(present & 32);
    raw.kernel_shape = take_ints(in);
    for (auto& k : raw.kernel_shape) k = k < 0 ? k : 1 + k % 4;
    raw.strides = take_ints(in);
    raw.pads = take_ints(in);
    raw.ceil_mode = take_int(in);
    raw.pool_range = take_int(in);
    if (raw.pool_range < INT64_MAX) ++raw.pool_range;  // mostly 0..7
    raw.weights.resize(in.take<uint8_t>() % 40);
    for (auto& w : raw.weights) {
        const uint8_t mode = in.take<uint8_t>();
        w = mode < 240 ? static_cast<float>(static_cast<int8_t>(mode)) / 16.0f : in.take<float>();
    }

    sortpool::PoolConfig cfg;
    if (!sortpool::parse_attributes(raw, &cfg).empty()) return 0;
    const sortpool::PoolGeometry& g = cfg.geometry;
    check(g.kernel_h >= 1 && g.kernel_w >= 1 && g.kernel_h * g.kernel_w <= sortpool::kMaxWindowCells);
    check(g.pool_range >= 1 && g.pool_range <= g.kernel_h * g.kernel_w);
    check(g.pad_top < g.kernel_h && g.pad_bottom < g.kernel_h && g.pad_left < g.kernel_w && g.pad_right < g.kernel_w);

    // Shapes: arbitrary int64 dims for the shape rule alone.
    std::vector<int64_t> dims(in.take<uint8_t>() % 6);
    for (auto& d : dims) d = take_int(in);
    sortpool::Shape4 y;
    (void)sortpool::infer_output_shape(cfg, dims, &y);

    // A small concrete input, computed window by window against the naive reference.
    const int64_t C = cfg.per_channel() ? cfg.weight_channels() : 1 + in.take<uint8_t>() % 3;
    const int64_t H = in.take<uint8_t>() % 12, W = in.take<uint8_t>() % 12;
    if (!sortpool::infer_output_shape(cfg, {1, C, H, W}, &y).empty()) return 0;
    check(y.h >= 0 && y.w >= 0 && y.c == C);
    std::vector<float> plane(static_cast<size_t>(H * W));
    for (auto& v : plane) {
        const uint8_t mode = in.take<uint8_t>();
        v = mode < 250 ? static_cast<float>(static_cast<int8_t>(mode)) / 8.0f
                       : (mode == 250 ? NAN : mode == 251 ? INFINITY : mode == 252 ? -INFINITY : in.take<float>());
    }
    const auto load = [&](int64_t h, int64_t w) {
        check(h >= 0 && h < H && w >= 0 && w < W);
        return plane[static_cast<size_t>(h * W + w)];
    };
    for (int64_t c = 0; c < C; ++c) {
        const float* w = cfg.weights.data() + c * cfg.channel_weight_stride();
        for (int64_t oh = 0; oh < y.h; ++oh)
            for (int64_t ow = 0; ow < y.w; ++ow) {
                const float got = sortpool::pool_window<sortpool::kMaxWindowCells>(load, H, W, g, oh, ow, w);
                const std::vector<float> cells = sortpool_test::window_cells(plane, H, W, g, oh, ow);
                check(!cells.empty());  // the contract: every window holds a real cell
                const float want = sortpool_test::weighted_sorted_cells(cells, g.pool_range, w);
                check((std::isnan(got) && std::isnan(want)) || got == want);
            }
    }
    return 0;
}
