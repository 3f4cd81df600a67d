// ONNX Runtime CPU custom-op library for sortpool::SortedWeightedPool.
//
// A thin adapter over plugin/core/sortpool_core.h: attributes are read here and validated by the
// core (at graph resolution through the shape-inference function, and again when the kernel is
// created); the per-window math is the core's. The work runs on the session's intra-op thread
// pool through KernelContext::ParallelFor, so the session's thread settings apply.
//
// Load with SessionOptions.register_custom_ops_library(path) (Python) or
// Ort::SessionOptions::RegisterCustomOpsLibrary (C++).
#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>
#undef ORT_API_MANUAL_INIT
#include <onnxruntime_lite_custom_op.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>  // _mm_getcsr / _mm_setcsr
#endif

#include "sortpool_core.h"
#include "sortpool_ort_attributes.h"

#if defined(_WIN32)
#define SORTPOOL_ORT_EXPORT __declspec(dllexport)
#else
#define SORTPOOL_ORT_EXPORT __attribute__((visibility("default")))
#endif

namespace sortpool::ort {
namespace {

// The oldest OrtApi this library calls into: KernelContext_ParallelFor and the
// ShapeInferContext_* functions arrived with API version 17 (ONNX Runtime 1.17). Asking for no
// newer version keeps the library loadable by every runtime that has what it uses.
constexpr uint32_t kMinOrtApiVersion = 17;

template <typename T>
struct Element;
template <>
struct Element<float> {
    static float load(float v) { return v; }
    static float store(float v) { return v; }
};
template <>
struct Element<Ort::Float16_t> {
    static float load(Ort::Float16_t v) { return half_bits_to_float(v.val); }
    static Ort::Float16_t store(float v) { return Ort::Float16_t::FromBits(float_to_half_bits(v)); }
};

// A row's interior columns for a window size fixed at compile time (pool_interior_columns).
template <typename T>
using InteriorFn = void (*)(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, const float*, T*);

// Work shared by the thread-pool tasks of one Compute call.
template <typename T>
struct PoolJob {
    const T* x = nullptr;
    T* y = nullptr;
    Shape4 in, out;
    const PoolConfig* cfg = nullptr;
    int64_t rows_per_task = 1;  // output rows handled by one task
    int64_t tasks_per_plane = 1;
    InteriorFn<T> interior = nullptr;
};

template <int KW, typename T, int N, int... Is>
inline void gather_window(float (&v)[N], const T* const* rows, int64_t col, std::integer_sequence<int, Is...>) {
    ((v[Is] = Element<T>::load(rows[Is / KW][col + Is % KW])), ...);
}

// Output columns [begin, end) of one row whose windows lie wholly inside the input, for a window
// size known at compile time (SW = 0: stride read at run time). The loop body is branch-free, so
// the compiler vectorises it across columns.
template <int KH, int KW, int K, int SW, typename T>
void pool_interior_columns(const T* x, int64_t in_w, int64_t h0, int64_t stride_w_runtime, int64_t pad_left,
                           int64_t begin, int64_t end, const float* weights, T* y_row) {
    const int64_t sw = SW ? SW : stride_w_runtime;
    const T* rows[KH];
    for (int r = 0; r < KH; ++r) rows[r] = x + (h0 + r) * in_w - pad_left;
    float w[K];
    for (int i = 0; i < K; ++i) w[i] = weights[i];
    for (int64_t ow = begin; ow < end; ++ow) {
        float v[KH * KW];
        gather_window<KW>(v, rows, ow * sw, std::make_integer_sequence<int, KH * KW>{});
        y_row[ow] = Element<T>::store(weighted_top_k_fixed<KH * KW, K>(v, w));
    }
}


template <int KH, int KW, int SW, typename T, int... Ks>
InteriorFn<T> pick_k(int64_t k, std::integer_sequence<int, Ks...>) {
    InteriorFn<T> fn = nullptr;
    ((k == Ks + 1 ? (fn = &pool_interior_columns<KH, KW, Ks + 1, SW, T>, 0) : 0), ...);
    return fn;
}

// The compile-time fast path for the windows people use most (2x2 and 3x3), or nullptr.
template <typename T>
InteriorFn<T> interior_fn(const PoolGeometry& g) {
    if (g.kernel_h == 2 && g.kernel_w == 2)
        return g.stride_w == 2 ? pick_k<2, 2, 2, T>(g.pool_range, std::make_integer_sequence<int, 4>{})
                               : pick_k<2, 2, 0, T>(g.pool_range, std::make_integer_sequence<int, 4>{});
    if (g.kernel_h == 3 && g.kernel_w == 3)
        return g.stride_w == 2 ? pick_k<3, 3, 2, T>(g.pool_range, std::make_integer_sequence<int, 9>{})
                               : pick_k<3, 3, 0, T>(g.pool_range, std::make_integer_sequence<int, 9>{});
    return nullptr;
}

template <int MaxCells, typename T>
void pool_rows(const PoolJob<T>& job, int64_t plane, int64_t row_begin, int64_t row_end) {
    const PoolGeometry& g = job.cfg->geometry;
    const int64_t c = plane % job.in.c;
    const float* weights = job.cfg->weights.data() + c * job.cfg->channel_weight_stride();
    const T* x = job.x + plane * job.in.h * job.in.w;
    T* y = job.y + plane * job.out.h * job.out.w;
    const int64_t in_h = job.in.h, in_w = job.in.w, out_w = job.out.w;
    const auto load = [x, in_w](int64_t h, int64_t w) { return Element<T>::load(x[h * in_w + w]); };
    const auto generic = [&](int64_t oh, int64_t ow) {
        y[oh * out_w + ow] = Element<T>::store(pool_window<MaxCells>(load, in_h, in_w, g, oh, ow, weights));
    };
    // Columns whose windows need no clipping go to the fast path.
    const IndexRange cols = unclipped_windows(in_w, g.kernel_w, g.stride_w, g.pad_left, out_w);
    const int64_t col_begin = cols.begin, col_end = cols.end;
    const InteriorFn<T> interior = job.interior;
    for (int64_t oh = row_begin; oh < row_end; ++oh) {
        const int64_t h0 = oh * g.stride_h - g.pad_top;
        if (interior == nullptr || h0 < 0 || h0 + g.kernel_h > in_h) {
            for (int64_t ow = 0; ow < out_w; ++ow) generic(oh, ow);
            continue;
        }
        for (int64_t ow = 0; ow < col_begin; ++ow) generic(oh, ow);
        interior(x, in_w, h0, g.stride_w, g.pad_left, col_begin, col_end, weights, y + oh * out_w);
        for (int64_t ow = col_end; ow < out_w; ++ow) generic(oh, ow);
    }
}

// The contract's arithmetic is IEEE's, subnormals included, and float16 inputs are converted
// exactly. ONNX Runtime sets denormals-are-zero and flush-to-zero on its pool threads when a
// session asks for it (session.set_denormal_as_zero), which would zero float16 subnormals in the
// conversion and flush tiny float32 values, so each task runs with both off and then restores the
// thread's mode (two MXCSR accesses per task of many rows).
class IeeeSubnormalsScope {
   public:
#if defined(__SSE__) || defined(__x86_64__)
    IeeeSubnormalsScope() : saved_(_mm_getcsr()) {
        if (saved_ & kFlushBits) _mm_setcsr(saved_ & ~kFlushBits);
    }
    ~IeeeSubnormalsScope() {
        if (saved_ & kFlushBits) _mm_setcsr(saved_);
    }

   private:
    static constexpr unsigned int kFlushBits = 0x8040u;  // FTZ (bit 15) and DAZ (bit 6)
    const unsigned int saved_;
#endif
};

template <typename T>
void run_task(void* user_data, size_t task) {
    const IeeeSubnormalsScope ieee;
    const auto& job = *static_cast<const PoolJob<T>*>(user_data);
    const int64_t plane = static_cast<int64_t>(task) / job.tasks_per_plane;
    const int64_t row_begin = (static_cast<int64_t>(task) % job.tasks_per_plane) * job.rows_per_task;
    const int64_t row_end = std::min(job.out.h, row_begin + job.rows_per_task);
    // The generic window buffer is sized for the window so that small ones stay in registers.
    const int64_t cells = job.cfg->geometry.kernel_h * job.cfg->geometry.kernel_w;
    if (cells <= 4)
        pool_rows<4>(job, plane, row_begin, row_end);
    else if (cells <= 9)
        pool_rows<9>(job, plane, row_begin, row_end);
    else if (cells <= 16)
        pool_rows<16>(job, plane, row_begin, row_end);
    else
        pool_rows<kMaxWindowCells>(job, plane, row_begin, row_end);
}

PoolConfig config_or_throw(const RawAttributes& raw) {
    PoolConfig cfg;
    const std::string error = parse_attributes(raw, &cfg);
    if (!error.empty()) ORT_CXX_API_THROW(std::string(error), ORT_INVALID_ARGUMENT);
    return cfg;
}

template <typename T>
struct SortedWeightedPoolKernel {
    SortedWeightedPoolKernel(const OrtApi* api, const OrtKernelInfo* info)
        : config_(config_or_throw(read_attributes(*api, info))), interior_(interior_fn<T>(config_.geometry)) {}


    Ort::Status Compute(OrtKernelContext* context, const Ort::Custom::Tensor<T>& X, Ort::Custom::Tensor<T>& Y) {
        try {
            Shape4 out;
            const std::string error = infer_output_shape(config_, X.Shape(), &out);
            if (!error.empty()) return Ort::Status(error.c_str(), ORT_INVALID_ARGUMENT);
            T* y = Y.Allocate({out.n, out.c, out.h, out.w});
            const int64_t planes = out.n * out.c;
            if (planes == 0 || out.h == 0 || out.w == 0) return Ort::Status(nullptr);

            PoolJob<T> job;
            job.x = X.Data();
            job.y = y;
            job.in = {out.n, out.c, X.Shape()[2], X.Shape()[3]};
            job.out = out;
            job.cfg = &config_;
            job.interior = interior_;
            // Tasks of about kOutputsPerTask outputs: enough of them to balance the pool's
            // threads, few enough that scheduling stays negligible next to the work.
            constexpr int64_t kOutputsPerTask = 16384;
            const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(out.h, kOutputsPerTask / out.w));
            job.rows_per_task = rows;
            job.tasks_per_plane = (out.h + rows - 1) / rows;
            const auto total = static_cast<size_t>(planes * job.tasks_per_plane);
            Ort::KernelContext(context).ParallelFor(&run_task<T>, total, 0, &job);
            return Ort::Status(nullptr);
        } catch (const Ort::Exception& e) {
            return Ort::Status(e);
        } catch (const std::exception& e) {
            return Ort::Status((std::string(kOpType) + ": " + e.what()).c_str(), ORT_RUNTIME_EXCEPTION);
        }
    }

    PoolConfig config_;
    InteriorFn<T> interior_;  // the fixed-size fast path for this geometry, or nullptr
};

std::string fresh_symbol() {
    static std::atomic<uint64_t> counter{0};
    return std::string(kOpType) + "_dim" + std::to_string(counter++);
}

// Shape inference at graph resolution, written against the C API. Symbolic N and C pass through;
// a symbolic H or W gives a symbolic output extent. ONNX Runtime ignores the status a custom op's
// shape inference returns (it neither reports nor, in some releases, frees it), so the same
// checks run again, and are reported, at kernel creation and in Compute.
OrtStatus* ORT_API_CALL infer_output_type_shape(const OrtCustomOp*, OrtShapeInferContext* ctx) noexcept {
    const OrtApi& api = Ort::GetApi();
    const auto fail = [&api](const std::string& msg) { return api.CreateStatus(ORT_INVALID_ARGUMENT, msg.c_str()); };
    try {
        PoolConfig cfg;
        std::string error = parse_attributes(read_attributes(api, ctx), &cfg);
        if (!error.empty()) return fail(error);
        size_t inputs = 0;
        Ort::ThrowOnError(api.ShapeInferContext_GetInputCount(ctx, &inputs));
        if (inputs != 1) return fail(std::string(kOpType) + ": expected exactly 1 input X, got " + std::to_string(inputs));

        OrtTensorTypeAndShapeInfo* in_info = nullptr;  // owned by the context
        Ort::ThrowOnError(api.ShapeInferContext_GetInputTypeShape(ctx, 0, &in_info));
        ONNXTensorElementDataType type{};
        size_t rank = 0;
        Ort::ThrowOnError(api.GetTensorElementType(in_info, &type));
        Ort::ThrowOnError(api.GetDimensionsCount(in_info, &rank));
        std::vector<int64_t> dims(rank);
        std::vector<const char*> symbols(rank, nullptr);
        if (rank > 0) {
            Ort::ThrowOnError(api.GetDimensions(in_info, dims.data(), rank));
            Ort::ThrowOnError(api.GetSymbolicDimensions(in_info, symbols.data(), rank));
        }
        for (size_t i = 0; i < rank; ++i)
            if (symbols[i] != nullptr && symbols[i][0] != '\0') dims[i] = kUnknownDim;
        if (type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16)
            return fail(std::string(kOpType) + ": input X must be float or float16 (ONNX element type " +
                        std::to_string(static_cast<int>(type)) + " given)");
        Shape4 out;
        error = infer_output_shape(cfg, dims, &out);
        if (!error.empty()) return fail(error);

        // An unknown H or W gives a symbolic output extent named after the input's symbol and the
        // geometry, so equal names mean equal values across nodes; an unnamed one gets a fresh name.
        std::vector<int64_t> out_dims{out.n, out.c, out.h, out.w};
        std::vector<std::string> out_names(4);
        for (size_t i = 0; i < 4; ++i) {
            const bool input_named = symbols[i] != nullptr && symbols[i][0] != '\0';
            if (i < 2) {
                if (input_named) out_names[i] = symbols[i];
                else if (out_dims[i] < 0) out_names[i] = fresh_symbol();
                continue;
            }
            if (out_dims[i] >= 0) continue;
            const PoolGeometry& g = cfg.geometry;
            const bool h = i == 2;
            out_names[i] = input_named ? std::string(kOpType) + "_k" + std::to_string(h ? g.kernel_h : g.kernel_w) +
                                             "_s" + std::to_string(h ? g.stride_h : g.stride_w) + "_p" +
                                             std::to_string(h ? g.pad_top : g.pad_left) + "_" +
                                             std::to_string(h ? g.pad_bottom : g.pad_right) + "_c" +
                                             std::to_string(g.ceil_mode) + "(" + symbols[i] + ")"
                                       : fresh_symbol();
        }
        std::vector<const char*> out_symbols;
        for (const auto& name : out_names) out_symbols.push_back(name.c_str());
        OrtTensorTypeAndShapeInfo* out_info = nullptr;
        Ort::ThrowOnError(api.CreateTensorTypeAndShapeInfo(&out_info));
        std::unique_ptr<OrtTensorTypeAndShapeInfo, void (*)(OrtTensorTypeAndShapeInfo*)> owned(
            out_info, [](OrtTensorTypeAndShapeInfo* p) { Ort::GetApi().ReleaseTensorTypeAndShapeInfo(p); });
        Ort::ThrowOnError(api.SetTensorElementType(out_info, type));
        Ort::ThrowOnError(api.SetDimensions(out_info, out_dims.data(), out_dims.size()));
        Ort::ThrowOnError(api.SetSymbolicDimensions(out_info, out_symbols.data(), out_symbols.size()));
        Ort::ThrowOnError(api.ShapeInferContext_SetOutputTypeShape(ctx, 0, out_info));
        return nullptr;
    } catch (const Ort::Exception& e) {
        return api.CreateStatus(e.GetOrtErrorCode(), e.what());
    } catch (const std::exception& e) {
        return api.CreateStatus(ORT_FAIL, (std::string(kOpType) + ": " + e.what()).c_str());
    }
}

template <typename T>
std::unique_ptr<OrtCustomOp> make_op() {
    std::unique_ptr<OrtCustomOp> op{
        Ort::Custom::CreateLiteCustomOp<SortedWeightedPoolKernel<T>>(kOpType, "CPUExecutionProvider")};
    op->InferOutputShapeFn = &infer_output_type_shape;
    // The lite header marks every input and output optional, so a node with X or Y left out ("")
    // would pass session creation and crash at run, before Compute. Both are required.
    op->GetInputCharacteristic = [](const OrtCustomOp*, size_t) { return INPUT_OUTPUT_REQUIRED; };
    op->GetOutputCharacteristic = [](const OrtCustomOp*, size_t) { return INPUT_OUTPUT_REQUIRED; };
    // The lite header stamps the op with the header's API version (21), which runtimes older than
    // that reject. Every OrtCustomOp member this op fills exists since version 17, so say 17:
    // newer runtimes then ignore the members added later (the lite header leaves them empty).
    op->version = kMinOrtApiVersion;
    return op;
}

// The op definitions live as long as the process: sessions created later keep pointers to them.
struct OpRegistry {
    std::unique_ptr<OrtCustomOp> float_op = make_op<float>();
    std::unique_ptr<OrtCustomOp> half_op = make_op<Ort::Float16_t>();
};

}  // namespace
}  // namespace sortpool::ort

extern "C" SORTPOOL_ORT_EXPORT OrtStatus* ORT_API_CALL RegisterCustomOps(OrtSessionOptions* options,
                                                                          const OrtApiBase* api_base) {
    using namespace sortpool::ort;
    const OrtApi* api = api_base->GetApi(kMinOrtApiVersion);
    if (api == nullptr) {
        // Version 1 of the API exists in every runtime, so it can still carry the error.
        const std::string msg = std::string("sortpool: this ONNX Runtime (") + api_base->GetVersionString() +
                                ") is too old: the SortedWeightedPool library needs ORT API version " +
                                std::to_string(kMinOrtApiVersion) + " (ONNX Runtime 1.17) or newer";
        return api_base->GetApi(1)->CreateStatus(ORT_FAIL, msg.c_str());
    }
    try {
        // The C++ API's global is written once, not on every registration while other sessions
        // may be reading it.
        static std::once_flag api_once;
        std::call_once(api_once, [api] { Ort::InitApi(api); });
        static std::once_flag once;
        static std::unique_ptr<OpRegistry> ops;
        std::call_once(once, [] { ops = std::make_unique<OpRegistry>(); });
        // One domain object per session options: the options keep a pointer to it, so it must
        // outlive them; it is released when the library is unloaded.
        static std::mutex domains_mutex;
        static std::vector<Ort::CustomOpDomain> domains;
        Ort::CustomOpDomain domain{sortpool::kOpDomain};
        domain.Add(ops->float_op.get());
        domain.Add(ops->half_op.get());
        Ort::UnownedSessionOptions(options).Add(domain);
        std::lock_guard<std::mutex> lock(domains_mutex);
        domains.push_back(std::move(domain));
        return nullptr;
    } catch (const Ort::Exception& e) {
        return api->CreateStatus(e.GetOrtErrorCode(), e.what());
    } catch (const std::exception& e) {
        return api->CreateStatus(ORT_FAIL, e.what());
    }
}
