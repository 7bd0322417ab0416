// FP-Quant's MSE-observer errors (quant/fpq_mse.h), 16 elements at a time:
// quantize / dequantize in fp32, |d|^2.4 in fp64 with exactly the operations
// of the scalar pow24 (getexp/getmant are ilogb/scalbn, roundscale is
// nearbyint/floor, scalef is ldexp, permutex2var reads the same tables), the
// 16 terms reduced by the same tree, the trees' sums added in order. So every
// error is bit-identical to fpq_group_errors_ref. n is a multiple of 16.
#pragma GCC optimize("fp-contract=off")  // the same unfused operations as the scalar reference
#include <immintrin.h>

// GCC 12 reports _mm512_undefined_*() inside its own intrinsics headers as
// possibly uninitialized; the values are never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstdint>

#include "quant/fpq_mse.h"

namespace nb::kernels::cpu {
namespace {

struct Tables {
  __m512d inv_lo, inv_hi, ln_lo, ln_hi, ex_lo, ex_hi;
};

inline __m512d pow24_pd(__m512d a, const Tables& T) {
  a = _mm512_abs_pd(a);
  const __mmask8 zero = _mm512_cmp_pd_mask(a, _mm512_setzero_pd(), _CMP_EQ_OQ);
  const __m512d e = _mm512_getexp_pd(a);
  const __m512d m = _mm512_getmant_pd(a, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
  const __m512i i = _mm512_and_si512(_mm512_srli_epi64(_mm512_castpd_si512(m), 48), _mm512_set1_epi64(15));
  const __m512d inv = _mm512_permutex2var_pd(T.inv_lo, i, T.inv_hi);
  const __m512d nl = _mm512_permutex2var_pd(T.ln_lo, i, T.ln_hi);
  const __m512d r = _mm512_sub_pd(_mm512_mul_pd(m, inv), _mm512_set1_pd(1.0));
  __m512d p = _mm512_set1_pd(-1.0 / 10);
  p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(1.0 / 9));
  p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(-1.0 / 8));
  p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(1.0 / 7));
  p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(-1.0 / 6));
  p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(1.0 / 5));
  p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(-1.0 / 4));
  p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(1.0 / 3));
  p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(-1.0 / 2));
  p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(1.0));
  const __m512d ln_m = _mm512_add_pd(nl, _mm512_mul_pd(r, p));
  const __m512d e12 = _mm512_mul_pd(_mm512_set1_pd(12.0), e);
  const __m512d qi = _mm512_roundscale_pd(_mm512_mul_pd(e12, _mm512_set1_pd(0.2)), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512d rem = _mm512_sub_pd(e12, _mm512_mul_pd(_mm512_set1_pd(5.0), qi));
  const __m512d y = _mm512_add_pd(_mm512_mul_pd(rem, _mm512_set1_pd(0.2)),
                                  _mm512_mul_pd(_mm512_set1_pd(2.4), _mm512_mul_pd(ln_m, _mm512_set1_pd(1.4426950408889634))));
  const __m512d k16 = _mm512_roundscale_pd(_mm512_mul_pd(y, _mm512_set1_pd(16.0)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512d t = _mm512_mul_pd(_mm512_sub_pd(y, _mm512_mul_pd(k16, _mm512_set1_pd(0.0625))),
                                  _mm512_set1_pd(0.6931471805599453));
  __m512d q = _mm512_set1_pd(1.0 / 720);
  q = _mm512_add_pd(_mm512_mul_pd(q, t), _mm512_set1_pd(1.0 / 120));
  q = _mm512_add_pd(_mm512_mul_pd(q, t), _mm512_set1_pd(1.0 / 24));
  q = _mm512_add_pd(_mm512_mul_pd(q, t), _mm512_set1_pd(1.0 / 6));
  q = _mm512_add_pd(_mm512_mul_pd(q, t), _mm512_set1_pd(1.0 / 2));
  q = _mm512_add_pd(_mm512_mul_pd(q, t), _mm512_set1_pd(1.0));
  q = _mm512_add_pd(_mm512_mul_pd(q, t), _mm512_set1_pd(1.0));
  const __m512d nf = _mm512_roundscale_pd(_mm512_mul_pd(k16, _mm512_set1_pd(0.0625)),
                                          _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512i j = _mm512_cvtpd_epi64(_mm512_sub_pd(k16, _mm512_mul_pd(nf, _mm512_set1_pd(16.0))));
  const __m512d tj = _mm512_permutex2var_pd(T.ex_lo, j, T.ex_hi);
  return _mm512_maskz_mov_pd(__mmask8(~zero), _mm512_scalef_pd(_mm512_mul_pd(q, tj), _mm512_add_pd(qi, nf)));
}

// c·Q(x/c) for 16 floats (see quant::fpq_quantize_value).
inline __m512 dequantized(bool int4, __m512 x, __m512 c) {
  const __m512 v = _mm512_div_ps(x, c);
  if (int4) {
    __m512 q = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm512_min_ps(_mm512_set1_ps(7.0f), _mm512_max_ps(_mm512_set1_ps(-8.0f), q));
    return _mm512_mul_ps(q, c);
  }
  const __m512 a = _mm512_abs_ps(v);
  __m512 m = _mm512_setzero_ps();
  m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.25f), _CMP_GT_OQ), _mm512_set1_ps(0.5f));
  m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(a, _mm512_set1_ps(0.75f), _CMP_GE_OQ), _mm512_set1_ps(1.0f));
  m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(a, _mm512_set1_ps(1.25f), _CMP_GT_OQ), _mm512_set1_ps(1.5f));
  m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(a, _mm512_set1_ps(1.75f), _CMP_GE_OQ), _mm512_set1_ps(2.0f));
  m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(a, _mm512_set1_ps(2.5f), _CMP_GT_OQ), _mm512_set1_ps(3.0f));
  m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(a, _mm512_set1_ps(3.5f), _CMP_GE_OQ), _mm512_set1_ps(4.0f));
  m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(a, _mm512_set1_ps(5.0f), _CMP_GT_OQ), _mm512_set1_ps(6.0f));
  // The sign of v (E2M1 code bit 3): −m for v < 0, so a negative v that rounds
  // to zero gives −0; v = −0 gives +0, as the scalar e2m1 code does.
  const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
  m = _mm512_mask_xor_ps(m, neg, m, _mm512_set1_ps(-0.0f));
  return _mm512_mul_ps(m, c);
}

// Tree sum of 16 lanes: j + j+8, then j + j+4, j + j+2, j + j+1.
inline float tree_sum(__m512 v) {
  const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  const __m128 d = _mm_add_ss(c, _mm_shuffle_ps(c, c, 1));
  return _mm_cvtss_f32(d);
}

}  // namespace

void fpq_group_errors_avx512(bool int4, const float* x, int64_t n, const float* cands, int count, float* errs,
                             const quant::Pow24Tables& tables) {
  const Tables T{_mm512_load_pd(tables.inv_m),      _mm512_load_pd(tables.inv_m + 8),
                 _mm512_load_pd(tables.neg_ln_inv), _mm512_load_pd(tables.neg_ln_inv + 8),
                 _mm512_load_pd(tables.exp2_j16),   _mm512_load_pd(tables.exp2_j16 + 8)};
  for (int ci = 0; ci < count; ++ci) {
    const __m512 cv = _mm512_set1_ps(cands[ci]);
    float err = 0.0f;
    for (int64_t j0 = 0; j0 < n; j0 += 16) {
      const __m512 xv = _mm512_loadu_ps(x + j0);
      const __m512 d = _mm512_sub_ps(xv, dequantized(int4, xv, cv));
      const __m512d lo = pow24_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(d)), T);
      const __m512d hi = pow24_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(d, 1)), T);
      const __m512 terms = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
      err = err + tree_sum(terms);
    }
    errs[ci] = err;
  }
}

}  // namespace nb::kernels::cpu
