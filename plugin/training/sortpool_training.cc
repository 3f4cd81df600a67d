// The CPU kernels of the PyTorch layer's training path (sortpool_training.h).
#include "sortpool_training.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "sortpool_core.h"

namespace {

using sortpool::kMaxWindowCells;

thread_local std::string last_error;

#include "sortpool_cpu_rows.inc"

// x's storage type and the type the math runs in (the contract's: float, or double for double).
using Float32 = PlainElement<float>;
using Float64 = PlainElement<double>;
struct Float16 {
    using Storage = uint16_t;
    using Value = float;
    static Value load(Storage v) { return sortpool::half_bits_to_float(v); }
    static Storage store(Value v) { return sortpool::float_to_half_bits(v); }
};
struct BFloat16 {
    using Storage = uint16_t;
    using Value = float;
    static Value load(Storage v) { return sortpool::bfloat16_bits_to_float(v); }
    static Storage store(Value v) { return sortpool::float_to_bfloat16_bits(v); }
};

// Splits [0, count) into up to `threads` contiguous parts and runs fn(begin, end) on each, the
// last part on the calling thread. A thread costs tens of microseconds to start, so each part
// gets at least kCellsPerThread window cells of work (unit_cells per unit of count).
constexpr int64_t kCellsPerThread = 1 << 16;
template <typename Fn>
void parallel_for(int64_t count, int64_t unit_cells, int threads, const Fn& fn) {
    const int64_t worth = std::max<int64_t>(1, count * unit_cells / kCellsPerThread);
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>({static_cast<int64_t>(threads), count, worth}));
    const int64_t chunk = (count + parts - 1) / parts;
    std::vector<std::thread> workers;
    workers.reserve(static_cast<size_t>(parts - 1));
    for (int64_t part = 0; part + 1 < parts; ++part)
        workers.emplace_back(fn, part * chunk, std::min(count, (part + 1) * chunk));
    fn((parts - 1) * chunk, count);
    for (auto& worker : workers) worker.join();
}

template <typename E>
struct Plane {
    const typename E::Storage* x;
    int64_t in_h, in_w;
    const typename E::Value* weights;  // this plane's channel's k weights
};

template <typename E>
Plane<E> plane_of(const SortpoolTrainingProblem& p, const void* x, const void* weights, int64_t plane) {
    return {static_cast<const typename E::Storage*>(x) + plane * p.in_h * p.in_w, p.in_h, p.in_w,
            static_cast<const typename E::Value*>(weights) + (p.per_channel_weights ? (plane % p.channels) * p.k : 0)};
}

sortpool::PoolGeometry geometry_of(const SortpoolTrainingProblem& p) {
    sortpool::PoolGeometry g;
    g.kernel_h = p.kernel_h, g.kernel_w = p.kernel_w, g.stride_h = p.stride_h, g.stride_w = p.stride_w;
    g.pad_top = p.pad_top, g.pad_left = p.pad_left, g.pool_range = p.k;
    return g;
}

// ---------------------------------------------------------------------------------------------
// Forward: the op core's per-window math, as the ONNX Runtime op runs it
// ---------------------------------------------------------------------------------------------

// Output rows [row_begin, row_end) of the planes * out_h rows.
template <typename E, int MaxCells>
void forward_rows(const SortpoolTrainingProblem& p, const void* x, const void* weights, InteriorFn<E> interior,
                  int64_t row_begin, int64_t row_end, typename E::Storage* y) {
    const sortpool::PoolGeometry g = geometry_of(p);
    const sortpool::IndexRange cols = sortpool::unclipped_windows(p.in_w, p.kernel_w, p.stride_w, p.pad_left, p.out_w);
    for (int64_t row = row_begin; row < row_end; ++row) {
        const int64_t plane = row / p.out_h, oh = row % p.out_h;
        const Plane<E> pl = plane_of<E>(p, x, weights, plane);
        const auto input_row = [&pl](int64_t h) { return pl.x + h * pl.in_w; };
        pool_row<E, MaxCells>(input_row, p.in_h, p.in_w, p.out_w, g, pl.weights, interior, cols, oh, y + row * p.out_w);
    }
}

template <typename E>
void forward(const SortpoolTrainingProblem& p, const void* x, const void* weights, void* y, int threads) {
    const InteriorFn<E> interior = interior_fn<E>(geometry_of(p));
    const int64_t cells = p.kernel_h * p.kernel_w;
    auto* out = static_cast<typename E::Storage*>(y);
    parallel_for(p.planes * p.out_h, p.out_w * cells, threads, [&](int64_t begin, int64_t end) {
        // The window buffer is sized for the window so that small ones stay in registers.
        if (cells <= 4)
            forward_rows<E, 4>(p, x, weights, interior, begin, end, out);
        else if (cells <= 9)
            forward_rows<E, 9>(p, x, weights, interior, begin, end, out);
        else
            forward_rows<E, kMaxWindowCells>(p, x, weights, interior, begin, end, out);
    });
}

// ---------------------------------------------------------------------------------------------
// Backward: rank each window's cells, route each kept rank's gradient to its one cell
// ---------------------------------------------------------------------------------------------

// The rank key of a value: an integer of the same order, with every NaN above +inf and -0 made
// +0 (the two are equal values), so that rank comparisons are plain integer comparisons.
inline int32_t rank_key(float v) {
    const auto bits = static_cast<int32_t>(sortpool::float_to_bits(v + 0.0f));  // -0 + 0 = +0
    const int32_t ordered = bits ^ ((bits >> 31) & INT32_MAX);
    return v != v ? INT32_MAX : ordered;
}
inline int64_t rank_key(double v) {
    const double canonical = v + 0.0;
    int64_t bits;
    std::memcpy(&bits, &canonical, sizeof bits);
    const int64_t ordered = bits ^ ((bits >> 63) & INT64_MAX);
    return v != v ? INT64_MAX : ordered;
}

// The rank of cell c among n cells in window order: the cells that rank before it, i.e. larger
// keys, and equal keys earlier in the window.
template <typename Key>
inline int rank_of(const Key* keys, int n, int c) {
    int rank = 0;
    for (int j = 0; j < c; ++j) rank += keys[j] >= keys[c];
    for (int j = c + 1; j < n; ++j) rank += keys[j] > keys[c];
    return rank;
}

// A plane's weights, padded with zeros to a window's cells, so that routing needs no branch on
// whether a rank is kept; and its weight gradients, one per rank (those past k are dropped).
template <typename Value>
struct Routing {
    Value w[kMaxWindowCells] = {};
    double gw[kMaxWindowCells] = {};
    int k = 0;
};

// One window's gradients: cell c (value vals[c], plane offset at[c]) of rank r < k gets
// g * w[r] added, and the weight gradient of rank r gets g * value (in float64); cells of higher
// rank get nothing (a select, not a multiplication by 0, which would turn an infinite g to NaN).
template <typename Value, typename Key>
inline void route_window(const Value* vals, const Key* keys, const int64_t* at, int n, Value g, Routing<Value>& rt,
                         Value* gx) {
    for (int c = 0; c < n; ++c) {
        const int rank = rank_of(keys, n, c);
        const bool kept = rank < rt.k;
        const Value to_x = g * rt.w[rank];
        const double to_w = static_cast<double>(g) * static_cast<double>(vals[c]);
        gx[at[c]] += kept ? to_x : Value(0);
        rt.gw[rank] += kept ? to_w : 0.0;
    }
}

// Any window, clipped to the plane.
template <typename E>
void backward_window(const Plane<E>& pl, int kh, int kw, int64_t h0, int64_t w0, typename E::Value g,
                     Routing<typename E::Value>& rt, typename E::Value* gx) {
    using Value = typename E::Value;
    Value vals[kMaxWindowCells];
    decltype(rank_key(Value{})) keys[kMaxWindowCells];
    int64_t at[kMaxWindowCells];
    const int64_t h_begin = std::max<int64_t>(h0, 0), h_end = std::min<int64_t>(h0 + kh, pl.in_h);
    const int64_t w_begin = std::max<int64_t>(w0, 0), w_end = std::min<int64_t>(w0 + kw, pl.in_w);
    int n = 0;
    for (int64_t h = h_begin; h < h_end; ++h) {
        for (int64_t w = w_begin; w < w_end; ++w) {
            at[n] = h * pl.in_w + w;
            vals[n] = E::load(pl.x[at[n]]);
            keys[n] = rank_key(vals[n]);
            ++n;
        }
    }
    route_window(vals, keys, at, n, g, rt, gx);
}

// Windows of a KH x KW kernel inside the plane, float values, four at a time (one per lane of
// GCC/Clang vector extensions: SSE2 is enough): the same ranks by counting and the same routing.
typedef float F4 __attribute__((vector_size(16)));
typedef int32_t I4 __attribute__((vector_size(16)));
typedef double D4 __attribute__((vector_size(32)));

inline I4 rank_keys(F4 v) {
    const I4 bits = (I4)(v + 0.0f);  // -0 + 0 = +0
    const I4 ordered = bits ^ ((bits >> 31) & INT32_MAX);
    const I4 nan = v != v;  // all ones in NaN lanes
    return (nan & INT32_MAX) | (~nan & ordered);
}

template <typename E, int KH, int KW, int SW>
void backward_inner_windows(const Plane<E>& pl, int64_t h0, int64_t stride_w, int64_t pad_left, int64_t begin,
                            int64_t end, const float* g_row, Routing<float>& rt, float* gx) {
    constexpr int N = KH * KW, L = 4;
    const int64_t sw = SW ? SW : stride_w;
    const I4 k_lanes = I4{} + rt.k;
    int64_t ow = begin;
    for (; ow + L <= end; ow += L) {
        const int64_t col0 = ow * sw - pad_left;
        F4 v[N];
        I4 key[N];
#pragma GCC unroll 16
        for (int c = 0; c < N; ++c) {
            const typename E::Storage* cell = pl.x + (h0 + c / KW) * pl.in_w + col0 + c % KW;
            v[c] = F4{E::load(cell[0]), E::load(cell[sw]), E::load(cell[2 * sw]), E::load(cell[3 * sw])};
            key[c] = rank_keys(v[c]);
        }
        const F4 g = {g_row[ow], g_row[ow + 1], g_row[ow + 2], g_row[ow + 3]};
        const D4 g_wide = __builtin_convertvector(g, D4);
#pragma GCC unroll 16
        for (int c = 0; c < N; ++c) {
            I4 rank = {};
#pragma GCC unroll 16
            for (int j = 0; j < N; ++j) {
                if (j < c) rank -= key[j] >= key[c];  // comparisons give -1 where true
                if (j > c) rank -= key[j] > key[c];
            }
            // rt.w is 0 past k and rt.gw has a slot for every rank, so the lookups need no branch;
            // the mask, not the 0 weight, drops the cells past k (an infinite g times 0 is NaN).
            const F4 coef = {rt.w[rank[0]], rt.w[rank[1]], rt.w[rank[2]], rt.w[rank[3]]};
            const I4 to_x = (I4)(g * coef) & (rank < k_lanes);
            const D4 to_w = g_wide * __builtin_convertvector(v[c], D4);
            for (int l = 0; l < L; ++l) rt.gw[rank[l]] += to_w[l];
            float* out = gx + (h0 + c / KW) * pl.in_w + col0 + c % KW;
            for (int l = 0; l < L; ++l) out[l * sw] += ((F4)to_x)[l];
        }
    }
    for (; ow < end; ++ow) backward_window<E>(pl, KH, KW, h0, ow * sw - pad_left, g_row[ow], rt, gx);
}

// Planes [plane_begin, plane_end): each plane's input gradient is zeroed and then accumulated
// window by window (windows may overlap, so a plane belongs to one thread).
template <typename E, int KH, int KW>
void backward_planes(const SortpoolTrainingProblem& p, const void* x, const void* weights,
                     const typename E::Value* grad_y, int64_t plane_begin, int64_t plane_end, typename E::Value* grad_x,
                     double* grad_weights) {
    using Value = typename E::Value;
    const int kh = static_cast<int>(p.kernel_h), kw = static_cast<int>(p.kernel_w), k = static_cast<int>(p.k);
    const sortpool::IndexRange cols = sortpool::unclipped_windows(p.in_w, p.kernel_w, p.stride_w, p.pad_left, p.out_w);
    for (int64_t plane = plane_begin; plane < plane_end; ++plane) {
        const Plane<E> pl = plane_of<E>(p, x, weights, plane);
        Value* gx = grad_x + plane * p.in_h * p.in_w;
        std::fill(gx, gx + p.in_h * p.in_w, Value(0));
        Routing<Value> rt;
        rt.k = k;
        std::copy(pl.weights, pl.weights + k, rt.w);
        const Value* g = grad_y + plane * p.out_h * p.out_w;
        for (int64_t oh = 0; oh < p.out_h; ++oh, g += p.out_w) {
            const int64_t h0 = oh * p.stride_h - p.pad_top;
            int64_t ow = 0;
            if constexpr (KH > 0 && std::is_same_v<Value, float>) {
                if (h0 >= 0 && h0 + kh <= p.in_h) {
                    for (; ow < cols.begin; ++ow) backward_window<E>(pl, kh, kw, h0, ow * p.stride_w - p.pad_left, g[ow], rt, gx);
                    if (p.stride_w == 2)
                        backward_inner_windows<E, KH, KW, 2>(pl, h0, 2, p.pad_left, ow, cols.end, g, rt, gx);
                    else
                        backward_inner_windows<E, KH, KW, 0>(pl, h0, p.stride_w, p.pad_left, ow, cols.end, g, rt, gx);
                    ow = cols.end;
                }
            }
            for (; ow < p.out_w; ++ow) backward_window<E>(pl, kh, kw, h0, ow * p.stride_w - p.pad_left, g[ow], rt, gx);
        }
        std::copy(rt.gw, rt.gw + k, grad_weights + plane * k);
    }
}

template <typename E>
void backward(const SortpoolTrainingProblem& p, const void* x, const void* weights, const void* grad_y, void* grad_x,
              double* grad_weights, int threads) {
    using Value = typename E::Value;
    using PlanesFn = void (*)(const SortpoolTrainingProblem&, const void*, const void*, const Value*, int64_t, int64_t,
                              Value*, double*);
    PlanesFn planes = &backward_planes<E, 0, 0>;
    if (p.kernel_h == 2 && p.kernel_w == 2) planes = &backward_planes<E, 2, 2>;
    if (p.kernel_h == 3 && p.kernel_w == 3) planes = &backward_planes<E, 3, 3>;
    parallel_for(p.planes, p.out_h * p.out_w * p.kernel_h * p.kernel_w + p.in_h * p.in_w, threads,
                 [&](int64_t begin, int64_t end) {
        planes(p, x, weights, static_cast<const Value*>(grad_y), begin, end, static_cast<Value*>(grad_x), grad_weights);
    });
}

// ---------------------------------------------------------------------------------------------
// The C boundary
// ---------------------------------------------------------------------------------------------

// What the kernels rely on; "" when the call is well-formed. Buffers sized by the input come
// first, then those sized by the output.
std::string check_problem(int dtype, const SortpoolTrainingProblem* p, const void* weights,
                          std::initializer_list<const void*> input_sized,
                          std::initializer_list<const void*> output_sized) {
    if (dtype < SORTPOOL_TRAINING_FLOAT32 || dtype > SORTPOOL_TRAINING_BFLOAT16)
        return "unknown dtype code " + std::to_string(dtype);
    if (p == nullptr) return "problem is null";
    constexpr int64_t kMaxExtent = sortpool::kMaxSpatialExtent;
    if (p->planes < 0 || p->in_h < 0 || p->in_w < 0 || p->in_h > kMaxExtent || p->in_w > kMaxExtent)
        return "planes and input extents must be non-negative, extents at most 2^31 - 1";
    if (p->planes > 0 && (p->channels < 1 || p->planes % p->channels != 0))
        return "channels must be positive and divide planes";
    if (p->kernel_h < 1 || p->kernel_w < 1 || p->kernel_h > kMaxWindowCells || p->kernel_w > kMaxWindowCells ||
        p->kernel_h * p->kernel_w > kMaxWindowCells)
        return "kernel must be at least 1x1 and hold at most " + std::to_string(kMaxWindowCells) + " cells";
    if (p->stride_h < 1 || p->stride_w < 1 || p->stride_h > sortpool::kMaxStride || p->stride_w > sortpool::kMaxStride)
        return "strides must be in [1, 2^31 - 1]";
    if (p->pad_top < 0 || p->pad_left < 0 || p->pad_top >= p->kernel_h || p->pad_left >= p->kernel_w)
        return "pads must be in [0, kernel)";
    if (p->out_h < 0 || p->out_w < 0 || p->out_h > kMaxExtent || p->out_w > kMaxExtent)
        return "output extents must be non-negative and at most 2^31 - 1";
    if (p->k < 1 || p->k > p->kernel_h * p->kernel_w) return "k must be in [1, kernel cells]";
    if (p->per_channel_weights != 0 && p->per_channel_weights != 1) return "per_channel_weights must be 0 or 1";
    const bool empty_in = p->planes == 0 || p->in_h == 0 || p->in_w == 0;
    const bool empty_out = p->planes == 0 || p->out_h == 0 || p->out_w == 0;
    if (weights == nullptr) return "weights is null";
    for (const void* buffer : input_sized)
        if (!empty_in && buffer == nullptr) return "a non-empty buffer is null";
    for (const void* buffer : output_sized)
        if (!empty_out && buffer == nullptr) return "a non-empty buffer is null";
    return "";
}

template <typename Fn>
int guarded(const std::string& problem, const Fn& fn) {
    try {
        if (!problem.empty()) {
            last_error = "sortpool_training: " + problem;
            return -1;
        }
        fn();
        last_error.clear();
        return 0;
    } catch (const std::exception& e) {
        last_error = std::string("sortpool_training: ") + e.what();
    } catch (...) {
        last_error = "sortpool_training: unknown exception";
    }
    return -1;
}

template <template <typename> class Run, typename... Args>
void by_dtype(int dtype, const Args&... args) {
    switch (dtype) {
        case SORTPOOL_TRAINING_FLOAT32: Run<Float32>::run(args...); break;
        case SORTPOOL_TRAINING_FLOAT64: Run<Float64>::run(args...); break;
        case SORTPOOL_TRAINING_FLOAT16: Run<Float16>::run(args...); break;
        default: Run<BFloat16>::run(args...); break;
    }
}
template <typename E>
struct Forward {
    template <typename... Args>
    static void run(const Args&... args) { forward<E>(args...); }
};
template <typename E>
struct Backward {
    template <typename... Args>
    static void run(const Args&... args) { backward<E>(args...); }
};

}  // namespace

extern "C" {

int sortpool_training_forward(int dtype, const SortpoolTrainingProblem* problem, const void* x, const void* weights,
                              void* y, int threads) {
    return guarded(check_problem(dtype, problem, weights, {x}, {y}), [&] {
        if (problem->planes == 0 || problem->out_h == 0 || problem->out_w == 0) return;
        by_dtype<Forward>(dtype, *problem, x, weights, y, threads);
    });
}

int sortpool_training_backward(int dtype, const SortpoolTrainingProblem* problem, const void* x, const void* weights,
                               const void* grad_y, void* grad_x, double* grad_weights, int threads) {
    return guarded(check_problem(dtype, problem, weights, {x, grad_x}, {grad_y}), [&] {
        if (problem->planes == 0) return;
        if (grad_weights == nullptr) throw std::invalid_argument("grad_weights is null");
        by_dtype<Backward>(dtype, *problem, x, weights, grad_y, grad_x, grad_weights, threads);
    });
}

const char* sortpool_training_last_error(void) { return last_error.c_str(); }

}  // extern "C"
