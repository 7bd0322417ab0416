// The 4-bit weight decoders of the AVX-512 BF16 kernels (fp4_avx512.cpp,
// whose opening comment describes them) and the activation packing that
// matches their element order, shared with the AMX-BF16 kernels
// (fp4_amx.cpp), which multiply the same vectors on the tile unit.
//
// Only those two files include this, each after enabling AVX-512 VBMI
// (`#pragma GCC target("avx512vbmi")`, for vpermb); the anonymous namespace
// gives each its own copy (see scratch.h for why).
#pragma once
#include <immintrin.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "formats/blocks.h"
#include "kernels/cpu/fp4_kernels.h"
#include "kernels/cpu/scratch.h"

namespace nb::kernels {
namespace {

using cpu::Fp4Tables;
using formats::BlockInt4;
using formats::BlockMXFP4;
using formats::BlockNVFP4;

struct Bytes64 {
  alignas(64) uint8_t b[64];
};
struct Words {  // up to 128 16-bit entries
  alignas(64) uint16_t w[128];
};

// vpermt2b map for two 16-byte groups (loaded separately into the low lanes
// of two zmm): the first in lanes 0 and 1, the second in lanes 2 and 3.
constexpr Bytes64 two_groups() {
  Bytes64 o{};
  for (int i = 0; i < 64; ++i) o.b[i] = uint8_t((i < 32 ? 0 : 64) + i % 16);
  return o;
}
constexpr Bytes64 kTwoGroups = two_groups();
static_assert(offsetof(BlockNVFP4, qs) == 1 && sizeof(BlockNVFP4) == 9, "kNvFileBytes assumes 9-byte blocks, d first");

// Element (within its 32-element run) held in bits 0..3 of a 16-bit word m
// of a run's 16 code bytes, nibble i: the low nibble of byte 2m is element
// 2m, its high nibble 2m + 16; byte 2m + 1's, 2m + 1 and 2m + 17.
constexpr int run_elem(int i, int m) { return (i & 1) * 16 + 2 * m + (i >> 1); }

// Which element of its step each vector word p = 32 V + 8 L + m holds: the
// orders W4R rows keep (formats/blocks.h), one step's worth.
//  * Runs (INT4-g32 on the tile unit, fp4_amx.cpp): block V in every lane,
//    lane L nibble L of word m.
//  * RunPairs (MXFP4, NVFP4, INT4-g32 / g64): run L / 2, nibble (L & 1) +
//    2 V of word m (element 16 L + 2 m + (V & 1) of the step).
constexpr Words step_order(formats::W4ROrder order, int n) {
  Words o{};
  for (int p = 0; p < n; ++p) o.w[p] = uint16_t(formats::w4r_elem(order, p / 32, p % 32));
  return o;
}
// INT4-g128: run L, nibble V of word m.
constexpr Words g128_order() {
  Words o{};
  for (int p = 0; p < 128; ++p) {
    const int V = p / 32, L = p % 32 / 8, m = p % 8;
    o.w[p] = uint16_t(32 * L + run_elem(V, m));
  }
  return o;
}
constexpr Words kRunOrder = step_order(formats::W4ROrder::Runs, 64);
constexpr Words kPairOrder = step_order(formats::W4ROrder::RunPairs, 64);
constexpr Words kG128Order = g128_order();
// Run 0's words of the four INT4-g128 vectors, one after the other (the
// other runs' are the same, 32 L further): word 8 V + m = kG128Order[32 V + m].
constexpr Words run_by_nibble() {
  Words o{};
  for (int p = 0; p < 32; ++p) o.w[p] = kG128Order.w[32 * (p / 8) + p % 8];
  return o;
}
constexpr Words kRunByNibble = run_by_nibble();

// The 64 codes of a two-group zmm q: nibbles 0, 1 (v0) and 2, 3 (v1).
inline void split_nibbles(__m512i q, __m512i& v0, __m512i& v1) {
  const __m512i lo = _mm512_set_epi64(0x0004000400040004ll, 0x0004000400040004ll, 0, 0,  //
                                      0x0004000400040004ll, 0x0004000400040004ll, 0, 0);
  v0 = _mm512_srlv_epi16(q, lo);
  v1 = _mm512_srlv_epi16(q, _mm512_add_epi16(lo, _mm512_set1_epi16(8)));
}

// 16 code bytes at p0 in lanes 0, 1 and 16 at p1 in lanes 2, 3 (p1 unread
// when null). Two 128-bit loads and one vpermt2b: on Zen 5, 512-bit loads
// that straddle cache lines and broadcasts from memory both cost more.
inline __m512i two_groups(const uint8_t* p0, const uint8_t* p1) {
  const __m512i g0 = _mm512_zextsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p0)));
  const __m512i g1 =
      p1 ? _mm512_zextsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p1))) : _mm512_setzero_si512();
  return _mm512_permutex2var_epi8(g0, _mm512_load_si512(kTwoGroups.b), g1);
}

// n <= 32 bytes at p (nothing past them read: the last block of a row).
inline __m512i load_bytes(const uint8_t* p, int n) {
  return _mm512_zextsi256_si512(_mm256_maskz_loadu_epi8(~0u >> (32 - n), p));
}

inline __m512i load_table(const uint16_t* t) { return _mm512_load_si512(t); }  // 32 words
inline __m512i load_table16(const uint16_t* t) {  // 16 words (a 32-byte load), the rest zero
  return _mm512_zextsi256_si512(_mm256_load_si256(reinterpret_cast<const __m256i*>(t)));
}
// (c & 15) | tag: a code's table index.
inline __m512i tagged(__m512i c, __m512i tag) {
  return _mm512_ternarylogic_epi32(c, _mm512_set1_epi16(0xF), tag, 0xEA);
}

inline __m512bh as_bh(__m512i v) { return reinterpret_cast<__m512bh>(v); }

// A W4R chunk's codes of nibble n / 4 in bits 0..3 of each word (n a
// constant once unrolled; 0 needs no shift).
inline __m512i shift_codes(__m512i q, int n) { return n == 0 ? q : _mm512_srli_epi16(q, unsigned(n)); }
// Word shifts 0, 4, 8, 12 in lanes 0..3: nibble L of each word of lane L.
inline __m512i lane_nibble_shifts() {
  return _mm512_set_epi64(0x000C000C000C000Cll, 0x000C000C000C000Cll, 0x0008000800080008ll, 0x0008000800080008ll,
                          0x0004000400040004ll, 0x0004000400040004ll, 0, 0);
}

// Per format: kBlocksPerStep blocks of kBlock elements per step, kVecs
// vectors of 32 weights per step in kOrder, weights(step, nblk) for a step
// of nblk <= kBlocksPerStep blocks (missing blocks give zero weights or, for
// INT4, values that meet zero activations). kScaled: the vectors hold the
// exact weights; otherwise code values, to be scaled per block.
// Tags (vpermt2w index bits above the code) for the table of a vector's
// second block (MXFP4: lanes 2, 3, bit 5: the second register) or of each
// lane's block (NVFP4: lane L's block is table L of four, bits 4, 5), as
// words (file layout: one vector at a time) and as bytes (a W4R line: both
// bytes of each word, so that a shift by 8 keeps them).
inline __m512i mx_tag_words() {
  return _mm512_set_epi64(0x0020002000200020ll, 0x0020002000200020ll, 0x0020002000200020ll, 0x0020002000200020ll, 0, 0,
                          0, 0);
}
inline __m512i mx_tag_bytes() {
  return _mm512_set_epi64(0x2020202020202020ll, 0x2020202020202020ll, 0x2020202020202020ll, 0x2020202020202020ll, 0, 0,
                          0, 0);
}
inline __m512i nv_tag_words() {
  return _mm512_set_epi64(0x0030003000300030ll, 0x0030003000300030ll, 0x0020002000200020ll, 0x0020002000200020ll,
                          0x0010001000100010ll, 0x0010001000100010ll, 0, 0);
}
inline __m512i nv_tag_bytes() {
  return _mm512_set_epi64(0x3030303030303030ll, 0x3030303030303030ll, 0x2020202020202020ll, 0x2020202020202020ll,
                          0x1010101010101010ll, 0x1010101010101010ll, 0, 0);
}
// A W4R line's codes tagged, for RunPairs steps: p[0] = nibbles 0 and 2
// (bits 0..3 and 8..11 of each word), p[1] = nibbles 1 and 3, each byte
// with its tag; step u's vectors are p[0], p[1] shifted by 8 u.
inline void tag_line(__m512i q, __m512i tag, __m512i* p) {
  const __m512i nibbles = _mm512_set1_epi16(0x0F0F);
  p[0] = _mm512_ternarylogic_epi32(q, nibbles, tag, 0xEA);
  p[1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(q, 4), nibbles, tag, 0xEA);
}
inline __m512i line_step(const __m512i* p, int u, int v) { return u == 0 ? p[v] : _mm512_srli_epi16(p[v], 8); }

template <int Div>  // 1: MXFP4 (OCP); 3: MXFP4_FPQ, weights E2M1 * 2^(e-127) / 3
struct MxW {
  static constexpr int64_t kBlock = formats::kQKMXFP4, kBytes = sizeof(BlockMXFP4), kScaleBytes = 1;
  static constexpr int kBlocksPerStep = 2, kVecs = 2;
  static constexpr bool kScaled = true;
  // RunPairs, as INT4-g32: each vector holds block A in lanes 0, 1 and B in
  // lanes 2, 3, whose tag picks the second of vpermt2w's two tables.
  static constexpr const Words& kOrder = kPairOrder;
  static void weights(const uint8_t* a, int nblk, const Fp4Tables& t, __m512i* w) {
    constexpr size_t q = offsetof(BlockMXFP4, qs), e = offsetof(BlockMXFP4, e);
    runs(a + q, nblk == 2 ? a + kBytes + q : nullptr, a[e], nblk == 2 ? a[kBytes + e] : 0, t, w);
  }
  // The vectors' codes v through blocks A's and B's tables (two plain
  // 32-byte loads: one merged register, a masked load, was slower on Zen 5).
  static __m512i lookup(__m512i v, uint8_t ea, uint8_t eb, const Fp4Tables& t) {
    return _mm512_permutex2var_epi16(load_table16(t.mxfp4_bf16[ea]), v, load_table16(t.mxfp4_bf16[eb]));
  }
  // Blocks A and B from their 16 code bytes and scale bytes (B's codes null
  // when there is no B: zero codes, and eb = 0 gives zero weights).
  static void runs(const uint8_t* qa, const uint8_t* qb, uint8_t ea, uint8_t eb, const Fp4Tables& t, __m512i* w) {
    __m512i v0, v1;
    split_nibbles(two_groups(qa, qb), v0, v1);
    w[0] = lookup(tagged(v0, mx_tag_words()), ea, eb, t);
    w[1] = lookup(tagged(v1, mx_tag_words()), ea, eb, t);
  }
  // A W4R row's last blocks (codes q, scales e), as weights() would.
  static void tail(const uint8_t* q, const uint8_t* e, int nblk, const Fp4Tables& t, __m512i* w) {
    runs(q, nblk == 2 ? q + 16 : nullptr, e[0], nblk == 2 ? e[1] : 0, t, w);
  }
  static constexpr int kPrep = 2;
  static void prep(__m512i q, __m512i* p) { tag_line(q, mx_tag_bytes(), p); }
  // Step u (0, 1) of a W4R chunk (its scale bytes e): blocks 2u and 2u + 1,
  // as weights() makes them from the file's step.
  static void chunk_step(const __m512i* p, int u, const uint8_t* e, const Fp4Tables& t, __m512i* w) {
    w[0] = lookup(line_step(p, u, 0), e[2 * u], e[2 * u + 1], t);
    w[1] = lookup(line_step(p, u, 1), e[2 * u], e[2 * u + 1], t);
  }
  // The 1/3 is applied once per output (the reference divides its sum by 3).
  static float finish(float y) { return Div == 1 ? y : y / float(Div); }
};

// NVFP4 code bytes for RunPairs vectors: word m of lane L takes bytes 2m and
// 2m + 1 (mod 8) of block L's 8 (elements 2m, 2m + 1 in their low nibbles
// for m < 4, in their high nibbles for m >= 4). Blocks `stride` bytes apart
// from byte `first`.
constexpr Bytes64 nv_lane_bytes(int first, int stride) {
  Bytes64 o{};
  for (int i = 0; i < 64; ++i) o.b[i] = uint8_t(first + stride * (i / 16) + i % 16 % 8);
  return o;
}
constexpr Bytes64 kNvFileBytes = nv_lane_bytes(1, 9);  // file blocks: the scale byte, then 8 code bytes
constexpr Bytes64 kNvRunBytes = nv_lane_bytes(0, 8);   // a W4R row's last blocks: code bytes only

struct NvW {
  static constexpr int64_t kBlock = formats::kQKNVFP4, kBytes = sizeof(BlockNVFP4), kScaleBytes = 1;
  static constexpr int kBlocksPerStep = 4, kVecs = 2;
  static constexpr bool kScaled = true;
  // RunPairs: lane L of both vectors holds block L of the step, which
  // indexes table L (tag bits 4, 5) of two registers of two tables each.
  static constexpr const Words& kOrder = kPairOrder;
  static void weights(const uint8_t* a, int nblk, const Fp4Tables& t, __m512i* w) {
    const __m512i b = _mm512_maskz_loadu_epi8(~0ull >> (64 - nblk * kBytes), a);
    lanes(_mm512_permutexvar_epi8(_mm512_load_si512(kNvFileBytes.b), b), step_scales(a, kBytes, nblk).data(), t, w);
  }
  // A W4R row's last blocks: their 8 code bytes one after the other at q,
  // their scale bytes at d.
  static void tail(const uint8_t* q, const uint8_t* d, int nblk, const Fp4Tables& t, __m512i* w) {
    lanes(_mm512_permutexvar_epi8(_mm512_load_si512(kNvRunBytes.b), load_bytes(q, 8 * nblk)), step_scales(d, 1, nblk).data(),
          t, w);
  }
  // The step's 4 scale bytes, `stride` apart from p; 0 (zero weights) past
  // its nblk blocks.
  static std::array<uint8_t, 4> step_scales(const uint8_t* p, size_t stride, int nblk) {
    std::array<uint8_t, 4> d{};
    for (int i = 0; i < nblk; ++i) d[size_t(i)] = p[size_t(i) * stride];
    return d;
  }
  // Two registers of two 16-word tables: blocks 0, 1 and 2, 3 (scale bytes d;
  // missing blocks have d = 0, zero weights).
  static void tables(const uint8_t* d, const Fp4Tables& t, __m512i& lo, __m512i& hi) {
    auto two = [&](uint8_t x, uint8_t y) {
      return _mm512_inserti64x4(load_table16(t.nvfp4_bf16[x]),
                                _mm256_load_si256(reinterpret_cast<const __m256i*>(t.nvfp4_bf16[y])), 1);
    };
    lo = two(d[0], d[1]);
    hi = two(d[2], d[3]);
  }
  // q: word m of lane L = block L's code bytes 2m, 2m + 1 (mod 8).
  static void lanes(__m512i q, const uint8_t* d, const Fp4Tables& t, __m512i* w) {
    const __m512i s = _mm512_set_epi64(0x0004000400040004ll, 0, 0x0004000400040004ll, 0, 0x0004000400040004ll, 0,
                                       0x0004000400040004ll, 0);  // words 4..7: the high nibbles
    __m512i lo, hi;
    tables(d, t, lo, hi);
    w[0] = _mm512_permutex2var_epi16(lo, tagged(_mm512_srlv_epi16(q, s), nv_tag_words()), hi);
    w[1] = _mm512_permutex2var_epi16(
        lo, tagged(_mm512_srlv_epi16(q, _mm512_add_epi16(s, _mm512_set1_epi16(8))), nv_tag_words()), hi);
  }
  static constexpr int kPrep = 2;
  static void prep(__m512i q, __m512i* p) { tag_line(q, nv_tag_bytes(), p); }
  // Step u (0, 1) of a W4R chunk: blocks 4u .. 4u + 3.
  static void chunk_step(const __m512i* p, int u, const uint8_t* d, const Fp4Tables& t, __m512i* w) {
    __m512i lo, hi;
    tables(d + 4 * u, t, lo, hi);
    w[0] = _mm512_permutex2var_epi16(lo, line_step(p, u, 0), hi);
    w[1] = _mm512_permutex2var_epi16(lo, line_step(p, u, 1), hi);
  }
  static float finish(float y) { return y; }  // the tensor scale is kernels::matmul's
};

// INT4's fp16 scales: converting one per block costs more than decoding its
// codes (a word insert, vcvtph2ps and a broadcast). For g32 / g64, groups of
// 8 blocks have their 8 scale words picked out of the group's bytes by word
// permutes and converted by one vcvtph2ps; only the group's own bytes are read.
inline void int4_scales8_g32(const uint8_t* b, float* out) {  // 18-byte blocks: words 0, 9, ..., 63
  const __m512i idx = _mm512_setr_epi64(0x001B001200090000ull, 0x003F0036002D0024ull, 0, 0, 0, 0, 0, 0);
  const __m512i v = _mm512_permutex2var_epi16(_mm512_loadu_si512(b), idx, _mm512_loadu_si512(b + 64));
  _mm256_store_ps(out, _mm256_cvtph_ps(_mm512_castsi512_si128(v)));
}
inline void int4_scales8_g64(const uint8_t* b, float* out) {  // 34-byte blocks: words 0, 17, ..., 119
  const __m512i idx_lo = _mm512_setr_epi64(0x0033002200110000ull, 0, 0, 0, 0, 0, 0, 0);  // words 0, 17, 34, 51
  const __m512i idx_hi = _mm512_setr_epi64(0, 0x0037002600150004ull, 0, 0, 0, 0, 0, 0);  // words 68.. - 64
  const __m512i lo = _mm512_permutex2var_epi16(_mm512_loadu_si512(b), idx_lo, _mm512_loadu_si512(b + 64));
  const __m512i hi = _mm512_permutex2var_epi16(_mm512_loadu_si512(b + 128), idx_hi, _mm512_loadu_si512(b + 192));
  const __m128i h = _mm_blend_epi32(_mm512_castsi512_si128(lo), _mm512_castsi512_si128(hi), 0xC);
  _mm256_store_ps(out, _mm256_cvtph_ps(h));
}

template <int G>
struct Int4W {
  static constexpr int64_t kBlock = G, kBytes = sizeof(BlockInt4<G>), kScaleBytes = 2;
  static constexpr int kBlocksPerStep = G == 32 ? 2 : 1, kVecs = G == 128 ? 4 : 2;
  static constexpr bool kScaled = false;
  static constexpr const Words& kOrder = G == 128 ? kG128Order : kPairOrder;
  static constexpr int kScaleBatch = G <= 64 ? 8 : 1;  // blocks per scale conversion
  static_assert(offsetof(BlockInt4<G>, d) == 0, "the scale permutes expect d at the start of each block");
  static void weights(const uint8_t* a, int nblk, const Fp4Tables& t, __m512i* w) {
    if constexpr (G == 128) {
      const __m512i tab = load_table(t.int4_bf16);  // stored twice: index bit 4 is ignored
      const __m512i q = _mm512_loadu_si512(a + offsetof(BlockInt4<G>, qs));
      w[0] = _mm512_permutexvar_epi16(q, tab);
      w[1] = _mm512_permutexvar_epi16(_mm512_srli_epi16(q, 4), tab);
      w[2] = _mm512_permutexvar_epi16(_mm512_srli_epi16(q, 8), tab);
      w[3] = _mm512_permutexvar_epi16(_mm512_srli_epi16(q, 12), tab);
    } else {
      constexpr size_t q = offsetof(BlockInt4<G>, qs);
      const uint8_t* second = G == 64 ? a + q + 16 : nblk == 2 ? a + kBytes + q : nullptr;  // g64: the block's 2nd run
      runs(a + q, second, t, w);
    }
  }
  // From two 16-byte runs of codes (the second null: none).
  static void runs(const uint8_t* qa, const uint8_t* qb, const Fp4Tables& t, __m512i* w) {
    const __m512i tab = load_table(t.int4_bf16);
    __m512i v0, v1;
    split_nibbles(two_groups(qa, qb), v0, v1);
    w[0] = _mm512_permutexvar_epi16(v0, tab);
    w[1] = _mm512_permutexvar_epi16(v1, tab);
  }
  static void tail(const uint8_t* q, const uint8_t*, int nblk, const Fp4Tables& t, __m512i* w) {
    runs(q, G == 64 || nblk == 2 ? q + 16 : nullptr, t, w);
  }
  // The fp32 scales of a W4R chunk's blocks (4 for g32, 2 for g64).
  static void chunk_scales(const uint8_t* d, float* out) {
    uint64_t h = 0;
    std::memcpy(&h, d, G == 32 ? 8 : 4);
    _mm_store_ps(out, _mm_cvtph_ps(_mm_cvtsi64_si128(int64_t(h))));
  }
  // Step u (0, 1) of a W4R chunk (g32: blocks 2u, 2u + 1; g64: block u).
  static constexpr int kPrep = 1;
  static void prep(__m512i q, __m512i* p) { p[0] = q; }
  static void chunk_step(const __m512i* p, int u, const uint8_t*, const Fp4Tables& t, __m512i* w) {
    const __m512i tab = load_table(t.int4_bf16);  // index bits 4.. ignored (the table is there twice)
    w[0] = _mm512_permutexvar_epi16(shift_codes(p[0], 8 * u), tab);
    w[1] = _mm512_permutexvar_epi16(shift_codes(p[0], 8 * u + 4), tab);
  }
  // The fp32 scales of blocks b .. b + kScaleBatch - 1 of one row.
  static void scales(const uint8_t* row, int64_t b, float* out) {
    if constexpr (G == 32) int4_scales8_g32(row + b * kBytes, out);
    else if constexpr (G == 64) int4_scales8_g64(row + b * kBytes, out);
    else out[0] = scale1(row, b);
  }
  static float scale1(const uint8_t* row, int64_t b) { return fp16_at(row + b * kBytes + offsetof(BlockInt4<G>, d)); }
  static float fp16_at(const uint8_t* p) {
    uint16_t d;
    std::memcpy(&d, p, 2);
    return _cvtsh_ss(d);
  }
  static float finish(float y) { return y; }
};

// 32 activations from p, zero past the row's end (`left` elements remain).
inline __m512i load_x32(const uint16_t* p, int64_t left) {
  return left >= 32 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(left <= 0 ? 0 : ~0u >> (32 - left), p);
}

// The T bf16 activation rows in F::kOrder, step by step (zeros past k up to a
// whole step), in this thread's scratch: each call packs its own copy, next
// to the rows x k weights it is used with.
template <class F>
const char* pack_activations(const char* x, size_t xrb, int64_t T, int64_t k, size_t& packed_rb) {
  constexpr int64_t E = 32 * F::kVecs;  // elements per step
  const int64_t steps = (k + E - 1) / E;
  packed_rb = size_t(steps * E) * sizeof(uint16_t);
  char* dst = static_cast<char*>(cpu::scratch(0, packed_rb * size_t(T)));
  for (int64_t t = 0; t < T; ++t) {
    const uint16_t* src = reinterpret_cast<const uint16_t*>(x + t * xrb);
    uint16_t* out = reinterpret_cast<uint16_t*>(dst + t * packed_rb);
    for (int64_t s = 0; s < steps; ++s) {
      const uint16_t* in = src + s * E;
      uint16_t* o = out + s * E;
      const int64_t left = k - s * E;
      if constexpr (E == 32) {  // word p from element kOrder[p]
        _mm512_store_si512(o, _mm512_permutexvar_epi16(_mm512_load_si512(F::kOrder.w), load_x32(in, left)));
      } else if constexpr (E == 64) {  // word p of the 64 from element kOrder[p]
        const __m512i lo = load_x32(in, left), hi = load_x32(in + 32, left - 32);
        _mm512_store_si512(o, _mm512_permutex2var_epi16(lo, _mm512_load_si512(F::kOrder.w), hi));
        _mm512_store_si512(o + 32, _mm512_permutex2var_epi16(lo, _mm512_load_si512(F::kOrder.w + 32), hi));
      } else {  // INT4-g128: vector V lane L = run L's nibble-V words; runs reordered, then lanes transposed
        const __m512i by_nibble = _mm512_load_si512(kRunByNibble.w);
        __m512i y[4];  // y[L] lane V: run L's words of vector V
        for (int L = 0; L < 4; ++L) y[L] = _mm512_permutexvar_epi16(by_nibble, load_x32(in + 32 * L, left - 32 * L));
        const __m512i t0 = _mm512_shuffle_i64x2(y[0], y[1], 0x44), t1 = _mm512_shuffle_i64x2(y[0], y[1], 0xEE);
        const __m512i t2 = _mm512_shuffle_i64x2(y[2], y[3], 0x44), t3 = _mm512_shuffle_i64x2(y[2], y[3], 0xEE);
        _mm512_store_si512(o, _mm512_shuffle_i64x2(t0, t2, 0x88));
        _mm512_store_si512(o + 32, _mm512_shuffle_i64x2(t0, t2, 0xDD));
        _mm512_store_si512(o + 64, _mm512_shuffle_i64x2(t1, t3, 0x88));
        _mm512_store_si512(o + 96, _mm512_shuffle_i64x2(t1, t3, 0xDD));
      }
    }
  }
  return dst;
}

}  // namespace
}  // namespace nb::kernels
