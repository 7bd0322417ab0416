// How the AVX-512 matmuls of kernels_avx512.cpp and kquant_avx512.cpp walk
// their weights: decode's software prefetch distance, prefill's row blocks.
// Only those ISA files include this; the anonymous namespace gives each its
// own copy (see scratch.h).
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace nb::kernels {
namespace {

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline void prefetch_range(const char* p, size_t bytes) {
  for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

// How far ahead (bytes) decode prefetches each weight row: enough to cover
// memory latency at a few rows in flight.
#ifndef NIBBLE_PREFETCH_AHEAD
#define NIBBLE_PREFETCH_AHEAD 2048  // bytes. Since decode reads row streams (row_streams.h), 2048 beat 512 and 1024
                                    // at 2 threads on TinyLlama: F16 +13%, Q4_0 +6%, Q8_0 +4% (2 runs each)
#endif
constexpr size_t kPrefetchAhead = NIBBLE_PREFETCH_AHEAD;
// Weight bytes of one prefill row block; the block is re-read from L2 by each
// token tile.
constexpr size_t kRowBlockBytes = 512 * 1024;

inline int64_t row_block(size_t bytes_per_row, int64_t multiple) {
  int64_t rb = int64_t(kRowBlockBytes / (bytes_per_row ? bytes_per_row : 1));
  rb = rb / multiple * multiple;
  return rb < multiple ? multiple : rb;
}

}  // namespace
}  // namespace nb::kernels
