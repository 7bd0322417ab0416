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
// load weights 128 or 256 bits wide. All formats but INT4-g128 put their
// codes in the RunPairs order (formats/blocks.h), whose bytes hold two
// neighbours of one block (as the integer decode kernels need, below). From
// the file's blocks:
//  * MXFP4 and INT4-g32 (two blocks per step), INT4-g64 (one block, two
//    runs): two 16-byte loads and one vpermt2b put the first run's code
//    bytes in lanes 0 and 1 of a zmm and the second's in lanes 2 and 3; word
//    shifts by (0, 4, 0, 4) and (8, 12, 8, 12) give all 64 codes in two
//    vectors. 2.5 ops per 32 (MXFP4: 3.5, with the tags below).
//  * NVFP4 (four 9-byte blocks per step, one per lane): a masked 36-byte
//    load and one vpermb put block L's code bytes 2m, 2m + 1 (mod 8) in word
//    m of lane L; word shifts by 0 / 4 (words 0..3 / 4..7) and 8 / 12 give
//    the step's two vectors. 3.5 ops per 32 with the tags.
//  * INT4-g128: the block's 64 code bytes are one plain load (inside the
//    block); shifts by 4, 8 and 12 give the other three vectors. 1.75 per 32.
// From W4R rows (formats/blocks.h: MXFP4, NVFP4, INT4-g32/g64 rearranged at
// load, KernelTable::load_layout), one 64-byte load per 128 codes and three
// shifts give the same vectors as from the file (1.75 per 32), so both
// layouts give the same sums bit for bit; MXFP4 and NVFP4 tag (below) all
// four vectors with two ternary-logic ops.
// A code then indexes a bf16 value table with vpermw (5 index bits, 32 words)
// or vpermt2w (6 bits, two registers of 32 words):
//  * MXFP4 / MXFP4_FPQ: the block's E2M1 values times its scale 2^(e-127),
//    exact in bf16 (fp32's exponent range, 2 significant bits), precomputed
//    for all 256 scale bytes (fp4_kernels.h). A vector's two blocks' tables
//    are vpermt2w's two registers (two plain 32-byte loads: one register
//    merged by a masked load was slower on Zen 5, 32 -> 25 GB/s, and 3%
//    faster on the Intel guest) and lanes 2 and 3 carry the tag (index bit
//    5) that picks the second. The products go straight into the
//    accumulators.
//  * NVFP4: E2M1 x E4M3 has at most 6 significant bits, exact in bf16; the
//    same with vpermt2w and four tables in two registers (two inserts), lane
//    L's tag (index bits 4, 5 = L) picking its block's.
//  * INT4: code - 8 is exact in bf16, but (code - 8) x fp16 scale is not, so
//    a block's products are summed unscaled (one table for all) and added to
//    the row's sum by an FMA with the block's fp32 scale (INT4-g32: two
//    masked FMAs, one per block, on the lanes that hold it).
// The vector words thus hold the step's elements in another order than the
// natural one (kPairOrder, kG128Order);
// pack_activations puts the activations in the same order once per call, and
// vdpbf16ps pairs them up. Every product of a bf16 weight and a bf16
// activation is exact in fp32. vdpbf16ps treats subnormal bf16 inputs
// (|x| < 2^-126) as zero, far below anything a model's weights or
// activations hold.
// Kernel alone, weights in L2, one Zen 5 core (bench --kernels), GB/s of
// weights read, fp32 activations -> bf16 -> W4R rows: MXFP4 23.6 -> 32.5 ->
// ~38, NVFP4 18.4 -> 23.7 -> ~30, INT4-g32 23.2 -> 28.8 -> ~36, INT4-g64 ~24
// -> 34.6 -> ~45; INT4-g128 24.4 -> 49.3. (Measured before MXFP4 and NVFP4
// took the RunPairs order, which cost their W4R kernels 10-13% on the Intel
// guest: 18.4 -> 16.0 and 15.9 -> 14.2; there decode takes the integer
// kernels, 23 and 21.)
//
// Work layout:
//  * T == 1 (decode): memory bound. kDecodeRows rows at a time, each row
//    streamed once, software prefetch ahead of the loads, the rows of a
//    step taken from kDecodeRows long sequential streams (row_streams.h).
//    Callers that allow another summation order take decode on integer
//    multiply-adds instead, on Intel cores (KernelTable::matmul_decode,
//    w4_planes_avx512.cpp).
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
#include "kernels/amx.h"
#include "kernels/cpu/fp4_amx.h"
#include "formats/blocks.h"
#include "kernels/cpu/fp4_kernels.h"
#include "kernels/cpu/hsum.h"
#include "kernels/cpu/w4_planes.h"
#include "kernels/cpu/row_streams.h"
#include "kernels/cpu/scratch.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries; the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// vpermb (NVFP4's file-block decode): only the kernels, which run only where
// register_fp4_avx512 found VBMI, are compiled with it.
#pragma GCC push_options
#pragma GCC target("avx512vbmi")
#include "kernels/cpu/fp4_decode_avx512.h"  // after the target: its decoders use vpermb

namespace nb::kernels {
namespace {

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
// permute per 32 or 64 (1.75 shuffle-pipe ops per 32 codes, plus the tags,
// instead of 2.5-3.5). The row's last nb % (128 / kBlock)
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

// Decode whose sums may run in another order (KernelTable::matmul_decode):
// W4R rows on integer multiply-adds (w4_planes_avx512.cpp) where the row is
// whole 128-code chunks, else matmul_w4.
template <FormatId kId, class F>
void w4r_decode_entry(const void* w, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* x, size_t xrb,
                      int64_t T, float* y, int64_t ys) {
  if (k % formats::kW4RChunk == 0) return cpu::w4r_planes_matmul(kId, w, wrb, r0, r1, k, x, xrb, T, y, ys);
  matmul_w4<F, true>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
}

// Prefill whose sums may run in another order (KernelTable::matmul_prefill):
// on the tile unit where there is one (fp4_amx.cpp), else matmul_w4.
// amx_bf16_ready() is checked per call because tests and benchmarks switch it.
template <FormatId kId, class F, bool kW4R = false>
void prefill_entry(const void* w, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* x, size_t xrb, int64_t T,
                   float* y, int64_t ys) {
  if (amx_bf16_ready()) return cpu::amx_w4_matmul(kId, w, wrb, r0, r1, k, x, xrb, T, y, ys);
  matmul_w4<F, kW4R>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
}

}  // namespace
#pragma GCC pop_options

void register_fp4_avx512(KernelTable& t) {
  const CpuFeatures f = cpu_features();
  if (!f.avx512bf16 || !f.avx512vbmi) return;  // the AVX2 kernels stay
  // Each format's entries for its file layout and, where it has one, its W4R
  // layout (made at load; INT4-g128's own blocks already give one load per
  // 128 codes).
  auto add = [&](FormatId f, MatmulRowsFn fn, MatmulRowsFn prefill) {
    t.set_matmul(f, fn);
    t.matmul_prefill[size_t(f)] = prefill;
  };
  auto w4r = [&](FormatId file, FormatId r, MatmulRowsFn fn, MatmulRowsFn prefill) {
    add(r, fn, prefill);
    t.load_layout[size_t(file)] = r;
  };
  using Id = FormatId;
  add(Id::MXFP4, matmul_w4<MxW<1>>, prefill_entry<Id::MXFP4, MxW<1>>);
  add(Id::MXFP4_FPQ, matmul_w4<MxW<3>>, prefill_entry<Id::MXFP4_FPQ, MxW<3>>);
  add(Id::NVFP4, matmul_w4<NvW>, prefill_entry<Id::NVFP4, NvW>);
  add(Id::INT4_G32, matmul_w4<Int4W<32>>, prefill_entry<Id::INT4_G32, Int4W<32>>);
  add(Id::INT4_G64, matmul_w4<Int4W<64>>, prefill_entry<Id::INT4_G64, Int4W<64>>);
  add(Id::INT4_G128, matmul_w4<Int4W<128>>, prefill_entry<Id::INT4_G128, Int4W<128>>);
  w4r(Id::MXFP4, Id::MXFP4R, matmul_w4<MxW<1>, true>, prefill_entry<Id::MXFP4R, MxW<1>, true>);
  w4r(Id::MXFP4_FPQ, Id::MXFP4_FPQR, matmul_w4<MxW<3>, true>, prefill_entry<Id::MXFP4_FPQR, MxW<3>, true>);
  w4r(Id::NVFP4, Id::NVFP4R, matmul_w4<NvW, true>, prefill_entry<Id::NVFP4R, NvW, true>);
  w4r(Id::INT4_G32, Id::INT4_G32R, matmul_w4<Int4W<32>, true>, prefill_entry<Id::INT4_G32R, Int4W<32>, true>);
  w4r(Id::INT4_G64, Id::INT4_G64R, matmul_w4<Int4W<64>, true>, prefill_entry<Id::INT4_G64R, Int4W<64>, true>);
  // The integer decode where VDPBF16PS is the bottleneck: the Intel cores
  // with the tile unit, where it issues once per two cycles on both 512-bit
  // ports (docs/performance.md). On the Zen 5 guest it issues twice per
  // cycle and the bf16 kernel read INT4-g128 at 49 GB/s per core in L2,
  // above a core's DRAM share; the integer kernel was not measured there.
  if (f.avx512vnni && f.amx_bf16) {
    t.matmul_decode[size_t(Id::INT4_G128)] = cpu::int4_g128_planes_matmul;
    t.matmul_decode[size_t(Id::INT4_G32R)] = w4r_decode_entry<Id::INT4_G32R, Int4W<32>>;
    t.matmul_decode[size_t(Id::INT4_G64R)] = w4r_decode_entry<Id::INT4_G64R, Int4W<64>>;
    t.matmul_decode[size_t(Id::MXFP4R)] = w4r_decode_entry<Id::MXFP4R, MxW<1>>;
    t.matmul_decode[size_t(Id::MXFP4_FPQR)] = w4r_decode_entry<Id::MXFP4_FPQR, MxW<3>>;
    t.matmul_decode[size_t(Id::NVFP4R)] = w4r_decode_entry<Id::NVFP4R, NvW>;
  }
}

}  // namespace nb::kernels
