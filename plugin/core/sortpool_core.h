// sortpool_core.h - the one definition of the SortedWeightedPool operator.
//
// Everything a backend needs to agree on lives here: the op's identity, attribute validation,
// the output-shape rule and the per-window math. The ONNX Runtime CPU op and the TensorRT CUDA
// kernel are thin adapters over this header. docs/operator.md is the contract; this file is its
// executable form, so change the doc first.
//
// The header compiles with a plain C++17 compiler (g++) and with nvcc. Functions marked
// SORTPOOL_HD are callable from host and device code; the validation helpers that build
// std::string messages are host-only.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define SORTPOOL_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
// Forced: left to itself, g++ calls the 9-cell network out of line, and the callers' loops over
// windows then do not vectorise (3x3 windows ran about 10 times slower).
#define SORTPOOL_HD inline __attribute__((always_inline))
#else
#define SORTPOOL_HD inline
#endif

namespace sortpool {

// ---------------------------------------------------------------------------------------------
// Identity and limits
// ---------------------------------------------------------------------------------------------
constexpr const char* kOpDomain = "sortpool";
constexpr int kOpDomainVersion = 1;
constexpr const char* kOpType = "SortedWeightedPool";  // also the TensorRT plugin name

// Largest window (kernel_h * kernel_w cells) and therefore largest pool_range. The per-window
// buffer lives in registers/stack, so it has to be bounded; 64 covers 8x8 windows.
constexpr int kMaxWindowCells = 64;
// Strides and spatial extents are bounded so that every index expression below fits in int64
// with a wide margin, whatever the batch and channel counts.
constexpr int64_t kMaxStride = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxSpatialExtent = std::numeric_limits<int32_t>::max();

// ---------------------------------------------------------------------------------------------
// Validated attributes
// ---------------------------------------------------------------------------------------------
struct PoolGeometry {
    int64_t kernel_h = 2, kernel_w = 2;
    int64_t stride_h = 2, stride_w = 2;
    int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
    int64_t ceil_mode = 0;
    int64_t pool_range = 1;  // k
};

// Attribute values exactly as a host read them (ONNX attributes, TensorRT plugin fields, ...).
// A `has_*` flag of false means "absent, use the default".
struct RawAttributes {
    bool has_kernel_shape = false;
    std::vector<int64_t> kernel_shape;
    bool has_strides = false;
    std::vector<int64_t> strides;
    bool has_pads = false;
    std::vector<int64_t> pads;
    bool has_ceil_mode = false;
    int64_t ceil_mode = 0;
    bool has_pool_range = false;
    int64_t pool_range = 0;
    bool has_weights = false;
    std::vector<float> weights;
    // Names of attributes present that the op does not support (see kUnsupportedAttributes).
    std::vector<std::string> unsupported;
};

// MaxPool attributes this op does not have. A node carrying one (say, a MaxPool node converted by
// hand) is refused instead of being computed as if the attribute were absent. Hosts that can list
// a node's attributes reject every unknown name; ONNX Runtime's kernel API cannot list them, so
// there these names are looked up one by one.
constexpr const char* kUnsupportedAttributes[] = {"dilations", "auto_pad", "storage_order"};

// Everything a kernel needs: geometry plus the weights (k shared, or C*k per channel).
struct PoolConfig {
    PoolGeometry geometry;
    std::vector<float> weights;
    // Weight offset of channel c is c * channel_weight_stride(): 0 for shared weights.
    int64_t channel_weight_stride() const { return per_channel() ? geometry.pool_range : 0; }
    bool per_channel() const { return static_cast<int64_t>(weights.size()) != geometry.pool_range; }
    // Number of channels the weights were written for; 0 for shared weights.
    int64_t weight_channels() const {
        return per_channel() ? static_cast<int64_t>(weights.size()) / geometry.pool_range : 0;
    }
};

namespace detail {
inline std::string list_to_string(const std::vector<int64_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "]";
}
inline std::string attr_error(const char* name, const std::string& value, const std::string& why) {
    return std::string(kOpType) + ": attribute '" + name + "' = " + value + " is invalid: " + why;
}
}  // namespace detail

// Checks the attributes against the contract and fills `out`. Returns "" on success, otherwise a
// message that names the attribute, its value and the rule it breaks.
inline std::string parse_attributes(const RawAttributes& raw, PoolConfig* out) {
    using detail::attr_error;
    using detail::list_to_string;
    PoolConfig cfg;
    PoolGeometry& g = cfg.geometry;

    if (!raw.unsupported.empty())
        return std::string(kOpType) + ": attribute '" + raw.unsupported.front() +
               "' is not supported by this op (docs/operator.md: no dilations, auto_pad or storage_order)";

    if (raw.has_kernel_shape) {
        const auto& ks = raw.kernel_shape;
        if (ks.size() != 2)
            return attr_error("kernel_shape", list_to_string(ks), "expected 2 values [kernel_h, kernel_w]");
        if (ks[0] < 1 || ks[1] < 1)
            return attr_error("kernel_shape", list_to_string(ks), "each kernel dimension must be >= 1");
        if (ks[0] > kMaxWindowCells || ks[1] > kMaxWindowCells || ks[0] * ks[1] > kMaxWindowCells)
            return attr_error("kernel_shape", list_to_string(ks),
                              "the window may hold at most " + std::to_string(kMaxWindowCells) +
                                  " cells (kernel_h * kernel_w)");
        g.kernel_h = ks[0];
        g.kernel_w = ks[1];
    }

    g.stride_h = g.kernel_h;  // default stride = kernel_shape
    g.stride_w = g.kernel_w;
    if (raw.has_strides) {
        const auto& st = raw.strides;
        if (st.size() != 2) return attr_error("strides", list_to_string(st), "expected 2 values [stride_h, stride_w]");
        if (st[0] < 1 || st[1] < 1 || st[0] > kMaxStride || st[1] > kMaxStride)
            return attr_error("strides", list_to_string(st),
                              "each stride must be in [1, " + std::to_string(kMaxStride) + "]");
        g.stride_h = st[0];
        g.stride_w = st[1];
    }

    if (raw.has_pads) {
        const auto& p = raw.pads;
        if (p.size() != 4)
            return attr_error("pads", list_to_string(p), "expected 4 values [top, left, bottom, right]");
        for (int i = 0; i < 4; ++i) {
            const int64_t kernel = (i % 2 == 0) ? g.kernel_h : g.kernel_w;
            if (p[i] < 0 || p[i] >= kernel)
                return attr_error("pads", list_to_string(p),
                                  "each pad must satisfy 0 <= pad < kernel size along its axis (" +
                                      std::string(i % 2 == 0 ? "kernel_h = " : "kernel_w = ") +
                                      std::to_string(kernel) + ")");
        }
        g.pad_top = p[0];
        g.pad_left = p[1];
        g.pad_bottom = p[2];
        g.pad_right = p[3];
    }

    if (raw.has_ceil_mode) {
        if (raw.ceil_mode != 0 && raw.ceil_mode != 1)
            return attr_error("ceil_mode", std::to_string(raw.ceil_mode), "must be 0 or 1");
        g.ceil_mode = raw.ceil_mode;
    }

    const int64_t cells = g.kernel_h * g.kernel_w;
    if (!raw.has_pool_range)
        return attr_error("pool_range", "(missing)", "the attribute is required (1 <= pool_range <= window cells)");
    if (raw.pool_range < 1 || raw.pool_range > cells)
        return attr_error("pool_range", std::to_string(raw.pool_range),
                          "must satisfy 1 <= pool_range <= kernel_h * kernel_w = " + std::to_string(cells));
    g.pool_range = raw.pool_range;

    if (!raw.has_weights)
        return attr_error("weights", "(missing)", "the attribute is required (pool_range or C * pool_range floats)");
    const auto n = static_cast<int64_t>(raw.weights.size());
    if (n == 0 || n % g.pool_range != 0)
        return attr_error("weights", std::to_string(n) + " values",
                          "expected pool_range = " + std::to_string(g.pool_range) +
                              " shared values or C * pool_range per-channel values");
    for (int64_t i = 0; i < n; ++i) {
        const float w = raw.weights[static_cast<size_t>(i)];
        if (!(w - w == 0.0f))  // false for NaN and +-inf
            return attr_error("weights", "weights[" + std::to_string(i) + "] = " + std::to_string(w),
                              "weights must be finite");
    }
    cfg.weights = raw.weights;
    *out = cfg;
    return "";
}

// ---------------------------------------------------------------------------------------------
// Shape rule (ONNX MaxPool's formula)
// ---------------------------------------------------------------------------------------------
// Output extent along one axis; may be <= 0 when the padded input is smaller than the window,
// which callers must report as an error.
SORTPOOL_HD int64_t pooled_extent(int64_t in, int64_t kernel, int64_t stride, int64_t pad_head,
                                  int64_t pad_tail, int64_t ceil_mode) {
    const int64_t span = in + pad_head + pad_tail - kernel;
    if (span < 0) return 0;
    int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    // In ceil mode the last window must still start inside the input or the head padding.
    if (ceil_mode && (out - 1) * stride >= in + pad_head) --out;
    return out;
}

// The output indices [begin, end) along one axis whose windows lie wholly inside the input
// (o * stride - pad_head >= 0 and o * stride - pad_head + kernel <= in), for fast paths that read
// without clipping. An input shorter than the window past the head padding has none; the check
// comes before the division because C++ division of a negative span rounds towards zero.
struct IndexRange {
    int64_t begin = 0, end = 0;
};

SORTPOOL_HD IndexRange unclipped_windows(int64_t in, int64_t kernel, int64_t stride, int64_t pad_head,
                                         int64_t out) {
    IndexRange r;
    r.begin = (pad_head + stride - 1) / stride;
    if (r.begin > out) r.begin = out;
    const int64_t last_start = in - kernel + pad_head;  // largest o * stride that fits
    r.end = last_start < 0 ? r.begin : last_start / stride + 1;
    if (r.end > out) r.end = out;
    if (r.end < r.begin) r.end = r.begin;
    return r;
}

struct Shape4 {
    int64_t n = 0, c = 0, h = 0, w = 0;
};

constexpr int64_t kUnknownDim = -1;

// Checks an input shape against a config and computes the output shape. Returns "" on success.
// A negative input dimension means "not known yet" (symbolic, at graph-build time): the checks
// that need it are skipped and the output dimension it decides is kUnknownDim.
// Allocates nothing when the shape is fine (the TensorRT plugin calls it in enqueue); messages
// are built only on error.
inline std::string infer_output_shape(const PoolConfig& cfg, const int64_t* in_dims, size_t rank, Shape4* out) {
    const PoolGeometry& g = cfg.geometry;
    const auto dims_text = [&] { return detail::list_to_string(std::vector<int64_t>(in_dims, in_dims + rank)); };
    if (rank != 4)
        return std::string(kOpType) + ": input X must have rank 4 (N, C, H, W), got rank " + std::to_string(rank) +
               " " + dims_text();
    const auto known = [](int64_t d) { return d >= 0; };
    const Shape4 x{in_dims[0], in_dims[1], in_dims[2], in_dims[3]};
    if (x.h > kMaxSpatialExtent || x.w > kMaxSpatialExtent)
        return std::string(kOpType) + ": input X spatial size " + dims_text() + " exceeds the supported maximum " +
               std::to_string(kMaxSpatialExtent);
    if (cfg.per_channel() && known(x.c) && x.c != cfg.weight_channels())
        return std::string(kOpType) + ": per-channel weights were given for " + std::to_string(cfg.weight_channels()) +
               " channels (" + std::to_string(cfg.weights.size()) + " values / pool_range " +
               std::to_string(g.pool_range) + ") but input X has C = " + std::to_string(x.c);
    Shape4 y{known(x.n) ? x.n : kUnknownDim, known(x.c) ? x.c : kUnknownDim, kUnknownDim, kUnknownDim};
    // An empty spatial extent has no window and gives an empty output; otherwise a padded input
    // smaller than the window is an error, as in MaxPool.
    const int64_t extents[2][5] = {{x.h, g.kernel_h, g.stride_h, g.pad_top, g.pad_bottom},
                                   {x.w, g.kernel_w, g.stride_w, g.pad_left, g.pad_right}};
    int64_t* outs[2] = {&y.h, &y.w};
    for (int axis = 0; axis < 2; ++axis) {
        const int64_t* e = extents[axis];
        if (!known(e[0])) continue;
        if (e[0] == 0) {
            *outs[axis] = 0;
            continue;
        }
        *outs[axis] = pooled_extent(e[0], e[1], e[2], e[3], e[4], g.ceil_mode);
        if (*outs[axis] <= 0)
            return std::string(kOpType) + ": input X " + dims_text() + " is smaller than the window along " +
                   (axis == 0 ? "H" : "W") + ": padded size " + std::to_string(e[0] + e[3] + e[4]) + " < kernel " +
                   std::to_string(e[1]);
    }
    *out = y;
    return "";
}

inline std::string infer_output_shape(const PoolConfig& cfg, const std::vector<int64_t>& in_dims, Shape4* out) {
    return infer_output_shape(cfg, in_dims.data(), in_dims.size(), out);
}

// ---------------------------------------------------------------------------------------------
// Per-window math
// ---------------------------------------------------------------------------------------------
SORTPOOL_HD float quiet_nan() {
#if defined(__CUDA_ARCH__)
    return __int_as_float(0x7fc00000);
#else
    return std::numeric_limits<float>::quiet_NaN();
#endif
}

// w * v + acc with one rounding per operation on every host: no fused multiply-add, so the CPU
// op and the CUDA kernel produce bit-identical results (nvcc would otherwise contract to FMA).
SORTPOOL_HD float mul_add_unfused(float w, float v, float acc) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(__fmul_rn(w, v), acc);
#else
    return w * v + acc;  // built with -ffp-contract=off
#endif
}
// float64 (the PyTorch layer's float64 training path): the same rule.
SORTPOOL_HD double mul_add_unfused(double w, double v, double acc) {
#if defined(__CUDA_ARCH__)
    return __dadd_rn(__dmul_rn(w, v), acc);
#else
    return w * v + acc;
#endif
}

// Sorts the first k of vals[0..n) into descending order in place (partial selection sort: k and n
// are at most kMaxWindowCells and usually 4) and returns sum_i weights[i] * vals[i] over the
// min(n, k) ranks that exist. vals must hold no NaN (callers check). T: float, or double.
template <typename T>
SORTPOOL_HD T weighted_top_k(T* vals, int n, int k, const T* weights) {
    const int ranks = n < k ? n : k;
    T acc = T(0);
    for (int i = 0; i < ranks; ++i) {
        int best = i;
        for (int j = i + 1; j < n; ++j)
            if (vals[j] > vals[best]) best = j;
        const T top = vals[best];
        vals[best] = vals[i];
        vals[i] = top;
        acc = mul_add_unfused(weights[i], top, acc);
    }
    return acc;
}

namespace detail {
// Compile-time unrolled pieces (fold expressions rather than loops, so every compiler emits
// straight-line code: a CPU compiler then vectorises the caller's loop over windows).
// The compare-exchange of weighted_top_k_fixed: hi >= lo afterwards (NaN-free inputs; NaN is
// checked separately).
struct ExchangeDescending {
    template <typename T>
    SORTPOOL_HD void operator()(T& hi, T& lo) const {
        const T a = hi, b = lo;
        hi = a > b ? a : b;
        lo = a > b ? b : a;
    }
};
template <int I, int N, typename T, typename Exchange>
SORTPOOL_HD void compare_exchange_desc(T (&v)[N], const Exchange& exchange) {
    if constexpr (I + 1 < N) exchange(v[I], v[I + 1]);
}
template <int Start, int N, typename T, typename Exchange, int... Js>
SORTPOOL_HD void odd_even_pass(T (&v)[N], const Exchange& exchange, std::integer_sequence<int, Js...>) {
    (compare_exchange_desc<Start + 2 * Js, N>(v, exchange), ...);
}
template <int N, typename T, typename Exchange, int... Passes>
SORTPOOL_HD void odd_even_sort_desc(T (&v)[N], const Exchange& exchange, std::integer_sequence<int, Passes...>) {
    (odd_even_pass<(Passes & 1), N>(v, exchange, std::make_integer_sequence<int, N / 2>{}), ...);
}
template <typename T, int N, int... Is>
SORTPOOL_HD bool any_nan(const T (&v)[N], std::integer_sequence<int, Is...>) {
    return ((v[Is] != v[Is]) | ...);
}
template <typename T, int N, int... Is>
SORTPOOL_HD T weighted_sum_in_rank_order(const T (&v)[N], const T* w, std::integer_sequence<int, Is...>) {
    T acc = T(0);
    ((acc = mul_add_unfused(w[Is], v[Is], acc)), ...);
    return acc;
}
}  // namespace detail

// The sorting network of weighted_top_k_fixed (odd-even transposition, N passes), with the
// caller's compare-exchange exchange(hi, lo): the CUDA kernel also runs it on pairs of float16
// windows held in half2 registers.
template <int N, typename T, typename Exchange>
SORTPOOL_HD void sort_descending_network(T (&v)[N], const Exchange& exchange) {
    detail::odd_even_sort_desc(v, exchange, std::make_integer_sequence<int, N>{});
}

// The same math for a window whose size is known at compile time and whose cells all lie inside
// the input (no clipping): an odd-even transposition sorting network without branches, so a CPU
// loop over output columns vectorises and GPU threads do not diverge. vals holds the N = KH*KW
// cells; K ranks are kept. Gives the value weighted_top_k gives (equal values are
// interchangeable), with the same rounding order.
template <int N, int K, typename T>
SORTPOOL_HD T weighted_top_k_fixed(T (&vals)[N], const T* weights) {
    static_assert(K >= 1 && K <= N, "pool_range must be in [1, window cells]");
    const bool saw_nan = detail::any_nan(vals, std::make_integer_sequence<int, N>{});
    sort_descending_network(vals, detail::ExchangeDescending{});
    const T acc = detail::weighted_sum_in_rank_order(vals, weights, std::make_integer_sequence<int, K>{});
    return saw_nan ? T(quiet_nan()) : acc;
}

// One output value: the window of output cell (oh, ow) over one (n, c) plane.
//   load(h, w) -> T (float, or double) reads the input plane at in-range coordinates only.
//   weights points at the k weights for this channel.
// Padded cells are not values; a NaN anywhere in the window makes the result NaN.
template <int MaxCells, typename LoadFn, typename T = std::decay_t<decltype(std::declval<LoadFn>()(int64_t{}, int64_t{}))>>
SORTPOOL_HD T pool_window(const LoadFn& load, int64_t in_h, int64_t in_w, const PoolGeometry& g,
                          int64_t oh, int64_t ow, const T* weights) {
    const int64_t h0 = oh * g.stride_h - g.pad_top;
    const int64_t w0 = ow * g.stride_w - g.pad_left;
    const int64_t h_begin = h0 < 0 ? 0 : h0;
    const int64_t w_begin = w0 < 0 ? 0 : w0;
    const int64_t h_end = (h0 + g.kernel_h) < in_h ? (h0 + g.kernel_h) : in_h;
    const int64_t w_end = (w0 + g.kernel_w) < in_w ? (w0 + g.kernel_w) : in_w;
    T vals[MaxCells];
    int n = 0;
    bool saw_nan = false;
    for (int64_t h = h_begin; h < h_end; ++h) {
        for (int64_t w = w_begin; w < w_end; ++w) {
            const T v = load(h, w);
            saw_nan |= (v != v);
            vals[n++] = v;
        }
    }
    if (saw_nan) return T(quiet_nan());
    return weighted_top_k(vals, n, static_cast<int>(g.pool_range), weights);
}

// ---------------------------------------------------------------------------------------------
// Storage conversions shared by the hosts (IEEE binary16 and bfloat16 as raw bits)
// ---------------------------------------------------------------------------------------------
SORTPOOL_HD float bits_to_float(uint32_t bits) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(bits);
#else
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
#endif
}

SORTPOOL_HD uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    return bits;
#endif
}

SORTPOOL_HD float half_bits_to_float(uint16_t h) {
#if defined(__CUDA_ARCH__)
    return __half2float(__ushort_as_half(h));  // the hardware conversion: exact, as below
#endif
    // Branch-free, so loops over half data vectorise: move exponent and mantissa into float
    // position and rescale by 2^112 (exact for normal and subnormal halves alike); the all-ones
    // exponent (inf / NaN) is restored separately.
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t magnitude = h & 0x7fffu;
    const float scaled = bits_to_float(magnitude << 13) * 5.192296858534828e+33f;  // 2^112
    const uint32_t inf_nan = magnitude >= 0x7c00u ? 0x7f800000u : 0u;
    return bits_to_float(float_to_bits(scaled) | inf_nan | sign);
}

// Round to nearest, ties to even; overflow gives inf, NaN stays NaN.
SORTPOOL_HD uint16_t float_to_half_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __half_as_ushort(__float2half_rn(f));  // the hardware's round-to-nearest-even, as below
#endif
    // Branch-free (all three cases computed, one selected), so loops over half data vectorise.
    const uint32_t x = float_to_bits(f);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7fffffffu;
    // |f| >= 2^16 (and inf / NaN): inf, or a quiet NaN.
    const uint32_t big = abs > 0x7f800000u ? 0x7e00u : 0x7c00u;
    // |f| < 2^-14 (half subnormals and zero): adding 0.5 lines the half's mantissa up with the
    // float's low bits, and the FPU's own round-to-nearest-even does the rounding.
    const uint32_t tiny = float_to_bits(bits_to_float(abs) + 0.5f) - 0x3f000000u;
    // Normal halves: rebias the exponent, round to nearest even on the 13 dropped bits (a carry
    // out of the mantissa correctly bumps the exponent, up to inf).
    const uint32_t odd = (abs >> 13) & 1u;
    const uint32_t normal = (abs + 0xc8000fffu + odd) >> 13;  // 0xc8000fff = (15 - 127) << 23 + 0xfff
    const uint32_t magnitude = abs >= 0x47800000u ? big : abs < 0x38800000u ? tiny : normal;
    return static_cast<uint16_t>(magnitude | sign);
}

SORTPOOL_HD float bfloat16_bits_to_float(uint16_t b) { return bits_to_float(static_cast<uint32_t>(b) << 16); }

// Round to nearest, ties to even; NaN stays NaN.

SORTPOOL_HD uint16_t float_to_bfloat16_bits(float f) {
#if defined(__CUDA_ARCH__)
    return __bfloat16_as_ushort(__float2bfloat16_rn(f));
#endif
    const uint32_t x = float_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
    const uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
    return static_cast<uint16_t>((x + rounding) >> 16);
}

}  // namespace sortpool
