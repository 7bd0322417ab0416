// AVX-512 BF16 matmul for the weight-only 4-bit formats: MXFP4, MXFP4_FPQ,
// NVFP4, INT4-g32/g64/g128 weights x bf16 activations (their dot type is
// BF16: matmul rounds each activation to bf16 once, design/fp4-and-gptq.md
// §7.8 "keep activations in BF16/FP32"). Registered only on CPUs with
// AVX512_BF16 and AVX512_VBMI (every such CPU but Cooper Lake); elsewhere the
// AVX2 kernels (fp4_avx2.cpp) stay. Everything here is internal to this file
// (see scratch.h for why).
//
// Why bf16: vdpbf16ps multiplies 32 bf16 pairs per instruction, twice the
// weights of an fp32 FMA, and decoding 32 codes costs two shuffles and a
// shift instead of five shuffles. With fp32 activations the kernels read at
// most ~24 GB/s per core (Zen 5, weights in L2), below a core's share of
// DRAM bandwidth; decode was compute bound.
//
// Decoding. Zen 5 runs vector shifts, shuffles and 128-bit broadcasts from
// memory on the same two pipes, and 512-bit loads that straddle cache lines
// cost more than two narrow ones; the vdpbf16ps go elsewhere. So the kernels
// count shuffle-pipe ops per 32 codes (the table lookup below included) and
// load weights 128 or 256 bits wide. From the file's blocks:
//  * MXFP4 (one block per vector): a block's 16 code bytes broadcast to all
//    four lanes, word shifts by 0, 4, 8, 12 bits per lane leave nibble L of
//    each 16-bit word of lane L in bits 0..3: 32 codes. 3 ops per 32.
//  * INT4-g32 (two blocks per step), INT4-g64 (one block, two runs): two
//    16-byte loads and one vpermt2b put the first run's code bytes in lanes
//    0 and 1 of a zmm and the second's in lanes 2 and 3; word shifts by
//    (0, 4, 0, 4) and (8, 12, 8, 12) give all 64 codes in two vectors. 2.5
//    ops per 32.
//  * NVFP4 (four 9-byte blocks per step, two per vector): a masked 18-byte
//    load and one vpermb put A's 8 code bytes then B's in every lane; shifts
//    by 0, 4, 8, 12 per lane give 32 codes. 3 ops per 32.
//  * INT4-g128: the block's 64 code bytes are one plain load (inside the
//    block); shifts by 4, 8 and 12 give the other three vectors. 1.75 per 32.
// From W4R rows (formats/blocks.h: MXFP4, NVFP4, INT4-g32/g64 rearranged at
// load, KernelTable::load_layout), one 64-byte load per 128 codes and three
// shifts give the same vectors as from the file (1.75 per 32), so both
// layouts give the same sums bit for bit; NVFP4 tags (below) all four
// vectors with two ternary-logic ops.
// A code then indexes a bf16 value table with vpermw (5 index bits, 32 words)
// or vpermt2w (6 bits, two tables of 32 words):
//  * MXFP4 / MXFP4_FPQ: the block's E2M1 values times its scale 2^(e-127),
//    exact in bf16 (fp32's exponent range, 2 significant bits), precomputed
//    for all 256 scale bytes and stored twice over, so that vpermw ignores
//    index bit 4 (fp4_kernels.h). The products go straight into the
//    accumulators.
//  * NVFP4: E2M1 x E4M3 has at most 6 significant bits, exact in bf16; the
//    same with vpermt2w and the pair's two tables, index bit 5 (the tag)
//    picking the second block's.
//  * INT4: code - 8 is exact in bf16, but (code - 8) x fp16 scale is not, so
//    a block's products are summed unscaled (one table for all) and added to
//    the row's sum by an FMA with the block's fp32 scale (INT4-g32: two
//    masked FMAs, one per block, on the lanes that hold it).
// The vector words thus hold the step's elements in another order than the
// natural one (kRunOrder, kPairOrder, kNvPairOrder, kG128Order);
// pack_activations puts the activations in the same order once per call, and
// vdpbf16ps pairs them up. Every product of a bf16 weight and a bf16
// activation is exact in fp32. vdpbf16ps treats subnormal bf16 inputs
// (|x| < 2^-126) as zero, far below anything a model's weights or
// activations hold.
// Kernel alone, weights in L2, one Zen 5 core (bench --kernels), GB/s of
// weights read, fp32 activations -> bf16 -> W4R rows: MXFP4 23.6 -> 32.5 ->
// ~38, NVFP4 18.4 -> 23.7 -> ~30, INT4-g32 23.2 -> 28.8 -> ~36, INT4-g64 ~24
// -> 34.6 -> ~45; INT4-g128 24.4 -> 49.3.
//
// Work layout:
//  * T == 1 (decode): memory bound. kDecodeRows rows at a time, each row
//    streamed once, software prefetch ahead of the loads, the rows of a
//    step taken from kDecodeRows long sequential streams (row_streams.h).
//  * T > 1 (prefill): an L2-sized block of rows is visited once per tile of
//    prefill_cols() tokens; each decoded weight vector is used for every
//    token of the tile (rows x tokens x 2 accumulators in registers).
//
// Determinism: output (t, r) has its own two accumulators (accumulate());
// each lane takes the same vdpbf16ps (and INT4 FMA) sequence over the row's
// steps in increasing order whatever the layout, the tile shape, T or the
// rows a thread was given, then one fixed reduction tree (and, for
// MXFP4_FPQ, one division by 3): T = 1 and T > 1, W4R and file rows give
// bit-identical outputs for any thread count.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/membw.h"
#include "formats/blocks.h"
#include "kernels/cpu/fp4_kernels.h"
#include "kernels/cpu/hsum.h"
#include "kernels/cpu/row_streams.h"
#include "kernels/cpu/scratch.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries; the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// vpermb (NVFP4's pair decode): only the kernels, which run only where
// register_fp4_avx512 found VBMI, are compiled with it.
#pragma GCC push_options
#pragma GCC target("avx512vbmi")

namespace nb::kernels {
namespace {

using cpu::Fp4Tables;
using formats::BlockInt4;
using formats::BlockMXFP4;
using formats::BlockNVFP4;

// Rows (sequential streams) decoded together.
#ifndef NIBBLE_FP4_DECODE_ROWS
#define NIBBLE_FP4_DECODE_ROWS 4
#endif
constexpr int kDecodeRows = NIBBLE_FP4_DECODE_ROWS;
// How far ahead (bytes) decode prefetches each weight row.
#ifndef NIBBLE_FP4_PREFETCH_AHEAD
#define NIBBLE_FP4_PREFETCH_AHEAD 2048
#endif
constexpr size_t kPrefetchAhead = NIBBLE_FP4_PREFETCH_AHEAD;
// Weight bytes of one prefill row block (re-read from L2 by each token tile).
constexpr size_t kRowBlockBytes = 512 * 1024;

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
// NVFP4 pairs: every lane holds A's code bytes (1..8) then B's (10..17).
constexpr Bytes64 nv_pair_bytes() {
  Bytes64 o{};
  for (int i = 0; i < 64; ++i) o.b[i] = uint8_t(i % 16 < 8 ? 1 + i % 16 : 2 + i % 16);
  return o;
}
constexpr Bytes64 kNvPairBytes = nv_pair_bytes();
// The same from 16 bytes, A's codes then B's (a W4R row's last blocks).
constexpr Bytes64 nv_run_bytes() {
  Bytes64 o{};
  for (int i = 0; i < 64; ++i) o.b[i] = uint8_t(i % 16);
  return o;
}
constexpr Bytes64 kNvRunBytes = nv_run_bytes();
static_assert(offsetof(BlockNVFP4, qs) == 1 && sizeof(BlockNVFP4) == 9, "nv_pair_bytes assumes 9-byte blocks, d first");

// Element (within its 32-element run) held in bits 0..3 of a 16-bit word m
// of a run's 16 code bytes, nibble i: the low nibble of byte 2m is element
// 2m, its high nibble 2m + 16; byte 2m + 1's, 2m + 1 and 2m + 17.
constexpr int run_elem(int i, int m) { return (i & 1) * 16 + 2 * m + (i >> 1); }

// Which element of its step each vector word p = 32 V + 8 L + m holds: the
// orders W4R rows keep (formats/blocks.h), one step's worth.
//  * Runs (MXFP4): block V in every lane, lane L nibble L of word m.
//  * RunPairs (INT4-g32 blocks; INT4-g64 runs): run L / 2, nibble (L & 1) + 2 V of word m.
//  * NvPairs (NVFP4): vector V holds blocks 2V (words m < 4) and 2V + 1,
//    nibble L of word m % 4.
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
constexpr Words kNvPairOrder = step_order(formats::W4ROrder::NvPairs, 64);
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
template <int Div>  // 1: MXFP4 (OCP); 3: MXFP4_FPQ, weights E2M1 * 2^(e-127) / 3
struct MxW {
  static constexpr int64_t kBlock = formats::kQKMXFP4, kBytes = sizeof(BlockMXFP4), kScaleBytes = 1;
  static constexpr int kBlocksPerStep = 2, kVecs = 2;
  static constexpr bool kScaled = true;
  static constexpr int kPrep = 1;
  static constexpr const Words& kOrder = kRunOrder;
  static void weights(const uint8_t* a, int nblk, const Fp4Tables& t, __m512i* w) {
    constexpr size_t q = offsetof(BlockMXFP4, qs), e = offsetof(BlockMXFP4, e);
    runs(a + q, nblk == 2 ? a + kBytes + q : nullptr, a[e], nblk == 2 ? a[kBytes + e] : 0, t, w);
  }
  // Blocks A and B from their 16 code bytes and scale bytes (B's codes null
  // when there is no B: zero weights).
  static void runs(const uint8_t* qa, const uint8_t* qb, uint8_t ea, uint8_t eb, const Fp4Tables& t, __m512i* w) {
    w[0] = block(qa, ea, t);
    w[1] = qb ? block(qb, eb, t) : _mm512_setzero_si512();
  }
  // One block: its 16 code bytes in every lane, lane L shifted to nibble L
  // of each word; the table (there twice) ignores index bit 4.
  static __m512i block(const uint8_t* q, uint8_t e, const Fp4Tables& t) {
    const __m512i b = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
    return _mm512_permutexvar_epi16(_mm512_srlv_epi16(b, lane_nibble_shifts()), load_table(t.mxfp4_bf16[e]));
  }
  // A W4R row's last blocks (codes q, scales e), as weights() would.
  static void tail(const uint8_t* q, const uint8_t* e, int nblk, const Fp4Tables& t, __m512i* w) {
    runs(q, nblk == 2 ? q + 16 : nullptr, e[0], nblk == 2 ? e[1] : 0, t, w);
  }
  // A W4R chunk's line needs no preparation.
  static void prep(__m512i q, __m512i* p) { p[0] = q; }
  // Step u (0, 1) of a W4R chunk (its line p[0], its scale bytes e): blocks
  // 2u and 2u + 1, as weights() makes them from the file's step.
  static void chunk_step(const __m512i* p, int u, const uint8_t* e, const Fp4Tables& t, __m512i* w) {
    w[0] = _mm512_permutexvar_epi16(shift_codes(p[0], 8 * u), load_table(t.mxfp4_bf16[e[2 * u]]));
    w[1] = _mm512_permutexvar_epi16(shift_codes(p[0], 8 * u + 4), load_table(t.mxfp4_bf16[e[2 * u + 1]]));
  }
  // The 1/3 is applied once per output (the reference divides its sum by 3).
  static float finish(float y) { return Div == 1 ? y : y / float(Div); }
};

struct NvW {
  static constexpr int64_t kBlock = formats::kQKNVFP4, kBytes = sizeof(BlockNVFP4), kScaleBytes = 1;
  static constexpr int kBlocksPerStep = 4, kVecs = 2;
  static constexpr bool kScaled = true;
  static constexpr const Words& kOrder = kNvPairOrder;
  // Blocks 0, 1 in vector 0 and 2, 3 in vector 1 (missing blocks: zero weights).
  static void weights(const uint8_t* a, int nblk, const Fp4Tables& t, __m512i* w) {
    w[0] = file_pair(a, nblk < 2 ? nblk : 2, t);
    w[1] = nblk > 2 ? file_pair(a + 2 * kBytes, nblk - 2, t) : _mm512_setzero_si512();
  }
  // n <= 2 blocks at a, as the file holds them.
  static __m512i file_pair(const uint8_t* a, int n, const Fp4Tables& t) {
    const __m512i q = _mm512_permutexvar_epi8(_mm512_load_si512(kNvPairBytes.b), load_bytes(a, int(n * kBytes)));
    return pair(q, a[0], n == 2 ? a[kBytes] : -1, t);
  }
  // A W4R row's last blocks: their 8 code bytes one after the other at q,
  // their scale bytes at d.
  static void tail(const uint8_t* q, const uint8_t* d, int nblk, const Fp4Tables& t, __m512i* w) {
    w[0] = run_pair(q, nblk < 2 ? nblk : 2, d, t);
    w[1] = nblk > 2 ? run_pair(q + 16, nblk - 2, d + 2, t) : _mm512_setzero_si512();
  }
  static __m512i run_pair(const uint8_t* q, int n, const uint8_t* d, const Fp4Tables& t) {
    const __m512i b = _mm512_permutexvar_epi8(_mm512_load_si512(kNvRunBytes.b), load_bytes(q, 8 * n));
    return pair(b, d[0], n == 2 ? d[1] : -1, t);
  }
  // q: A's code bytes then B's in every lane; db < 0: no B.
  static __m512i pair(__m512i q, uint8_t da, int db, const Fp4Tables& t) {
    const __m512i c = _mm512_srlv_epi16(q, lane_nibble_shifts());
    const __m512i ta = load_table16(t.nvfp4_bf16[da]);
    const __m512i tb = db >= 0 ? load_table16(t.nvfp4_bf16[db]) : _mm512_setzero_si512();
    // Words 4..7 of each lane are B's: the second table.
    const __m512i tag = _mm512_set_epi64(0x0020002000200020ll, 0, 0x0020002000200020ll, 0,
                                         0x0020002000200020ll, 0, 0x0020002000200020ll, 0);
    return _mm512_permutex2var_epi16(ta, tagged(c, tag), tb);
  }
  // A W4R chunk: the four vectors' codes tagged (bit 5: B's table) by two
  // ternary-logic ops for all four: lo = nibbles 0 and 2 (bits 0..3 and
  // 8..11) of each word, hi = nibbles 1 and 3; vectors lo, hi, lo >> 8, hi >> 8.
  static constexpr int kPrep = 2;
  static void prep(__m512i q, __m512i* p) {
    const __m512i tag = _mm512_set_epi64(0x2020202020202020ll, 0, 0x2020202020202020ll, 0,
                                         0x2020202020202020ll, 0, 0x2020202020202020ll, 0);
    const __m512i nibbles = _mm512_set1_epi16(0x0F0F);
    p[0] = _mm512_ternarylogic_epi32(q, nibbles, tag, 0xEA);
    p[1] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(q, 4), nibbles, tag, 0xEA);
  }
  // Step u (0, 1) of a W4R chunk: vectors 2u (blocks 4u, 4u + 1) and 2u + 1.
  static void chunk_step(const __m512i* p, int u, const uint8_t* d, const Fp4Tables& t, __m512i* w) {
#pragma GCC unroll 2
    for (int v = 0; v < 2; ++v) {
      const __m512i c = u == 0 ? p[v] : _mm512_srli_epi16(p[v], 8);
      const uint8_t* dv = d + 4 * u + 2 * v;
      w[v] = _mm512_permutex2var_epi16(load_table16(t.nvfp4_bf16[dv[0]]), c, load_table16(t.nvfp4_bf16[dv[1]]));
    }
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

// Adds the products of one step's decoded weights (wv[r]: F::kVecs vectors)
// with C tokens' packed activations (x: the step's, tokens xrb bytes apart)
// into acc. Each output has two accumulators, so that a row's chain of
// dependent vdpbf16ps is half as long (one chain of four per 128 codes made
// decode latency-bound): vector v goes to acc[.][.][v & 1]; INT4-g32's two
// blocks to [0] and [1]. scale: INT4's block scales of the step, row r's at
// scale[r * scale_stride + j]; nblk: the step's blocks.
template <class F, int R, int C>
__attribute__((always_inline)) inline void accumulate(const __m512i (&wv)[R][F::kVecs], const uint16_t* x, size_t xrb,
                                                      __m512 (&acc)[R][C][2], const float* scale,
                                                      size_t scale_stride, int nblk) {
  constexpr int V = F::kVecs;
  static_assert(!F::kScaled || V % 2 == 0, "each step feeds both accumulators");
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    const uint16_t* xr = reinterpret_cast<const uint16_t*>(reinterpret_cast<const char*>(x) + c * xrb);
    if constexpr (F::kScaled) {
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        const __m512i xv = _mm512_load_si512(xr + 32 * v);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][c][v & 1] = _mm512_dpbf16_ps(acc[r][c][v & 1], as_bh(wv[r][v]), as_bh(xv));
      }
    } else {
      __m512 part[R];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) part[r] = _mm512_setzero_ps();
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        const __m512i xv = _mm512_load_si512(xr + 32 * v);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) part[r] = _mm512_dpbf16_ps(part[r], as_bh(wv[r][v]), as_bh(xv));
      }
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        const float* sc = scale + r * scale_stride;
        if constexpr (F::kBlocksPerStep == 1) {
          acc[r][c][0] = _mm512_fmadd_ps(part[r], _mm512_set1_ps(sc[0]), acc[r][c][0]);
        } else {  // lanes 0..7 hold the first block's sums, 8..15 the second's
          acc[r][c][0] = _mm512_mask3_fmadd_ps(part[r], _mm512_set1_ps(sc[0]), acc[r][c][0], 0x00FF);
          if (nblk == 2) acc[r][c][1] = _mm512_mask3_fmadd_ps(part[r], _mm512_set1_ps(sc[1]), acc[r][c][1], 0xFF00);
        }
      }
    }
  }
}

// Zeroed accumulators, and the outputs they sum to (one fixed tree).
template <int R, int C>
__attribute__((always_inline)) inline void zero(__m512 (&acc)[R][C][2]) {
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[r][c][0] = acc[r][c][1] = _mm512_setzero_ps();
}
template <class F, int R, int C>
__attribute__((always_inline)) inline void store(__m512 (&acc)[R][C][2], float* y, int64_t ys, int64_t yr) {
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) y[c * ys + r * yr] = F::finish(hsum512(_mm512_add_ps(acc[r][c][0], acc[r][c][1])));
}

// Step s (of nblk blocks) of R rows (wrb bytes apart) against C tokens (x:
// packed bf16 rows xrb bytes apart). scale: as accumulate's.
template <class F, int R, int C>
__attribute__((always_inline)) inline void step(const uint8_t* w, size_t wrb, int64_t s, int nblk, const char* x,
                                                size_t xrb, __m512 (&acc)[R][C][2], const float* scale,
                                                size_t scale_stride, const Fp4Tables& tabs) {
  constexpr int V = F::kVecs;
  constexpr int64_t kStepBytes = F::kBlocksPerStep * F::kBytes, kStepElems = 32 * V;
  // Decode prefetches every line once or a few times: every kEvery-th step
  // (at most 64 bytes apart, so no line is skipped), every 64 bytes of it.
  constexpr int64_t kEvery = kStepBytes < 64 ? 64 / kStepBytes : 1;
  if (C == 1 && s % kEvery == 0)
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r)
      for (int64_t o = 0; o < kStepBytes; o += 64)
        _mm_prefetch(reinterpret_cast<const char*>(w + r * wrb + s * kStepBytes) + kPrefetchAhead + o, _MM_HINT_T0);
  __m512i wv[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) F::weights(w + r * wrb + s * kStepBytes, nblk, tabs, wv[r]);
  accumulate<F, R, C>(wv, reinterpret_cast<const uint16_t*>(x) + s * kStepElems, xrb, acc, scale, scale_stride, nblk);
}

// R rows x C tokens over the whole row (nb blocks). w: first row, the others
// wrb bytes apart; x: first token (tokens xrb bytes apart); y: &Y[t0, r],
// the rows yr floats apart and the tokens ys.
template <class F, int R, int C>
void tile(const uint8_t* w, size_t wrb, int64_t nb, const char* x, size_t xrb, float* y, int64_t ys, int64_t yr,
          const Fp4Tables& tabs) {
  constexpr int B = F::kBlocksPerStep;
  __m512 acc[R][C][2];
  zero(acc);
  int64_t b = 0;  // first block of the next step
  if constexpr (!F::kScaled) {
    constexpr int S = F::kScaleBatch;
    for (; b + S <= nb; b += S) {
      alignas(64) float sc[R][8];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) F::scales(w + r * wrb, b, sc[r]);
      for (int j = 0; j < S; j += B) step<F, R, C>(w, wrb, (b + j) / B, B, x, xrb, acc, &sc[0][j], 8, tabs);
    }
  }
  // Whole steps (nblk a constant in the inlined step), then a last partial
  // one; INT4's scales past the batches one block at a time.
  float sc[R][B] = {};
  auto scales_of = [&](int nblk) {
    if constexpr (!F::kScaled)
      for (int r = 0; r < R; ++r)
        for (int j = 0; j < nblk; ++j) sc[r][j] = F::scale1(w + r * wrb, b + j);
  };
  for (; b + B <= nb; b += B) {
    scales_of(B);
    step<F, R, C>(w, wrb, b / B, B, x, xrb, acc, &sc[0][0], B, tabs);
  }
  if (b < nb) {
    scales_of(int(nb - b));
    step<F, R, C>(w, wrb, b / B, int(nb - b), x, xrb, acc, &sc[0][0], B, tabs);
  }
  store<F, R, C>(acc, y, ys, yr);
}

// tile() over W4R rows (blocks.h): the same vectors and the same sums, bit
// for bit, from one 64-byte load per chunk of 128 codes instead of a byte
// permute per 32 or 64 (1.75 shuffle-pipe ops per 32 codes instead of 3 for
// MXFP4 and NVFP4, 2.5 for INT4). The row's last nb % (128 / kBlock)
// blocks, stored as in the file's blocks, go step by step.
template <class F, int R, int C>
void tile_r(const uint8_t* w, size_t wrb, int64_t nb, const char* x, size_t xrb, float* y, int64_t ys, int64_t yr,
            const Fp4Tables& tabs) {
  constexpr int B = F::kBlocksPerStep, V = F::kVecs;
  constexpr int CB = int(formats::kW4RChunk / F::kBlock);  // blocks per chunk
  constexpr int S = int(formats::kW4RChunk / (32 * V));    // the file's steps per chunk
  constexpr int64_t kS = F::kScaleBytes, kCodeBytes = F::kBytes - kS;
  static_assert(S * V == 4 && CB == S * B, "a chunk is 4 vectors, whole steps");
  static_assert(kS * CB <= 8, "chunk_scales reads at most 8 bytes");
  const int64_t chunks = nb / CB;
  const uint8_t* codes = w + kS * nb;
  const uint16_t* xs = reinterpret_cast<const uint16_t*>(x);
  __m512 acc[R][C][2];
  zero(acc);
  for (int64_t j = 0; j < chunks; ++j) {
    if constexpr (C == 1)
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(codes + r * wrb + 64 * j) + kPrefetchAhead, _MM_HINT_T0);
    __m512i q[R][F::kPrep];
    alignas(16) float sc[R][4];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      __m512i line = _mm512_loadu_si512(codes + r * wrb + 64 * j);
      asm("" : "+v"(line));  // one load: GCC would fold it into each shift, reading the line 4 times
      F::prep(line, q[r]);
      if constexpr (!F::kScaled) F::chunk_scales(w + r * wrb + kS * CB * j, sc[r]);
    }
#pragma GCC unroll 4
    for (int u = 0; u < S; ++u) {
      __m512i wv[R][V];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) F::chunk_step(q[r], u, w + r * wrb + kS * CB * j, tabs, wv[r]);
      accumulate<F, R, C>(wv, xs + formats::kW4RChunk * j + 32 * V * u, xrb, acc, &sc[0][B * u], 4, B);
    }
  }
  for (int64_t b = chunks * CB; b < nb; b += B) {
    const int nblk = int(nb - b < B ? nb - b : B);
    __m512i wv[R][V];
    float sc[R][B] = {};
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const uint8_t* scales = w + r * wrb + kS * b;
      F::tail(codes + r * wrb + 64 * chunks + (b - chunks * CB) * kCodeBytes, scales, nblk, tabs, wv[r]);
      if constexpr (!F::kScaled)
        for (int i = 0; i < nblk; ++i) sc[r][i] = F::fp16_at(scales + 2 * i);
    }
    accumulate<F, R, C>(wv, xs + b * F::kBlock, xrb, acc, &sc[0][0], B, nblk);
  }
  store<F, R, C>(acc, y, ys, yr);
}

// One tile of either layout.
template <class F, bool kW4R, int R, int C>
void tile_any(const uint8_t* w, size_t wrb, int64_t nb, const char* x, size_t xrb, float* y, int64_t ys, int64_t yr,
              const Fp4Tables& tabs) {
  if constexpr (kW4R) tile_r<F, R, C>(w, wrb, nb, x, xrb, y, ys, yr, tabs);
  else tile<F, R, C>(w, wrb, nb, x, xrb, y, ys, yr, tabs);
}

// Prefill tiles: two accumulators per output, so 2 rows of outputs; 5
// tokens for MXFP4 / NVFP4 (20 accumulators), 4 for INT4, whose block sums
// need registers of their own. Measured on Zen 5 (docs/performance.md):
// 2 x 4 and 4 x 2 lost 20-30% of MXFP4 / NVFP4 prefill, 2 x 5 did not.
constexpr int kPrefillRows = 2;
template <class F>
constexpr int prefill_cols() {
  return F::kScaled ? 5 : 4;
}

// The tile for c <= C tokens (fewer at the end of a batch).
template <class F, bool kW4R, int R, int C>
void tile_c(int c, const uint8_t* w, size_t wrb, int64_t nb, const char* x, size_t xrb, float* y, int64_t ys,
            const Fp4Tables& tabs) {
  if constexpr (C > 1)
    if (c < C) return tile_c<F, kW4R, R, C - 1>(c, w, wrb, nb, x, xrb, y, ys, tabs);
  tile_any<F, kW4R, R, C>(w, wrb, nb, x, xrb, y, ys, 1, tabs);
}

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

// kW4R: the rows are F's W4R layout (blocks.h), else F's file layout.
template <class F, bool kW4R = false>
void matmul_w4(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb, int64_t T,
               float* y, int64_t ys) {
  const Fp4Tables& tabs = cpu::fp4_tables();
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const int64_t nb = k / F::kBlock;
  const char* x = pack_activations<F>(static_cast<const char*>(xv), xrb, T, k, xrb);
  if (T == 1) {
    for_row_streams<kDecodeRows>(
        r0, r1,
        [&](int64_t r, int64_t part) {
          tile_any<F, kW4R, kDecodeRows, 1>(w + r * wrb, wrb * size_t(part), nb, x, xrb, y + r, ys, part, tabs);
        },
        [&](int64_t r) { tile_any<F, kW4R, 1, 1>(w + r * wrb, wrb, nb, x, xrb, y + r, ys, 1, tabs); });
    return;
  }
  constexpr int R = kPrefillRows, C = prefill_cols<F>();
  int64_t rb = int64_t(kRowBlockBytes / wrb) / R * R;
  if (rb < R) rb = R;
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;
    for (int64_t t = 0; t < T; t += C) {
      const int c = int(T - t < C ? T - t : C);
      const char* xt = x + t * xrb;
      float* yt = y + t * ys;
      int64_t r = b0;
      for (; r + R <= b1; r += R) tile_c<F, kW4R, R, C>(c, w + r * wrb, wrb, nb, xt, xrb, yt + r, ys, tabs);
      for (; r < b1; ++r) tile_c<F, kW4R, 1, C>(c, w + r * wrb, wrb, nb, xt, xrb, yt + r, ys, tabs);
    }
  }
}

}  // namespace
#pragma GCC pop_options

void register_fp4_avx512(KernelTable& t) {
  const CpuFeatures f = cpu_features();
  if (!f.avx512bf16 || !f.avx512vbmi) return;  // the AVX2 kernels stay
  t.set_matmul(FormatId::MXFP4, matmul_w4<MxW<1>>);
  t.set_matmul(FormatId::MXFP4_FPQ, matmul_w4<MxW<3>>);
  t.set_matmul(FormatId::NVFP4, matmul_w4<NvW>);
  t.set_matmul(FormatId::INT4_G32, matmul_w4<Int4W<32>>);
  t.set_matmul(FormatId::INT4_G64, matmul_w4<Int4W<64>>);
  t.set_matmul(FormatId::INT4_G128, matmul_w4<Int4W<128>>);
  // The W4R layouts, made at load (INT4-g128's own blocks already give one
  // load per 128 codes).
  auto w4r = [&](FormatId file, FormatId r, MatmulRowsFn fn) {
    t.set_matmul(r, fn);
    t.load_layout[size_t(file)] = r;
  };
  w4r(FormatId::MXFP4, FormatId::MXFP4R, matmul_w4<MxW<1>, true>);
  w4r(FormatId::MXFP4_FPQ, FormatId::MXFP4_FPQR, matmul_w4<MxW<3>, true>);
  w4r(FormatId::NVFP4, FormatId::NVFP4R, matmul_w4<NvW, true>);
  w4r(FormatId::INT4_G32, FormatId::INT4_G32R, matmul_w4<Int4W<32>, true>);
  w4r(FormatId::INT4_G64, FormatId::INT4_G64R, matmul_w4<Int4W<64>, true>);
}

}  // namespace nb::kernels
