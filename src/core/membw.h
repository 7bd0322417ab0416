// What this machine is: CPU model, SIMD features, sustained memory read
// bandwidth. Used by `nibble inspect --system` and by benchmarks that report
// decode speed against the memory-bound limit (weights bytes / bandwidth).
#pragma once
#include <cstddef>
#include <string>

#include "core/thread_pool.h"

namespace nb {

// Instruction-set features the CPU has AND the OS has enabled (XSAVE state),
// read with CPUID / XGETBV. All false on non-x86 builds.
struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false, avx512vnni = false, avx512bf16 = false,
       avx512vbmi = false;
  bool amx_int8 = false, amx_bf16 = false;  // tile state enabled in XCR0; using it also needs arch_prctl permission
};
CpuFeatures cpu_features();

// "model name" from /proc/cpuinfo, or "unknown".
std::string cpu_model_name();

// Sustained memory read bandwidth in bytes/s using all of the pool's threads:
// one buffer of `bytes` is allocated and written once (each thread touches its
// own slice, so pages exist and sit near the thread that reads them), then each
// thread sums its own contiguous slice with the widest vector loads the CPU
// has (AVX-512, AVX2, or plain 64-bit; with AVX-512 also a second loop that
// prefetches ahead, as the kernels do). Returns the best of `repeats` passes
// of each loop.
// Pick `bytes` well above the last-level cache. Returns 0 if the buffer cannot
// be allocated.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes = size_t(512) << 20, int repeats = 5);

}  // namespace nb
