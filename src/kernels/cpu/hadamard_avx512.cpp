// The §8 butterfly on 16-lane vectors, for k >= 16 (kernels/hadamard.cpp
// dispatches here). Each output lane is produced by the same fp32 add or
// subtract of the same two operands as the scalar loop, so results are
// bit-identical to hadamard_rows_ref (tests/unit/kernels/hadamard_test.cpp).
// Stages h = 1, 2, 4, 8 pair lanes inside one vector (partner lane j ^ h);
// stages h >= 16 pair whole vectors.
#pragma GCC optimize("fp-contract=off")  // no FMA: (a ± b)·scale must round twice, as the reference does
#include <immintrin.h>

// GCC 12 reports _mm512_undefined_*() inside its own intrinsics headers as
// possibly uninitialized; the values are never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstdint>

namespace nb::kernels::cpu {
namespace {

// One in-vector stage: lanes with bit h clear get v[j] + v[j^h] (= a + b),
// lanes with bit h set get v[j^h] − v[j] (= a − b).
inline __m512 stage_in_vector(__m512 v, __m512i partner, __mmask16 upper) {
  const __m512 p = _mm512_permutexvar_ps(partner, v);
  return _mm512_mask_blend_ps(upper, _mm512_add_ps(v, p), _mm512_sub_ps(p, v));
}

}  // namespace

void hadamard_rows_avx512(float* x, int64_t rows, int64_t n, int64_t k, float scale) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512i partner[4];
  __mmask16 upper[4];
  for (int s = 0; s < 4; ++s) {
    const int h = 1 << s;
    partner[s] = _mm512_xor_si512(lane, _mm512_set1_epi32(h));
    upper[s] = _mm512_test_epi32_mask(lane, _mm512_set1_epi32(h));
  }
  const __m512 vs = _mm512_set1_ps(scale);
  for (int64_t c = 0; c < rows * (n / k); ++c) {
    float* v = x + c * k;
    for (int64_t j = 0; j < k; j += 16) {
      __m512 a = _mm512_loadu_ps(v + j);
      for (int s = 0; s < 4; ++s) a = stage_in_vector(a, partner[s], upper[s]);
      _mm512_storeu_ps(v + j, a);
    }
    for (int64_t h = 16; h < k; h *= 2)
      for (int64_t i = 0; i < k; i += 2 * h)
        for (int64_t j = i; j < i + h; j += 16) {
          const __m512 a = _mm512_loadu_ps(v + j), b = _mm512_loadu_ps(v + j + h);
          _mm512_storeu_ps(v + j, _mm512_add_ps(a, b));
          _mm512_storeu_ps(v + j + h, _mm512_sub_ps(a, b));
        }
    for (int64_t j = 0; j < k; j += 16) _mm512_storeu_ps(v + j, _mm512_mul_ps(_mm512_loadu_ps(v + j), vs));
  }
}

}  // namespace nb::kernels::cpu
