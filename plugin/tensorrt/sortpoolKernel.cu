// sortpoolKernel.cu - the SortedWeightedPool CUDA kernel.
//
// One thread computes one output value with the op core's pool_window (the same code the CPU
// backends run), so the window rule, NaN rule, ranking and the unfused float32 accumulation are
// shared, not re-implemented. This file only decides how values are fetched and stored.
//
// Launch shape: a grid-stride loop over all N*C*H_out*W_out outputs. Indices are 64-bit unless
// the whole problem fits in 31 bits, in which case a 32-bit index variant (cheaper divisions) is
// used; both are exact.
//
// Variants (template arguments):
//   T          float / uint16_t holding IEEE half bits / uint16_t holding bfloat16 bits
//   MaxCells   4 (2x2 and smaller windows), 16, or 64 (kMaxWindowCells) - the size of the per-thread
//              value buffer in pool_window
//   kPair      the 2x2 stride-2 fast path: the two cells of a window row are fetched with one
//              aligned 2-element load (float2 / 32-bit); requires pad_left == 0, even W and an
//              aligned base pointer. A window whose two rows are inside the input goes through the
//              core's branch-free weighted_top_k_fixed<4, K> (registers only, no divergence), a
//              window clipped by padding through pool_window.
//   K          pool_range as a compile-time constant for the kPair path (1..4), 0 otherwise
// and sortedWeightedPool2x2QuadKernel, two outputs per thread for full-width 2x2 stride-2 pooling.
#include "sortpoolKernel.h"

#include <cuda_runtime.h>

namespace sortpool {
namespace trt {
namespace {

struct Float32Storage {
    using T = float;
    using Pair = float2;  // two elements, one load
    using Quad = float4;  // four elements, one load
    static __device__ __forceinline__ float toFloat(float v) { return v; }
    static __device__ __forceinline__ float fromFloat(float v) { return v; }
    static __device__ __forceinline__ void split(Pair p, float& a, float& b) { a = p.x; b = p.y; }
    static __device__ __forceinline__ void split4(Quad q, float (&v)[4]) {
        v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
    }
    static __device__ __forceinline__ Pair pack(float a, float b) { return make_float2(a, b); }
};

struct Float16Storage {
    using T = uint16_t;
    using Pair = uint32_t;  // two elements, one load (element 0 in the low half: little endian)
    using Quad = uint2;     // four elements, one load
    static __device__ __forceinline__ float toFloat(uint16_t v) { return half_bits_to_float(v); }
    static __device__ __forceinline__ uint16_t fromFloat(float v) { return float_to_half_bits(v); }
    static __device__ __forceinline__ void split(Pair p, float& a, float& b) {
        a = half_bits_to_float(static_cast<uint16_t>(p & 0xffffu));
        b = half_bits_to_float(static_cast<uint16_t>(p >> 16));
    }
    static __device__ __forceinline__ void split4(Quad q, float (&v)[4]) {
        split(q.x, v[0], v[1]);
        split(q.y, v[2], v[3]);
    }
    static __device__ __forceinline__ Pair pack(float a, float b) {
        return static_cast<Pair>(fromFloat(a)) | (static_cast<Pair>(fromFloat(b)) << 16);
    }
};

struct BFloat16Storage {
    using T = uint16_t;
    using Pair = uint32_t;  // two elements, one load (element 0 in the low half: little endian)
    using Quad = uint2;     // four elements, one load
    static __device__ __forceinline__ float toFloat(uint16_t v) { return bfloat16_bits_to_float(v); }
    static __device__ __forceinline__ uint16_t fromFloat(float v) { return float_to_bfloat16_bits(v); }
    static __device__ __forceinline__ void split(Pair p, float& a, float& b) {
        a = bfloat16_bits_to_float(static_cast<uint16_t>(p & 0xffffu));
        b = bfloat16_bits_to_float(static_cast<uint16_t>(p >> 16));
    }
    static __device__ __forceinline__ void split4(Quad q, float (&v)[4]) {
        split(q.x, v[0], v[1]);
        split(q.y, v[2], v[3]);
    }
    static __device__ __forceinline__ Pair pack(float a, float b) {
        return static_cast<Pair>(fromFloat(a)) | (static_cast<Pair>(fromFloat(b)) << 16);
    }
};

template <typename Storage, int MaxCells, bool kPair, int K, typename Index>
__global__ void __launch_bounds__(256) sortedWeightedPoolKernel(__grid_constant__ const PoolLaunch p) {
    using T = typename Storage::T;
    T const* __restrict__ x = static_cast<T const*>(p.x);
    T* __restrict__ y = static_cast<T*>(p.y);
    const Index in_h = static_cast<Index>(p.in.h), in_w = static_cast<Index>(p.in.w);
    const Index out_h = static_cast<Index>(p.out.h), out_w = static_cast<Index>(p.out.w);
    const Index channels = static_cast<Index>(p.in.c);
    const Index plane_size = in_h * in_w;
    const Index total = static_cast<Index>(p.out.n) * channels * out_h * out_w;
    float const* weights_base = p.inline_count > 0 ? p.inline_weights : p.device_weights;
    const Index weight_stride = static_cast<Index>(p.channel_weight_stride);

    for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<Index>(gridDim.x) * blockDim.x) {
        const Index ow = i % out_w;
        const Index t = i / out_w;
        const Index oh = t % out_h;
        const Index nc = t / out_h;
        float const* w = weights_base + (nc % channels) * weight_stride;
        T const* plane = x + nc * plane_size;
        float v;
        if constexpr (kPair) {
            // Window rows h0 and h0 + 1, columns w0 = 2 * ow and w0 + 1 (pad_left == 0, W even, so
            // both columns are inside the input). Rows outside the input are never asked for.
            const int64_t h0 = static_cast<int64_t>(oh) * 2 - p.geometry.pad_top;
            const Index w0 = ow * 2;
            float cells[2][2] = {{0.f, 0.f}, {0.f, 0.f}};
#pragma unroll
            for (int r = 0; r < 2; ++r) {
                const int64_t h = h0 + r;
                if (h >= 0 && h < static_cast<int64_t>(in_h)) {
                    const auto pair = *reinterpret_cast<typename Storage::Pair const*>(
                        plane + static_cast<Index>(h) * in_w + w0);
                    Storage::split(pair, cells[r][0], cells[r][1]);
                }
            }
            if (h0 >= 0 && h0 + 1 < static_cast<int64_t>(in_h)) {
                float window[4] = {cells[0][0], cells[0][1], cells[1][0], cells[1][1]};
                v = weighted_top_k_fixed<4, K>(window, w);
            } else {
                const auto load = [&](int64_t h, int64_t wc) {
                    return cells[h - h0][wc - static_cast<int64_t>(w0)];
                };
                v = pool_window<MaxCells>(load, in_h, in_w, p.geometry, oh, ow, w);
            }
        } else {
            const auto load = [&](int64_t h, int64_t wc) {
                return Storage::toFloat(plane[static_cast<Index>(h) * in_w + static_cast<Index>(wc)]);
            };
            v = pool_window<MaxCells>(load, in_h, in_w, p.geometry, oh, ow, w);
        }
        y[i] = Storage::fromFloat(v);
    }
}

// The 2x2 stride-2 path at full width: every output column's window lies inside the input
// (W = 2 * W_out, pad_left = 0) and W_out is even, so one thread computes two neighbouring
// outputs from one 4-element load per window row and stores them with one 2-element store:
// twice the bytes in flight per thread and half the index arithmetic of the pair path. Rows
// clipped by top/bottom padding go through pool_window; the others through the core's
// branch-free weighted_top_k_fixed<4, K>.
template <typename Storage, int K, typename Index>
__global__ void __launch_bounds__(256) sortedWeightedPool2x2QuadKernel(__grid_constant__ const PoolLaunch p) {
    using T = typename Storage::T;
    using Quad = typename Storage::Quad;
    using Pair = typename Storage::Pair;
    T const* __restrict__ x = static_cast<T const*>(p.x);
    Pair* __restrict__ y = static_cast<Pair*>(p.y);
    const Index in_h = static_cast<Index>(p.in.h), in_w = static_cast<Index>(p.in.w);
    const Index out_h = static_cast<Index>(p.out.h), half_w = static_cast<Index>(p.out.w) / 2;
    const Index channels = static_cast<Index>(p.in.c);
    const Index total = static_cast<Index>(p.out.n) * channels * out_h * half_w;
    float const* weights_base = p.inline_count > 0 ? p.inline_weights : p.device_weights;
    const Index weight_stride = static_cast<Index>(p.channel_weight_stride);

    for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
         i += static_cast<Index>(gridDim.x) * blockDim.x) {
        const Index j = i % half_w;  // output columns 2j, 2j + 1
        const Index t = i / half_w;
        const Index oh = t % out_h;
        const Index nc = t / out_h;
        float const* w = weights_base + (nc % channels) * weight_stride;
        T const* plane = x + nc * in_h * in_w;
        const int64_t h0 = static_cast<int64_t>(oh) * 2 - p.geometry.pad_top;
        float rows[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            const int64_t h = h0 + r;
            if (h >= 0 && h < static_cast<int64_t>(in_h))
                Storage::split4(*reinterpret_cast<Quad const*>(plane + static_cast<Index>(h) * in_w + 4 * j), rows[r]);
        }
        float out[2];
        if (h0 >= 0 && h0 + 1 < static_cast<int64_t>(in_h)) {
#pragma unroll
            for (int q = 0; q < 2; ++q) {
                float window[4] = {rows[0][2 * q], rows[0][2 * q + 1], rows[1][2 * q], rows[1][2 * q + 1]};
                out[q] = weighted_top_k_fixed<4, K>(window, w);
            }
        } else {
#pragma unroll
            for (int q = 0; q < 2; ++q) {
                const int64_t w0 = 4 * static_cast<int64_t>(j) + 2 * q;
                const auto load = [&](int64_t h, int64_t wc) { return rows[h - h0][wc - w0 + 2 * q]; };
                out[q] = pool_window<4>(load, in_h, in_w, p.geometry, oh, 2 * j + q, w);
            }
        }
        y[(nc * out_h + oh) * half_w + j] = Storage::pack(out[0], out[1]);
    }
}

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // then the grid-stride loop takes over

template <typename Storage, int MaxCells, bool kPair, int K = 0>
cudaError_t launchIndexed(PoolLaunch const& p, int64_t total, bool small, cudaStream_t stream) {
    const int64_t blocks64 = (total + kThreads - 1) / kThreads;
    const unsigned blocks = static_cast<unsigned>(blocks64 < kMaxBlocks ? blocks64 : kMaxBlocks);
    if (small)
        sortedWeightedPoolKernel<Storage, MaxCells, kPair, K, uint32_t><<<blocks, kThreads, 0, stream>>>(p);
    else
        sortedWeightedPoolKernel<Storage, MaxCells, kPair, K, int64_t><<<blocks, kThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

template <typename Storage, int K>
cudaError_t launchQuad(PoolLaunch const& p, int64_t total, bool small, cudaStream_t stream) {
    const int64_t items = total / 2;
    const int64_t blocks64 = (items + kThreads - 1) / kThreads;
    const unsigned blocks = static_cast<unsigned>(blocks64 < kMaxBlocks ? blocks64 : kMaxBlocks);
    if (small)
        sortedWeightedPool2x2QuadKernel<Storage, K, uint32_t><<<blocks, kThreads, 0, stream>>>(p);
    else
        sortedWeightedPool2x2QuadKernel<Storage, K, int64_t><<<blocks, kThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

template <typename Storage>
cudaError_t launchQuad2x2(PoolLaunch const& p, int64_t total, bool small, cudaStream_t stream) {
    switch (p.geometry.pool_range) {
    case 1: return launchQuad<Storage, 1>(p, total, small, stream);
    case 2: return launchQuad<Storage, 2>(p, total, small, stream);
    case 3: return launchQuad<Storage, 3>(p, total, small, stream);
    case 4: return launchQuad<Storage, 4>(p, total, small, stream);
    default: return cudaErrorInvalidValue;  // parse_attributes guarantees 1 <= k <= 4 here
    }
}

// The 2x2 fast path with pool_range fixed at compile time.
template <typename Storage>
cudaError_t launchPair2x2(PoolLaunch const& p, int64_t total, bool small, cudaStream_t stream) {
    switch (p.geometry.pool_range) {
    case 1: return launchIndexed<Storage, 4, true, 1>(p, total, small, stream);
    case 2: return launchIndexed<Storage, 4, true, 2>(p, total, small, stream);
    case 3: return launchIndexed<Storage, 4, true, 3>(p, total, small, stream);
    case 4: return launchIndexed<Storage, 4, true, 4>(p, total, small, stream);
    default: return cudaErrorInvalidValue;  // parse_attributes guarantees 1 <= k <= 4 here
    }
}

template <typename Storage>
cudaError_t launchTyped(PoolLaunch const& p, int64_t total, bool small, cudaStream_t stream) {
    switch (selectKernelVariant(p)) {
    case KernelVariant::kQuad2x2: return launchQuad2x2<Storage>(p, total, small, stream);
    case KernelVariant::kPair2x2: return launchPair2x2<Storage>(p, total, small, stream);
    case KernelVariant::kCells4: return launchIndexed<Storage, 4, false>(p, total, small, stream);
    case KernelVariant::kCells16: return launchIndexed<Storage, 16, false>(p, total, small, stream);
    default: return launchIndexed<Storage, kMaxWindowCells, false>(p, total, false, stream);
    }
}

}  // namespace

KernelVariant selectKernelVariant(PoolLaunch const& p) {
    const PoolGeometry& g = p.geometry;
    const int64_t cells = g.kernel_h * g.kernel_w;
    if (cells <= 4) {
        const size_t es = p.type == ElementType::kFloat32 ? 4 : 2;
        const bool pair = g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 &&
                          g.pad_left == 0 && p.in.w % 2 == 0 && reinterpret_cast<uintptr_t>(p.x) % (2 * es) == 0;
        const bool quad = pair && p.out.w * 2 == p.in.w && p.out.w % 2 == 0 &&
                          reinterpret_cast<uintptr_t>(p.x) % (4 * es) == 0 &&
                          reinterpret_cast<uintptr_t>(p.y) % (2 * es) == 0;
        return quad ? KernelVariant::kQuad2x2 : pair ? KernelVariant::kPair2x2 : KernelVariant::kCells4;
    }
    return cells <= 16 ? KernelVariant::kCells16 : KernelVariant::kCells64;
}

cudaError_t launchSortedWeightedPool(PoolLaunch const& p, cudaStream_t stream) {
    const int64_t total = p.out.n * p.out.c * p.out.h * p.out.w;
    if (total <= 0) return cudaSuccess;
    if (p.inline_count <= 0 && p.device_weights == nullptr) return cudaErrorInvalidValue;
    // 32-bit indices are exact when every index (and the grid-stride step past the end) < 2^31.
    const int64_t in_elems = p.in.n * p.in.c * p.in.h * p.in.w;
    const int64_t limit = (int64_t{1} << 31) - kThreads * kMaxBlocks;
    const bool small = total < limit && in_elems < limit;
    switch (p.type) {
    case ElementType::kFloat32: return launchTyped<Float32Storage>(p, total, small, stream);
    case ElementType::kFloat16: return launchTyped<Float16Storage>(p, total, small, stream);
    case ElementType::kBFloat16: return launchTyped<BFloat16Storage>(p, total, small, stream);
    }
    return cudaErrorInvalidValue;
}

}  // namespace trt
}  // namespace sortpool
