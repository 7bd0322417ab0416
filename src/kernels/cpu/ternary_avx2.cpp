// Ternary kernels, AVX2: T2 and T1_6 x I8_ROW (matmul_scaled), TQ2_0 and
// TQ1_0 x Q8_K (matmul). Everything is internal to this file (see scratch.h
// for why nothing may be shared with other files).
//
// Integer core (matmulfree-lm.md §5.3): trits c = w + 1 in {0,1,2} as
// unsigned bytes times int8 codes with vpmaddubsw (pairs, |.| <= 2*2*128 =
// 512, no saturation), at most 5 such results added in int16 (<= 2560), then
// widened by vpmaddwd with ones; Σ (c-1) q = Σ c q - Σ q with Σ q once per
// token row. The sums are exact, so their order is free and T = 1 and T > 1
// agree bit for bit; only the final float expression is fixed, as in ref/:
//   T2/T1_6: y = float(acc) * (a_scale * w_scale)
//   TQ:      sum += (d_w * d_a) * float(acc_block), blocks in order
//
// T2 and T1_6 blocks line up with the activation codes as stored: plane n
// of a 32-byte block is elements 32n..32n+31. T1_6 trits come from
// t = floor(3 b / 256) = (b >= 86) + (b >= 171) (two signed byte compares
// on b ^ 0x80), and the next plane's byte 3 b mod 256 is two byte adds; the
// biased form survives since 3 (b - 128) = 3 b - 128 (mod 256).
//
// Decode (T = 1) streams 4 weight rows at a time, taken from 4 long
// sequential streams (row_streams.h) and prefetched ahead, sharing each
// activation load. Prefill (T > 1) unpacks an L2-sized block of rows once to
// one trit per byte and runs a 2-row x 4-token micro-kernel over it.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "formats/blocks.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/row_streams.h"
#include "kernels/cpu/scratch.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries; the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels {
namespace {

using formats::BlockQ8_K;
using formats::BlockTQ1_0;
using formats::BlockTQ2_0;
using formats::kQK_K;

// How far ahead (bytes) decode prefetches each row stream.
#ifndef NIBBLE_TERNARY_PREFETCH_AHEAD
#define NIBBLE_TERNARY_PREFETCH_AHEAD 2048  // 2 threads, 1.3B T2: 2048 B ~8% above 1024, 4096 and 512 below
#endif
constexpr int64_t kPrefetchAhead = NIBBLE_TERNARY_PREFETCH_AHEAD;

// The lines of a block kPrefetchAhead bytes ahead in its row (blocks are
// under 128 bytes: its first and last byte cover it).
template <class Block>
inline void prefetch_block(const Block* b) {
  const char* p = reinterpret_cast<const char*>(b) + kPrefetchAhead;
  _mm_prefetch(p, _MM_HINT_T0);
  _mm_prefetch(p + sizeof(Block) - 1, _MM_HINT_T0);
}
constexpr size_t kUnpackBlockBytes = 256 << 10;  // unpacked trits per prefill row block (L2)
constexpr int kMR = 2, kMC = 4;                  // prefill micro-tile: rows x tokens

inline float row_scale(const char* row) {
  float s;
  std::memcpy(&s, row, sizeof s);
  return s;
}
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m256i times3(__m256i b) { return _mm256_add_epi8(_mm256_add_epi8(b, b), b); }
inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

// Exact Σ of n int8 codes.
int32_t code_sum(const int8_t* q, int64_t n) {
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  __m256i acc = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, load256(q + i)), ones16));
  int32_t s = hsum_i32(acc);
  for (; i < n; ++i) s += q[i];
  return s;
}

// ============================================================================
// T2 / T1_6
// ============================================================================
struct T2F {
  static constexpr int kElems = formats::kQKT2;  // per 32-byte block
};
struct T1_6F {
  static constexpr int kElems = formats::kQKT1_6;
};

// Trit plane n (0..3) of a T2 block.
inline __m256i t2_plane(__m256i v, int n) { return _mm256_and_si256(_mm256_srli_epi16(v, 2 * n), _mm256_set1_epi8(3)); }
// Trits of the biased bytes x = b_n ^ 0x80.
inline __m256i t1_6_trits(__m256i x) {
  const __m256i lo = _mm256_set1_epi8(85 - 128), hi = _mm256_set1_epi8(170 - 128);
  return _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), _mm256_cmpgt_epi8(x, lo)), _mm256_cmpgt_epi8(x, hi));
}

// Σ c q of one 32-byte block against its codes a (int16 lanes, exact).
inline __m256i block_dot16(__m256i v, const int8_t* a, T2F) {
  __m256i s = _mm256_maddubs_epi16(t2_plane(v, 0), load256(a));
  s = _mm256_add_epi16(s, _mm256_maddubs_epi16(t2_plane(v, 1), load256(a + 32)));
  s = _mm256_add_epi16(s, _mm256_maddubs_epi16(t2_plane(v, 2), load256(a + 64)));
  return _mm256_add_epi16(s, _mm256_maddubs_epi16(t2_plane(v, 3), load256(a + 96)));
}
inline __m256i block_dot16(__m256i v, const int8_t* a, T1_6F) {
  __m256i x = _mm256_xor_si256(v, _mm256_set1_epi8(char(0x80)));
  __m256i s = _mm256_maddubs_epi16(t1_6_trits(x), load256(a));
#pragma GCC unroll 4
  for (int n = 1; n < 5; ++n) {
    x = times3(x);
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(t1_6_trits(x), load256(a + 32 * n)));
  }
  return s;
}

template <class F, int R>
void gemv(const char* w, size_t wrb, int64_t nb, const int8_t* q, int32_t qsum, float scale, float* y, int64_t ys) {
  __m256i acc[R];
  for (int i = 0; i < R; ++i) acc[i] = _mm256_setzero_si256();
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const char* blk = w + i * wrb + b * 32;
      _mm_prefetch(blk + kPrefetchAhead, _MM_HINT_T0);
      const __m256i s = block_dot16(load256(blk), q + b * F::kElems, F{});
      acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(s, ones16));
    }
  }
  for (int i = 0; i < R; ++i) y[i * ys] = float(hsum_i32(acc[i]) - qsum) * scale;
}

// ---- prefill: unpack rows to one trit per byte, natural element order.
inline void unpack_block(const char* blk, uint8_t* dst, T2F) {
  const __m256i v = load256(blk);
  for (int n = 0; n < 4; ++n) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * n), t2_plane(v, n));
}
inline void unpack_block(const char* blk, uint8_t* dst, T1_6F) {
  __m256i x = _mm256_xor_si256(load256(blk), _mm256_set1_epi8(char(0x80)));
  for (int n = 0; n < 5; ++n) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32 * n), t1_6_trits(x));
    x = times3(x);
  }
}

template <class F>
void unpack_rows(const char* w, size_t wrb, int64_t rows, int64_t rows_padded, int64_t nb, uint8_t* U, int64_t us) {
  for (int64_t r = 0; r < rows_padded; ++r) {
    uint8_t* dst = U + r * us;
    if (r >= rows) {
      std::memset(dst, 0, size_t(us));
      continue;
    }
    for (int64_t b = 0; b < nb; ++b) unpack_block(w + r * wrb + b * 32, dst + b * F::kElems, F{});
  }
}

// acc[r][c] = Σ_k U[r][k] * X[c][k] over k < kp (a multiple of 32).
void micro(const uint8_t* U, int64_t us, const int8_t* X, int64_t xs, int64_t kp, int32_t out[kMR][kMC]) {
  __m256i acc[kMR][kMC];
  for (int r = 0; r < kMR; ++r)
    for (int c = 0; c < kMC; ++c) acc[r][c] = _mm256_setzero_si256();
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int64_t k = 0; k < kp; k += 32) {
    const __m256i u0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(U + k));
    const __m256i u1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(U + us + k));
#pragma GCC unroll 4
    for (int c = 0; c < kMC; ++c) {
      const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(X + c * xs + k));
      acc[0][c] = _mm256_add_epi32(acc[0][c], _mm256_madd_epi16(_mm256_maddubs_epi16(u0, x), ones16));
      acc[1][c] = _mm256_add_epi32(acc[1][c], _mm256_madd_epi16(_mm256_maddubs_epi16(u1, x), ones16));
    }
  }
  for (int r = 0; r < kMR; ++r)
    for (int c = 0; c < kMC; ++c) out[r][c] = hsum_i32(acc[r][c]);
}

template <class F>
void matmul_ternary(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb,
                    int64_t T, float* y, int64_t ys, float w_scale) {
  const char* w = static_cast<const char*>(wv);
  const char* x = static_cast<const char*>(xv);
  const int64_t nb = (k + F::kElems - 1) / F::kElems;
  const int64_t kp = nb * F::kElems;  // codes per activation row (padded_cols), a multiple of 32
  if (r1 <= r0) return;
  if (T == 1) {
    const int8_t* q = reinterpret_cast<const int8_t*>(x + sizeof(float));
    const int32_t qsum = code_sum(q, kp);
    const float scale = row_scale(x) * w_scale;
    for_row_streams<4>(
        r0, r1,
        [&](int64_t r, int64_t part) { gemv<F, 4>(w + r * wrb, wrb * size_t(part), nb, q, qsum, scale, y + r, part); },
        [&](int64_t r) { gemv<F, 1>(w + r * wrb, wrb, nb, q, qsum, scale, y + r, 1); });
    return;
  }
  // Prefill. Activations copied to aligned rows (T padded to kMC, zero rows).
  const int64_t us = kp;
  const int64_t Tp = (T + kMC - 1) / kMC * kMC;
  int8_t* X = static_cast<int8_t*>(cpu::scratch(1, size_t(Tp * us + Tp * 8)));
  int32_t* qsum = reinterpret_cast<int32_t*>(X + Tp * us);
  float* scale = reinterpret_cast<float*>(qsum + Tp);
  for (int64_t t = 0; t < Tp; ++t) {
    int8_t* dst = X + t * us;
    if (t < T) {
      const int8_t* q = reinterpret_cast<const int8_t*>(x + t * xrb + sizeof(float));
      std::memcpy(dst, q, size_t(kp));
      qsum[t] = code_sum(q, kp);
      scale[t] = row_scale(x + t * xrb) * w_scale;
    } else {
      std::memset(dst, 0, size_t(us));
    }
  }
  int64_t rb = int64_t(kUnpackBlockBytes / size_t(us)) / kMR * kMR;
  if (rb < kMR) rb = kMR;
  uint8_t* U = static_cast<uint8_t*>(cpu::scratch(0, size_t(rb * us)));
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t rows = b0 + rb < r1 ? rb : r1 - b0;
    const int64_t rows_p = (rows + kMR - 1) / kMR * kMR;
    unpack_rows<F>(w + b0 * wrb, wrb, rows, rows_p, nb, U, us);
    for (int64_t t0 = 0; t0 < T; t0 += kMC)
      for (int64_t i = 0; i < rows_p; i += kMR) {
        int32_t acc[kMR][kMC];
        micro(U + i * us, us, X + t0 * us, us, us, acc);
        for (int r = 0; r < kMR && i + r < rows; ++r)
          for (int c = 0; c < kMC && t0 + c < T; ++c)
            y[(t0 + c) * ys + b0 + i + r] = float(acc[r][c] - qsum[t0 + c]) * scale[t0 + c];
      }
  }
}

// ============================================================================
// TQ2_0 / TQ1_0 x Q8_K (llama.cpp's ternary files). Per 256-block the exact
// int32 Σ c q - Σ q (Σ q from the Q8_K bsums), then, in block order and
// exactly as the reference writes it, sum += (d_w * d_a) * float(acc). Four
// rows at a time: their block sums are reduced together into one xmm and the
// float steps run lane-wise on it, which is the scalar expression per lane.
// ============================================================================

// Keeps GCC from contracting the product into the following add (an FMA
// would round once where the reference rounds twice).
inline __m128 no_contract(__m128 v) {
  __asm__("" : "+x"(v));
  return v;
}

// TQ2_0: half h of qs (32 bytes), plane l, is elements 128h + 32l + m: the
// Q8_K codes as stored. TQ1_0: qs[0..31] plane n is elements 32n + m (codes
// as stored); qs[32..47] and qh[0..3] are loaded as one ymm [qs32..47 | qh |
// 0], whose plane n needs codes [q[160 + 16n + m] | q[240 + 4n + j] (n < 4)
// | 0]: a per-token side layout of 5 x 32 bytes per block.
struct TQ2F {
  using Block = BlockTQ2_0;
  static constexpr int kSide = 0;
  static void side(const int8_t*, int8_t*) {}
};
struct TQ1F {
  using Block = BlockTQ1_0;
  static constexpr int kSide = 5 * 32;
  static void side(const int8_t* q, int8_t* out) {
    std::memset(out, 0, kSide);
    for (int n = 0; n < 5; ++n) {
      std::memcpy(out + 32 * n, q + 160 + 16 * n, 16);
      if (n < 4) std::memcpy(out + 32 * n + 16, q + 240 + 4 * n, 4);
    }
  }
};

// Int32 lane sums of c * q for one block (int16 partials <= 10 * 512).
inline __m256i tq_block(const BlockTQ2_0* b, const int8_t* q, const int8_t*) {
  const __m256i v0 = load256(b->qs), v1 = load256(b->qs + 32);
  __m256i s = _mm256_maddubs_epi16(t2_plane(v0, 0), load256(q));
#pragma GCC unroll 4
  for (int l = 1; l < 4; ++l) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(t2_plane(v0, l), load256(q + 32 * l)));
#pragma GCC unroll 4
  for (int l = 0; l < 4; ++l) s = _mm256_add_epi16(s, _mm256_maddubs_epi16(t2_plane(v1, l), load256(q + 128 + 32 * l)));
  return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}
inline __m256i tq_block(const BlockTQ1_0* b, const int8_t* q, const int8_t* side) {
  int32_t qh;
  std::memcpy(&qh, b->qh, 4);
  const __m256i bias = _mm256_set1_epi8(char(0x80));
  __m256i x0 = _mm256_xor_si256(load256(b->qs), bias);
  __m256i x1 = _mm256_xor_si256(
      _mm256_set_m128i(_mm_cvtsi32_si128(qh), _mm_loadu_si128(reinterpret_cast<const __m128i*>(b->qs + 32))), bias);
  __m256i s = _mm256_add_epi16(_mm256_maddubs_epi16(t1_6_trits(x0), load256(q)),
                               _mm256_maddubs_epi16(t1_6_trits(x1), load256(side)));
#pragma GCC unroll 4
  for (int n = 1; n < 5; ++n) {
    x0 = times3(x0);
    x1 = times3(x1);
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(t1_6_trits(x0), load256(q + 32 * n)));
    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(t1_6_trits(x1), load256(side + 32 * n)));
  }
  return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}

// [Σ a, Σ b, Σ c, Σ d] of four int32 vectors.
inline __m128i reduce4(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
  const __m256i cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));
  const __m256i s = _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

// Rows [0, R) of w (R = 4 or 1) against one token.
template <class F, int R>
void tq_rows(const char* w, size_t wrb, int64_t nsb, const BlockQ8_K* xb, const int8_t* side, const int32_t* qs,
             float* y, int64_t ys) {
  using Block = typename F::Block;
  __m128 sum = _mm_setzero_ps();
  for (int64_t j = 0; j < nsb; ++j) {
    const int8_t* q = xb[j].qs;
    const int8_t* sd = side + j * F::kSide;
    __m128i s;
    __m128 dw;
    if constexpr (R == 4) {
      const Block* b[4];
      for (int i = 0; i < 4; ++i) {
        b[i] = reinterpret_cast<const Block*>(w + i * wrb) + j;
        prefetch_block(b[i]);
      }
      s = reduce4(tq_block(b[0], q, sd), tq_block(b[1], q, sd), tq_block(b[2], q, sd), tq_block(b[3], q, sd));
      dw = _mm_cvtph_ps(_mm_setr_epi16(short(b[0]->d), short(b[1]->d), short(b[2]->d), short(b[3]->d), 0, 0, 0, 0));
    } else {
      const Block* b = reinterpret_cast<const Block*>(w) + j;
      prefetch_block(b);
      s = _mm_cvtsi32_si128(hsum_i32(tq_block(b, q, sd)));
      dw = _mm_cvtph_ps(_mm_cvtsi32_si128(b->d));
    }
    s = _mm_sub_epi32(s, _mm_set1_epi32(qs[j]));
    sum = _mm_add_ps(sum, no_contract(_mm_mul_ps(_mm_mul_ps(dw, _mm_set1_ps(xb[j].d)), _mm_cvtepi32_ps(s))));
  }
  float out[4];
  _mm_storeu_ps(out, sum);
  for (int i = 0; i < R; ++i) y[i * ys] = out[i];
}

template <class F>
void matmul_tq(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb, int64_t T,
               float* y, int64_t ys) {
  const char* w = static_cast<const char*>(wv);
  const char* x = static_cast<const char*>(xv);
  const int64_t nsb = k / kQK_K;
  if (r1 <= r0 || nsb == 0) return;
  // Per token and block: Σ q (from the bsums) and the side layout.
  int8_t* SIDE = static_cast<int8_t*>(cpu::scratch(1, size_t(T * nsb) * (F::kSide + 4) + 4));
  int32_t* QS = reinterpret_cast<int32_t*>(SIDE + T * nsb * F::kSide);
  for (int64_t t = 0; t < T; ++t) {
    const BlockQ8_K* xb = reinterpret_cast<const BlockQ8_K*>(x + t * xrb);
    for (int64_t j = 0; j < nsb; ++j) {
      F::side(xb[j].qs, SIDE + (t * nsb + j) * F::kSide);
      int32_t s = 0;
      for (int g = 0; g < kQK_K / 16; ++g) s += xb[j].bsums[g];
      QS[t * nsb + j] = s;
    }
  }
  const BlockQ8_K* xb0 = reinterpret_cast<const BlockQ8_K*>(x);
  if (T == 1) {
    for_row_streams<4>(
        r0, r1,
        [&](int64_t r, int64_t part) { tq_rows<F, 4>(w + r * wrb, wrb * size_t(part), nsb, xb0, SIDE, QS, y + r, part); },
        [&](int64_t r) { tq_rows<F, 1>(w + r * wrb, wrb, nsb, xb0, SIDE, QS, y + r, 1); });
    return;
  }
  // Prefill: rows in L2-sized blocks; each token runs over the block.
  int64_t rb = int64_t((256u << 10) / wrb) / 4 * 4;
  if (rb < 4) rb = 4;
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;
    for (int64_t t = 0; t < T; ++t) {
      const BlockQ8_K* xb = reinterpret_cast<const BlockQ8_K*>(x + t * xrb);
      const int8_t* side = SIDE + t * nsb * F::kSide;
      const int32_t* qs = QS + t * nsb;
      int64_t r = b0;
      for (; r + 4 <= b1; r += 4) tq_rows<F, 4>(w + r * wrb, wrb, nsb, xb, side, qs, y + t * ys + r, 1);
      for (; r < b1; ++r) tq_rows<F, 1>(w + r * wrb, wrb, nsb, xb, side, qs, y + t * ys + r, 1);
    }
  }
}

}  // namespace

void register_ternary_avx2(KernelTable& t) {
  t.matmul_scaled[size_t(FormatId::T2)] = matmul_ternary<T2F>;
  t.matmul_scaled[size_t(FormatId::T1_6)] = matmul_ternary<T1_6F>;
  t.matmul[size_t(FormatId::TQ2_0)] = matmul_tq<TQ2F>;
  t.matmul[size_t(FormatId::TQ1_0)] = matmul_tq<TQ1F>;
}

}  // namespace nb::kernels
