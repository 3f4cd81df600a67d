// The op's CPU rows (sortpool_ort_rows.inc) built once per instruction set, and the choice of
// build. The sets above the baseline are compiled here with GCC/Clang target regions rather than
// per-file -m flags: only the functions defined inside a region use its instructions, so no
// inline function or template shared with the rest of the library can come out built for a CPU
// that lacks them (a library built with -mavx2 throughout would crash on older CPUs).
#include "sortpool_ort_rows.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SORTPOOL_ORT_X86_PATHS 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define SORTPOOL_ORT_X86_PATHS 0
#endif

namespace sortpool::ort {
namespace {

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

namespace baseline {
#define SORTPOOL_ORT_ROWS_F16C_LANES 0
#include "sortpool_ort_rows.inc"
#undef SORTPOOL_ORT_ROWS_F16C_LANES
bool supported() { return true; }
}  // namespace baseline

#if SORTPOOL_ORT_X86_PATHS
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,bmi,bmi2,lzcnt,movbe,popcnt"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi,bmi2,lzcnt,movbe,popcnt")
#endif
namespace x86_64_v3 {
#define SORTPOOL_ORT_ROWS_F16C_LANES 8
#include "sortpool_ort_rows.inc"
#undef SORTPOOL_ORT_ROWS_F16C_LANES
}  // namespace x86_64_v3
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,fma,f16c,bmi,bmi2,lzcnt,movbe,popcnt"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
// 512-bit vectors wanted (GCC prefers 256 by default). GCC 12's own _mm512_undefined_ps (in the
// 16-lane conversions) trips the warning silenced here.
#pragma GCC target("avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,fma,f16c,bmi,bmi2,lzcnt,movbe,popcnt,prefer-vector-width=512")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace x86_64_v4 {
#define SORTPOOL_ORT_ROWS_F16C_LANES 16
#include "sortpool_ort_rows.inc"
#undef SORTPOOL_ORT_ROWS_F16C_LANES
}  // namespace x86_64_v4
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

// F16C from CPUID (leaf 1, ECX bit 29): not every compiler's __builtin_cpu_supports knows it. The
// builtin's AVX2 test also checks that the OS saves the AVX state.
bool cpu_has_f16c() {
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
}

namespace x86_64_v3 {
bool supported() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2") &&
           cpu_has_f16c();
}
}  // namespace x86_64_v3
namespace x86_64_v4 {
bool supported() {
    return x86_64_v3::supported() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}
}  // namespace x86_64_v4
#endif

const CpuPath kBaseline{"baseline", &baseline::supported, &baseline::float_task, &baseline::half_task};
#if SORTPOOL_ORT_X86_PATHS
const CpuPath kX86_64_v3{"x86-64-v3", &x86_64_v3::supported, &x86_64_v3::float_task, &x86_64_v3::half_task};
// float32 keeps the AVX2 rows on AVX-512 CPUs: they measured faster here (docs/benchmarks.md);
// float16 gains from 16-lane conversions and 512-bit networks.
const CpuPath kX86_64_v4{"x86-64-v4", &x86_64_v4::supported, &x86_64_v3::float_task, &x86_64_v4::half_task};
#endif

struct Choice {
    const CpuPath* path = &kBaseline;
    std::string error;
};

Choice choose() {
    Choice choice;
    const char* forced = std::getenv(kCpuPathEnv);
    if (forced != nullptr && forced[0] != '\0') {
        for (const CpuPath* path : cpu_paths()) {
            if (std::strcmp(path->name, forced) != 0) continue;
            if (path->supported()) choice.path = path;
            else choice.error = std::string("sortpool: ") + kCpuPathEnv + "=" + forced + ": this CPU lacks that path's instructions";
            return choice;
        }
        std::string names;
        for (const CpuPath* path : cpu_paths()) names += std::string(names.empty() ? "" : ", ") + path->name;
        choice.error = std::string("sortpool: ") + kCpuPathEnv + "=" + forced + " is not a path of this build (" + names + ")";
        return choice;
    }
    for (const CpuPath* path : cpu_paths())  // baseline first: the last supported is the widest
        if (path->supported()) choice.path = path;
    return choice;
}

}  // namespace

const std::vector<const CpuPath*>& cpu_paths() {
#if SORTPOOL_ORT_X86_PATHS
    static const std::vector<const CpuPath*> paths{&kBaseline, &kX86_64_v3, &kX86_64_v4};
#else
    static const std::vector<const CpuPath*> paths{&kBaseline};
#endif
    return paths;
}

const CpuPath& chosen_cpu_path(std::string* error) {
    static const Choice choice = choose();
    if (error != nullptr) *error = choice.error;
    return *choice.path;
}

}  // namespace sortpool::ort
