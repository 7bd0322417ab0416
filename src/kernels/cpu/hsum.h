// The fixed horizontal-sum trees of the SIMD kernels: their order is part of
// each result's definition, so every kernel file uses these same trees.
// Only the ISA files (_avx2.cpp, _avx512.cpp) include this, and it is in an
// anonymous namespace on purpose: each file gets its own copy compiled with
// its own ISA flags (see scratch.h for why no such code may be shared).
#pragma once
#include <immintrin.h>

namespace nb::kernels {
namespace {

inline float hsum256(__m256 a) {
  __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  b = _mm_add_ps(b, _mm_movehl_ps(b, b));
  b = _mm_add_ss(b, _mm_movehdup_ps(b));
  return _mm_cvtss_f32(b);
}

#if defined(__AVX512F__) && defined(__AVX512DQ__)
inline float hsum512(__m512 v) {
  return hsum256(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}
#endif

}  // namespace
}  // namespace nb::kernels
