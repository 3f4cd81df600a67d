// sortedWeightedPoolHalf2Windows.h - two float16 2x2 windows sorted at once in half2 registers (the
// experimental kRows2x2Half2Sort row kernel, sortedWeightedPoolKernel.cu). Host and device code, so that the
// CPU test checks it against the core's weighted_top_k_fixed<4, K> bit for bit; on the device the
// same source compiles to byte permutes and HMNMX2 instructions.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <utility>

#include "sortpool_core.h"

namespace sortpool {
namespace trt {

#if defined(__CUDACC__)
#define SORTPOOL_HALF2_HD __host__ __device__ __forceinline__
#else
#define SORTPOOL_HALF2_HD inline
#endif

// {x.lo, y.lo} (high == false) or {x.hi, y.hi} (high == true) of two words of two halves each.
SORTPOOL_HALF2_HD __half2 pairHalves(uint32_t x, uint32_t y, bool high) {
    // One expression for host and device (nvcc makes a byte permute of it), so the CPU test covers it.
    const uint32_t bits = high ? (x >> 16) | (y & 0xffff0000u) : (x & 0xffffu) | (y << 16);
    __half2_raw raw;
    raw.x = static_cast<unsigned short>(bits & 0xffffu);
    raw.y = static_cast<unsigned short>(bits >> 16);
    return __half2(raw);
}

// Lane 0 (lo) is the window of cells (a01.lo, a01.hi, b01.lo, b01.hi), lane 1 (hi) the window of
// (a23.lo, a23.hi, b23.lo, b23.hi), where a.. are words of the top window row and b.. of the bottom
// one. The cells are sorted as exact half values by the core's sorting network with a
// NaN-propagating half2 compare-exchange (converting to float32 is exact and keeps the order, so
// the ranks are the core's ranks; -0/+0 ties cannot change a sum that starts at +0), and only the K
// kept ranks are converted and summed by the core's weighted_sum_in_rank_order. A NaN cell ends as
// rank 0 of its lane (max with NaN is NaN), which gives the core's NaN result.
template <int K>
SORTPOOL_HALF2_HD void twoWindowsHalf2(uint32_t a01, uint32_t a23, uint32_t b01, uint32_t b23, const float (&wk)[K],
                                       float& lo, float& hi) {
    __half2 c[4] = {pairHalves(a01, a23, false), pairHalves(a01, a23, true), pairHalves(b01, b23, false),
                    pairHalves(b01, b23, true)};
    sort_descending_network(c, [](__half2& h, __half2& l) {
        const __half2 x = h, y = l;
        h = __hmax2_nan(x, y);
        l = __hmin2_nan(x, y);
    });
    float rlo[K], rhi[K];
    for (int i = 0; i < K; ++i) {
        const float2 f = __half22float2(c[i]);
        rlo[i] = f.x;
        rhi[i] = f.y;
    }
    const float slo = detail::weighted_sum_in_rank_order(rlo, wk, std::make_integer_sequence<int, K>{});
    const float shi = detail::weighted_sum_in_rank_order(rhi, wk, std::make_integer_sequence<int, K>{});
    lo = rlo[0] != rlo[0] ? quiet_nan() : slo;
    hi = rhi[0] != rhi[0] ? quiet_nan() : shi;
}

}  // namespace trt
}  // namespace sortpool
