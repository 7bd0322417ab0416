// AVX-512 VNNI kernels for llama.cpp's K-quants against Q8_K activations:
// Q4_K, Q5_K and Q6_K in their file layouts (under --no-repack), and Q4_KR /
// Q5_KR / Q6_KR, the layouts they are rearranged to at load
// (formats/blocks.h). Internal to this file, as kernels_avx512.cpp.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/half.h"
#include "formats/blocks.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/hsum.h"
#include "kernels/cpu/row_blocks.h"
#include "kernels/cpu/row_streams.h"
#include "kernels/cpu/scratch.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels {
namespace {

using formats::BlockQ4_K;
using formats::BlockQ5_K;
using formats::BlockQ6_K;
using formats::BlockQ8_K;
using formats::kQK_K;

// ============================================================================
// K-quants x Q8_K. Each super-block's 256 codes are unpacked into four vectors
// of 64 in kr_elem order (formats/blocks.h): byte k of 32-bit lane l of vector
// v holds element 16 l + 4 v + k, so every lane of every vector lies in one
// sub-block: l/2 for Q4_K/Q5_K (32 values), l for Q6_K (16). A chain of four
// VPDPBUSD against the activations in the same order (packed once per call)
// leaves in each lane an exact int32 partial sum of its sub-block, all four
// vectors in one accumulator, and the scales are applied once per block:
//   Q4_K/Q5_K: the partial sums and Q8_K's bsums (whose group l is lane l's
//     elements) packed to int16 side by side, and one VPMADDWD against the
//     sub-block scales and minima gives per 128-bit lane q the exact integers
//     [X_2q, X_2q+1, Y_2q, Y_2q+1] (X_j = sc_j sum_j(q a), Y_j = m_j sum_j(a));
//     one FMA by [d, d, -dmin, -dmin] * d_a adds them to the output's lanes.
//     Q4_K's lane sums fit int16 (16 * 15 * 128 = 30720); Q5_K's do not
//     (16 * 31 * 128), so it packs vectors 0-1 and 2-3 separately.
//   Q6_K: lane l is sub-block l; (sum - 32 bsum) * scale in int32, one FMA.
// The rearranged layouts (Q4_KR, Q5_KR, Q6_KR) hold the codes in that order, so
// unpacking is a load and a shift or two per vector; the file layouts gather
// them with a dword permute per vector. Both then run the same arithmetic on
// the same integers, so both layouts give the same bits.
// ============================================================================

// One token's activations for one super-block, in kr_elem order, made once
// per call from the Q8_K rows.
struct KAct {
  int8_t qs[kQK_K];  // bytes 64 v + 4 l + k: element kr_elem(v, l, k)
  int32_t bsum[16];  // Q8_K's bsums[l] (Q6_K: times 32)
  float dav[16];     // Q4_K/Q5_K: d_a, d_a, -d_a, -d_a in each 128-bit lane; Q6_K: d_a
};
static_assert(sizeof(KAct) == 384);

template <bool kQ6>
void pack_k_acts(const char* x, size_t xrb, int64_t T, int64_t nsb, KAct* out) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t s = 0; s < nsb; ++s) {
      const BlockQ8_K& a = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * xrb)[s];
      KAct& p = out[t * nsb + s];
      for (int v = 0; v < 4; ++v)
        for (int l = 0; l < 16; ++l) std::memcpy(p.qs + 64 * v + 4 * l, a.qs + formats::kr_elem(v, l, 0), 4);
      for (int l = 0; l < 16; ++l) p.bsum[l] = kQ6 ? 32 * int32_t(a.bsums[l]) : int32_t(a.bsums[l]);
      for (int i = 0; i < 16; ++i) p.dav[i] = kQ6 || i % 4 < 2 ? a.d : -a.d;
    }
}

// Per-lane tables, built at compile time.
struct KTables {
  // Q4_K/Q5_K scale words for VPMADDWD: word w of 128-bit lane q holds, for
  // w = 0..3, sub-block j = 2q + w/2's scale and, for w = 4..7, its minimum.
  // From the 12 scale bytes (header bytes 4..15; blocks.h, get_scale_min_k4):
  //   j < 4:  sc = scales[j] & 63, m = scales[j + 4] & 63;
  //   j >= 4: sc = (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4,
  //           m  = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4.
  // A byte shuffle puts the low source byte in the word's low byte and the
  // high one (if any) in its high byte; then the bits in low_bits come from
  // the word shifted right by `shift`, the rest from it shifted right by 10.
  alignas(64) uint8_t scale_shuffle[64];
  alignas(64) uint16_t scale_shift[32];
  alignas(64) uint16_t scale_low_bits[32];
  alignas(64) uint8_t d_shuffle[32];  // fp16 d, d, dmin, dmin in each 64 bits
  // File layouts: the dword of the code bytes each lane of vector v gathers,
  // and the shifts that bring its codes' bits into place (see the unpackers).
  alignas(64) int32_t q4_gather[4][16];
  alignas(64) int32_t q4_nibble[16];
  alignas(64) int32_t q5_rotate[16];
  alignas(64) int32_t q6_gather_low[4][16];
  alignas(64) int32_t q6_nibble[16];
  alignas(64) int32_t q6_gather_high[4][16];
  alignas(64) int32_t q6_rotate[16];
};
constexpr KTables make_k_tables() {
  KTables t{};
  for (int q = 0; q < 4; ++q)
    for (int w = 0; w < 8; ++w) {
      const bool min = w >= 4;
      const int j = 2 * q + (w % 4) / 2, word = 8 * q + w;
      t.scale_shuffle[2 * word] = uint8_t(j < 4 ? 4 + j + (min ? 4 : 0) : 8 + j);
      t.scale_shuffle[2 * word + 1] = uint8_t(j < 4 ? 0x80 : (min ? 4 + j : j));
      t.scale_shift[word] = uint16_t(j >= 4 && min ? 4 : 0);
      t.scale_low_bits[word] = uint16_t(j < 4 ? 0x3F : 0x0F);
    }
  for (int i = 0; i < 32; ++i) t.d_shuffle[i] = uint8_t((i % 8) / 4 * 2 + i % 2);
  for (int l = 0; l < 16; ++l) {
    // Q4_K/Q5_K element 16 l + 4 v + k: chunk c = l/4, r = 16 (l%4) + 4 v + k,
    // byte qs[32 c + r % 32], high nibble when r >= 32; Q5_K's fifth bit is
    // bit 2c + (r >= 32) of qh[r % 32].
    for (int v = 0; v < 4; ++v) t.q4_gather[v][l] = 8 * (l / 4) + 4 * (l % 2) + v;
    t.q4_nibble[l] = l % 4 >= 2 ? 4 : 0;
    const int bit = 2 * (l / 4) + (l % 4 >= 2 ? 1 : 0);
    t.q5_rotate[l] = (4 - bit) & 31;  // bit -> bit 4 of the same byte
    // Q6_K element 16 l + 4 v + k: half h = l/8, quarter = (l%8)/2,
    // ql[64 h + 16 (l%2) + 4 v + k + 32 (quarter & 1)] (high nibble when
    // quarter >= 2), bits 2 quarter.. of qh[32 h + 16 (l%2) + 4 v + k].
    const int quarter = (l % 8) / 2;
    for (int v = 0; v < 4; ++v) {
      t.q6_gather_low[v][l] = 16 * (l / 8) + 4 * (l % 2) + v + 8 * (quarter & 1);
      t.q6_gather_high[v][l] = 8 * (l / 8) + 4 * (l % 2) + v;
    }
    t.q6_nibble[l] = quarter >= 2 ? 4 : 0;
    t.q6_rotate[l] = (4 - 2 * quarter) & 31;  // bits 2 quarter.. -> bits 4..5 of the same byte
  }
  return t;
}
constexpr KTables kT = make_k_tables();

inline __m512i load_table(const void* p) { return _mm512_load_si512(p); }

// The int16 scales and minima and the fp32 [d, d, dmin, dmin] of a Q4_K/Q5_K
// header (d, dmin, 12 scale bytes: the first 16 bytes of the file's block).
inline void k4_header(const uint8_t* hdr, __m512i& scm, __m512& d) {
  const __m512i h = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(hdr)));
  const __m512i w = _mm512_shuffle_epi8(h, load_table(kT.scale_shuffle));
  // 0xCA: a ? b : c, bit by bit.
  scm = _mm512_ternarylogic_epi32(load_table(kT.scale_low_bits), _mm512_srlv_epi16(w, load_table(kT.scale_shift)),
                                  _mm512_srli_epi16(w, 10), 0xCA);
  d = _mm512_cvtph_ps(_mm256_shuffle_epi8(_mm512_castsi512_si256(h),
                                          _mm256_load_si256(reinterpret_cast<const __m256i*>(kT.d_shuffle))));
}

inline __m512i dpbusd4(const __m512i* q, const KAct& a, int v0, int n) {
  __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[v0], _mm512_load_si512(a.qs + 64 * v0));
  for (int v = v0 + 1; v < v0 + n; ++v) s = _mm512_dpbusd_epi32(s, q[v], _mm512_load_si512(a.qs + 64 * v));
  return s;
}

// Unpacked super-block: codes in kr_elem order, scales, fp32 d (and dmin).
struct KBlock {
  __m512i q[4];
  __m512i sc;  // Q4_K/Q5_K: int16 scale words for VPMADDWD; Q6_K: int32 scale of lane l's sub-block
  __m512 d;
};

// acc += this block's terms for one token.
inline __m512 k4_fma(const KBlock& u, const KAct& a, __m512 acc) {
  const __m512i xy = _mm512_madd_epi16(_mm512_packs_epi32(dpbusd4(u.q, a, 0, 4), _mm512_load_si512(a.bsum)), u.sc);
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(xy), _mm512_mul_ps(u.d, _mm512_load_ps(a.dav)), acc);
}
inline __m512 k5_fma(const KBlock& u, const KAct& a, __m512 acc) {
  const __m512i xy = _mm512_add_epi32(
      _mm512_madd_epi16(_mm512_packs_epi32(dpbusd4(u.q, a, 0, 2), _mm512_load_si512(a.bsum)), u.sc),
      _mm512_madd_epi16(_mm512_packs_epi32(dpbusd4(u.q, a, 2, 2), _mm512_setzero_si512()), u.sc));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(xy), _mm512_mul_ps(u.d, _mm512_load_ps(a.dav)), acc);
}
inline __m512 k6_fma(const KBlock& u, const KAct& a, __m512 acc) {
  // sum((q - 32) a) = sum(q a) - 32 bsum; |that * scale| <= 16 * 32 * 128 * 128.
  const __m512i x = _mm512_mullo_epi32(_mm512_sub_epi32(dpbusd4(u.q, a, 0, 4), _mm512_load_si512(a.bsum)), u.sc);
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(x), _mm512_mul_ps(u.d, _mm512_load_ps(a.dav)), acc);
}

// Q6_K's 16 int8 scales (lane l: sub-block l's) and fp16 d.
inline void k6_header(const void* scales, uint16_t d, KBlock& u) {
  u.sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(static_cast<const __m128i*>(scales)));
  u.d = _mm512_cvtph_ps(_mm256_set1_epi16(short(d)));
}

// Q6_K codes: low nibble | two high bits at bits 4..5 (0xF8: a | (b & c)).
inline __m512i q6_code(__m512i low_nibble, __m512i high_at_4) {
  return _mm512_ternarylogic_epi32(low_nibble, high_at_4, _mm512_set1_epi8(0x30), 0xF8);
}

// Each weight format: where its block s of a row of nsb blocks lies, how to
// unpack it and which arithmetic applies. File layouts: blocks one after another.
template <class Block>
struct FileRows {
  static const uint8_t* block(const uint8_t* row, int64_t s) { return row + sizeof(Block) * size_t(s); }
  static void prefetch(const uint8_t* row, int64_t, int64_t s) {
    prefetch_range(reinterpret_cast<const char*>(block(row, s)) + kPrefetchAhead, sizeof(Block));
  }
};

// Q4_K's and Q5_K's low four bits of vector v from the 128 bytes of qs (q0, q1).
inline __m512i k4_file_nibbles(__m512i q0, __m512i q1, int v) {
  return _mm512_and_si512(
      _mm512_srlv_epi32(_mm512_permutex2var_epi32(q0, load_table(kT.q4_gather[v]), q1), load_table(kT.q4_nibble)),
      _mm512_set1_epi8(0x0F));
}

struct Q4_KFile : FileRows<BlockQ4_K> {
  static constexpr bool kQ6 = false;
  static void unpack(const uint8_t* row, int64_t, int64_t s, KBlock& u) {
    const uint8_t* b = block(row, s);
    const __m512i q0 = _mm512_loadu_si512(b + 16), q1 = _mm512_loadu_si512(b + 80);
    for (int v = 0; v < 4; ++v) u.q[v] = k4_file_nibbles(q0, q1, v);
    k4_header(b, u.sc, u.d);
  }
  static __m512 fma(const KBlock& u, const KAct& a, __m512 acc) { return k4_fma(u, a, acc); }
};

struct Q5_KFile : FileRows<BlockQ5_K> {
  static constexpr bool kQ6 = false;
  static void unpack(const uint8_t* row, int64_t, int64_t s, KBlock& u) {
    const uint8_t* b = block(row, s);
    const __m512i q0 = _mm512_loadu_si512(b + 48), q1 = _mm512_loadu_si512(b + 112);
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16)));
    for (int v = 0; v < 4; ++v) {
      const __m512i low = k4_file_nibbles(q0, q1, v);
      // The fifth bit: qh dword 4 (l%2) + v, which q4_gather's index also picks
      // from qh's two copies, rotated to bit 4.
      const __m512i high = _mm512_rolv_epi32(_mm512_permutexvar_epi32(load_table(kT.q4_gather[v]), qh),
                                             load_table(kT.q5_rotate));
      u.q[v] = _mm512_ternarylogic_epi32(low, high, _mm512_set1_epi8(0x10), 0xF8);
    }
    k4_header(b, u.sc, u.d);
  }
  static __m512 fma(const KBlock& u, const KAct& a, __m512 acc) { return k5_fma(u, a, acc); }
};

struct Q6_KFile : FileRows<BlockQ6_K> {
  static constexpr bool kQ6 = true;
  static void unpack(const uint8_t* row, int64_t, int64_t s, KBlock& u) {
    const auto* b = reinterpret_cast<const BlockQ6_K*>(block(row, s));
    const __m512i l0 = _mm512_loadu_si512(b->ql), l1 = _mm512_loadu_si512(b->ql + 64);
    const __m512i qh = _mm512_loadu_si512(b->qh);
    for (int v = 0; v < 4; ++v) {
      const __m512i low = _mm512_and_si512(
          _mm512_srlv_epi32(_mm512_permutex2var_epi32(l0, load_table(kT.q6_gather_low[v]), l1), load_table(kT.q6_nibble)),
          _mm512_set1_epi8(0x0F));
      u.q[v] = q6_code(low, _mm512_rolv_epi32(_mm512_permutexvar_epi32(load_table(kT.q6_gather_high[v]), qh),
                                               load_table(kT.q6_rotate)));
    }
    k6_header(b->scales, b->d, u);
  }
  static __m512 fma(const KBlock& u, const KAct& a, __m512 acc) { return k6_fma(u, a, acc); }
};

// Q4_KR / Q5_KR / Q6_KR: headers first, then each block's codes (blocks.h).
// The headers are prefetched 16 blocks ahead (one line per block step is
// more than enough for 16-48 byte headers).
template <int64_t kHeader, int64_t kCodes>
struct KRRows {
  static const uint8_t* header(const uint8_t* row, int64_t s) { return row + kHeader * s; }
  static const uint8_t* codes(const uint8_t* row, int64_t nsb, int64_t s) { return row + kHeader * nsb + kCodes * s; }
  static void prefetch(const uint8_t* row, int64_t nsb, int64_t s) {
    prefetch_range(reinterpret_cast<const char*>(codes(row, nsb, s)) + kPrefetchAhead, kCodes);
    _mm_prefetch(reinterpret_cast<const char*>(header(row, s)) + 16 * kHeader, _MM_HINT_T0);
  }
};

struct Q4_KR : KRRows<formats::kQ4_KRHeader, formats::kQ4_KRCodes> {
  static constexpr bool kQ6 = false;
  static void unpack_codes(const uint8_t* c, KBlock& u) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i c0 = _mm512_loadu_si512(c), c1 = _mm512_loadu_si512(c + 64);
    u.q[0] = _mm512_and_si512(c0, m4);
    u.q[1] = _mm512_and_si512(_mm512_srli_epi16(c0, 4), m4);
    u.q[2] = _mm512_and_si512(c1, m4);
    u.q[3] = _mm512_and_si512(_mm512_srli_epi16(c1, 4), m4);
  }
  static void unpack(const uint8_t* row, int64_t nsb, int64_t s, KBlock& u) {
    unpack_codes(codes(row, nsb, s), u);
    k4_header(header(row, s), u.sc, u.d);
  }
  static __m512 fma(const KBlock& u, const KAct& a, __m512 acc) { return k4_fma(u, a, acc); }
};

struct Q5_KR : KRRows<formats::kQ5_KRHeader, formats::kQ5_KRCodes> {
  static constexpr bool kQ6 = false;
  static void unpack(const uint8_t* row, int64_t nsb, int64_t s, KBlock& u) {
    Q4_KR::unpack_codes(codes(row, nsb, s), u);
    const uint8_t* hdr = header(row, s);
    const __m512i sixteen = _mm512_set1_epi8(0x10);
    for (int v = 0; v < 4; ++v) {  // the fifth bits: one mask per vector
      uint64_t bits;
      std::memcpy(&bits, hdr + 16 + 8 * v, 8);
      u.q[v] = _mm512_mask_add_epi8(u.q[v], _cvtu64_mask64(bits), u.q[v], sixteen);
    }
    k4_header(hdr, u.sc, u.d);
  }
  static __m512 fma(const KBlock& u, const KAct& a, __m512 acc) { return k5_fma(u, a, acc); }
};

struct Q6_KR : KRRows<formats::kQ6_KRHeader, formats::kQ6_KRCodes> {
  static constexpr bool kQ6 = true;
  static void unpack(const uint8_t* row, int64_t nsb, int64_t s, KBlock& u) {
    const uint8_t* c = codes(row, nsb, s);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i c0 = _mm512_loadu_si512(c), c1 = _mm512_loadu_si512(c + 64), h = _mm512_loadu_si512(c + 128);
    // Vector v's two high bits are bits 2v..2v+1 of h's byte: shift them to bits 4..5.
    u.q[0] = q6_code(_mm512_and_si512(c0, m4), _mm512_slli_epi16(h, 4));
    u.q[1] = q6_code(_mm512_and_si512(_mm512_srli_epi16(c0, 4), m4), _mm512_slli_epi16(h, 2));
    u.q[2] = q6_code(_mm512_and_si512(c1, m4), h);
    u.q[3] = q6_code(_mm512_and_si512(_mm512_srli_epi16(c1, 4), m4), _mm512_srli_epi16(h, 2));
    const uint8_t* hdr = header(row, s);
    uint16_t d;
    std::memcpy(&d, hdr, 2);
    k6_header(hdr + 2, d, u);
  }
  static __m512 fma(const KBlock& u, const KAct& a, __m512 acc) { return k6_fma(u, a, acc); }
};

// R rows (yr apart in y, wrb apart in w) x C tokens (ys apart in y, their
// activations nsb blocks apart in xa) over all super-blocks.
template <class F, int R, int C>
void k_tile(const uint8_t* w, size_t wrb, int64_t nsb, const KAct* xa, float* y, int64_t ys, int64_t yr) {
  __m512 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t s = 0; s < nsb; ++s) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const uint8_t* row = w + size_t(r) * wrb;
      if (C == 1) F::prefetch(row, nsb, s);
      KBlock u;
      F::unpack(row, nsb, s, u);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) acc[r][c] = F::fma(u, xa[c * nsb + s], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) y[c * ys + r * yr] = hsum512(acc[r][c]);
}

template <class F, int R>
void k_tile_c(int c, const uint8_t* w, size_t wrb, int64_t nsb, const KAct* xa, float* y, int64_t ys) {
  switch (c) {
    case 1: return k_tile<F, R, 1>(w, wrb, nsb, xa, y, ys, 1);
    case 2: return k_tile<F, R, 2>(w, wrb, nsb, xa, y, ys, 1);
    case 3: return k_tile<F, R, 3>(w, wrb, nsb, xa, y, ys, 1);
    case 4: return k_tile<F, R, 4>(w, wrb, nsb, xa, y, ys, 1);
    case 5: return k_tile<F, R, 5>(w, wrb, nsb, xa, y, ys, 1);
    default: return k_tile<F, R, 6>(w, wrb, nsb, xa, y, ys, 1);
  }
}

template <class F>
void matmul_k(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb, int64_t T,
              float* y, int64_t ys) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const int64_t nsb = k / kQK_K;
  auto* xa = static_cast<KAct*>(cpu::scratch(0, sizeof(KAct) * size_t(nsb * T)));
  pack_k_acts<F::kQ6>(static_cast<const char*>(xv), xrb, T, nsb, xa);
  if (T == 1) {
    // 4 row streams, not 2: TinyLlama Q4_K 2-thread decode 1.08-1.66x (mean
    // 1.25, 6 interleaved rounds), Q6_K 1.11-1.12x; in L2 the same.
    constexpr int kRows = 4;
    for_row_streams<kRows>(
        r0, r1,
        [&](int64_t r, int64_t part) { k_tile<F, kRows, 1>(w + r * wrb, wrb * size_t(part), nsb, xa, y + r, ys, part); },
        [&](int64_t r) { k_tile<F, 1, 1>(w + r * wrb, wrb, nsb, xa, y + r, ys, 1); });
    return;
  }
  // 2 rows x 6 tokens: 12 accumulators beside the two rows' unpacked blocks.
  // 6 against 4 tokens (bench --kernels, 3 interleaved runs): prefill Q4_KR
  // 183-196 -> 196-203 GMAC/s, Q5_KR 151-156 -> 166-171, Q6_KR 179-180 -> 195-201.
  constexpr int C = 6;
  const int64_t rb = row_block(wrb, 2);
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;
    for (int64_t t = 0; t < T; t += C) {
      const int c = int(T - t < C ? T - t : C);
      int64_t r = b0;
      for (; r + 2 <= b1; r += 2) k_tile_c<F, 2>(c, w + r * wrb, wrb, nsb, xa + t * nsb, y + t * ys + r, ys);
      for (; r < b1; ++r) k_tile_c<F, 1>(c, w + r * wrb, wrb, nsb, xa + t * nsb, y + t * ys + r, ys);
    }
  }
}

}  // namespace

void register_kquant_avx512(KernelTable& t) {
  t.set_matmul(FormatId::Q4_K, matmul_k<Q4_KFile>);
  t.set_matmul(FormatId::Q5_K, matmul_k<Q5_KFile>);
  t.set_matmul(FormatId::Q6_K, matmul_k<Q6_KFile>);
  t.set_matmul(FormatId::Q4_KR, matmul_k<Q4_KR>);
  t.set_matmul(FormatId::Q5_KR, matmul_k<Q5_KR>);
  t.set_matmul(FormatId::Q6_KR, matmul_k<Q6_KR>);
  t.load_layout[size_t(FormatId::Q4_K)] = FormatId::Q4_KR;
  t.load_layout[size_t(FormatId::Q5_K)] = FormatId::Q5_KR;
  t.load_layout[size_t(FormatId::Q6_K)] = FormatId::Q6_KR;
}

}  // namespace nb::kernels
