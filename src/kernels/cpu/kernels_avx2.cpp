// AVX2 + FMA + F16C kernels, for x86-64 CPUs without AVX-512 (and the
// fallback level below it). Everything is internal to this file (see
// scratch.h for why nothing here may be shared with other files).
//
// Same structure as kernels_avx512.cpp: decode streams each weight row once
// with several rows in flight and prefetch; prefill visits an L2-sized block
// of weight rows once per tile of tokens and reuses each loaded weight vector
// for every token of the tile.
//
// Determinism: each output (t, r) has its own 8-lane accumulator, updated with
// the same instructions in increasing k whatever the tile shape or T, then
// reduced by one fixed tree: T = 1 and T > 1 give bit-identical outputs.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "formats/blocks.h"
#include "kernels/attend_head.h"
#include "kernels/cpu/bf16_lanes.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/hsum.h"
#include "kernels/cpu/row_streams.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries; the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels {
namespace {

using formats::BlockQ4_0;
using formats::BlockQ4_K;
using formats::BlockQ5_K;
using formats::BlockQ6_K;
using formats::BlockQ8_0;
using formats::BlockQ8_K;
using formats::kQK8_0;
using formats::kQK_K;

inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

inline void prefetch_range(const char* p, size_t bytes) {
  for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(p + o, _MM_HINT_T0);
}

#ifndef NIBBLE_PREFETCH_AHEAD
#define NIBBLE_PREFETCH_AHEAD 512  // bytes; tuned on SPR: 512 beat 0, 1024, 2048, 4096
#endif
constexpr size_t kPrefetchAhead = NIBBLE_PREFETCH_AHEAD;
constexpr size_t kRowBlockBytes = 256 * 1024;

inline int64_t row_block(size_t bytes_per_row, int64_t multiple) {
  int64_t rb = int64_t(kRowBlockBytes / (bytes_per_row ? bytes_per_row : 1));
  rb = rb / multiple * multiple;
  return rb < multiple ? multiple : rb;
}

// Lane mask for the last n < 8 floats (maskload reads zeros elsewhere).
inline __m256i tail_mask8(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// ============================================================================
// F32 / F16 / BF16 weights x fp32 activations.
// Order per output: lane j (of 8) adds w[i] * x[i] for i = j, j+8, ... with one
// FMA each (a partial last vector reads zeros), then hsum256.
// ============================================================================
struct F32W {
  static constexpr size_t kBytes = 4;
  static __m256 load(const char* p, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p) + i); }
  static __m256 loadn(const char* p, int64_t i, int64_t n) {
    return _mm256_maskload_ps(reinterpret_cast<const float*>(p) + i, tail_mask8(n));
  }
};
struct F16W {
  static constexpr size_t kBytes = 2;
  static __m256 load(const char* p, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i)));
  }
  static __m256 loadn(const char* p, int64_t i, int64_t n) {
    uint16_t tmp[8] = {};
    std::memcpy(tmp, p + 2 * i, size_t(n) * 2);
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp)));
  }
};
struct BF16W {
  static constexpr size_t kBytes = 2;
  static __m256 load(const char* p, int64_t i) {
    return widen_bf16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i)));
  }
  static __m256 loadn(const char* p, int64_t i, int64_t n) {
    uint16_t tmp[8] = {};
    std::memcpy(tmp, p + 2 * i, size_t(n) * 2);
    return widen_bf16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tmp)));
  }
};

template <class L, int R, int C>
void float_tile(const char* w, size_t wrb, int64_t k, const char* x, size_t xrb, float* y, int64_t ys,
                int64_t yr = 1) {
  __m256 acc[R][C];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 wv[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      if (C == 1 && (i & 15) == 0) _mm_prefetch(w + r * wrb + i * L::kBytes + kPrefetchAhead, _MM_HINT_T0);
      wv[r] = L::load(w + r * wrb, i);
    }
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const __m256 xv = _mm256_loadu_ps(reinterpret_cast<const float*>(x + c * xrb) + i);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
    }
  }
  if (i < k) {
    const int64_t n = k - i;
    __m256 wv[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) wv[r] = L::loadn(w + r * wrb, i, n);
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const __m256 xv = _mm256_maskload_ps(reinterpret_cast<const float*>(x + c * xrb) + i, tail_mask8(n));
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) y[c * ys + r * yr] = hsum256(acc[r][c]);
}

template <class L, int R>
void float_tile_c(int c, const char* w, size_t wrb, int64_t k, const char* x, size_t xrb, float* y, int64_t ys) {
  switch (c) {
    case 1: return float_tile<L, R, 1>(w, wrb, k, x, xrb, y, ys);
    case 2: return float_tile<L, R, 2>(w, wrb, k, x, xrb, y, ys);
    default: return float_tile<L, R, 3>(w, wrb, k, x, xrb, y, ys);
  }
}

template <class L>
void matmul_float(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb,
                  int64_t T, float* y, int64_t ys) {
  const char* w = static_cast<const char*>(wv);
  const char* x = static_cast<const char*>(xv);
  if (T == 1) {
    for_row_streams<4>(
        r0, r1,
        [&](int64_t r, int64_t part) { float_tile<L, 4, 1>(w + r * wrb, wrb * size_t(part), k, x, xrb, y + r, ys, part); },
        [&](int64_t r) { float_tile<L, 1, 1>(w + r * wrb, wrb, k, x, xrb, y + r, ys); });
    return;
  }
  constexpr int R = 3, C = 3;  // 9 accumulators + 3 weights + 1 activation of 16 ymm
  const int64_t rb = row_block(wrb, R);
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;
    for (int64_t t = 0; t < T; t += C) {
      const int c = int(T - t < C ? T - t : C);
      int64_t r = b0;
      for (; r + R <= b1; r += R) float_tile_c<L, R>(c, w + r * wrb, wrb, k, x + t * xrb, xrb, y + t * ys + r, ys);
      for (; r < b1; ++r) float_tile_c<L, 1>(c, w + r * wrb, wrb, k, x + t * xrb, xrb, y + t * ys + r, ys);
    }
  }
}

// ============================================================================
// Q8_0 / Q4_0 weights x Q8_0 activations.
// vpmaddubsw multiplies unsigned by signed bytes into saturating int16 pairs.
// Sign trick: |w| takes the unsigned side and sign(w) * x the signed side;
// |w| <= 128 and |x| <= 127 (the Q8_0 quantizer never writes -128, and
// vpsignb could not negate it), so a pair is at most 2 * 128 * 127 = 32512 and
// never saturates: the int32 sums after vpmaddwd(.., 1) are exact.
// Per block and output: acc += float(int32 lanes) * (dw * dx).
// ============================================================================
struct WBlock {
  __m256i w;    // signed weights (sign source)
  __m256i aw;   // |w|
  float dw;
};

struct Q8_0W {
  using Block = BlockQ8_0;
  static WBlock prep(const BlockQ8_0& b) {
    WBlock p;
    p.w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs));
    p.aw = _mm256_abs_epi8(p.w);
    p.dw = h2f(b.d);
    return p;
  }
};

struct Q4_0W {
  using Block = BlockQ4_0;
  static WBlock prep(const BlockQ4_0& b) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.qs));
    // values 0..15 are the low nibbles, 16..31 the high ones
    const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
    WBlock p;
    p.w = _mm256_sub_epi8(_mm256_and_si256(both, _mm256_set1_epi8(0x0F)), _mm256_set1_epi8(8));
    p.aw = _mm256_abs_epi8(p.w);
    p.dw = h2f(b.d);
    return p;
  }
};

inline __m256 qstep(__m256 acc, const WBlock& p, const BlockQ8_0& a) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs));
  const __m256i prod16 = _mm256_maddubs_epi16(p.aw, _mm256_sign_epi8(x, p.w));
  const __m256i s = _mm256_madd_epi16(prod16, _mm256_set1_epi16(1));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(p.dw * h2f(a.d)), acc);
}

template <class F, int R, int C>
void q_tile(const char* w, size_t wrb, int64_t nb, const char* x, size_t xrb, float* y, int64_t ys,
            int64_t yr = 1) {
  using Block = typename F::Block;
  __m256 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    WBlock p[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Block* blk = reinterpret_cast<const Block*>(w + r * wrb) + b;
      if (C == 1) prefetch_range(reinterpret_cast<const char*>(blk) + kPrefetchAhead, sizeof(Block) > 32 ? 64 : 32);
      p[r] = F::prep(*blk);
    }
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) {
      const BlockQ8_0& a = reinterpret_cast<const BlockQ8_0*>(x + c * xrb)[b];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][c] = qstep(acc[r][c], p[r], a);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) y[c * ys + r * yr] = hsum256(acc[r][c]);
}

template <class F, int R>
void q_tile_c(int c, const char* w, size_t wrb, int64_t nb, const char* x, size_t xrb, float* y, int64_t ys) {
  switch (c) {
    case 1: return q_tile<F, R, 1>(w, wrb, nb, x, xrb, y, ys);
    case 2: return q_tile<F, R, 2>(w, wrb, nb, x, xrb, y, ys);
    case 3: return q_tile<F, R, 3>(w, wrb, nb, x, xrb, y, ys);
    default: return q_tile<F, R, 4>(w, wrb, nb, x, xrb, y, ys);
  }
}

template <class F>
void matmul_q(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb, int64_t T,
              float* y, int64_t ys) {
  const char* w = static_cast<const char*>(wv);
  const char* x = static_cast<const char*>(xv);
  const int64_t nb = k / kQK8_0;
  if (T == 1) {
    for_row_streams<4>(
        r0, r1,
        [&](int64_t r, int64_t part) { q_tile<F, 4, 1>(w + r * wrb, wrb * size_t(part), nb, x, xrb, y + r, ys, part); },
        [&](int64_t r) { q_tile<F, 1, 1>(w + r * wrb, wrb, nb, x, xrb, y + r, ys); });
    return;
  }
  constexpr int R = 2, C = 4;
  const int64_t rb = row_block(wrb, R);
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;
    for (int64_t t = 0; t < T; t += C) {
      const int c = int(T - t < C ? T - t : C);
      int64_t r = b0;
      for (; r + R <= b1; r += R) q_tile_c<F, R>(c, w + r * wrb, wrb, nb, x + t * xrb, xrb, y + t * ys + r, ys);
      for (; r < b1; ++r) q_tile_c<F, 1>(c, w + r * wrb, wrb, nb, x + t * xrb, xrb, y + t * ys + r, ys);
    }
  }
}

// ============================================================================
// K-quants x Q8_K. Per super-block the weights are unpacked once into eight
// ymm of 32 unsigned codes (sub-block j = values 32j..32j+31, the Q8_K order;
// Q6_K: 16-value sub-blocks, two per ymm) and int16 scale vectors; per token:
// vpmaddubsw (exact: pairs <= 2*63*128) then vpmaddwd by the scales into
// exact int32 lanes. Per super-block and output:
//   acc += float(isum) * (d * d_a);  accm += float(msum) * (dmin * d_a)
// and y = hsum256(acc) - hsum256(accm). Q6_K folds its -32 into isum.
// ============================================================================
struct KUnpacked {
  __m256i q[8];
  __m256i sc[8];
  __m256i m16;  // Q4_K/Q5_K: mins, each repeated for the 2 bsums of its sub-block; Q6_K: the 16 scales
  float d, dmin;
};

inline void k4_scales(const uint8_t* s, uint8_t sc[8], uint8_t mn[8]) {
  uint32_t w0, w1, w2;
  std::memcpy(&w0, s, 4);
  std::memcpy(&w1, s + 4, 4);
  std::memcpy(&w2, s + 8, 4);
  // Sub-blocks 0..3 keep 6 bits of bytes 0..3 (scales) / 4..7 (mins); 4..7
  // take a nibble of bytes 8..11 and the top 2 bits of bytes 0..3 / 4..7.
  const uint32_t v[4] = {w0 & 0x3f3f3f3fu, (w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4),
                         w1 & 0x3f3f3f3fu, ((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4)};
  std::memcpy(sc, v, 8);
  std::memcpy(mn, v + 2, 8);
}

inline void k4_scale_vectors(const uint8_t* scales, KUnpacked& u) {
  uint8_t sc[8], mn[8];
  k4_scales(scales, sc, mn);
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) u.sc[j] = _mm256_set1_epi16(short(sc[j]));
  uint64_t m64;
  std::memcpy(&m64, mn, 8);
  const __m128i mb = _mm_cvtsi64_si128(int64_t(m64));
  u.m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mb, mb));
}

struct Q4_KW {
  using Block = BlockQ4_K;
  static constexpr bool kMins = true;
  static void unpack(const BlockQ4_K& b, KUnpacked& u) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c));
      u.q[2 * c] = _mm256_and_si256(q, m4);
      u.q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    }
    k4_scale_vectors(b.scales, u);
    u.d = h2f(b.d);
    u.dmin = h2f(b.dmin);
  }
};

struct Q5_KW {
  using Block = BlockQ5_K;
  static constexpr bool kMins = true;
  static void unpack(const BlockQ5_K& b, KUnpacked& u) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh));
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs + 32 * c));
      // Sub-block j = 2c (low nibbles) takes bit j of qh[l], 2c+1 bit j+1:
      // move that bit to bit 4 (16-bit shifts; the mask drops bits that
      // crossed from the neighbouring byte).
      const int j = 2 * c;
      const __m256i h0 = j <= 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4);
      const __m256i h1 = j + 1 <= 4 ? _mm256_slli_epi16(qh, 3 - j) : _mm256_srli_epi16(qh, j - 3);
      u.q[j] = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_and_si256(h0, b4));
      u.q[j + 1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), _mm256_and_si256(h1, b4));
    }
    k4_scale_vectors(b.scales, u);
    u.d = h2f(b.d);
    u.dmin = h2f(b.dmin);
  }
};

struct Q6_KW {
  using Block = BlockQ6_K;
  static constexpr bool kMins = false;
  static void unpack(const BlockQ6_K& b, KUnpacked& u) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h));
      const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.ql + 64 * h + 32));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qh + 32 * h));
      // quarter q of the half: nibble from ql0/ql1, qh bits 2q..2q+1 moved to bits 4,5
      u.q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
      u.q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
      u.q[4 * h + 2] =
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
      u.q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
    }
    // ymm i holds sub-blocks 2i (int16 lanes 0..7 after vpmaddubsw) and 2i+1.
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i)
      u.sc[i] = _mm256_setr_m128i(_mm_set1_epi16(short(b.scales[2 * i])), _mm_set1_epi16(short(b.scales[2 * i + 1])));
    u.m16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.scales)));
    u.d = h2f(b.d);
    u.dmin = 0.0f;
  }
};

template <class F>
inline void k_step(const KUnpacked& u, const BlockQ8_K& a, __m256& acc, __m256& accm) {
  __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs + 32 * j));
    isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(u.q[j], av), u.sc[j]));
  }
  const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.bsums));
  if constexpr (F::kMins) {
    const __m256i ms = _mm256_madd_epi16(bs, u.m16);
    accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_set1_ps(u.dmin * a.d), accm);
  } else {
    // sum_g s_g * sum((q - 32) a) = sum_g s_g * sum(q a) - 32 * sum_g s_g * bsum_g
    isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(_mm256_madd_epi16(bs, u.m16), 5));
  }
  acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(u.d * a.d), acc);
}

template <class F, int R, int C>
void k_tile(const char* w, size_t wrb, int64_t nsb, const char* x, size_t xrb, float* y, int64_t ys,
            int64_t yr = 1) {
  using Block = typename F::Block;
  __m256 acc[R][C], accm[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = accm[r][c] = _mm256_setzero_ps();
  for (int64_t s = 0; s < nsb; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Block* b = reinterpret_cast<const Block*>(w + r * wrb) + s;
      if (C == 1) prefetch_range(reinterpret_cast<const char*>(b) + kPrefetchAhead, sizeof(Block));
      KUnpacked u;
      F::unpack(*b, u);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) k_step<F>(u, reinterpret_cast<const BlockQ8_K*>(x + c * xrb)[s], acc[r][c], accm[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c)
      y[c * ys + r * yr] = F::kMins ? hsum256(acc[r][c]) - hsum256(accm[r][c]) : hsum256(acc[r][c]);
}

template <class F>
void k_tile_c(int c, const char* w, size_t wrb, int64_t nsb, const char* x, size_t xrb, float* y, int64_t ys) {
  switch (c) {
    case 1: return k_tile<F, 1, 1>(w, wrb, nsb, x, xrb, y, ys);
    case 2: return k_tile<F, 1, 2>(w, wrb, nsb, x, xrb, y, ys);
    case 3: return k_tile<F, 1, 3>(w, wrb, nsb, x, xrb, y, ys);
    default: return k_tile<F, 1, 4>(w, wrb, nsb, x, xrb, y, ys);
  }
}

template <class F>
void matmul_k(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb, int64_t T,
              float* y, int64_t ys) {
  const char* w = static_cast<const char*>(wv);
  const char* x = static_cast<const char*>(xv);
  const int64_t nsb = k / kQK_K;
  if (T == 1) {
    for_row_streams<2>(
        r0, r1,
        [&](int64_t r, int64_t part) { k_tile<F, 2, 1>(w + r * wrb, wrb * size_t(part), nsb, x, xrb, y + r, ys, part); },
        [&](int64_t r) { k_tile<F, 1, 1>(w + r * wrb, wrb, nsb, x, xrb, y + r, ys); });
    return;
  }
  constexpr int C = 4;
  const int64_t rb = row_block(wrb, 1);
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;
    for (int64_t t = 0; t < T; t += C) {
      const int c = int(T - t < C ? T - t : C);
      for (int64_t r = b0; r < b1; ++r) k_tile_c<F>(c, w + r * wrb, wrb, nsb, x + t * xrb, xrb, y + t * ys + r, ys);
    }
  }
}

// ============================================================================
// Activation quantizers, bit-identical to formats/q8_0.cpp and q8_k.cpp.
// ============================================================================

// roundf (ties away from zero) for |v| < 2^23: truncate, then step away from
// zero when the dropped fraction (exact) is >= 0.5.
inline __m256 round_away(__m256 v) {
  const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
  const __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
  const __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
  return _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(_mm256_set1_ps(1.0f), sign)));
}

// 32 int32 (in four ymm, values in int8 range) -> 32 int8 in order.
inline __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);  // lane-interleaved
  const __m256i abcd = _mm256_packs_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

inline float hmax256(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

void quantize_q8_0(const float* x, void* dst, int64_t n) {
  BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    __m256 v[4];
    for (int j = 0; j < 4; ++j) v[j] = _mm256_loadu_ps(x + i * 32 + 8 * j);
    // max|x| is exact in any order (activations are assumed finite).
    const float amax =
        hmax256(_mm256_max_ps(_mm256_max_ps(abs_ps(v[0]), abs_ps(v[1])), _mm256_max_ps(abs_ps(v[2]), abs_ps(v[3]))));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 s = _mm256_set1_ps(id);
    __m256i q[4];
    for (int j = 0; j < 4; ++j) q[j] = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v[j], s)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs), pack32(q[0], q[1], q[2], q[3]));
  }
}

void quantize_q8_k(const float* x, void* dst, int64_t n) {
  BlockQ8_K* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* xb = x + i * kQK_K;
    __m256 mx = _mm256_setzero_ps();
    for (int j = 0; j < kQK_K; j += 8) mx = _mm256_max_ps(mx, abs_ps(_mm256_loadu_ps(xb + j)));
    const float amax = hmax256(mx);
    if (amax == 0.0f) {
      std::memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    // The reference keeps the first value of largest magnitude (with its sign).
    float m = 0.0f;
    const __m256 va = _mm256_set1_ps(amax);
    for (int j = 0; j < kQK_K; j += 8) {
      const int hit = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(xb + j)), va, _CMP_EQ_OQ));
      if (hit) {
        m = xb[j + __builtin_ctz(unsigned(hit))];
        break;
      }
    }
    const float iscale = -127.0f / m;
    const __m256 s = _mm256_set1_ps(iscale);
    const __m256i hi = _mm256_set1_epi32(127);
    for (int j = 0; j < kQK_K; j += 32) {
      __m256i q[4];
      // vcvtps2dq rounds half to even (default MXCSR), like nearbyintf.
      for (int l = 0; l < 4; ++l)
        q[l] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 8 * l), s)), hi);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(b[i].qs + j), pack32(q[0], q[1], q[2], q[3]));
      // bsums of the two groups of 16: horizontal sums of q[0]+q[1], q[2]+q[3]
      const __m256i g = _mm256_hadd_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
      const __m256i g2 = _mm256_hadd_epi32(g, g);  // lane0: [s01a, s23a, ..], lane1 likewise
      const int s0 = _mm256_extract_epi32(g2, 0) + _mm256_extract_epi32(g2, 4);
      const int s1 = _mm256_extract_epi32(g2, 1) + _mm256_extract_epi32(g2, 5);
      b[i].bsums[j / 16] = int16_t(s0);
      b[i].bsums[j / 16 + 1] = int16_t(s1);
    }
    b[i].d = 1.0f / iscale;
  }
}

// ============================================================================
// fp32 vector ops.
// ============================================================================

// e^x: x = n ln2 + r, degree-6 polynomial (Cephes expf coefficients, ~1 ulp),
// 2^n built in the exponent field. Below -87.34 the result is 0 (the true
// value is subnormal), above 88.38 it is +inf.
inline __m256 exp256(__m256 x0) {
  const __m256 x = _mm256_max_ps(_mm256_min_ps(x0, _mm256_set1_ps(88.3762626647949f)), _mm256_set1_ps(-87.3365478515625f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 e = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i pow2n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  __m256 out = _mm256_mul_ps(e, _mm256_castsi256_ps(pow2n));
  out = _mm256_andnot_ps(_mm256_cmp_ps(x0, _mm256_set1_ps(-87.3365478515625f), _CMP_LT_OQ), out);
  out = _mm256_blendv_ps(out, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(x0, _mm256_set1_ps(88.3762626647949f), _CMP_GT_OQ));
  return _mm256_blendv_ps(out, x0, _mm256_cmp_ps(x0, x0, _CMP_UNORD_Q));  // NaN stays NaN
}

void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps) {
  __m256 ss = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    ss = _mm256_fmadd_ps(v, v, ss);
  }
  if (i < n) {
    const __m256 v = _mm256_maskload_ps(x + i, tail_mask8(n - i));
    ss = _mm256_fmadd_ps(v, v, ss);
  }
  const float inv = 1.0f / __builtin_sqrtf(hsum256(ss) / float(n) + eps);
  const __m256 s = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), s), _mm256_loadu_ps(w + i)));
  for (; i < n; ++i) out[i] = x[i] * inv * w[i];
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float mx = x[0];
  int64_t i = 0;
  __m256 vm = _mm256_set1_ps(x[0]);
  for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
  mx = hmax256(vm);
  for (; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  const __m256 m = _mm256_set1_ps(mx);
  __m256 sum = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
    _mm256_storeu_ps(x + i, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (i < n) {
    float tmp[8] = {};
    std::memcpy(tmp, x + i, size_t(n - i) * 4);
    const __m256 keep = _mm256_castsi256_ps(tail_mask8(n - i));
    const __m256 e = _mm256_and_ps(keep, exp256(_mm256_sub_ps(_mm256_loadu_ps(tmp), m)));
    _mm256_storeu_ps(tmp, e);
    std::memcpy(x + i, tmp, size_t(n - i) * 4);
    sum = _mm256_add_ps(sum, e);
  }
  const float inv = 1.0f / hsum256(sum);
  const __m256 vi = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vi));
  for (; i < n; ++i) x[i] *= inv;
}

void swiglu(float* out, const float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 sig = _mm256_div_ps(g, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), g))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(sig, _mm256_loadu_ps(up + i)));
  }
  if (i < n) {
    float g8[8] = {}, u8[8] = {};
    std::memcpy(g8, gate + i, size_t(n - i) * 4);
    std::memcpy(u8, up + i, size_t(n - i) * 4);
    const __m256 g = _mm256_loadu_ps(g8);
    const __m256 sig = _mm256_div_ps(g, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), g))));
    _mm256_storeu_ps(g8, _mm256_mul_ps(sig, _mm256_loadu_ps(u8)));
    std::memcpy(out + i, g8, size_t(n - i) * 4);
  }
}

void sigmoid(float* out, const float* x, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  auto sig = [&](__m256 v) { return _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), v)))); };
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, sig(_mm256_loadu_ps(x + i)));
  if (i < n) {  // the tail through a zero-padded buffer, as swiglu
    float v[8] = {};
    std::memcpy(v, x + i, size_t(n - i) * 4);
    _mm256_storeu_ps(v, sig(_mm256_loadu_ps(v)));
    std::memcpy(out + i, v, size_t(n - i) * 4);
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  if (i < n) {
    const __m256i m = tail_mask8(n - i);
    s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
  }
  return hsum256(_mm256_add_ps(s0, s1));
}

void axpy_f32(float* y, float a, const float* x, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] = __builtin_fmaf(a, x[i], y[i]);
}

}  // namespace

void register_avx2(KernelTable& t) {
  t.set_matmul(FormatId::F32, matmul_float<F32W>);
  t.set_matmul(FormatId::F16, matmul_float<F16W>);
  t.set_matmul(FormatId::BF16, matmul_float<BF16W>);
  t.set_matmul(FormatId::Q8_0, matmul_q<Q8_0W>);
  t.set_matmul(FormatId::Q4_0, matmul_q<Q4_0W>);
  t.set_matmul(FormatId::Q4_K, matmul_k<Q4_KW>);
  t.set_matmul(FormatId::Q5_K, matmul_k<Q5_KW>);
  t.set_matmul(FormatId::Q6_K, matmul_k<Q6_KW>);
  t.quantize[size_t(FormatId::Q8_0)] = quantize_q8_0;
  t.quantize[size_t(FormatId::Q8_K)] = quantize_q8_k;
  t.rmsnorm = rmsnorm;
  t.softmax = softmax;
  t.swiglu = swiglu;
  t.sigmoid = sigmoid;
  t.dot_f32 = dot_f32;
  t.axpy_f32 = axpy_f32;
  t.attend_head = attend_head_with<dot_f32, softmax, axpy_f32>;
  register_ternary_avx2(t);
}

}  // namespace nb::kernels
