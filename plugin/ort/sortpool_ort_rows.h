// The ONNX Runtime op's CPU work, one build per instruction set (sortpool_ort_rows.cc), chosen
// once per process by the CPU's features: a portable baseline; x86-64-v3 (AVX2, FMA, F16C:
// hardware float16 conversions); x86-64-v4 (AVX-512). The math is the core's in every build;
// the builds differ in vector width and in how float16 is converted (exactly, either way).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sortpool_core.h"

namespace sortpool::ort {

// The most floats the float16 rows keep in a thread's conversion buffer (16 MiB): the input rows
// of several output rows of any usual image. Rows that would need more are done in smaller
// chunks, or converted value by value, so a huge stride or row costs no large allocation, and a
// pool thread keeps at most this much after a call.
constexpr int64_t kHalfBufferFloats = int64_t{1} << 22;

// Work shared by the thread-pool tasks of one Compute call. T: float, or uint16_t holding
// IEEE binary16 bits.
template <typename T>
struct PoolJob {
    const T* x = nullptr;
    T* y = nullptr;
    Shape4 in, out;
    const PoolConfig* cfg = nullptr;
    int64_t rows_per_task = 1;  // output rows handled by one task
    int64_t tasks_per_plane = 1;
    int64_t half_buffer_floats = kHalfBufferFloats;  // float16 only; tests make it small
};

struct CpuPath {
    const char* name;
    bool (*supported)();
    void (*float_task)(const PoolJob<float>& job, size_t task);
    void (*half_task)(const PoolJob<uint16_t>& job, size_t task);
};

// The environment variable that forces a path (a testing aid: tests run every path the machine
// supports, one process each). Unset: the fastest path this CPU supports.
constexpr const char* kCpuPathEnv = "SORTPOOL_ORT_CPU_PATH";

// Every path built into this library, baseline first.
const std::vector<const CpuPath*>& cpu_paths();

// The path this process uses, chosen on first call; *error is set (and baseline returned) when
// the environment variable names a path that is unknown or that this CPU lacks.
const CpuPath& chosen_cpu_path(std::string* error);

}  // namespace sortpool::ort
