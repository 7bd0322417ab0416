// seq_gemm on AVX-512. Register tiles of 8 rows × 32 columns of C; the inner
// index l in ascending order; one broadcast A(i,l) times 16 B(l,j) lanes,
// product rounded (vmulps) then added/subtracted (vaddps/vsubps). Lanes are
// independent outputs, so every element sees the scalar oracle's exact
// sequence (tests/unit/quant/seq_gemm_test.cpp compares bit for bit).
//
// Large products are blocked as in BLIS: for each block of kKc values of l,
// B (kKc × kNc) and A (kMc × kKc) are packed into contiguous micro-panels so
// the kernel streams them from L1/L2. Between l-blocks an element's running
// value is parked in memory (C itself when it starts from C, else a scratch
// accumulator) and picked up again: storing and reloading a float is exact.
// Small products (few rows) skip the packing and read A and B in place.
// No std:: templates here: code emitted in an AVX-512 file must stay private to it.
#pragma GCC optimize("fp-contract=off")  // vmulps + vaddps must not fuse into vfmadd
#include <immintrin.h>

// GCC 12 reports _mm512_undefined_*() inside its own intrinsics headers as
// possibly uninitialized; the values are never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstdint>
#include <cstring>

#include "kernels/cpu/scratch.h"
#include "kernels/seq_gemm.h"

namespace nb::kernels::cpu {
namespace {

constexpr int kMr = 8, kNr = 32;
constexpr int64_t kKc = 256, kMc = 64, kNc = 256;

inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// ---- Unpacked path: A and B read in place (few rows; B rows contiguous).

template <int MR, int NV, bool SUB>
void tile_direct(const SeqGemm& op, int64_t k, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                 int64_t ldb, float* c, int64_t ldc, __mmask16 m0, __mmask16 m1) {
  __m512 acc[MR][NV];
  const __mmask16 mask[2] = {m0, m1};
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v)
      acc[r][v] = op.start == SeqStart::FromC ? _mm512_maskz_loadu_ps(mask[v], c + r * ldc + 16 * v)
                                              : _mm512_setzero_ps();
  for (int64_t l = 0; l < k; ++l) {
    __m512 bv[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_maskz_loadu_ps(mask[v], b + l * ldb + 16 * v);
    const float* al = a + l * a_cs;
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(al[r * a_rs]);
#pragma GCC unroll 2
      for (int v = 0; v < NV; ++v) {
        const __m512 p = _mm512_mul_ps(av, bv[v]);
        acc[r][v] = SUB ? _mm512_sub_ps(acc[r][v], p) : _mm512_add_ps(acc[r][v], p);
      }
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) {
      float* cp = c + r * ldc + 16 * v;
      __m512 out = acc[r][v];
      if (op.finish != SeqFinish::Store) {
        const __m512 old = _mm512_maskz_loadu_ps(mask[v], cp);
        out = op.finish == SeqFinish::Add ? _mm512_add_ps(old, out) : _mm512_sub_ps(old, out);
      }
      _mm512_mask_storeu_ps(cp, mask[v], out);
    }
}

template <int NV, bool SUB>
void rows_direct(int mr, const SeqGemm& op, int64_t k, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                 int64_t ldb, float* c, int64_t ldc, __mmask16 m0, __mmask16 m1) {
  switch (mr) {
    case 8: return tile_direct<8, NV, SUB>(op, k, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1);
    case 7: return tile_direct<7, NV, SUB>(op, k, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1);
    case 6: return tile_direct<6, NV, SUB>(op, k, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1);
    case 5: return tile_direct<5, NV, SUB>(op, k, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1);
    case 4: return tile_direct<4, NV, SUB>(op, k, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1);
    case 3: return tile_direct<3, NV, SUB>(op, k, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1);
    case 2: return tile_direct<2, NV, SUB>(op, k, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1);
    default: return tile_direct<1, NV, SUB>(op, k, a, a_rs, a_cs, b, ldb, c, ldc, m0, m1);
  }
}

void gemm_direct(const SeqGemm& op, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                 const float* b, int64_t ldb, float* c, int64_t ldc) {
  const bool sub = op.step == SeqStep::Sub;
  for (int64_t j0 = 0; j0 < n; j0 += kNr) {
    const int64_t nj = n - j0 < kNr ? n - j0 : kNr;
    const __mmask16 m0 = lanes(nj), m1 = lanes(nj - 16);
    for (int64_t i0 = 0; i0 < m; i0 += kMr) {
      const int mr = int(m - i0 < kMr ? m - i0 : kMr);
      const float* ai = a + i0 * a_rs;
      float* ci = c + i0 * ldc + j0;
      if (nj > 16) {
        if (sub) rows_direct<2, true>(mr, op, k, ai, a_rs, a_cs, b + j0, ldb, ci, ldc, m0, m1);
        else rows_direct<2, false>(mr, op, k, ai, a_rs, a_cs, b + j0, ldb, ci, ldc, m0, m1);
      } else {
        if (sub) rows_direct<1, true>(mr, op, k, ai, a_rs, a_cs, b + j0, ldb, ci, ldc, m0, m1);
        else rows_direct<1, false>(mr, op, k, ai, a_rs, a_cs, b + j0, ldb, ci, ldc, m0, m1);
      }
    }
  }
}

// ---- Packed path.

// ap: kc × kMr (row r of the micro-panel at ap[l*kMr + r]); rows past m are 0.
void pack_a(const float* a, int64_t a_rs, int64_t a_cs, int64_t mr, int64_t kc, float* ap) {
  if (a_rs == 1) {  // A's rows are contiguous for each l (A = Xᵀ): one masked 8-float copy per l
    const __mmask8 m = __mmask8((1u << mr) - 1u);
    for (int64_t l = 0; l < kc; ++l) _mm256_store_ps(ap + l * kMr, _mm256_maskz_loadu_ps(m, a + l * a_cs));
    return;
  }
  for (int64_t r = 0; r < kMr; ++r) {
    if (r < mr) {
      const float* src = a + r * a_rs;
      for (int64_t l = 0; l < kc; ++l) ap[l * kMr + r] = src[l * a_cs];
    } else {
      for (int64_t l = 0; l < kc; ++l) ap[l * kMr + r] = 0.0f;
    }
  }
}

// bp: kc × kNr (column j of the micro-panel at bp[l*kNr + j]); columns past n are 0.
void pack_b(const float* b, int64_t ldb, int64_t nr, int64_t kc, float* bp) {
  const __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
  for (int64_t l = 0; l < kc; ++l) {
    const float* src = b + l * ldb;
    _mm512_store_ps(bp + l * kNr, _mm512_maskz_loadu_ps(m0, src));
    _mm512_store_ps(bp + l * kNr + 16, _mm512_maskz_loadu_ps(m1, src + 16));
  }
}

// One 8 × 32 micro-tile over kc values of l. `in` holds the running values
// (C or the scratch accumulator, row stride ld_in) unless zero_start; the
// results go to `out` (row stride ld_out): plain, or combined with `out`'s old
// values (finish Add/Sub). Only mr rows / nr columns are read and written.
template <bool SUB>
void micro(int64_t kc, const float* ap, const float* bp, bool zero_start, const float* in, int64_t ld_in,
           float* out, int64_t ld_out, SeqFinish finish, int64_t mr, int64_t nr) {
  const __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
  __m512 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
  // Named registers and constant row numbers (no arrays indexed at run time),
  // so the 16 accumulators stay in zmm registers.
#define NB_SEQ_INIT(R)                                                   \
  if (zero_start || R >= mr) {                                           \
    c##R##0 = _mm512_setzero_ps();                                       \
    c##R##1 = _mm512_setzero_ps();                                       \
  } else {                                                               \
    c##R##0 = _mm512_maskz_loadu_ps(m0, in + R * ld_in);                 \
    c##R##1 = _mm512_maskz_loadu_ps(m1, in + R * ld_in + 16);            \
  }
  NB_SEQ_INIT(0) NB_SEQ_INIT(1) NB_SEQ_INIT(2) NB_SEQ_INIT(3) NB_SEQ_INIT(4) NB_SEQ_INIT(5) NB_SEQ_INIT(6)
  NB_SEQ_INIT(7)
#undef NB_SEQ_INIT
  for (int64_t l = 0; l < kc; ++l) {
    const __m512 b0 = _mm512_load_ps(bp + l * kNr), b1 = _mm512_load_ps(bp + l * kNr + 16);
    const float* al = ap + l * kMr;
#define NB_SEQ_ROW(R)                                                         \
  {                                                                           \
    const __m512 av = _mm512_set1_ps(al[R]);                                  \
    const __m512 p0 = _mm512_mul_ps(av, b0), p1 = _mm512_mul_ps(av, b1);      \
    c##R##0 = SUB ? _mm512_sub_ps(c##R##0, p0) : _mm512_add_ps(c##R##0, p0);  \
    c##R##1 = SUB ? _mm512_sub_ps(c##R##1, p1) : _mm512_add_ps(c##R##1, p1);  \
  }
    NB_SEQ_ROW(0) NB_SEQ_ROW(1) NB_SEQ_ROW(2) NB_SEQ_ROW(3) NB_SEQ_ROW(4) NB_SEQ_ROW(5) NB_SEQ_ROW(6) NB_SEQ_ROW(7)
#undef NB_SEQ_ROW
  }
#define NB_SEQ_STORE(R)                                                                     \
  if (R < mr) {                                                                             \
    __m512 v0 = c##R##0, v1 = c##R##1;                                                      \
    float* o = out + R * ld_out;                                                            \
    if (finish != SeqFinish::Store) {                                                       \
      const __m512 o0 = _mm512_maskz_loadu_ps(m0, o), o1 = _mm512_maskz_loadu_ps(m1, o + 16); \
      v0 = finish == SeqFinish::Add ? _mm512_add_ps(o0, v0) : _mm512_sub_ps(o0, v0);        \
      v1 = finish == SeqFinish::Add ? _mm512_add_ps(o1, v1) : _mm512_sub_ps(o1, v1);        \
    }                                                                                       \
    _mm512_mask_storeu_ps(o, m0, v0);                                                       \
    _mm512_mask_storeu_ps(o + 16, m1, v1);                                                  \
  }
  NB_SEQ_STORE(0) NB_SEQ_STORE(1) NB_SEQ_STORE(2) NB_SEQ_STORE(3) NB_SEQ_STORE(4) NB_SEQ_STORE(5) NB_SEQ_STORE(6)
  NB_SEQ_STORE(7)
#undef NB_SEQ_STORE
}

void gemm_packed(const SeqGemm& op, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                 const float* b, int64_t ldb, float* c, int64_t ldc) {
  const bool sub = op.step == SeqStep::Sub;
  const bool from_c = op.start == SeqStart::FromC;
  // The running values live in C when the sum starts from C; otherwise in a
  // scratch accumulator when there is more than one l-block (else in registers).
  const bool need_acc = !from_c && k > kKc;
  float* bp = static_cast<float*>(scratch(0, size_t(kKc * kNc) * sizeof(float)));
  float* ap = static_cast<float*>(scratch(1, size_t(kMc * kKc) * sizeof(float)));
  float* acc = need_acc ? static_cast<float*>(scratch(2, size_t(kMc * kNc) * sizeof(float))) : nullptr;
  for (int64_t jc = 0; jc < n; jc += kNc) {
    const int64_t nc = n - jc < kNc ? n - jc : kNc;
    for (int64_t ic = 0; ic < m; ic += kMc) {
      const int64_t mc = m - ic < kMc ? m - ic : kMc;
      for (int64_t pc = 0; pc < (k > 0 ? k : 1); pc += kKc) {
        const int64_t kc = k - pc < kKc ? (k - pc > 0 ? k - pc : 0) : kKc;
        const bool first = pc == 0, last = pc + kKc >= k;
        for (int64_t jr = 0; jr < nc; jr += kNr)
          pack_b(b + pc * ldb + jc + jr, ldb, nc - jr < kNr ? nc - jr : kNr, kc, bp + jr * kKc);
        for (int64_t ir = 0; ir < mc; ir += kMr)
          pack_a(a + (ic + ir) * a_rs + pc * a_cs, a_rs, a_cs, mc - ir < kMr ? mc - ir : kMr, kc, ap + ir * kKc);
        for (int64_t jr = 0; jr < nc; jr += kNr) {
          const int64_t nr = nc - jr < kNr ? nc - jr : kNr;
          for (int64_t ir = 0; ir < mc; ir += kMr) {
            const int64_t mr = mc - ir < kMr ? mc - ir : kMr;
            float* cc = c + (ic + ir) * ldc + jc + jr;
            const float* in;
            float* out;
            int64_t ld_in, ld_out;
            bool zero_start;
            SeqFinish fin;
            if (from_c) {
              in = cc, ld_in = ldc, out = cc, ld_out = ldc, zero_start = false, fin = SeqFinish::Store;
            } else if (!need_acc) {
              in = nullptr, ld_in = 0, out = cc, ld_out = ldc, zero_start = true, fin = op.finish;
            } else {
              float* t = acc + ir * kNc + jr;
              in = t, ld_in = kNc, zero_start = first;
              if (last) out = cc, ld_out = ldc, fin = op.finish;
              else out = t, ld_out = kNc, fin = SeqFinish::Store;
            }
            if (sub) micro<true>(kc, ap + ir * kKc, bp + jr * kKc, zero_start, in, ld_in, out, ld_out, fin, mr, nr);
            else micro<false>(kc, ap + ir * kKc, bp + jr * kKc, zero_start, in, ld_in, out, ld_out, fin, mr, nr);
          }
        }
      }
    }
  }
}

}  // namespace

void seq_gemm_avx512(const SeqGemm& op, int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                     const float* b, int64_t ldb, float* c, int64_t ldc) {
  // Packing costs about one pass over A and B; it pays off once each packed
  // B value serves several rows and the product is long.
  if (m < 16 || k < 16) gemm_direct(op, m, n, k, a, a_rs, a_cs, b, ldb, c, ldc);
  else gemm_packed(op, m, n, k, a, a_rs, a_cs, b, ldb, c, ldc);
}

}  // namespace nb::kernels::cpu
