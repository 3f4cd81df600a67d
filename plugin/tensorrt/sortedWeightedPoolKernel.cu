// sortedWeightedPoolKernel.cu - the SortedWeightedPool CUDA kernel.
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
// and sortedWeightedPool2x2RowKernel, a warp per output row, for full-width 2x2 stride-2 pooling,
// with two experimental variants (kUnroll = 2: two 16-byte vectors per lane in flight; kHalf2Sort:
// float16 windows sorted two at a time in half2 registers), and the experimental
// sortedWeightedPool2x2FlatKernel (the same work as one flat list of vectors, for launches without
// a clipped row). launchSortedWeightedPoolAs runs the experimental ones until a GPU run shows them
// exact and faster (sortedWeightedPoolKernel.h). The 2x2 kernels' vector loads, unpacking and per-vector
// math are in sortedWeightedPoolRowVectors.h.
#include "sortedWeightedPoolKernel.h"
#include "sortedWeightedPoolRowVectors.h"

#include <cuda_runtime.h>

#include <type_traits>
#include <utility>

namespace sortpool {
namespace trt {
namespace {

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
                // Selects, not cells[h - h0][...]: a run-time index would put cells in local memory.
                const float c00 = cells[0][0], c01 = cells[0][1], c10 = cells[1][0], c11 = cells[1][1];
                const auto load = [=](int64_t h, int64_t wc) {
                    const bool right = wc != static_cast<int64_t>(w0);
                    return h == h0 ? (right ? c01 : c00) : (right ? c11 : c10);
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
// (W = 2 * W_out, pad_left = 0) and W_out is a multiple of the outputs one 16-byte load of each
// window row yields (2 for float32, 4 for 16-bit types). A warp works on one output row: the
// row's index arithmetic (one division) and its top/bottom clipping are warp-uniform, and the
// lanes stride along the row with 16-byte loads and one store per 2 or 4 outputs, so the loop
// body is loads, the core's branch-free weighted_top_k_fixed<4, K>, and a store. Rows clipped by
// top/bottom padding go through pool_window.
constexpr int kRowThreadsX = 32;  // lanes along a row (one warp)
constexpr int kRowThreadsY = 8;   // rows per block
// At least 4 resident blocks (32 warps) per SM: a streaming kernel needs the loads of many warps
// in flight more than it needs registers.
constexpr int kRowMinBlocks = 4;
// The staged variants hold kUnroll vectors of both rows per lane: 3 blocks (24 warps, up to 80
// registers) keep their loop free of register spills (ptxas -v: 4 blocks spill 84-108 bytes) and
// still have 1.5x the production kernel's loads in flight per SM.
constexpr int kRowMinBlocksStaged = 3;

// The outputs of one vector of a row clipped by top/bottom padding (a / b: the unpacked cells of
// the window rows, which were clamped to rows inside the input; pool_window only asks for those).
template <int kElems>
__device__ __forceinline__ void clippedOutputs(const float (&a)[kElems], const float (&b)[kElems], int64_t in_h,
                                               int64_t in_w, PoolGeometry const& g, int64_t oh, int64_t h0,
                                               int64_t v, float const* w, float (&o)[kElems / 2]) {
#pragma unroll
    for (int q = 0; q < kElems / 2; ++q) {
        const int64_t ow = v * (kElems / 2) + q;
        // Selects on compile-time indices: a run-time index into a / b would move both arrays to
        // local memory for the whole loop.
        const float a0 = a[2 * q], a1 = a[2 * q + 1], b0 = b[2 * q], b1 = b[2 * q + 1];
        const auto load = [=](int64_t h, int64_t wc) {
            const bool right = wc != 2 * ow;
            return h == h0 ? (right ? a1 : a0) : (right ? b1 : b0);
        };
        o[q] = pool_window<4>(load, in_h, in_w, g, oh, ow, w);
    }
}

// A clipped row, out of line (the staged variants only): keeps pool_window's registers out of
// their loop.
template <typename Storage>
__device__ __noinline__ void clippedRow(PoolLaunch const& p, typename Storage::Vec const* r0,
                                        typename Storage::Vec const* r1, typename Storage::Out* y_row,
                                        int64_t oh, int64_t h0, float const* w, int64_t vecs_per_row) {
    constexpr int kElems = Storage::kVecElems;
    for (int64_t v = threadIdx.x; v < vecs_per_row; v += kRowThreadsX) {
        float a[kElems], b[kElems], o[kElems / 2];
        Storage::unpack(r0[v], a);
        Storage::unpack(r1[v], b);
        clippedOutputs(a, b, p.in.h, p.in.w, p.geometry, oh, h0, v, w, o);
        y_row[v] = Storage::pack(o);
    }
}

// kUnroll = 1, kHalf2Sort = false: the production row kernel. kUnroll > 1 is the staged
// experimental form: each lane loads kUnroll vectors of both rows before computing any (more
// loads in flight per warp at the same occupancy), clipped rows go out of line; kHalf2Sort sorts
// float16 windows in pairs (twoWindowsHalf2).
template <typename Storage, int K, int kUnroll, bool kHalf2Sort>
__global__ void __launch_bounds__(kRowThreadsX* kRowThreadsY, kUnroll > 1 ? kRowMinBlocksStaged : kRowMinBlocks)
    sortedWeightedPool2x2RowKernel(__grid_constant__ const PoolLaunch p) {
    static_assert(!kHalf2Sort || (kUnroll > 1 && std::is_same<Storage, Float16Storage>::value),
                  "the half2 sort is a staged float16 variant");
    using T = typename Storage::T;
    using Vec = typename Storage::Vec;
    using Out = typename Storage::Out;
    constexpr int kElems = Storage::kVecElems;  // input elements per load = 2 * outputs per store
    constexpr int kOuts = kElems / 2;
    T const* __restrict__ x = static_cast<T const*>(p.x);
    Out* __restrict__ y = static_cast<Out*>(p.y);
    const int64_t in_h = p.in.h, in_w = p.in.w, out_h = p.out.h;
    const int64_t vecs_per_row = p.out.w / kOuts;
    const int64_t rows = p.out.n * p.out.c * out_h;
    float const* weights_base = p.inline_count > 0 ? p.inline_weights : p.device_weights;

    for (int64_t row = static_cast<int64_t>(blockIdx.x) * kRowThreadsY + threadIdx.y; row < rows;
         row += static_cast<int64_t>(gridDim.x) * kRowThreadsY) {
        const int64_t nc = row / out_h;
        const int64_t oh = row - nc * out_h;
        const int64_t h0 = oh * 2 - p.geometry.pad_top;
        float const* w = weights_base + (p.channel_weight_stride ? (nc % p.in.c) * p.channel_weight_stride : 0);
        // The row's K weights in registers: read once per row, not once per window (each read
        // would be a request to the parameter block or to memory).
        float wk[K];
#pragma unroll
        for (int i = 0; i < K; ++i) wk[i] = w[i];
        T const* plane = x + nc * in_h * in_w;
        Out* y_row = y + row * vecs_per_row;
        const bool inside = h0 >= 0 && h0 + 1 < in_h;
        Vec const* r0 = reinterpret_cast<Vec const*>(plane + (h0 >= 0 ? h0 : 0) * in_w);
        Vec const* r1 = reinterpret_cast<Vec const*>(plane + (h0 + 1 < in_h ? h0 + 1 : in_h - 1) * in_w);
        if constexpr (kUnroll > 1) {
            if (!inside) {
                clippedRow<Storage>(p, r0, r1, y_row, oh, h0, w, vecs_per_row);
                continue;
            }
        }
        for (int64_t v0 = threadIdx.x; v0 < vecs_per_row; v0 += kRowThreadsX * kUnroll) {
            // All loads of this step first (kUnroll vectors of each row per lane).
            Vec qa[kUnroll], qb[kUnroll];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int64_t v = v0 + u * kRowThreadsX;
                if (v < vecs_per_row) {
                    qa[u] = r0[v];
                    qb[u] = r1[v];
                }
            }
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                const int64_t v = v0 + u * kRowThreadsX;
                if (v >= vecs_per_row) continue;  // (not break: the loop must stay fully unrolled)
                float o[kOuts];
                if (kUnroll > 1 || inside) {
                    // The block of vectorPairOutputs, written out: calling it here gives the 16-bit
                    // production kernels another register allocation (tools/kernel_sass.py), and
                    // they stay as last run on a GPU until the next GPU check.
                    if constexpr (kHalf2Sort) {
                        twoWindowsHalf2<K>(qa[u].x, qa[u].y, qb[u].x, qb[u].y, wk, o[0], o[1]);
                        twoWindowsHalf2<K>(qa[u].z, qa[u].w, qb[u].z, qb[u].w, wk, o[2], o[3]);
                    } else {
                        float a[kElems], b[kElems];
                        Storage::unpack(qa[u], a);
                        Storage::unpack(qb[u], b);
#pragma unroll
                        for (int q = 0; q < kOuts; ++q) {
                            float window[4] = {a[2 * q], a[2 * q + 1], b[2 * q], b[2 * q + 1]};
                            o[q] = weighted_top_k_fixed<4, K>(window, wk);
                        }
                    }
                } else {
                    float a[kElems], b[kElems];
                    Storage::unpack(qa[u], a);
                    Storage::unpack(qb[u], b);
                    clippedOutputs(a, b, in_h, in_w, p.geometry, oh, h0, v, w, o);
                }
                y_row[v] = Storage::pack(o);
            }
        }
    }
}

// The flat form of the clip-free full-width 2x2 path (FlatRowPairs, sortedWeightedPoolRowVectors.h): a
// grid-stride loop over all output vectors, kUnroll per thread and step. Experimental (see
// sortedWeightedPoolKernel.h).
constexpr int kFlatThreads = 256;
constexpr int kFlatMinBlocks = 4;  // 64 registers, as the row kernel

template <typename Storage, int K, int kUnroll, bool kHalf2Sort, bool kPerChannel>
__global__ void __launch_bounds__(kFlatThreads, kFlatMinBlocks)
    sortedWeightedPool2x2FlatKernel(__grid_constant__ const PoolLaunch p, const FlatRowPairs f) {
    flatRowPairsThread<Storage, K, kUnroll, kHalf2Sort, kPerChannel>(
        static_cast<typename Storage::Vec const*>(p.x), static_cast<typename Storage::Out*>(p.y), f,
        p.inline_count > 0 ? p.inline_weights : p.device_weights, p.channel_weight_stride,
        static_cast<int64_t>(blockIdx.x) * kFlatThreads + threadIdx.x, static_cast<int64_t>(gridDim.x) * kFlatThreads);
}

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // then the grid-stride loop takes over

// Blocks for `work` items at `per_block` per block, at most kMaxBlocks.
unsigned gridBlocks(int64_t work, int64_t per_block) {
    const int64_t blocks = (work + per_block - 1) / per_block;
    return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

template <typename Storage, int MaxCells, bool kPair, int K = 0>
cudaError_t launchIndexed(PoolLaunch const& p, int64_t total, bool small, cudaStream_t stream) {
    const unsigned blocks = gridBlocks(total, kThreads);
    if (small)
        sortedWeightedPoolKernel<Storage, MaxCells, kPair, K, uint32_t><<<blocks, kThreads, 0, stream>>>(p);
    else
        sortedWeightedPoolKernel<Storage, MaxCells, kPair, K, int64_t><<<blocks, kThreads, 0, stream>>>(p);
    return cudaGetLastError();
}

template <typename Storage, int K, int kUnroll, bool kHalf2Sort>
cudaError_t launchRows(PoolLaunch const& p, cudaStream_t stream) {
    const int64_t rows = p.out.n * p.out.c * p.out.h;
    const unsigned blocks = gridBlocks(rows, kRowThreadsY);
    sortedWeightedPool2x2RowKernel<Storage, K, kUnroll, kHalf2Sort>
        <<<blocks, dim3(kRowThreadsX, kRowThreadsY), 0, stream>>>(p);
    return cudaGetLastError();
}

// The 2x2 paths fix pool_range at compile time: launch(std::integral_constant<int, K>{}) with
// K = pool_range.
template <typename Launch>
cudaError_t withPoolRange2x2(PoolLaunch const& p, Launch&& launch) {
    switch (p.geometry.pool_range) {
    case 1: return launch(std::integral_constant<int, 1>{});
    case 2: return launch(std::integral_constant<int, 2>{});
    case 3: return launch(std::integral_constant<int, 3>{});
    case 4: return launch(std::integral_constant<int, 4>{});
    default: return cudaErrorInvalidValue;  // parse_attributes guarantees 1 <= k <= 4 here
    }
}

template <typename Storage, int kUnroll = 1, bool kHalf2Sort = false>
cudaError_t launchRows2x2(PoolLaunch const& p, cudaStream_t stream) {
    return withPoolRange2x2(
        p, [&](auto k) { return launchRows<Storage, decltype(k)::value, kUnroll, kHalf2Sort>(p, stream); });
}

template <typename Storage, int K, bool kHalf2Sort>
cudaError_t launchFlat(PoolLaunch const& p, cudaStream_t stream) {
    constexpr int kUnroll = 2;
    const FlatRowPairs f = FlatRowPairs::forOutput(p.out, Storage::kVecElems / 2);
    const unsigned blocks = gridBlocks(f.vectors, int64_t{kFlatThreads} * kUnroll);
    if (p.channel_weight_stride != 0)
        sortedWeightedPool2x2FlatKernel<Storage, K, kUnroll, kHalf2Sort, true><<<blocks, kFlatThreads, 0, stream>>>(p, f);
    else
        sortedWeightedPool2x2FlatKernel<Storage, K, kUnroll, kHalf2Sort, false><<<blocks, kFlatThreads, 0, stream>>>(p, f);
    return cudaGetLastError();
}

template <typename Storage, bool kHalf2Sort = false>
cudaError_t launchFlat2x2(PoolLaunch const& p, cudaStream_t stream) {
    return withPoolRange2x2(p, [&](auto k) { return launchFlat<Storage, decltype(k)::value, kHalf2Sort>(p, stream); });
}

// The 2x2 fast path with pool_range fixed at compile time.
template <typename Storage>
cudaError_t launchPair2x2(PoolLaunch const& p, int64_t total, bool small, cudaStream_t stream) {
    return withPoolRange2x2(
        p, [&](auto k) { return launchIndexed<Storage, 4, true, decltype(k)::value>(p, total, small, stream); });
}

template <typename Storage>
cudaError_t launchTyped(PoolLaunch const& p, int64_t total, bool small, cudaStream_t stream) {
    switch (selectKernelVariant(p)) {
    case KernelVariant::kRows2x2: return launchRows2x2<Storage>(p, stream);
    case KernelVariant::kPair2x2: return launchPair2x2<Storage>(p, total, small, stream);
    case KernelVariant::kCells4: return launchIndexed<Storage, 4, false>(p, total, small, stream);
    case KernelVariant::kCells16: return launchIndexed<Storage, 16, false>(p, total, small, stream);
    default: return launchIndexed<Storage, kMaxWindowCells, false>(p, total, false, stream);
    }
}

#if SORTPOOL_EXPERIMENTAL_KERNELS
// The experimental variants, for one storage type.
template <typename Storage>
cudaError_t launchExperimental(PoolLaunch const& p, KernelVariant v, cudaStream_t stream) {
    if (v == KernelVariant::kRows2x2Unroll2) return launchRows2x2<Storage, 2, false>(p, stream);
    if (v == KernelVariant::kFlat2x2) return launchFlat2x2<Storage>(p, stream);
    if constexpr (std::is_same<Storage, Float16Storage>::value) {
        if (v == KernelVariant::kRows2x2Half2Sort) return launchRows2x2<Storage, 2, true>(p, stream);
        if (v == KernelVariant::kFlat2x2Half2Sort) return launchFlat2x2<Storage, true>(p, stream);
    }
    return cudaErrorInvalidValue;
}
#endif  // SORTPOOL_EXPERIMENTAL_KERNELS

}  // namespace

KernelVariant selectKernelVariant(PoolLaunch const& p) {
    const PoolGeometry& g = p.geometry;
    const int64_t cells = g.kernel_h * g.kernel_w;
    if (cells <= 4) {
        const size_t es = p.type == ElementType::kFloat32 ? 4 : 2;
        const bool pair = g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 &&
                          g.pad_left == 0 && p.in.w % 2 == 0 && reinterpret_cast<uintptr_t>(p.x) % (2 * es) == 0;
        const int64_t outs_per_store = p.type == ElementType::kFloat32 ? 2 : 4;  // 16-byte loads
        const bool rows = pair && p.out.w * 2 == p.in.w && p.out.w % outs_per_store == 0 &&
                          reinterpret_cast<uintptr_t>(p.x) % 16 == 0 &&
                          reinterpret_cast<uintptr_t>(p.y) % (outs_per_store * es) == 0;
        return rows ? KernelVariant::kRows2x2 : pair ? KernelVariant::kPair2x2 : KernelVariant::kCells4;
    }
    return cells <= 16 ? KernelVariant::kCells16 : KernelVariant::kCells64;
}

bool experimentalVariantApplies(PoolLaunch const& p, KernelVariant variant) {
    // The row path's preconditions (full-width 2x2 stride 2, alignment) are what selects it.
    if (selectKernelVariant(p) != KernelVariant::kRows2x2) return false;
    const bool half = p.type == ElementType::kFloat16;
    const bool clipFree = p.geometry.pad_top == 0 && p.in.h == 2 * p.out.h;
    switch (variant) {
    case KernelVariant::kRows2x2Unroll2: return true;
    case KernelVariant::kRows2x2Half2Sort: return half;
    case KernelVariant::kFlat2x2: return clipFree;
    case KernelVariant::kFlat2x2Half2Sort: return clipFree && half;
    default: return false;
    }
}

bool experimentalKernelsBuilt() {
#if SORTPOOL_EXPERIMENTAL_KERNELS
    return true;
#else
    return false;
#endif
}

cudaError_t launchSortedWeightedPoolAs(PoolLaunch const& p, KernelVariant variant, cudaStream_t stream) {
#if SORTPOOL_EXPERIMENTAL_KERNELS
    const int64_t total = p.out.n * p.out.c * p.out.h * p.out.w;
    if (!experimentalVariantApplies(p, variant)) return cudaErrorInvalidValue;
    if (total <= 0) return cudaSuccess;
    if (p.inline_count <= 0 && p.device_weights == nullptr) return cudaErrorInvalidValue;
    switch (p.type) {
    case ElementType::kFloat32: return launchExperimental<Float32Storage>(p, variant, stream);
    case ElementType::kFloat16: return launchExperimental<Float16Storage>(p, variant, stream);
    case ElementType::kBFloat16: return launchExperimental<BFloat16Storage>(p, variant, stream);
    }
    return cudaErrorInvalidValue;
#else
    (void)p;
    (void)variant;
    (void)stream;
    return cudaErrorNotSupported;
#endif
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
