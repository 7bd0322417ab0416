// bf16 <-> fp32 in vector lanes, for the ISA files (_avx2.cpp, _avx512.cpp,
// _amx.cpp) only: widening bf16 to fp32 (exact: the 16 bits moved up) and
// rounding fp32 to bf16 to nearest even in integers. In an anonymous
// namespace on purpose, as hsum.h: each file gets its own copy compiled with
// its own ISA flags (see scratch.h).
#pragma once
#include <immintrin.h>

namespace nb::kernels {
namespace {

#if defined(__AVX2__)
inline __m256 widen_bf16(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__)
inline __m512 widen_bf16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }

// v's bits plus the round-to-nearest-even increment: bf16(v) in the high 16
// bits of each lane for finite v (core/half.h's f32_to_bf16 without its NaN
// case, which callers that may see NaN add themselves).
inline __m512i rne_bf16_high(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  return _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF)));
}
#endif

}  // namespace
}  // namespace nb::kernels
