// reference_window.h - an independent, deliberately naive formulation of one output value of
// the contract (docs/operator.md), for the core's unit test and its fuzz target: gather the
// in-range cells, std::sort them largest first, and take the dot product with the weights over
// the ranks that exist (NaN if any cell is NaN).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "sortpool_core.h"

namespace sortpool_test {

// The real (non-padded) cells of output (oh, ow)'s window over a row-major H x W plane.
inline std::vector<float> window_cells(const std::vector<float>& plane, int64_t H, int64_t W,
                                       const sortpool::PoolGeometry& g, int64_t oh, int64_t ow) {
    std::vector<float> cells;
    for (int64_t dh = 0; dh < g.kernel_h; ++dh)
        for (int64_t dw = 0; dw < g.kernel_w; ++dw) {
            const int64_t h = oh * g.stride_h - g.pad_top + dh, x = ow * g.stride_w - g.pad_left + dw;
            if (h >= 0 && h < H && x >= 0 && x < W) cells.push_back(plane[static_cast<size_t>(h * W + x)]);
        }
    return cells;
}

inline float weighted_sorted_cells(std::vector<float> cells, int64_t pool_range, const float* w) {
    for (float v : cells)
        if (std::isnan(v)) return NAN;
    std::sort(cells.begin(), cells.end(), [](float a, float b) { return a > b; });
    float acc = 0;
    for (int64_t i = 0; i < std::min<int64_t>(pool_range, static_cast<int64_t>(cells.size())); ++i)
        acc = w[i] * cells[static_cast<size_t>(i)] + acc;
    return acc;
}

}  // namespace sortpool_test
