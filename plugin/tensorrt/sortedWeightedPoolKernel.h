// sortedWeightedPoolKernel.h - launch interface of the SortedWeightedPool CUDA kernel.
//
// Free of TensorRT types so that the kernel translation unit only needs the CUDA runtime and the
// op core. The plugins (V2 and V3) fill a PoolLaunch and call launchSortedWeightedPool from
// enqueue: one kernel launch, no allocation, no synchronisation, on the caller's stream.
#pragma once

#include <cstdint>
#include <cuda_runtime_api.h>

#include "sortpool_core.h"

namespace sortpool {
namespace trt {

enum class ElementType : int32_t { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

// Weights that fit here travel by value in the kernel's parameter block (copied by the launch
// itself, so nothing has to be allocated or copied by hand and the launch stays stream-ordered).
// 64 floats = 256 bytes, well inside the 4 KB parameter limit; this covers every shared-weight
// configuration (k <= kMaxWindowCells = 64) and per-channel weights with C * k <= 64.
constexpr int kMaxInlineWeights = kMaxWindowCells;

struct PoolLaunch {
    PoolGeometry geometry;
    Shape4 in;   // N, C, H, W of X
    Shape4 out;  // N, C, H_out, W_out of Y
    ElementType type = ElementType::kFloat32;
    // Per-channel weights are read at channel * channel_weight_stride (0 for shared weights).
    int64_t channel_weight_stride = 0;
    // Exactly one of the two weight sources is used: inline_weights when inline_count > 0,
    // otherwise device_weights (a device buffer of C * k floats, filled outside enqueue).
    int32_t inline_count = 0;
    float inline_weights[kMaxInlineWeights] = {};
    float const* device_weights = nullptr;
    void const* x = nullptr;  // device pointers
    void* y = nullptr;
};

// Which kernel variant a launch uses (exposed for tests and the benchmark's report).
// The variants from kRows2x2Unroll2 on are experimental forms of kRows2x2, and
// selectKernelVariant never picks them:
//   kRows2x2Unroll2    a warp per output row, two 16-byte vectors of each window row per lane in flight
//   kRows2x2Half2Sort  the same, float16 windows sorted two at a time as half2
//   kFlat2x2           one flat list of output vectors over all rows (any row width keeps every lane
//                      busy), two per thread in flight; no clipped row
//   kFlat2x2Half2Sort  the same, float16 windows sorted as half2
// They exist to be checked and timed on a GPU (the GPU harness and its benchmark) before one of
// them replaces kRows2x2; docs/benchmarks.md has the state.
enum class KernelVariant : int32_t {
    kPair2x2 = 0, kCells4 = 1, kCells16 = 2, kCells64 = 3, kRows2x2 = 4,
    kRows2x2Unroll2 = 5, kRows2x2Half2Sort = 6, kFlat2x2 = 7, kFlat2x2Half2Sort = 8
};
KernelVariant selectKernelVariant(PoolLaunch const& p);

// Whether an experimental variant can run this launch: the row path's preconditions, plus float16
// for the half2 sort, plus pad_top = 0 and H = 2 H_out for the flat variants.
bool experimentalVariantApplies(PoolLaunch const& p, KernelVariant variant);

// Enqueues the kernel on `stream`. Returns cudaSuccess or the launch error (never synchronises).
// An empty output launches nothing.
cudaError_t launchSortedWeightedPool(PoolLaunch const& p, cudaStream_t stream);

// Whether this build compiled the experimental variants (CMake SORTPOOL_EXPERIMENTAL_KERNELS=ON,
// which tools/gpu_check.sh sets; release builds leave them out).
bool experimentalKernelsBuilt();

// Enqueues one of the experimental variants where experimentalVariantApplies; otherwise
// cudaErrorInvalidValue; cudaErrorNotSupported when the build left them out.
cudaError_t launchSortedWeightedPoolAs(PoolLaunch const& p, KernelVariant variant, cudaStream_t stream);

}  // namespace trt
}  // namespace sortpool
