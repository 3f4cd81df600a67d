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
#include <type_traits>
#include <utility>
#include <vector>

#include "sortpool_core.h"
#include "sortpool_ort_attributes.h"
#include "sortpool_ort_rows.h"

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

// float16 tensors reach the rows as their bits (Ort::Float16_t holds exactly one uint16_t).
template <typename T>
struct Storage {
    using type = T;
};
template <>
struct Storage<Ort::Float16_t> {
    using type = uint16_t;
};
static_assert(sizeof(Ort::Float16_t) == sizeof(uint16_t), "Ort::Float16_t is the binary16 bits");

// What run_task needs, and the first failure of any task. Nothing may leave a function that ONNX
// Runtime's thread pool runs: an exception escaping a task on a pool thread takes the process
// down, and one on the calling thread would unwind Compute (freeing this object and the job) while
// the pool threads still run tasks that point into them. So run_task catches everything and records it here, the
// remaining tasks return at once, and Compute reports the failure after ParallelFor returns.
template <typename S>
struct TaskCall {
    const PoolJob<S>* job;
    void (*task)(const PoolJob<S>&, size_t);
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::string error;  // the first failure's message; guarded by error_mutex

    void record(const char* what) noexcept {
        try {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (error.empty()) error = what;
        } catch (...) {  // no memory for the message: the flag still fails the call
        }
        failed.store(true, std::memory_order_release);
    }
};

template <typename S>
void run_task(void* user_data, size_t task) noexcept {
    auto& call = *static_cast<TaskCall<S>*>(user_data);
    if (call.failed.load(std::memory_order_relaxed)) return;  // the call fails anyway
    try {
        call.task(*call.job, task);
    } catch (const std::exception& e) {
        call.record(e.what());
    } catch (...) {
        call.record("unknown exception");
    }
}

template <typename S>
void (*path_task(const CpuPath& path))(const PoolJob<S>&, size_t) {
    if constexpr (std::is_same_v<S, float>) return path.float_task;
    else return path.half_task;
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
        : config_(config_or_throw(read_attributes(*api, info))), path_(chosen_cpu_path(nullptr)) {}


    Ort::Status Compute(OrtKernelContext* context, const Ort::Custom::Tensor<T>& X, Ort::Custom::Tensor<T>& Y) {
        try {
            Shape4 out;
            const std::string error = infer_output_shape(config_, X.Shape(), &out);
            if (!error.empty()) return Ort::Status(error.c_str(), ORT_INVALID_ARGUMENT);
            T* y = Y.Allocate({out.n, out.c, out.h, out.w});
            const int64_t planes = out.n * out.c;
            if (planes == 0 || out.h == 0 || out.w == 0) return Ort::Status(nullptr);

            using S = typename Storage<T>::type;
            PoolJob<S> job;
            job.x = reinterpret_cast<const S*>(X.Data());
            job.y = reinterpret_cast<S*>(y);
            job.in = {out.n, out.c, X.Shape()[2], X.Shape()[3]};
            job.out = out;
            job.cfg = &config_;
            // Tasks of about kOutputsPerTask outputs: enough of them to balance the pool's
            // threads, few enough that scheduling stays negligible next to the work.
            constexpr int64_t kOutputsPerTask = 16384;
            const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(out.h, kOutputsPerTask / out.w));
            job.rows_per_task = rows;
            job.tasks_per_plane = (out.h + rows - 1) / rows;
            const auto total = static_cast<size_t>(planes * job.tasks_per_plane);
            TaskCall<S> call;
            call.job = &job;
            call.task = path_task<S>(path_);
            Ort::KernelContext(context).ParallelFor(&run_task<S>, total, 0, &call);
            // ParallelFor returns once every task has finished: the error is complete here.
            if (call.failed.load(std::memory_order_acquire)) {
                const std::string what = call.error.empty() ? "a task failed" : call.error;
                return Ort::Status((std::string(kOpType) + ": " + what).c_str(), ORT_RUNTIME_EXCEPTION);
            }
            return Ort::Status(nullptr);
        } catch (const Ort::Exception& e) {
            return Ort::Status(e);
        } catch (const std::exception& e) {
            return Ort::Status((std::string(kOpType) + ": " + e.what()).c_str(), ORT_RUNTIME_EXCEPTION);
        }
    }

    PoolConfig config_;
    const CpuPath& path_;  // the build of the rows this CPU runs (sortpool_ort_rows.h)
};

std::string fresh_symbol() {
    static std::atomic<uint64_t> counter{0};
    return std::string(kOpType) + "_dim" + std::to_string(counter++);
}

// Shape inference at graph resolution, written against the C API. Symbolic N and C pass through;
// a symbolic H or W gives a symbolic output extent. An input of unknown rank (a graph input
// declared without a shape) leaves the output's shape unknown; ONNX Runtime takes the output's
// element type from the op's type constraint whatever this function does (its
// ShapeInferContext_SetOutputTypeShape sets the shape only).
// Errors leave the output's shape unset and return no status: ONNX Runtime 1.17 to 1.32 call this
// function and drop the status unread and unfreed (a leak per resolution of a bad node), so it
// would tell nobody anything. The same checks run again, and are reported, at kernel creation
// (attributes) and in Compute (shapes).
OrtStatus* ORT_API_CALL infer_output_type_shape(const OrtCustomOp*, OrtShapeInferContext* ctx) noexcept {
    const OrtApi& api = Ort::GetApi();
    // Statuses from the runtime's own calls below are ours to release (ThrowOnError does).
    try {
        PoolConfig cfg;
        if (!parse_attributes(read_attributes(api, ctx), &cfg).empty()) return nullptr;
        size_t inputs = 0;
        Ort::ThrowOnError(api.ShapeInferContext_GetInputCount(ctx, &inputs));
        if (inputs != 1) return nullptr;

        OrtTensorTypeAndShapeInfo* in_info = nullptr;  // owned by the context
        Ort::ThrowOnError(api.ShapeInferContext_GetInputTypeShape(ctx, 0, &in_info));
        ONNXTensorElementDataType type{};
        size_t rank = 0;
        Ort::ThrowOnError(api.GetTensorElementType(in_info, &type));
        Ort::ThrowOnError(api.GetDimensionsCount(in_info, &rank));
        // The context reports an input without a shape as rank 0 (it cannot tell it from a
        // scalar, which Compute refuses): nothing is known of the output's shape then.
        if (rank == 0 || (type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16))
            return nullptr;
        std::vector<int64_t> dims(rank);
        std::vector<const char*> symbols(rank, nullptr);
        Ort::ThrowOnError(api.GetDimensions(in_info, dims.data(), rank));
        Ort::ThrowOnError(api.GetSymbolicDimensions(in_info, symbols.data(), rank));
        for (size_t i = 0; i < rank; ++i)
            if (symbols[i] != nullptr && symbols[i][0] != '\0') dims[i] = kUnknownDim;
        Shape4 out;
        if (!infer_output_shape(cfg, dims, &out).empty()) return nullptr;

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
    } catch (const std::exception&) {  // Ort::Exception included
        return nullptr;
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
        std::string path_error;
        chosen_cpu_path(&path_error);
        if (!path_error.empty()) return api->CreateStatus(ORT_INVALID_ARGUMENT, path_error.c_str());
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

// Which build of the rows this process runs (sortpool_ort_rows.h), for `sortpool info`; callable
// without ONNX Runtime.
extern "C" SORTPOOL_ORT_EXPORT const char* SortpoolOrtCpuPath(void) {
    return sortpool::ort::chosen_cpu_path(nullptr).name;
}

// The builds this CPU can run, comma-separated.
extern "C" SORTPOOL_ORT_EXPORT const char* SortpoolOrtSupportedCpuPaths(void) {
    static const std::string names = [] {
        std::string joined;
        for (const sortpool::ort::CpuPath* path : sortpool::ort::cpu_paths())
            if (path->supported()) joined += std::string(joined.empty() ? "" : ",") + path->name;
        return joined;
    }();
    return names.c_str();
}
