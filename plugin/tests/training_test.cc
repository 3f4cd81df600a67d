// Unit test of the training kernels (plugin/training) through their C ABI, on random problems
// (all four element types' float32/float64 math, fixed and generic windows, padding, strides,
// per-channel weights, NaN and ties) against the naive reference of reference_window.h for the
// forward and a brute-force routing for the backward. Run under ASan/UBSan by
// tools/sanitize_and_fuzz.sh, it also checks that no kernel reads or writes out of bounds.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "reference_window.h"
#include "sortpool_training.h"
#include "test_check.h"

namespace {

struct Case {
    SortpoolTrainingProblem p;
    sortpool::PoolGeometry g;
};

Case random_case(std::mt19937& rng) {
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    Case c{};
    SortpoolTrainingProblem& p = c.p;
    const int square = pick(0, 2);  // 2x2 and 3x3 take the fixed paths
    p.kernel_h = square == 1 ? 2 : square == 2 ? 3 : pick(1, 5);
    p.kernel_w = square == 1 ? 2 : square == 2 ? 3 : pick(1, 5);
    p.stride_h = pick(1, 3), p.stride_w = pick(1, 3);
    p.pad_top = pick(0, static_cast<int>(p.kernel_h) - 1), p.pad_left = pick(0, static_cast<int>(p.kernel_w) - 1);
    p.channels = pick(1, 3);
    p.planes = p.channels * pick(1, 2);
    p.in_h = pick(1, 13), p.in_w = pick(1, 23);
    // Any output extent reads in bounds (windows are clipped); past the shape rule's extent the
    // extra windows are empty.
    p.out_h = pick(0, static_cast<int>((p.in_h + p.pad_top) / p.stride_h) + 2);
    p.out_w = pick(0, static_cast<int>((p.in_w + p.pad_left) / p.stride_w) + 2);
    p.k = pick(1, static_cast<int>(p.kernel_h * p.kernel_w));
    p.per_channel_weights = pick(0, 1);
    c.g.kernel_h = p.kernel_h, c.g.kernel_w = p.kernel_w, c.g.stride_h = p.stride_h, c.g.stride_w = p.stride_w;
    c.g.pad_top = p.pad_top, c.g.pad_left = p.pad_left, c.g.pool_range = p.k;
    return c;
}

void test_random_problems() {
    std::mt19937 rng(2026);
    for (int trial = 0; trial < 400; ++trial) {
        const Case c = random_case(rng);
        const SortpoolTrainingProblem& p = c.p;
        const size_t in_size = static_cast<size_t>(p.planes * p.in_h * p.in_w);
        const size_t out_size = static_cast<size_t>(p.planes * p.out_h * p.out_w);
        std::vector<float> x(in_size), w(static_cast<size_t>((p.per_channel_weights ? p.channels : 1) * p.k));
        std::uniform_int_distribution<int> small(-3, 3);
        for (auto& v : x) v = static_cast<float>(small(rng));  // ties everywhere
        if (in_size > 0 && trial % 5 == 0) x[rng() % in_size] = NAN;
        for (auto& v : w) v = static_cast<float>(small(rng)) / 4;
        std::vector<float> y(out_size + 1, -7.0f), gy(out_size), gx(in_size + 1, -7.0f);
        std::vector<double> gw(static_cast<size_t>(p.planes * p.k) + 1, -7.0);
        for (auto& v : gy) v = static_cast<float>(small(rng));
        CHECK(sortpool_training_forward(SORTPOOL_TRAINING_FLOAT32, &p, x.data(), w.data(), y.data(), 1 + trial % 3) == 0);
        CHECK(sortpool_training_backward(SORTPOOL_TRAINING_FLOAT32, &p, x.data(), w.data(), gy.data(), gx.data(),
                                         gw.data(), 1 + trial % 3) == 0);
        CHECK(y[out_size] == -7.0f && gx[in_size] == -7.0f && gw[gw.size() - 1] == -7.0);  // nothing past the end

        std::vector<double> want_gx(in_size, 0.0), want_gw(static_cast<size_t>(p.planes * p.k), 0.0);
        bool forward_ok = true;
        for (int64_t plane = 0; plane < p.planes; ++plane) {
            const float* wp = w.data() + (p.per_channel_weights ? (plane % p.channels) * p.k : 0);
            const std::vector<float> xs(x.begin() + plane * p.in_h * p.in_w, x.begin() + (plane + 1) * p.in_h * p.in_w);
            for (int64_t oh = 0; oh < p.out_h; ++oh) {
                for (int64_t ow = 0; ow < p.out_w; ++ow) {
                    const size_t at = static_cast<size_t>((plane * p.out_h + oh) * p.out_w + ow);
                    const float want = sortpool_test::weighted_sorted_cells(
                        sortpool_test::window_cells(xs, p.in_h, p.in_w, c.g, oh, ow), p.k, wp);
                    forward_ok &= std::isnan(want) ? std::isnan(y[at]) : y[at] == want;
                    // The backward's rank order, brute force: (NaN first, value descending, cell).
                    std::vector<std::pair<int64_t, int>> cells;  // (plane offset, window cell)
                    for (int dh = 0; dh < p.kernel_h; ++dh)
                        for (int dw = 0; dw < p.kernel_w; ++dw) {
                            const int64_t h = oh * p.stride_h - p.pad_top + dh, col = ow * p.stride_w - p.pad_left + dw;
                            if (h >= 0 && h < p.in_h && col >= 0 && col < p.in_w)
                                cells.push_back({h * p.in_w + col, static_cast<int>(dh * p.kernel_w + dw)});
                        }
                    std::stable_sort(cells.begin(), cells.end(), [&](const auto& a, const auto& b) {
                        const float va = xs[static_cast<size_t>(a.first)], vb = xs[static_cast<size_t>(b.first)];
                        if (std::isnan(va) || std::isnan(vb)) return std::isnan(va) && !std::isnan(vb);
                        return va > vb;
                    });
                    for (size_t r = 0; r < cells.size() && static_cast<int64_t>(r) < p.k; ++r) {
                        const size_t cell = static_cast<size_t>(plane * p.in_h * p.in_w + cells[r].first);
                        want_gx[cell] += static_cast<double>(gy[at]) * wp[r];
                        want_gw[static_cast<size_t>(plane * p.k) + r] += static_cast<double>(gy[at]) * x[cell];
                    }
                }
            }
        }
        CHECK_MSG(forward_ok, ("trial " + std::to_string(trial)).c_str());
        bool backward_ok = true;
        for (size_t i = 0; i < in_size; ++i) backward_ok &= static_cast<double>(gx[i]) == want_gx[i];
        for (size_t i = 0; i < want_gw.size(); ++i)
            backward_ok &= (std::isnan(want_gw[i]) && std::isnan(gw[i])) || gw[i] == want_gw[i];
        CHECK_MSG(backward_ok, ("trial " + std::to_string(trial)).c_str());  // small integers: exact sums
    }
}

void test_float64_and_half_types_run() {
    SortpoolTrainingProblem p{};
    p.planes = 2, p.channels = 1, p.in_h = 5, p.in_w = 6, p.kernel_h = 3, p.kernel_w = 3, p.stride_h = 2, p.stride_w = 1;
    p.pad_top = 1, p.pad_left = 1, p.out_h = 3, p.out_w = 6, p.k = 2, p.per_channel_weights = 0;
    std::vector<double> xd(60), wd = {0.75, 0.25}, yd(36), gyd(36, 1.0), gxd(60), gw(4);
    for (size_t i = 0; i < xd.size(); ++i) xd[i] = static_cast<double>((i * 7) % 11);
    CHECK(sortpool_training_forward(SORTPOOL_TRAINING_FLOAT64, &p, xd.data(), wd.data(), yd.data(), 2) == 0);
    CHECK(sortpool_training_backward(SORTPOOL_TRAINING_FLOAT64, &p, xd.data(), wd.data(), gyd.data(), gxd.data(),
                                     gw.data(), 2) == 0);
    double total = 0;
    for (double v : gxd) total += v;
    CHECK(total == 36.0);  // every window hands out 0.75 + 0.25 (each has at least 2 real cells)
    std::vector<uint16_t> xh(60, 0x3c00);  // 1.0 in both float16 and (as 0x3f80) bfloat16
    std::vector<uint16_t> yh(36);
    const std::vector<float> wf = {0.75f, 0.25f};
    CHECK(sortpool_training_forward(SORTPOOL_TRAINING_FLOAT16, &p, xh.data(), wf.data(), yh.data(), 1) == 0);
    CHECK(yh[0] == 0x3c00);
    std::fill(xh.begin(), xh.end(), 0x3f80);
    CHECK(sortpool_training_forward(SORTPOOL_TRAINING_BFLOAT16, &p, xh.data(), wf.data(), yh.data(), 1) == 0);
    CHECK(yh[0] == 0x3f80);
}

void test_malformed_calls() {
    SortpoolTrainingProblem p{};
    p.planes = 1, p.channels = 1, p.in_h = 4, p.in_w = 4, p.kernel_h = 2, p.kernel_w = 2, p.stride_h = 2, p.stride_w = 2;
    p.out_h = 2, p.out_w = 2, p.k = 2;
    float x[16] = {}, w[2] = {1, 0}, y[4];
    auto refused = [&](const SortpoolTrainingProblem& bad, const char* words) {
        const int status = sortpool_training_forward(SORTPOOL_TRAINING_FLOAT32, &bad, x, w, y, 1);
        CHECK_MSG(status == -1 && std::strstr(sortpool_training_last_error(), words) != nullptr, words);
    };
    SortpoolTrainingProblem bad = p;
    bad.k = 5;
    refused(bad, "k must be");
    bad = p, bad.kernel_h = 9, bad.kernel_w = 9;
    refused(bad, "at most 64 cells");
    bad = p, bad.stride_w = 0;
    refused(bad, "strides");
    bad = p, bad.pad_top = 2;
    refused(bad, "pads");
    bad = p, bad.channels = 3;
    refused(bad, "divide planes");
    bad = p, bad.in_h = -1;
    refused(bad, "non-negative");
    CHECK(sortpool_training_forward(7, &p, x, w, y, 1) == -1);
    CHECK(sortpool_training_forward(SORTPOOL_TRAINING_FLOAT32, nullptr, x, w, y, 1) == -1);
    CHECK(sortpool_training_forward(SORTPOOL_TRAINING_FLOAT32, &p, nullptr, w, y, 1) == -1);
    CHECK(sortpool_training_forward(SORTPOOL_TRAINING_FLOAT32, &p, x, w, y, 1) == 0);
    CHECK(std::strlen(sortpool_training_last_error()) == 0);
}

}  // namespace

int main() {
    test_random_problems();
    test_float64_and_half_types_run();
    test_malformed_calls();
    return sortpool_test::finish_checks("sortpool_training_test");
}
