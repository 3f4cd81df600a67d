// sortedWeightedPoolRowVectors.h - the unit of work of the 2x2 stride-2 kernels (sortedWeightedPoolKernel.cu): one
// 16-byte vector of a top window row and the vector below it in the bottom window row give 2
// (float32) or 4 (16-bit types) outputs, written with one 8-byte store. Host and device code, so
// that the CPU test runs the flat kernel's per-thread work (every thread of a grid) on the host.
#pragma once

#include <vector_functions.h>
#include <vector_types.h>

#include <cstdint>
#include <type_traits>

#include "sortedWeightedPoolDivide.h"
#include "sortedWeightedPoolHalf2Windows.h"
#include "sortpool_core.h"

#if defined(__CUDA_ARCH__)
#define SORTPOOL_UNROLL _Pragma("unroll")
#else
#define SORTPOOL_UNROLL
#endif

namespace sortpool {
namespace trt {

struct Float32Storage {
    using T = float;
    using Pair = float2;  // two elements, one load
    using Vec = float4;   // 16 bytes = 4 elements, one load
    using Out = float2;   // the outputs of one Vec of both window rows: 2 elements, one store
    static constexpr int kVecElems = 4;
    static SORTPOOL_HD float toFloat(float v) { return v; }
    static SORTPOOL_HD float fromFloat(float v) { return v; }
    static SORTPOOL_HD void split(Pair p, float& a, float& b) { a = p.x; b = p.y; }
    static SORTPOOL_HD void unpack(Vec q, float (&v)[4]) {
        v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
    }
    static SORTPOOL_HD Out pack(float const (&o)[2]) { return make_float2(o[0], o[1]); }
};

// 16-bit storage (IEEE half or bfloat16 bits): ToFloat / FromFloat are the core's conversions.
template <float (*ToFloat)(uint16_t), uint16_t (*FromFloat)(float)>
struct Bits16Storage {
    using T = uint16_t;
    using Pair = uint32_t;  // two elements, one load (element 0 in the low half: little endian)
    using Vec = uint4;      // 16 bytes = 8 elements, one load
    using Out = uint2;      // the outputs of one Vec of both window rows: 4 elements, one store
    static constexpr int kVecElems = 8;
    static SORTPOOL_HD float toFloat(uint16_t v) { return ToFloat(v); }
    static SORTPOOL_HD uint16_t fromFloat(float v) { return FromFloat(v); }
    static SORTPOOL_HD void split(Pair p, float& a, float& b) {
        a = ToFloat(static_cast<uint16_t>(p & 0xffffu));
        b = ToFloat(static_cast<uint16_t>(p >> 16));
    }
    static SORTPOOL_HD void unpack(Vec q, float (&v)[8]) {
        split(q.x, v[0], v[1]);
        split(q.y, v[2], v[3]);
        split(q.z, v[4], v[5]);
        split(q.w, v[6], v[7]);
    }
    static SORTPOOL_HD uint32_t pack2(float a, float b) {
        return static_cast<uint32_t>(FromFloat(a)) | (static_cast<uint32_t>(FromFloat(b)) << 16);
    }
    static SORTPOOL_HD Out pack(float const (&o)[4]) { return make_uint2(pack2(o[0], o[1]), pack2(o[2], o[3])); }
};
using Float16Storage = Bits16Storage<half_bits_to_float, float_to_half_bits>;
using BFloat16Storage = Bits16Storage<bfloat16_bits_to_float, float_to_bfloat16_bits>;

// The outputs of the windows in one vector `a` of the top row and the vector `b` below it (window q
// = cells 2q, 2q + 1 of both), all inside the input. kHalf2Sort (float16 only): the windows are
// sorted two at a time as exact half2 values (twoWindowsHalf2); otherwise each one is converted and
// goes through the core's weighted_top_k_fixed<4, K>. Both give the core's result bit for bit.
template <typename Storage, int K, bool kHalf2Sort>
SORTPOOL_HD void vectorPairOutputs(typename Storage::Vec const& a, typename Storage::Vec const& b, const float (&wk)[K],
                                   float (&o)[Storage::kVecElems / 2]) {
    static_assert(!kHalf2Sort || std::is_same<Storage, Float16Storage>::value, "the half2 sort is for float16");
    if constexpr (kHalf2Sort) {
        twoWindowsHalf2<K>(a.x, a.y, b.x, b.y, wk, o[0], o[1]);
        twoWindowsHalf2<K>(a.z, a.w, b.z, b.w, wk, o[2], o[3]);
    } else {
        float ca[Storage::kVecElems], cb[Storage::kVecElems];
        Storage::unpack(a, ca);
        Storage::unpack(b, cb);
        SORTPOOL_UNROLL
        for (int q = 0; q < Storage::kVecElems / 2; ++q) {
            float window[4] = {ca[2 * q], ca[2 * q + 1], cb[2 * q], cb[2 * q + 1]};
            o[q] = weighted_top_k_fixed<4, K>(window, wk);
        }
    }
}

// Full-width 2x2 stride-2 pooling without a clipped or skipped row (W = 2 W_out, H = 2 H_out,
// pad_top = 0) as one flat list of output vectors. With V output vectors per output row (= input
// vectors per input row), output row r of the N*C*H_out rows reads input rows 2r and 2r + 1 of the
// N*C*H rows, so output vector j = r V + v reads input vectors 2 r V + v = j + r V (top) and that
// + V (bottom). Unlike a warp per row, every lane has work whatever the row width.
struct FlatRowPairs {
    int64_t vectors = 0;         // output vectors, N * C * H_out * V
    DivideByConstant per_row;    // V
    DivideByConstant per_plane;  // H_out * V: output vectors of one (n, c) plane
    DivideByConstant channels;   // C

    FlatRowPairs() = default;
    // The list of an output Y = (N, C, H_out, W_out) with outs_per_vector outputs per vector
    // (W_out a multiple of it, no extent 0).
    static FlatRowPairs forOutput(Shape4 const& out, int64_t outs_per_vector) {
        const int64_t row_vectors = out.w / outs_per_vector;
        FlatRowPairs f;
        f.vectors = out.n * out.c * out.h * row_vectors;
        f.per_row = DivideByConstant(static_cast<uint64_t>(row_vectors));
        f.per_plane = DivideByConstant(static_cast<uint64_t>(out.h * row_vectors));
        f.channels = DivideByConstant(static_cast<uint64_t>(out.c));
        return f;
    }

    SORTPOOL_HD int64_t topInput(int64_t j) const {
        const uint64_t r = per_row.quotient(static_cast<uint64_t>(j));
        return j + static_cast<int64_t>(r * per_row.divisor());
    }
    // The channel of output vector j (per-channel weights).
    SORTPOOL_HD int64_t channel(int64_t j) const {
        const uint64_t plane = per_plane.quotient(static_cast<uint64_t>(j));
        return static_cast<int64_t>(plane - channels.quotient(plane) * channels.divisor());
    }
};

// One thread's share of the flat list: output vectors first, first + stride, ...; kUnroll of them
// per step, whose loads are all issued before any result is computed (more bytes in flight per
// thread). Weights: K shared ones at `weights` (kPerChannel false, read once), or K per channel at
// weights + channel * weight_stride (read per output vector).
template <typename Storage, int K, int kUnroll, bool kHalf2Sort, bool kPerChannel>
SORTPOOL_HD void flatRowPairsThread(typename Storage::Vec const* __restrict__ x, typename Storage::Out* __restrict__ y,
                                    FlatRowPairs const& f, float const* weights, int64_t weight_stride, int64_t first,
                                    int64_t stride) {
    const int64_t row_vectors = static_cast<int64_t>(f.per_row.divisor());
    float wk[K];
    if constexpr (!kPerChannel) {
        SORTPOOL_UNROLL
        for (int i = 0; i < K; ++i) wk[i] = weights[i];
    }
    for (int64_t j0 = first; j0 < f.vectors; j0 += stride * kUnroll) {
        typename Storage::Vec a[kUnroll], b[kUnroll];
        SORTPOOL_UNROLL
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t j = j0 + u * stride;
            if (j < f.vectors) {
                const int64_t top = f.topInput(j);
                a[u] = x[top];
                b[u] = x[top + row_vectors];
            }
        }
        SORTPOOL_UNROLL
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t j = j0 + u * stride;
            if (j >= f.vectors) continue;  // (not break: the loop must stay fully unrolled)
            if constexpr (kPerChannel) {
                float const* w = weights + f.channel(j) * weight_stride;
                SORTPOOL_UNROLL
                for (int i = 0; i < K; ++i) wk[i] = w[i];
            }
            float o[Storage::kVecElems / 2];
            vectorPairOutputs<Storage, K, kHalf2Sort>(a[u], b[u], wk, o);
            y[j] = Storage::pack(o);
        }
    }
}

}  // namespace trt
}  // namespace sortpool
