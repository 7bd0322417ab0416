#include "core/membw.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#define NB_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace nb {

// ---------------------------------------------------------------- features

#if NB_X86
static uint64_t read_xcr0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));  // needs OSXSAVE, checked by the caller
  return (uint64_t(hi) << 32) | lo;
}
#endif

CpuFeatures cpu_features() {
  CpuFeatures f;
#if NB_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
  const bool fma = c & (1u << 12), f16c = c & (1u << 29);
  if (!osxsave || !avx) return f;
  const uint64_t xcr0 = read_xcr0();
  const bool os_avx = (xcr0 & 0x6) == 0x6;               // XMM | YMM state
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;  // opmask | ZMM_Hi256 | Hi16_ZMM
  const bool os_amx = (xcr0 & (3ull << 17)) == (3ull << 17);  // XTILECFG | XTILEDATA
  if (!os_avx) return f;
  f.fma = fma;
  f.f16c = f16c;
  unsigned max_leaf = __get_cpuid_max(0, nullptr);
  if (max_leaf < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned max_sub7 = a;
  f.avx2 = b & (1u << 5);
  if (os_avx512) {
    f.avx512f = b & (1u << 16);
    f.avx512bw = f.avx512f && (b & (1u << 30));
    f.avx512dq = f.avx512f && (b & (1u << 17));
    f.avx512vl = f.avx512f && (b & (1u << 31));
    f.avx512vnni = f.avx512f && (c & (1u << 11));
    f.avx512vbmi = f.avx512f && (c & (1u << 1));
  }
  f.amx_int8 = os_amx && (d & (1u << 24)) && (d & (1u << 25));  // AMX-TILE and AMX-INT8
  f.amx_bf16 = os_amx && (d & (1u << 24)) && (d & (1u << 22));  // AMX-TILE and AMX-BF16
  if (os_avx512 && f.avx512f && max_sub7 >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512bf16 = a & (1u << 5);
  }
#endif
  return f;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto start = line.find_first_not_of(" \t", colon + 1);
    if (start == std::string::npos) continue;
    return line.substr(start);
  }
  return "unknown";
}

// ---------------------------------------------------------------- bandwidth

namespace {

constexpr size_t kBlock = 256;  // bytes per loop iteration in every variant

// Each kernel reads n_blocks * kBlock bytes from p (64-byte aligned) and
// returns a value that depends on every byte, so no load can be dropped.
uint64_t sum_plain(const uint8_t* p, size_t n_blocks) {
  const uint64_t* q = reinterpret_cast<const uint64_t*>(p);
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i < n_blocks * (kBlock / 8); i += 4) {
    s0 += q[i];
    s1 += q[i + 1];
    s2 += q[i + 2];
    s3 += q[i + 3];
  }
  return s0 + s1 + s2 + s3;
}

#if NB_X86
__attribute__((target("avx2"))) uint64_t sum_avx2(const uint8_t* p, size_t n_blocks) {
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i < n_blocks; ++i, p += kBlock) {
    s0 = _mm256_add_epi64(s0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
    s1 = _mm256_add_epi64(s1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 32)));
    s2 = _mm256_add_epi64(s2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 64)));
    s3 = _mm256_add_epi64(s3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 96)));
    s0 = _mm256_add_epi64(s0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 128)));
    s1 = _mm256_add_epi64(s1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 160)));
    s2 = _mm256_add_epi64(s2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 192)));
    s3 = _mm256_add_epi64(s3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 224)));
  }
  __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

// With kPrefetch, the loop also asks for the lines two blocks ahead, as the
// matmul kernels do. Some CPUs' hardware prefetchers alone leave bandwidth
// unused (AMD Zen 5: one core reads 27 GB/s plain and 34 GB/s so), and a
// kernel must not appear to beat the memory roof because the probe was
// weaker than the kernel.
template <bool kPrefetch>
__attribute__((target("avx512f"))) uint64_t sum_avx512(const uint8_t* p, size_t n_blocks) {
  __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
  for (size_t i = 0; i < n_blocks; ++i, p += kBlock) {
    if (kPrefetch)
      for (size_t line = 0; line < kBlock; line += 64)  // past the end is harmless: prefetches never fault
        _mm_prefetch(reinterpret_cast<const char*>(p) + 2 * kBlock + line, _MM_HINT_T0);
    s0 = _mm512_add_epi64(s0, _mm512_load_si512(p));
    s1 = _mm512_add_epi64(s1, _mm512_load_si512(p + 64));
    s2 = _mm512_add_epi64(s2, _mm512_load_si512(p + 128));
    s3 = _mm512_add_epi64(s3, _mm512_load_si512(p + 192));
  }
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
  uint64_t total = 0;
  for (uint64_t v : lanes) total += v;
  return total;
}
#endif

using SumFn = uint64_t (*)(const uint8_t*, size_t);

// The loops to try, widest first; the probe keeps the best of them.
std::vector<SumFn> pick_sums() {
#if NB_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return {sum_avx512<false>, sum_avx512<true>};
  if (__builtin_cpu_supports("avx2")) return {sum_avx2};
#endif
  return {sum_plain};
}

// Written after every pass so the sums (and hence every load) are observable.
std::atomic<uint64_t> g_sink{0};

}  // namespace

double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int repeats) {
  const int t = pool.size();
  const size_t blocks = std::max(bytes / kBlock, size_t(t));
  const size_t total = blocks * kBlock;
  constexpr size_t kAlign = size_t(2) << 20;  // 2 MiB: lets the kernel use huge pages
  const size_t alloc = (total + kAlign - 1) / kAlign * kAlign;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(kAlign, alloc));
  if (!buf) return 0.0;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  madvise(buf, alloc, MADV_HUGEPAGE);  // a hint; fewer TLB misses if granted
#endif
  // Thread i owns blocks [blocks*i/t, blocks*(i+1)/t).
  auto slice = [&](int i, uint8_t*& p, size_t& n) {
    size_t b = blocks * size_t(i) / size_t(t), e = blocks * size_t(i + 1) / size_t(t);
    p = buf + b * kBlock;
    n = e - b;
  };
  pool.run_on_all([&](int i) {
    uint8_t* p;
    size_t n;
    slice(i, p, n);
    std::memset(p, 0x5a + i, n * kBlock);
  });

  const std::vector<SumFn> sums = pick_sums();
  double best = 0.0;
  for (int r = 0; r < std::max(repeats, 1); ++r)
    for (SumFn sum : sums) {
      auto t0 = std::chrono::steady_clock::now();
      pool.run_on_all([&](int i) {
        uint8_t* p;
        size_t n;
        slice(i, p, n);
        g_sink.fetch_add(sum(p, n), std::memory_order_relaxed);
      });
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s > 0) best = std::max(best, double(total) / s);
    }
  std::free(buf);
  return best;
}

}  // namespace nb
