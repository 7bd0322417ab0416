// AVX-512 kernels (F/BW/VL/DQ + VNNI). Everything here is internal to this
// file: helpers shared with other files would be emitted with AVX-512 code and
// could be picked by the linker for AVX2-only machines (see scratch.h).
//
// Layout of the work (both matmul families):
//  * T == 1 (decode): stream each weight row once, several rows in flight,
//    software prefetch ahead of the loads; memory bound.
//  * T > 1 (prefill): a block of weight rows that fits in L2 is visited once
//    per tile of tokens, and inside the micro-kernel each weight vector loaded
//    is used for every token of the tile (and each activation vector for every
//    row of the tile); compute bound.
//
// Determinism: every output (t, r) is accumulated in its own vector register,
// lane by lane, in increasing k, with the same instructions whichever tile
// shape or T computes it, and then reduced by one fixed tree. So T = 1 and
// T > 1 give bit-identical outputs, for float and integer formats alike.
// Exceptions: where the CPU has AMX-INT8, Q8_0/Q4_0 prefill runs on the tile
// unit (block_gemm_amx.cpp) in the reference dot's own order instead, so it
// equals the reference bit for bit and decode to fp32 rounding; and where it
// has AMX-BF16, float-weight prefill of callers that allow any order of the
// sums (kernels::FloatSums::AnyOrder: the Llama models) runs on the tile unit
// from exact bf16 splits (float_gemm_amx.cpp), equal to decode to fp32 rounding.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/half.h"
#include "formats/blocks.h"
#include "kernels/amx.h"
#include "kernels/attend_head.h"
#include "kernels/cpu/bf16_lanes.h"
#include "kernels/cpu/block_gemm_amx.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/hsum.h"
#include "kernels/cpu/row_blocks.h"
#include "kernels/cpu/row_streams.h"
#include "kernels/cpu/scratch.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries (casts, set1); the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels {
namespace {

using formats::BlockQ4_0;
using formats::BlockQ8_0;
using formats::BlockQ8_K;
using formats::kQK8_0;
using formats::kQK_K;

// ============================================================================
// F32 / F16 / BF16 weights x fp32 activations.
// Order per output: lane j (of 16) adds w[i] * x[i] for i = j, j+16, j+32, ...
// with one FMA each (the last partial vector is a masked load reading zeros),
// then hsum512. Independent of T and of the tile.
// ============================================================================
struct F32W {
  static constexpr size_t kBytes = 4;
  static __m512 load(const char* p, int64_t i) { return _mm512_loadu_ps(reinterpret_cast<const float*>(p) + i); }
  static __m512 loadm(const char* p, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(p) + i);
  }
};
struct F16W {
  static constexpr size_t kBytes = 2;
  static __m512 load(const char* p, int64_t i) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * i)));
  }
  static __m512 loadm(const char* p, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p + 2 * i));
  }
};
struct BF16W {
  static constexpr size_t kBytes = 2;
  static __m512 load(const char* p, int64_t i) {
    return widen_bf16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2 * i)));
  }
  static __m512 loadm(const char* p, int64_t i, __mmask16 m) {
    return widen_bf16(_mm256_maskz_loadu_epi16(m, p + 2 * i));
  }
};

// R rows x C tokens; w: first row, x: first token, y: &Y[t0, r].
template <class L, int R, int C>
void float_tile(const char* w, size_t wrb, int64_t k, const char* x, size_t xrb, float* y, int64_t ys,
                int64_t yr = 1) {
  __m512 acc[R][C];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    __m512 wv[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      if (C == 1) _mm_prefetch(w + r * wrb + (i * L::kBytes) + kPrefetchAhead, _MM_HINT_T0);
      wv[r] = L::load(w + r * wrb, i);
    }
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const __m512 xv = _mm512_loadu_ps(reinterpret_cast<const float*>(x + c * xrb) + i);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r][c] = _mm512_fmadd_ps(wv[r], xv, acc[r][c]);
    }
  }
  if (i < k) {
    const __mmask16 m = __mmask16((1u << (k - i)) - 1);
    __m512 wv[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) wv[r] = L::loadm(w + r * wrb, i, m);
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(x + c * xrb) + i);
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[r][c] = _mm512_fmadd_ps(wv[r], xv, acc[r][c]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) y[c * ys + r * yr] = hsum512(acc[r][c]);
}

template <class L, int R>
void float_tile_c(int c, const char* w, size_t wrb, int64_t k, const char* x, size_t xrb, float* y, int64_t ys) {
  switch (c) {
    case 1: return float_tile<L, R, 1>(w, wrb, k, x, xrb, y, ys);
    case 2: return float_tile<L, R, 2>(w, wrb, k, x, xrb, y, ys);
    case 3: return float_tile<L, R, 3>(w, wrb, k, x, xrb, y, ys);
    default: return float_tile<L, R, 4>(w, wrb, k, x, xrb, y, ys);
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
  constexpr int R = 4, C = 4;
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
// Q8_0 / Q4_0 weights x Q8_0 activations (VNNI), 4 (Q8_0) or 8 (Q4_0) blocks
// per step.
//
// vpdpbusd multiplies unsigned by signed bytes. The weights take the unsigned
// side with an offset (Q8_0: w + 128, one xor; Q4_0: the 4-bit code itself,
// i.e. (w - 8) + 8), the activations the signed side unchanged, and each
// int32 lane starts from -offset * (sum of its activation bytes), computed
// once per token. So every lane holds the exact int32 sum of its products
// w * x, for any int8 weights (-128 included) and any int8 activations.
//
// Layout of one step of B blocks: each of V = B / 2 code vectors holds
// 64 / B bytes of every block (16 for Q8_0, 8 for Q4_0: which of a block's
// codes, and which block sits at which position, is the format's, below),
// so each int32 lane sums 4 V products of one block, and a block owns
// L = 16 / B lanes. Per step and output
//   s = corr; s = dpbusd(s, v[k], x[k]) for k < V;  acc += float(s) * (dw * dx)
// with dw, dx repeated over the block's L lanes; then hsum512. The float work
// (a conversion, a multiply and an FMA per step and output) is what bounds
// prefill, so more blocks per step is faster: Q4_0 takes 8 (prefill kernel
// on Zen 5, 3 interleaved runs: 158 -> 181 GMAC/s per core; decode within
// the noise at model level), Q8_0 4 (its codes are a whole byte each: 8
// blocks would need twice the gathering). The activations are packed once
// per call to match. Blocks past the row end (nb not a multiple of B) read
// as zero bytes, with x = 0, dx = 0 and corr = 0. The same instructions run
// for T = 1 (weights straight from the file layout) and T > 1 (weights packed
// per row block into v and dw), so the two give the same bits.
// ============================================================================
template <int V>
struct Codes {
  __m512i v[V];
  __m512 dw;
};

// Bytes [off, off + 64) of p, reading only the first `bytes` (zeros after).
inline __m512i load_upto(const char* p, int64_t off, int64_t bytes) {
  const int64_t n = bytes - off;
  if (n >= 64) return _mm512_loadu_si512(p + off);
  if (n <= 0) return _mm512_setzero_si512();
  return _mm512_maskz_loadu_epi8((__mmask64(1) << n) - 1, p + off);
}

// Step q of a row in a file layout (steps kBytes apart; F::prep reads one
// from its first byte, zeros past `bytes`), and its prefetch.
template <class F>
struct FileSteps {
  template <bool kFull>
  static auto at(const char* row, int64_t q, int64_t nb) {
    const int64_t bytes = kFull ? F::kBytes : (nb - q * F::kBlocks) * (F::kBytes / F::kBlocks);
    return F::template prep<kFull>(row + q * F::kBytes, bytes);
  }
  static void prefetch(const char* row, int64_t q, int64_t) {
    prefetch_range(row + q * F::kBytes + kPrefetchAhead, F::kBytes > 128 ? 192 : 128);
  }
};

// Q4_0, 8 blocks as two runs of 4 (A: blocks 0..3, B: 4..7), each read as
// 4 blocks: word j of the gathered codes is block j/8's code word j%8, at
// word 9 * (j/8) + 1 + j%8 of the run's 36 words (>= 32: second source), so
// that 128-bit lane i holds block i's codes, low nibbles = codes 0..15, high
// = 16..31. The step's qword 2i belongs to A's block i, qword 2i + 1 to B's:
// qword blends of the runs' vectors, and for the halves on the wrong side a
// swap of the qwords of each 128-bit lane (in-lane shuffles and blends issue
// beside VPDPBUSD; cross-lane permutes would not). Vector k holds A's codes
// 8k .. 8k + 7 and B's 8 (k ^ 1) ..; the activations are packed to match
// (kBlockAt, kChunkXor).
alignas(64) constexpr uint16_t kQ4Gather[32] = {1,  2,  3,  4,  5,  6,  7,  8,  10, 11, 12, 13, 14, 15, 16, 17,
                                                19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 32, 33, 34, 35};
// fp16 word l (< 16) of the step's scales, lanes 4i..4i+3 = A's block i
// twice, then B's (word 9i of each run's first load; B's as second source).
alignas(64) constexpr uint16_t kQ4Scales[32] = {0, 0, 32, 32, 9, 9, 41, 41, 18, 18, 50, 50, 27, 27, 59, 59};

struct Q4_0Step : FileSteps<Q4_0Step> {
  static constexpr int kBlocks = 8, kVecs = 4;
  static constexpr int kOffset = 8;
  static constexpr int kBlockAt[8] = {0, 4, 1, 5, 2, 6, 3, 7};   // block of qword position p
  static constexpr int kChunkXor[8] = {0, 1, 0, 1, 0, 1, 0, 1};  // its 8 codes in vector k: chunk k ^ this
  static constexpr int64_t kRunBytes = 4 * int64_t(sizeof(BlockQ4_0));  // 72
  static constexpr int64_t kBytes = 2 * kRunBytes;
  // Codes of 4 blocks (low nibbles, high nibbles); r0: their first 64 bytes.
  template <bool kFull>
  static void run(const char* p, int64_t bytes, __m512i& lo, __m512i& hi, __m512i& r0) {
    __m512i r1;
    if (kFull) {
      r0 = _mm512_loadu_si512(p);
      r1 = _mm512_castsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 64)));
    } else {
      r0 = load_upto(p, 0, bytes);
      r1 = load_upto(p, 64, bytes);
    }
    const __m512i q = _mm512_permutex2var_epi16(r0, _mm512_load_si512(kQ4Gather), r1);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    lo = _mm512_and_si512(q, m4);
    hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
  }
  // `bytes`: how many of the step's bytes exist (kBytes unless the row ends).
  template <bool kFull>
  static Codes<kVecs> prep(const char* p, int64_t bytes) {
    __m512i loA, hiA, loB, hiB, rA, rB;
    run<kFull>(p, bytes, loA, hiA, rA);
    run<kFull>(p + kRunBytes, bytes - kRunBytes, loB, hiB, rB);  // kFull: bytes - kRunBytes == kRunBytes
    constexpr __mmask8 odd = 0xAA;  // qword positions 2i + 1: B's
    Codes<kVecs> w;
    w.v[0] = _mm512_mask_blend_epi64(odd, loA, loB);                                       // A 0..7,   B 8..15
    w.v[1] = _mm512_shuffle_epi32(_mm512_mask_blend_epi64(odd, loB, loA), _MM_PERM_BADC);  // A 8..15,  B 0..7
    w.v[2] = _mm512_mask_blend_epi64(odd, hiA, hiB);                                       // A 16..23, B 24..31
    w.v[3] = _mm512_shuffle_epi32(_mm512_mask_blend_epi64(odd, hiB, hiA), _MM_PERM_BADC);  // A 24..31, B 16..23
    w.dw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(rA, _mm512_load_si512(kQ4Scales), rB)));
    return w;
  }
};

// Q8_0 (34-byte blocks, codes at even offsets 34i + 2): v[0] takes words
// 17i + 1 .. 17i + 8 and v[1] words 17i + 9 .. 17i + 16 of the 4 blocks' 68
// words. Words 0..63 come from two 64-byte loads and a two-source permute;
// v[1]'s last four (64..67) from an 8-byte load and a masked permute with the
// same index (its low 5 bits, 0..3). Three loads that do not overlap: from
// DRAM this ran at 1.45x the speed of four overlapping 64-byte loads on AMD
// Zen 5 (a synthetic 4-stream read with the two patterns, 29 vs 20 GB/s).
alignas(64) constexpr uint16_t kQ8GatherLo[32] = {1,  2,  3,  4,  5,  6,  7,  8,  18, 19, 20, 21, 22, 23, 24, 25,
                                                  35, 36, 37, 38, 39, 40, 41, 42, 52, 53, 54, 55, 56, 57, 58, 59};
alignas(64) constexpr uint16_t kQ8GatherHi[32] = {9,  10, 11, 12, 13, 14, 15, 16, 26, 27, 28, 29, 30, 31, 32, 33,
                                                  43, 44, 45, 46, 47, 48, 49, 50, 60, 61, 62, 63, 0,  1,  2,  3};
constexpr __mmask32 kQ8HiTail = 0xF0000000u;  // v[1]'s words 28..31: words 64..67
alignas(64) constexpr uint16_t kQ8Scales[32] = {0, 0, 0, 0, 17, 17, 17, 17, 34, 34, 34, 34, 51, 51, 51, 51};

// The step of Q8_0 codes (Q8_0Step and Q8_0RStep, which must pair the same
// codes with the same packed activations).
struct Q8_0Shape {
  static constexpr int kBlocks = 4, kVecs = 2;
  static constexpr int kBlockAt[4] = {0, 1, 2, 3};  // blocks in order; vector k: codes 16k .. 16k + 15
  static constexpr int kChunkXor[4] = {0, 0, 0, 0};
  static constexpr int kOffset = 128;
};

struct Q8_0Step : Q8_0Shape, FileSteps<Q8_0Step> {
  static constexpr int64_t kBytes = kBlocks * int64_t(sizeof(BlockQ8_0));  // 136
  template <bool kFull>
  static Codes<kVecs> prep(const char* p, int64_t bytes) {
    __m512i r0, r1, r2;
    if (kFull) {
      r0 = _mm512_loadu_si512(p);
      r1 = _mm512_loadu_si512(p + 64);
      r2 = _mm512_castsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 128)));
    } else {
      r0 = load_upto(p, 0, bytes);
      r1 = load_upto(p, 64, bytes);
      r2 = load_upto(p, 128, bytes);
    }
    const __m512i flip = _mm512_set1_epi8(char(0x80)), hi_idx = _mm512_load_si512(kQ8GatherHi);
    const __m512i hi = _mm512_mask_permutexvar_epi16(_mm512_permutex2var_epi16(r0, hi_idx, r1), kQ8HiTail, hi_idx, r2);
    Codes<kVecs> w;
    w.v[0] = _mm512_xor_si512(_mm512_permutex2var_epi16(r0, _mm512_load_si512(kQ8GatherLo), r1), flip);
    w.v[1] = _mm512_xor_si512(hi, flip);
    w.dw = _mm512_cvtph_ps(
        _mm512_castsi512_si256(_mm512_permutex2var_epi16(r0, _mm512_load_si512(kQ8Scales), r1)));
    return w;
  }
};

// Q8_0R (blocks.h): Q8_0Step's steps from rows rearranged at load time, so
// that v[0] and v[1] are two aligned 64-byte loads and the 4 scales one
// 8-byte load: no permutes, and every weight line is read once, in order.
// This kernel alone, decode from DRAM, 1 thread, AMD Zen 5: 28-32 GB/s
// against 23-24 for the 34-byte blocks (in L2: 98 against 52). A partial
// last group reads only its m blocks (zeros after), as Q8_0Step's partial
// step does, so the two give the same bits.
alignas(32) constexpr uint16_t kQ8RScales[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};

struct Q8_0RStep : Q8_0Shape {
  static_assert(kBlocks == formats::kQ8_0RGroup);
  template <bool kFull>
  static Codes<kVecs> at(const char* row, int64_t q, int64_t nb) {
    const char* c = row + formats::q8_0r_codes_start(nb) + 128 * q;
    const char* s = row + 8 * q;  // the scales start the row
    __m512i v0, v1;
    __m128i sc;
    if (kFull) {
      v0 = _mm512_loadu_si512(c);
      v1 = _mm512_loadu_si512(c + 64);
      sc = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s));
    } else {
      const int64_t m = nb - kBlocks * q;  // 1..3
      const __mmask64 codes = (__mmask64(1) << (16 * m)) - 1;
      v0 = _mm512_maskz_loadu_epi8(codes, c);
      v1 = _mm512_maskz_loadu_epi8(codes, c + 16 * m);
      sc = _mm_maskz_loadu_epi16(__mmask8((1u << m) - 1), s);
    }
    const __m512i flip = _mm512_set1_epi8(char(0x80));
    Codes<kVecs> w;
    w.v[0] = _mm512_xor_si512(v0, flip);
    w.v[1] = _mm512_xor_si512(v1, flip);
    w.dw = _mm512_cvtph_ps(
        _mm256_permutexvar_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(kQ8RScales)), _mm256_castsi128_si256(sc)));
    return w;
  }
  // The code stream two lines at a time (past the row's end: the next
  // row's scales, then its codes).
  static void prefetch(const char* row, int64_t q, int64_t nb) {
    prefetch_range(row + formats::q8_0r_codes_start(nb) + 128 * q + kPrefetchAhead, 128);
  }
};

// Packed sizes per step: activations (per token) V code vectors, dx (16
// floats), corr (16 int32); weights (per row) V code vectors, dw.
template <class F>
constexpr size_t kXStep = size_t(F::kVecs) * 64 + 128;
template <class F>
constexpr size_t kWStep = size_t(F::kVecs) * 64 + 64;

// One step of one output: a = the token's packed step (codes, dx, corr).
template <int V>
inline __m512 step(__m512 acc, const __m512i (&v)[V], __m512 dw, const uint8_t* a) {
  __m512i s = _mm512_load_si512(a + 64 * V + 64);  // corr
#pragma GCC unroll 4
  for (int k = 0; k < V; ++k) s = _mm512_dpbusd_epi32(s, v[k], _mm512_load_si512(a + 64 * k));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_load_ps(a + 64 * V)), acc);
}

// T tokens of Q8_0 activations in F's step layout (kXStep<F> bytes per
// token and step): code chunks where the weights put theirs, dx, corr.
template <class F>
void pack_x_steps(const char* xq, size_t xrb, int64_t T, int64_t nb, uint8_t* dst) {
  constexpr int B = F::kBlocks, V = F::kVecs, chunk = 64 / B, lanes = 16 / B;
  const int64_t ns = (nb + B - 1) / B;
  const __m512i off = _mm512_set1_epi8(char(F::kOffset));  // 128 wraps to -128 as a byte, read as unsigned
  for (int64_t t = 0; t < T; ++t) {
    const BlockQ8_0* xb = reinterpret_cast<const BlockQ8_0*>(xq + t * xrb);
    for (int64_t q = 0; q < ns; ++q) {
      uint8_t* d = dst + size_t(t * ns + q) * kXStep<F>;
      alignas(64) float dx[16];
      for (int i = 0; i < B; ++i) {
        const int64_t b = B * q + F::kBlockAt[i];
        const bool have = b < nb;
        for (int k = 0; k < V; ++k) {
          if (have) std::memcpy(d + 64 * k + chunk * i, xb[b].qs + chunk * (k ^ F::kChunkXor[i]), chunk);
          else std::memset(d + 64 * k + chunk * i, 0, chunk);
        }
        const float sc = have ? h2f(xb[b].d) : 0.0f;
        for (int l = 0; l < lanes; ++l) dx[lanes * i + l] = sc;
      }
      std::memcpy(d + 64 * V, dx, 64);
      __m512i sx = _mm512_setzero_si512();
      for (int k = 0; k < V; ++k) sx = _mm512_dpbusd_epi32(sx, off, _mm512_load_si512(d + 64 * k));
      _mm512_store_si512(d + 64 * V + 64, _mm512_sub_epi32(_mm512_setzero_si512(), sx));
    }
  }
}

// Decode: R rows (wrb bytes apart) against one packed token, weights read
// from the layout they are stored in (F::at); row r's output goes to y[r * yr].
template <class F, int R>
void step_rows_direct(const char* w, size_t wrb, int64_t nb, const uint8_t* xp, float* y, int64_t yr) {
  constexpr int B = F::kBlocks, V = F::kVecs;
  __m512 acc[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  const int64_t full = nb / B;
  for (int64_t q = 0; q < full; ++q) {
    const uint8_t* a = xp + q * kXStep<F>;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      F::prefetch(w + r * wrb, q, nb);
      const Codes<V> u = F::template at<true>(w + r * wrb, q, nb);
      acc[r] = step<V>(acc[r], u.v, u.dw, a);
    }
  }
  if (nb % B) {
    const uint8_t* a = xp + full * kXStep<F>;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Codes<V> u = F::template at<false>(w + r * wrb, full, nb);
      acc[r] = step<V>(acc[r], u.v, u.dw, a);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) y[r * yr] = hsum512(acc[r]);
}

template <class F>
void pack_w_steps(const char* w, size_t wrb, int64_t rows, int64_t nb, uint8_t* dst) {
  constexpr int B = F::kBlocks, V = F::kVecs;
  const int64_t ns = (nb + B - 1) / B;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t q = 0; q < ns; ++q) {
      const char* row = w + r * wrb;
      const Codes<V> u = q < nb / B ? F::template at<true>(row, q, nb) : F::template at<false>(row, q, nb);
      uint8_t* d = dst + size_t(r * ns + q) * kWStep<F>;
      for (int k = 0; k < V; ++k) _mm512_store_si512(d + 64 * k, u.v[k]);
      _mm512_store_ps(d + 64 * V, u.dw);
    }
}

// Lane j of every group of L lanes (L = 2 or 4, inside 128-bit lanes) copied
// over its group: the lane order VPERMILPS's immediate takes.
template <int L>
inline __m512 group_broadcast(__m512 p, int j) {
  static_assert(L == 2 || L == 4);
  if constexpr (L == 4) {
    switch (j) {
      case 0: return _mm512_permute_ps(p, 0x00);
      case 1: return _mm512_permute_ps(p, 0x55);
      case 2: return _mm512_permute_ps(p, 0xAA);
      default: return _mm512_permute_ps(p, 0xFF);
    }
  } else {
    return j == 0 ? _mm512_permute_ps(p, 0xA0) : _mm512_permute_ps(p, 0xF5);  // [0,0,2,2] / [1,1,3,3]
  }
}

// Prefill micro-kernel: R packed rows x C packed tokens over steps [q0, q1);
// accumulators kept in `accs` between k-chunks (stored and reloaded unchanged).
//
// With R a multiple of L (the lanes a block owns), the scale products of L
// rows and a token take one multiply: lane L b + j of g holds row j's dw of
// block b (a blend of the rows' dw vectors, which repeat it over the block's
// lanes), so g * dx puts each product in its own lane, and a broadcast inside
// the group gives row j the vector step() would have multiplied: the same
// products, hence the same sums. One multiply and L in-lane shuffles instead
// of L multiplies (VPERMILPS issues beside VPDPBUSD; VMULPS does not).
template <class F, int R, int C>
void step_tile_packed(const uint8_t* wp, size_t w_row, const uint8_t* xp, size_t x_tok, int64_t q0, int64_t q1,
                      float* accs) {
  constexpr int V = F::kVecs, L = 16 / F::kBlocks;
  constexpr bool kShared = R % L == 0;
  __m512 acc[R][C];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_load_ps(accs + (r * C + c) * 16);
  for (int64_t q = q0; q < q1; ++q) {
    __m512i v[R][V];
    __m512 dw[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = wp + r * w_row + q * kWStep<F>;
#pragma GCC unroll 4
      for (int k = 0; k < V; ++k) v[r][k] = _mm512_load_si512(p + 64 * k);
      dw[r] = _mm512_load_ps(p + 64 * V);
    }
    if constexpr (kShared) {
      __m512 g[R / L];
#pragma GCC unroll 4
      for (int h = 0; h < R / L; ++h) {
        g[h] = dw[h * L];
#pragma GCC unroll 4
        for (int j = 1; j < L; ++j)
          g[h] = _mm512_mask_blend_ps(__mmask16((L == 4 ? 0x1111 : 0x5555) << j), g[h], dw[h * L + j]);
      }
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const uint8_t* a = xp + c * x_tok + q * kXStep<F>;
        const __m512 dx = _mm512_load_ps(a + 64 * V);
        // The rows' int32 sums side by side, multiply by multiply (independent
        // chains in program order), then their float steps.
        __m512i sr[R];
        const __m512i corr = _mm512_load_si512(a + 64 * V + 64);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) sr[r] = corr;
#pragma GCC unroll 4
        for (int k = 0; k < V; ++k) {
          const __m512i xk = _mm512_load_si512(a + 64 * k);
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) sr[r] = _mm512_dpbusd_epi32(sr[r], v[r][k], xk);
        }
#pragma GCC unroll 4
        for (int h = 0; h < R / L; ++h) {
          const __m512 prod = _mm512_mul_ps(g[h], dx);
#pragma GCC unroll 4
          for (int j = 0; j < L; ++j) {
            const int r = h * L + j;
            acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sr[r]), group_broadcast<L>(prod, j), acc[r][c]);
          }
        }
      }
    } else {
#pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const uint8_t* a = xp + c * x_tok + q * kXStep<F>;
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][c] = step<V>(acc[r][c], v[r], dw[r], a);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) _mm512_store_ps(accs + (r * C + c) * 16, acc[r][c]);
}

template <class F, int R>
void step_tile_packed_c(int c, const uint8_t* wp, size_t w_row, const uint8_t* xp, size_t x_tok, int64_t q0,
                        int64_t q1, float* accs) {
  switch (c) {
    case 1: return step_tile_packed<F, R, 1>(wp, w_row, xp, x_tok, q0, q1, accs);
    case 2: return step_tile_packed<F, R, 2>(wp, w_row, xp, x_tok, q0, q1, accs);
    case 3: return step_tile_packed<F, R, 3>(wp, w_row, xp, x_tok, q0, q1, accs);
    default: return step_tile_packed<F, R, 4>(wp, w_row, xp, x_tok, q0, q1, accs);
  }
}

// Rows [0, rows) of Q8_0 / Q4_0 weights as plain int8 codes (nb * 32 per
// row, rows up to rows_p zero) and their scales as floats, for the tile unit.
template <class F>
void unpack_codes(const char* w, size_t wrb, int64_t rows, int64_t rows_p, int64_t nb, int8_t* U, float* dw) {
  for (int64_t r = 0; r < rows_p; ++r) {
    int8_t* dst = U + r * nb * 32;
    if (r >= rows) {
      std::memset(dst, 0, size_t(nb) * 32);
      for (int64_t b = 0; b < nb; ++b) dw[r * nb + b] = 0.0f;
      continue;
    }
    if constexpr (std::is_same_v<F, Q8_0RStep>) {
      const char* row = w + r * wrb;
      for (int64_t b = 0; b < nb; ++b) {
        uint16_t d;
        std::memcpy(&d, row + 2 * b, 2);
        dw[r * nb + b] = h2f(d);
        std::memcpy(dst + b * 32, row + formats::q8_0r_codes_at(nb, b, 0), 16);
        std::memcpy(dst + b * 32 + 16, row + formats::q8_0r_codes_at(nb, b, 1), 16);
      }
      continue;
    }
    using Block = std::conditional_t<std::is_same_v<F, Q8_0Step>, BlockQ8_0, BlockQ4_0>;
    for (int64_t b = 0; b < nb; ++b) {
      const Block& blk = reinterpret_cast<const Block*>(w + r * wrb)[b];
      dw[r * nb + b] = h2f(blk.d);
      if constexpr (std::is_same_v<Block, BlockQ8_0>) {
        std::memcpy(dst + b * 32, blk.qs, 32);
      } else {  // codes 0..15 from the low nibbles, 16..31 from the high ones, minus 8
        const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk.qs)), m4 = _mm_set1_epi8(0x0F);
        const __m128i eight = _mm_set1_epi8(8);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + b * 32), _mm_sub_epi8(_mm_and_si128(q, m4), eight));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + b * 32 + 16),
                         _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), m4), eight));
      }
    }
  }
}

// Prefill on the tile unit (block_gemm_amx.h): the reference dot's values exactly.
template <class F>
void matmul_steps_amx(const char* w, size_t wrb, int64_t r0, int64_t r1, int64_t nb, const char* xq, size_t xrb,
                     int64_t T, float* y, int64_t ys) {
  const int64_t Tp = (T + 15) / 16 * 16;
  int8_t* panels = static_cast<int8_t*>(cpu::scratch(3, cpu::amx_block_panel_bytes(Tp, nb, 32)));
  float* dx = static_cast<float*>(cpu::scratch(4, size_t(Tp * nb) * sizeof(float)));
  cpu::amx_pack_block_panels(xq, xrb, sizeof(BlockQ8_0), 2, true, 32, T, Tp, nb, panels, dx);
  const cpu::AmxRowBlock blk = cpu::amx_row_block(nb, 32, kRowBlockBytes);
  for (int64_t b0 = r0; b0 < r1; b0 += blk.rb) {
    const int64_t rows = b0 + blk.rb < r1 ? blk.rb : r1 - b0, rows_p = (rows + 15) / 16 * 16;
    unpack_codes<F>(w + b0 * wrb, wrb, rows, rows_p, nb, blk.codes, blk.dw);
    cpu::amx_block_gemm(32, blk.codes, blk.dw, rows, rows_p, panels, dx, T, Tp, nb, y + b0, ys, blk.acc);
  }
}

template <class F>
void matmul_steps(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb,
                  int64_t T, float* y, int64_t ys) {
  const char* w = static_cast<const char*>(wv);
  const int64_t nb = k / kQK8_0, ns = (nb + F::kBlocks - 1) / F::kBlocks;
  if (T > 1 && amx_int8_ready())
    return matmul_steps_amx<F>(w, wrb, r0, r1, nb, static_cast<const char*>(xv), xrb, T, y, ys);
  const size_t x_tok = size_t(ns) * kXStep<F>;
  uint8_t* xp = static_cast<uint8_t*>(cpu::scratch(0, x_tok * size_t(T)));
  pack_x_steps<F>(static_cast<const char*>(xv), xrb, T, nb, xp);

  if (T == 1) {
    for_row_streams<4>(
        r0, r1,
        [&](int64_t r, int64_t part) { step_rows_direct<F, 4>(w + r * wrb, wrb * size_t(part), nb, xp, y + r, part); },
        [&](int64_t r) { step_rows_direct<F, 1>(w + r * wrb, wrb, nb, xp, y + r, 1); });
    return;
  }

  // Prefill. Loops: row block (packed once, stays in L2) > token tile of C >
  // k-chunk of KC steps (the tile's activations for the chunk stay in L1) >
  // row group. Every output still adds its steps in increasing order.
  // 4 rows x 4 tokens (16 accumulators) and chunks of 64 blocks: on AMD Zen 5
  // (no tile unit, so all prefill runs here) 170-180 GMAC/s per core against
  // 120-145 for the 2 x 8 tile used before (512 x 2048 Q4_0/Q8_0 weights, 4
  // blocks per step, 64 tokens, 4 interleaved runs; 4 x 5 and 5 x 4 within
  // noise of it, 6 x 4 and 3 x 6 slower).
  constexpr int R = 4, C = 4;
  constexpr int64_t KC = 64 / F::kBlocks;
  const size_t w_row = size_t(ns) * kWStep<F>;
  const int64_t rb = row_block(w_row, R);
  uint8_t* wp = static_cast<uint8_t*>(cpu::scratch(1, w_row * size_t(rb)));
  float* accs = static_cast<float*>(cpu::scratch(2, size_t(rb) * C * 16 * sizeof(float)));
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t nr = b0 + rb < r1 ? rb : r1 - b0;
    pack_w_steps<F>(w + b0 * wrb, wrb, nr, nb, wp);
    for (int64_t t = 0; t < T; t += C) {
      const int c = int(T - t < C ? T - t : C);
      std::memset(accs, 0, size_t(nr) * C * 16 * sizeof(float));
      for (int64_t q0 = 0; q0 < ns; q0 += KC) {
        const int64_t q1 = q0 + KC < ns ? q0 + KC : ns;
        int64_t r = 0;
        for (; r + R <= nr; r += R)
          step_tile_packed_c<F, R>(c, wp + r * w_row, w_row, xp + t * x_tok, x_tok, q0, q1, accs + r * C * 16);
        for (; r < nr; ++r)
          step_tile_packed_c<F, 1>(c, wp + r * w_row, w_row, xp + t * x_tok, x_tok, q0, q1, accs + r * C * 16);
      }
      int64_t r = 0;
      for (; r + R <= nr; r += R)
        for (int i = 0; i < R; ++i)
          for (int j = 0; j < c; ++j)
            y[(t + j) * ys + b0 + r + i] = hsum512(_mm512_load_ps(accs + (r * C + i * c + j) * 16));
      for (; r < nr; ++r)
        for (int j = 0; j < c; ++j) y[(t + j) * ys + b0 + r] = hsum512(_mm512_load_ps(accs + (r * C + j) * 16));
    }
  }
}

// ============================================================================
// Activation quantizers, bit-identical to formats/q8_0.cpp and q8_k.cpp.
// ============================================================================

// roundf (ties away from zero) of values with |v| < 2^23: truncate, then step
// away from zero when the dropped fraction (exact) is >= 0.5.
inline __m512 round_away(__m512 v) {
  const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
  const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
  const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
  const __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f), _mm512_and_ps(v, _mm512_set1_ps(-0.0f)));
  return _mm512_mask_add_ps(t, up, t, one);
}

// fp32 -> bf16 rows (the 4-bit formats' activations): round to nearest even
// in integers, NaN kept quiet, subnormals kept: the bits of core/half.h's
// f32_to_bf16 (vcvtneps2bf16 would flush subnormals to zero).
void quantize_bf16(const float* x, void* dst, int64_t n) {
  auto* out = static_cast<uint16_t*>(dst);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i v = _mm512_loadu_si512(x + i);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(v, abs_mask), inf);
    __m512i r = _mm512_srli_epi32(rne_bf16_high(_mm512_castsi512_ps(v)), 16);
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(v, 16), _mm512_set1_epi32(0x40));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(r));
  }
  for (; i < n; ++i) out[i] = f32_to_bf16(x[i]);
}

void quantize_q8_0(const float* x, void* dst, int64_t n) {
  BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const __m512 v0 = _mm512_loadu_ps(x + i * 32), v1 = _mm512_loadu_ps(x + i * 32 + 16);
    // max|x| is exact in any order (activations are assumed finite).
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 s = _mm512_set1_ps(id);
    const __m128i q0 = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(round_away(_mm512_mul_ps(v0, s))));
    const __m128i q1 = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(round_away(_mm512_mul_ps(v1, s))));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(b[i].qs), q0);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(b[i].qs + 16), q1);
  }
}

// BitLinear steps 2-4 (ref/bitlinear_ref.cpp): the same fp32 operations lane
// by lane, and the max (exact in any order; max_ps(|u|, m) keeps m when |u|
// is NaN, as std::max(m, |u|) does).
void bitlinear_codes(const float* v, float r, const float* w_norm, int64_t n, int64_t n_codes, void* dst) {
  const __m512 vr = _mm512_set1_ps(r);
  auto u_at = [&](int64_t k, __mmask16 m) {
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, v + k), vr), _mm512_maskz_loadu_ps(m, w_norm + k));
  };
  auto mask_at = [&](int64_t k) { return n - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - k)) - 1); };
  __m512 mx = _mm512_setzero_ps();
  for (int64_t k = 0; k < n; k += 16) mx = _mm512_max_ps(_mm512_abs_ps(u_at(k, mask_at(k))), mx);
  const float s_a = 127.0f / std::max(_mm512_reduce_max_ps(mx), 1e-5f);
  const float row_scale = 1.0f / s_a;
  std::memcpy(dst, &row_scale, sizeof row_scale);
  int8_t* q = static_cast<int8_t*>(dst) + sizeof(float);
  const __m512 vs = _mm512_set1_ps(s_a), lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = mask_at(k);
    const __m512 x = _mm512_min_ps(_mm512_max_ps(round_away(_mm512_mul_ps(u_at(k, m), vs)), lo), hi);
    _mm_mask_storeu_epi8(q + k, m, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(x)));
  }
  if (n_codes > n) std::memset(q + n, 0, size_t(n_codes - n));
}

void quantize_q8_k(const float* x, void* dst, int64_t n) {
  BlockQ8_K* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* xb = x + i * kQK_K;
    __m512 mx = _mm512_setzero_ps();
    for (int j = 0; j < kQK_K; j += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(xb + j)));
    const float amax = _mm512_reduce_max_ps(mx);
    if (amax == 0.0f) {
      std::memset(&b[i], 0, sizeof(BlockQ8_K));
      continue;
    }
    // The reference keeps the first value of largest magnitude (with its sign).
    float m = 0.0f;
    const __m512 va = _mm512_set1_ps(amax);
    for (int j = 0; j < kQK_K; j += 16) {
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(xb + j)), va, _CMP_EQ_OQ);
      if (hit) {
        m = xb[j + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.0f / m;
    const __m512 s = _mm512_set1_ps(iscale);
    for (int g = 0; g < kQK_K / 16; ++g) {
      // vcvtps2dq rounds half to even (default MXCSR), like nearbyintf.
      __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + 16 * g), s));
      q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(b[i].qs + 16 * g), _mm512_cvtepi32_epi8(q));
      b[i].bsums[g] = int16_t(_mm512_reduce_add_epi32(q));
    }
    b[i].d = 1.0f / iscale;
  }
}

// ============================================================================
// fp32 vector ops.
// ============================================================================

// e^x: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial (Cephes expf
// coefficients, ~1 ulp), 2^n applied by vscalefps (handles under/overflow).
inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-104.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 e = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(e, n);
}

inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1); }

void rmsnorm(float* out, const float* x, const float* w, int64_t n, float eps) {
  __m512 ss = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
    ss = _mm512_fmadd_ps(v, v, ss);
  }
  const float inv = 1.0f / __builtin_sqrtf(hsum512(ss) / float(n) + eps);
  const __m512 s = _mm512_set1_ps(inv);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_mul_ps(v, s), _mm512_maskz_loadu_ps(m, w + i)));
  }
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  __m512 mx = _mm512_set1_ps(x[0]);
  for (int64_t i = 0; i < n; i += 16) mx = _mm512_mask_max_ps(mx, tail_mask(n - i), mx, _mm512_maskz_loadu_ps(tail_mask(n - i), x + i));
  const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), m));
    _mm512_mask_storeu_ps(x + i, k, e);
    sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(k, e));
  }
  const __m512 inv = _mm512_set1_ps(1.0f / hsum512(sum));
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), inv));
  }
}

void swiglu(float* out, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 g = _mm512_maskz_loadu_ps(k, gate + i);
    const __m512 u = _mm512_maskz_loadu_ps(k, up + i);
    const __m512 sig = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    _mm512_mask_storeu_ps(out + i, k, _mm512_mul_ps(sig, u));
  }
}

void sigmoid(float* out, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(k, x + i)));
    _mm512_mask_storeu_ps(out + i, k, _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
  }
  for (; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i), s0);
  }
  return hsum512(_mm512_add_ps(s0, s1));
}

void axpy_f32(float* y, float a, const float* x, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = tail_mask(n - i);
    _mm512_mask_storeu_ps(y + i, k, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(k, x + i), _mm512_maskz_loadu_ps(k, y + i)));
  }
}

// attend_head_with<dot_f32, softmax, axpy_f32>, with `out` held in NV
// registers across the positions instead of reloaded by every axpy: each lane
// still gets fmadd(p_t, v_t, previous) in the same order, so the result is
// the same to the bit.
template <int NV>
void attend_head_regs(float* out, const float* q, const float* k, const float* v, int64_t head_dim, int64_t n,
                      int64_t kv_stride, float scale, float* scores) {
  for (int64_t t = 0; t < n; ++t) scores[t] = dot_f32(q, k + t * kv_stride, head_dim) / scale;
  softmax(scores, n);
  __m512 acc[NV];
  __mmask16 m[NV];
#pragma GCC unroll 16
  for (int i = 0; i < NV; ++i) {
    acc[i] = _mm512_setzero_ps();
    m[i] = tail_mask(head_dim - 16 * i);
  }
  for (int64_t t = 0; t < n; ++t) {
    const __m512 p = _mm512_set1_ps(scores[t]);
    const float* vt = v + t * kv_stride;
#pragma GCC unroll 16
    for (int i = 0; i < NV; ++i) acc[i] = _mm512_fmadd_ps(p, _mm512_maskz_loadu_ps(m[i], vt + 16 * i), acc[i]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < NV; ++i) _mm512_mask_storeu_ps(out + 16 * i, m[i], acc[i]);
}

void attend_head(float* out, const float* q, const float* k, const float* v, int64_t head_dim, int64_t n,
                 int64_t kv_stride, float scale, float* scores) {
  switch ((head_dim + 15) / 16) {
    case 1: return attend_head_regs<1>(out, q, k, v, head_dim, n, kv_stride, scale, scores);
    case 2: return attend_head_regs<2>(out, q, k, v, head_dim, n, kv_stride, scale, scores);
    case 3: return attend_head_regs<3>(out, q, k, v, head_dim, n, kv_stride, scale, scores);
    case 4: return attend_head_regs<4>(out, q, k, v, head_dim, n, kv_stride, scale, scores);
    case 5: return attend_head_regs<5>(out, q, k, v, head_dim, n, kv_stride, scale, scores);
    case 6: return attend_head_regs<6>(out, q, k, v, head_dim, n, kv_stride, scale, scores);
    case 7: return attend_head_regs<7>(out, q, k, v, head_dim, n, kv_stride, scale, scores);
    case 8: return attend_head_regs<8>(out, q, k, v, head_dim, n, kv_stride, scale, scores);
    default: return attend_head_with<dot_f32, softmax, axpy_f32>(out, q, k, v, head_dim, n, kv_stride, scale, scores);
  }
}

}  // namespace

void register_avx512(KernelTable& t) {
  t.set_matmul(FormatId::F32, matmul_float<F32W>);
  t.set_matmul(FormatId::F16, matmul_float<F16W>);
  t.set_matmul(FormatId::BF16, matmul_float<BF16W>);
  t.set_matmul(FormatId::Q8_0, matmul_steps<Q8_0Step>);
  t.set_matmul(FormatId::Q8_0R, matmul_steps<Q8_0RStep>);
  t.load_layout[size_t(FormatId::Q8_0)] = FormatId::Q8_0R;
  t.set_matmul(FormatId::Q4_0, matmul_steps<Q4_0Step>);
  t.quantize[size_t(FormatId::Q8_0)] = quantize_q8_0;
  t.quantize[size_t(FormatId::BF16)] = quantize_bf16;
  t.quantize[size_t(FormatId::Q8_K)] = quantize_q8_k;
  t.rmsnorm = rmsnorm;
  t.bitlinear_codes = bitlinear_codes;
  t.softmax = softmax;
  t.swiglu = swiglu;
  t.sigmoid = sigmoid;
  t.dot_f32 = dot_f32;
  t.axpy_f32 = axpy_f32;
  t.attend_head = attend_head;
  register_ternary_avx512(t);
  register_kquant_avx512(t);
}

}  // namespace nb::kernels
