// Unit tests of plugin/core/sortpool_core.h: attribute validation, shape rule, per-window math and
// the float16 / bfloat16 conversions, each checked against an independent formulation written
// here (brute-force sorting, the compiler's own _Float16, hand-worked MaxPool shapes).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "reference_window.h"
#include "sortpool_core.h"
#include "test_check.h"

namespace {

using sortpool::PoolConfig;
using sortpool::RawAttributes;

RawAttributes attrs(std::vector<int64_t> kernel, int64_t k, std::vector<float> weights) {
    RawAttributes raw;
    raw.has_kernel_shape = true;
    raw.kernel_shape = std::move(kernel);
    raw.has_pool_range = true;
    raw.pool_range = k;
    raw.has_weights = true;
    raw.weights = std::move(weights);
    return raw;
}

bool contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

void test_defaults() {
    RawAttributes raw;
    raw.has_pool_range = true;
    raw.pool_range = 3;
    raw.has_weights = true;
    raw.weights = {0.5f, 0.3f, 0.2f};
    PoolConfig cfg;
    CHECK(sortpool::parse_attributes(raw, &cfg).empty());
    const auto& g = cfg.geometry;
    CHECK(g.kernel_h == 2 && g.kernel_w == 2);
    CHECK(g.stride_h == 2 && g.stride_w == 2);  // strides default to kernel_shape
    CHECK(g.pad_top == 0 && g.pad_left == 0 && g.pad_bottom == 0 && g.pad_right == 0);
    CHECK(g.ceil_mode == 0);
    CHECK(!cfg.per_channel());

    // Strides follow a non-default kernel.
    RawAttributes r3 = attrs({3, 1}, 2, {0.5f, 0.5f});
    CHECK(sortpool::parse_attributes(r3, &cfg).empty());
    CHECK(cfg.geometry.stride_h == 3 && cfg.geometry.stride_w == 1);

    // Per-channel weights: C * k values.
    RawAttributes rc = attrs({2, 2}, 2, {1, 0, 0.5f, 0.5f, 0, 1});
    CHECK(sortpool::parse_attributes(rc, &cfg).empty());
    CHECK(cfg.per_channel() && cfg.weight_channels() == 3 && cfg.channel_weight_stride() == 2);
}

void test_invalid_attributes() {
    struct Case {
        std::function<void(RawAttributes&)> mutate;
        const char* attribute;
    };
    const std::vector<Case> cases = {
        {[](RawAttributes& r) { r.kernel_shape = {2}; }, "kernel_shape"},
        {[](RawAttributes& r) { r.kernel_shape = {2, 2, 2}; }, "kernel_shape"},
        {[](RawAttributes& r) { r.kernel_shape = {0, 2}; }, "kernel_shape"},
        {[](RawAttributes& r) { r.kernel_shape = {-1, 2}; }, "kernel_shape"},
        {[](RawAttributes& r) { r.kernel_shape = {9, 8}; }, "kernel_shape"},  // 72 cells > 64
        {[](RawAttributes& r) { r.kernel_shape = {1, 65}; }, "kernel_shape"},
        {[](RawAttributes& r) { r.kernel_shape = {int64_t(1) << 40, int64_t(1) << 40}; }, "kernel_shape"},
        {[](RawAttributes& r) { r.has_strides = true, r.strides = {0, 1}; }, "strides"},
        {[](RawAttributes& r) { r.has_strides = true, r.strides = {1}; }, "strides"},
        {[](RawAttributes& r) { r.has_strides = true, r.strides = {1, int64_t(1) << 33}; }, "strides"},
        {[](RawAttributes& r) { r.has_pads = true, r.pads = {0, 0, 0}; }, "pads"},
        {[](RawAttributes& r) { r.has_pads = true, r.pads = {2, 0, 0, 0}; }, "pads"},  // pad == kernel
        {[](RawAttributes& r) { r.has_pads = true, r.pads = {0, 0, 0, -1}; }, "pads"},
        {[](RawAttributes& r) { r.has_ceil_mode = true, r.ceil_mode = 2; }, "ceil_mode"},
        {[](RawAttributes& r) { r.pool_range = 0; }, "pool_range"},
        {[](RawAttributes& r) { r.pool_range = 5; }, "pool_range"},
        {[](RawAttributes& r) { r.has_pool_range = false; }, "pool_range"},
        {[](RawAttributes& r) { r.has_weights = false; }, "weights"},
        {[](RawAttributes& r) { r.weights = {}; }, "weights"},
        {[](RawAttributes& r) { r.weights = {1, 2, 3}; }, "weights"},  // not a multiple of k = 2
        {[](RawAttributes& r) { r.weights = {1, NAN}; }, "weights"},
        {[](RawAttributes& r) { r.weights = {INFINITY, 0}; }, "weights"},
    };
    for (const auto& c : cases) {
        RawAttributes raw = attrs({2, 2}, 2, {0.6f, 0.4f});
        c.mutate(raw);
        PoolConfig cfg;
        const std::string err = sortpool::parse_attributes(raw, &cfg);
        CHECK_MSG(!err.empty(), c.attribute);
        CHECK_MSG(contains(err, std::string("'") + c.attribute + "'"), err);
    }
}

// Hand-worked MaxPool output sizes (floor and ceil mode), as ONNX's MaxPool defines them.
void test_pooled_extent() {
    using sortpool::pooled_extent;
    CHECK(pooled_extent(4, 2, 2, 0, 0, 0) == 2);
    CHECK(pooled_extent(5, 2, 2, 0, 0, 0) == 2);
    CHECK(pooled_extent(5, 2, 2, 0, 0, 1) == 3);  // ceil: a last window of one cell
    CHECK(pooled_extent(4, 3, 2, 0, 0, 0) == 1);
    CHECK(pooled_extent(4, 3, 2, 0, 0, 1) == 2);
    CHECK(pooled_extent(5, 3, 1, 1, 1, 0) == 5);  // "same" padding
    CHECK(pooled_extent(1, 1, 1, 0, 0, 0) == 1);
    CHECK(pooled_extent(1, 2, 2, 0, 0, 0) == 0);  // too small: callers report it
    CHECK(pooled_extent(1, 2, 2, 1, 0, 0) == 1);
    // Ceil mode never starts a window in the tail padding: 6 + 1 pad, k2 s2 -> 3 (not 4).
    CHECK(pooled_extent(6, 2, 2, 0, 1, 1) == 3);
    CHECK(pooled_extent(6, 2, 2, 1, 1, 1) == 4);
    CHECK(pooled_extent(2147483647, 2, 2, 0, 0, 0) == 1073741823);
}

// unclipped_windows against the definition, output index by output index, over every small
// geometry, including inputs shorter than the window that only fit thanks to the padding.
void test_unclipped_windows() {
    int geometries = 0;
    for (int64_t in = 1; in <= 9; ++in)
        for (int64_t kernel = 1; kernel <= 4; ++kernel)
            for (int64_t stride = 1; stride <= 4; ++stride)
                for (int64_t head = 0; head < kernel; ++head)
                    for (int64_t tail = 0; tail < kernel; ++tail)
                        for (int64_t ceil_mode = 0; ceil_mode <= 1; ++ceil_mode) {
                            const int64_t out = sortpool::pooled_extent(in, kernel, stride, head, tail, ceil_mode);
                            const sortpool::IndexRange r = sortpool::unclipped_windows(in, kernel, stride, head, out);
                            CHECK(0 <= r.begin && r.begin <= r.end && r.end <= out);
                            for (int64_t o = 0; o < out; ++o) {
                                const int64_t start = o * stride - head;
                                const bool inside = start >= 0 && start + kernel <= in;
                                CHECK_MSG(inside == (r.begin <= o && o < r.end),
                                          "in " + std::to_string(in) + " kernel " + std::to_string(kernel) +
                                              " stride " + std::to_string(stride) + " pads " +
                                              std::to_string(head) + "/" + std::to_string(tail) + " ceil " +
                                              std::to_string(ceil_mode) + " output " + std::to_string(o));
                            }
                            ++geometries;
                        }
    CHECK(geometries == 9 * 4 * 30 * 2);  // in x stride x (kernel, head, tail) x ceil
    // The case that once read past the row: W = 1, kernel 2, stride 2, right padding only.
    const sortpool::IndexRange narrow = sortpool::unclipped_windows(1, 2, 2, 0, 1);
    CHECK(narrow.begin == 0 && narrow.end == 0);
}

void test_infer_output_shape() {
    PoolConfig cfg;
    RawAttributes raw = attrs({3, 2}, 2, {0.5f, 0.5f});
    raw.has_strides = true;
    raw.strides = {2, 1};
    raw.has_pads = true;
    raw.pads = {1, 0, 1, 1};
    CHECK(sortpool::parse_attributes(raw, &cfg).empty());
    sortpool::Shape4 y;
    CHECK(sortpool::infer_output_shape(cfg, {2, 3, 7, 5}, &y).empty());
    CHECK(y.n == 2 && y.c == 3 && y.h == 4 && y.w == 5);  // (7+2-3)/2+1 = 4, (5+1-2)/1+1 = 5

    CHECK(!sortpool::infer_output_shape(cfg, {2, 3, 7}, &y).empty());            // rank
    CHECK(sortpool::infer_output_shape(cfg, {2, 3, 1, 5}, &y).empty() && y.h == 1);  // 1 + 2 pads = kernel 3
    PoolConfig unpadded;
    CHECK(sortpool::parse_attributes(attrs({3, 2}, 2, {0.5f, 0.5f}), &unpadded).empty());
    const std::string small = sortpool::infer_output_shape(unpadded, {2, 3, 2, 5}, &y);
    CHECK_MSG(contains(small, "smaller than the window along H"), small);
    CHECK(sortpool::infer_output_shape(cfg, {0, 3, 7, 5}, &y).empty() && y.n == 0);  // empty batch
    CHECK(sortpool::infer_output_shape(cfg, {2, 3, 0, 5}, &y).empty() && y.h == 0);  // empty plane
    CHECK(sortpool::infer_output_shape(cfg, {-1, 3, -1, 5}, &y).empty());            // symbolic
    CHECK(y.n == sortpool::kUnknownDim && y.h == sortpool::kUnknownDim && y.w == 5);
    CHECK(!sortpool::infer_output_shape(cfg, {2, 3, int64_t(1) << 40, 5}, &y).empty());

    PoolConfig per_channel;
    CHECK(sortpool::parse_attributes(attrs({2, 2}, 1, {1, 1, 1}), &per_channel).empty());
    const std::string err = sortpool::infer_output_shape(per_channel, {1, 4, 4, 4}, &y);
    CHECK_MSG(contains(err, "C = 4"), err);
    CHECK(sortpool::infer_output_shape(per_channel, {1, 3, 4, 4}, &y).empty());
}

bool same_float(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void test_pool_window_random() {
    std::mt19937 rng(1234);
    std::normal_distribution<float> normal;
    std::uniform_int_distribution<int> small(1, 4);
    int windows = 0;
    for (int trial = 0; trial < 400; ++trial) {
        sortpool::PoolGeometry g;
        g.kernel_h = small(rng);
        g.kernel_w = small(rng);
        g.stride_h = small(rng);
        g.stride_w = small(rng);
        g.pad_top = rng() % g.kernel_h;
        g.pad_bottom = rng() % g.kernel_h;
        g.pad_left = rng() % g.kernel_w;
        g.pad_right = rng() % g.kernel_w;
        g.ceil_mode = rng() % 2;
        g.pool_range = 1 + rng() % (g.kernel_h * g.kernel_w);
        const int64_t H = 1 + rng() % 9, W = 1 + rng() % 9;
        std::vector<float> plane(H * W);
        for (auto& v : plane) {
            const int pick = rng() % 40;
            v = pick == 0 ? NAN : pick == 1 ? INFINITY : pick == 2 ? -INFINITY : pick < 8 ? 1.0f : normal(rng);
        }
        std::vector<float> w(g.pool_range);
        for (auto& v : w) v = normal(rng);
        const int64_t OH = sortpool::pooled_extent(H, g.kernel_h, g.stride_h, g.pad_top, g.pad_bottom, g.ceil_mode);
        const int64_t OW = sortpool::pooled_extent(W, g.kernel_w, g.stride_w, g.pad_left, g.pad_right, g.ceil_mode);
        const auto load = [&](int64_t h, int64_t x) { return plane[h * W + x]; };
        for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) {
                const float got = sortpool::pool_window<sortpool::kMaxWindowCells>(load, H, W, g, oh, ow, w.data());
                const float want = sortpool_test::weighted_sorted_cells(
                    sortpool_test::window_cells(plane, H, W, g, oh, ow), g.pool_range, w.data());
                CHECK_MSG(same_float(got, want), "trial " + std::to_string(trial) + " got " + std::to_string(got) +
                                                     " want " + std::to_string(want));
                ++windows;
            }
    }
    CHECK(windows > 1000);
}

void test_max_pool_equivalence() {
    // pool_range = 1 with weight 1 is exactly MaxPool, NaN included.
    const float w[1] = {1.0f};
    float a[4] = {-3.0f, 7.5f, 7.25f, -0.0f};
    CHECK(sortpool::weighted_top_k(a, 4, 1, w) == 7.5f);
    float b[4] = {1.0f, NAN, 2.0f, 3.0f};
    sortpool::PoolGeometry g;
    g.pool_range = 1;
    const auto load = [&](int64_t h, int64_t x) { return b[h * 2 + x]; };
    CHECK(std::isnan(sortpool::pool_window<4>(load, 2, 2, g, 0, 0, w)));
}

template <int N, int K>
void check_fixed_matches_generic(std::mt19937& rng) {
    std::normal_distribution<float> normal;
    for (int trial = 0; trial < 2000; ++trial) {
        float v[N], copy[N], w[K];
        for (int i = 0; i < N; ++i) {
            const int pick = rng() % 30;
            v[i] = pick == 0 ? NAN : pick == 1 ? INFINITY : pick == 2 ? -INFINITY : pick < 6 ? 0.5f : normal(rng);
            copy[i] = v[i];
        }
        for (int i = 0; i < K; ++i) w[i] = normal(rng);
        bool has_nan = false;
        for (float x : copy) has_nan |= std::isnan(x);
        const float fixed = sortpool::weighted_top_k_fixed<N, K>(v, w);
        const float generic = has_nan ? NAN : sortpool::weighted_top_k(copy, N, K, w);
        CHECK_MSG(same_float(fixed, generic), "N=" + std::to_string(N) + " K=" + std::to_string(K));
    }
}

void test_fixed_network() {
    std::mt19937 rng(99);
    check_fixed_matches_generic<4, 1>(rng);
    check_fixed_matches_generic<4, 2>(rng);
    check_fixed_matches_generic<4, 3>(rng);
    check_fixed_matches_generic<4, 4>(rng);
    check_fixed_matches_generic<9, 3>(rng);
    check_fixed_matches_generic<9, 9>(rng);
    check_fixed_matches_generic<6, 5>(rng);
}

void test_half_conversions() {
    // Every half value converts exactly and back (NaNs stay NaN), against the compiler's _Float16.
    for (uint32_t bits = 0; bits <= 0xffffu; ++bits) {
        _Float16 h;
        const uint16_t b16 = static_cast<uint16_t>(bits);
        std::memcpy(&h, &b16, 2);
        const float want = static_cast<float>(h);
        const float got = sortpool::half_bits_to_float(b16);
        CHECK_MSG(same_float(got, want), "half bits " + std::to_string(bits));
        if (!std::isnan(want)) CHECK(sortpool::float_to_half_bits(got) == b16);
    }
    // Rounding float -> half: random floats over the whole range plus the boundaries.
    std::mt19937 rng(7);
    std::vector<float> probes = {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, 1e-8f, 2.98e-8f, 2.99e-8f, 6.1e-5f,
                                 5.96e-8f, INFINITY, -INFINITY, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048};
    for (int i = 0; i < 200000; ++i) {
        uint32_t bits = rng();
        float f;
        std::memcpy(&f, &bits, 4);
        probes.push_back(f);
    }
    for (float f : probes) {
        const _Float16 h = static_cast<_Float16>(f);
        uint16_t want;
        std::memcpy(&want, &h, 2);
        const uint16_t got = sortpool::float_to_half_bits(f);
        if (std::isnan(f))
            CHECK(std::isnan(sortpool::half_bits_to_float(got)));
        else
            CHECK_MSG(got == want, "float " + std::to_string(f));
    }
}

void test_bfloat16_conversions() {
    // bfloat16 is the top half of a float: round to nearest even from the bits, checked by
    // comparing the two neighbouring bfloat16 values in double precision.
    std::mt19937 rng(11);
    for (int i = 0; i < 200000; ++i) {
        uint32_t bits = rng();
        float f;
        std::memcpy(&f, &bits, 4);
        const uint16_t got = sortpool::float_to_bfloat16_bits(f);
        const float back = sortpool::bfloat16_bits_to_float(got);
        if (std::isnan(f)) {
            CHECK(std::isnan(back));
            continue;
        }
        const uint16_t lo = static_cast<uint16_t>(bits >> 16);
        const uint16_t hi = static_cast<uint16_t>(lo + 1);
        const double dlo = sortpool::bfloat16_bits_to_float(lo), dhi = sortpool::bfloat16_bits_to_float(hi);
        const double df = f;
        // Past the largest finite value the next step up is 2^128 (which rounds to infinity).
        const double dhi_ext = std::isinf(dhi) ? std::copysign(std::ldexp(1.0, 128), dhi) : dhi;
        const double err_lo = std::fabs(df - dlo), err_hi = std::fabs(dhi_ext - df);
        uint16_t want = err_lo < err_hi ? lo : err_hi < err_lo ? hi : ((lo & 1) ? hi : lo);
        if (std::isinf(f)) want = lo;
        // Rounding past the largest finite value gives infinity.
        if (((hi & 0x7f80u) == 0x7f80u) && want == hi) CHECK(std::isinf(back));
        else CHECK_MSG(got == want, "float " + std::to_string(f));
    }
}

}  // namespace

int main() {
    test_defaults();
    test_invalid_attributes();
    test_pooled_extent();
    test_unclipped_windows();
    test_infer_output_shape();
    test_pool_window_random();
    test_max_pool_equivalence();
    test_fixed_network();
    test_half_conversions();
    test_bfloat16_conversions();
    return sortpool_test::finish_checks("sortpool_core_test");
}
