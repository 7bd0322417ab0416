// AVX-512 matmul for the weight-only 4-bit formats: MXFP4, MXFP4_FPQ, NVFP4,
// INT4-g32/g64/g128 weights x fp32 activations (their dot type is F32).
// Everything here is internal to this file (see scratch.h for why).
//
// Decoding: a 4-bit code indexes a 16-entry float table held in one zmm
// (E2M1 values, or code - 8 for INT4): vpermps reads only bits 0..3 of each
// index lane, so 16 code bytes widened to int32 give the low nibbles as they
// are and the high nibbles after one shift. The block scale is applied once
// per block and row, to that table: for MXFP4 / NVFP4 the scaled tables of
// all 256 scale codes are precomputed (fp4_kernels.h), so it is one load; for
// INT4 one product of the table with the fp16 scale. Those 16 products are
// exact (E2M1 x 2^k, E2M1 x E4M3 and (code - 8) x fp16 fit fp32's 24 bits),
// so the decoded vectors are the exact weights and each token costs one FMA
// per 16 weights with no per-token scale work. Nothing larger than one block
// of one row is ever decoded, and only into registers.
//
// Work layout:
//  * T == 1 (decode): memory bound. kDecodeRows rows at a time, each row
//    streamed once, software prefetch ahead of the loads, the rows of a
//    step taken from kDecodeRows long sequential streams (row_streams.h).
//  * T > 1 (prefill): an L2-sized block of rows is visited once per tile of
//    kPrefillCols tokens; each decoded weight vector is used for every token
//    of the tile (kPrefillRows x kPrefillCols accumulators in registers).
//
// Determinism: output (t, r) has its own accumulator; lane j adds w[i] * x[i]
// for i = j, j + 16, ... in increasing i with one FMA each, then one fixed
// reduction tree (and, for MXFP4_FPQ, one division by 3). Those instructions
// do not depend on the tile shape, on T or on which rows a thread was given,
// so T = 1 and T > 1 give bit-identical outputs for any thread count.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "formats/blocks.h"
#include "kernels/cpu/fp4_kernels.h"
#include "kernels/cpu/hsum.h"
#include "kernels/cpu/row_streams.h"
#include "kernels/cpu/scratch.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries; the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels {
namespace {

using cpu::Fp4Tables;
using formats::BlockInt4;
using formats::BlockMXFP4;
using formats::BlockNVFP4;

constexpr const char* kIsa = "avx512-vnni";  // the level's name (dispatch.cpp)

// Rows (sequential streams) decoded together: independent FMA chains and
// streams that keep loads in flight (2 and 8 measured no better than 4).
#ifndef NIBBLE_FP4_DECODE_ROWS
#define NIBBLE_FP4_DECODE_ROWS 4
#endif
constexpr int kDecodeRows = NIBBLE_FP4_DECODE_ROWS;
// Prefill register tile, rows x tokens: 16 accumulators and 8 weight
// vectors. 4 x 6 measured within noise of it; 2 x 8 and 3 x 8 were about
// half as fast (8 tokens of activations, 8 KiB each at k = 2048, overflow L1).
constexpr int kPrefillRows = 4, kPrefillCols = 4;
// How far ahead (bytes) decode prefetches each weight row.
#ifndef NIBBLE_FP4_PREFETCH_AHEAD
#define NIBBLE_FP4_PREFETCH_AHEAD 2048  // 1-4 KiB alike within the noise of a shared 2-core VM; 512 B slower
#endif
constexpr size_t kPrefetchAhead = NIBBLE_FP4_PREFETCH_AHEAD;
// Weight bytes of one prefill row block (re-read from L2 by each token tile).
constexpr size_t kRowBlockBytes = 512 * 1024;


// INT4 code c means c - 8.
alignas(64) constexpr float kInt4Values[16] = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};

// One run of 32 elements stored as 16 bytes: element j (< 16) is the low
// nibble of q[j], element j + 16 its high nibble (MXFP4, INT4 runs).
inline void decode32(const uint8_t* q, __m512 table, __m512& lo, __m512& hi) {
  const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
  lo = _mm512_permutexvar_ps(v, table);
  hi = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), table);
}

// NVFP4 (16 elements in 8 bytes: j < 8 low nibbles, j + 8 high nibbles).
// The 8 bytes are broadcast to every qword (a plain load), and lane l shifts
// its dword (l % 2) right by 8 ((l / 2) % 4) + 4 (l / 8) bits, which leaves
// element e(l) = 4 (l % 2) + (l / 2) % 4 + 8 (l / 8) in bits 0..3: one shift
// and one permute per 16 weights, no widening shuffle. The activations are
// packed once per call into the same lane order (kNvLane).
alignas(64) constexpr uint32_t kNvShift[16] = {0, 0, 8, 8, 16, 16, 24, 24, 4, 4, 12, 12, 20, 20, 28, 28};
alignas(64) constexpr int32_t kNvLane[16] = {0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15};

inline __m512 decode16(const uint8_t* q, __m512 table) {
  int64_t bytes;
  std::memcpy(&bytes, q, 8);
  const __m512i v = _mm512_srlv_epi32(_mm512_set1_epi64(bytes), _mm512_load_si512(kNvShift));
  return _mm512_permutexvar_ps(v, table);
}

// Per format: block geometry, the block's scaled value table, and the
// decoding of run i (kRunElems elements, kRunElems / 16 vectors) of a
// block whose table is already scaled. Vector v of run i holds elements
// i * kRunElems + 16 v .. + 15, in order (kPackedX: in kNvLane order, with
// the activations packed to match), so activations are read in place.
template <int Div>  // 1: MXFP4 (OCP); 3: MXFP4_FPQ, weights E2M1 * 2^(e-127) / 3
struct MxW {
  static constexpr int64_t kElems = formats::kQKMXFP4, kBytes = sizeof(BlockMXFP4);
  static constexpr int kRuns = 1, kRunElems = 32, kScaleBatch = 0;
  static constexpr bool kPackedX = false;
  static __m512 table(const uint8_t* b, const Fp4Tables& t) {
    return _mm512_load_ps(t.mxfp4[b[offsetof(BlockMXFP4, e)]]);
  }
  static void run(const uint8_t* b, int, __m512 table, __m512* w) {
    decode32(b + offsetof(BlockMXFP4, qs), table, w[0], w[1]);
  }
  // The 1/3 is applied once per output (the reference divides its sum by 3).
  static float finish(float y) { return Div == 1 ? y : y / float(Div); }
};

struct NvW {
  static constexpr int64_t kElems = formats::kQKNVFP4, kBytes = sizeof(BlockNVFP4);
  static constexpr int kRuns = 1, kRunElems = 16, kScaleBatch = 0;
  static constexpr bool kPackedX = true;  // activations in kNvLane order
  static __m512 table(const uint8_t* b, const Fp4Tables& t) {
    return _mm512_load_ps(t.nvfp4[b[offsetof(BlockNVFP4, d)]]);
  }
  static void run(const uint8_t* b, int, __m512 table, __m512* w) {
    w[0] = decode16(b + offsetof(BlockNVFP4, qs), table);
  }
  static float finish(float y) { return y; }  // the tensor scale is kernels::matmul's
};

// INT4's fp16 scales: one conversion per block costs more than decoding its
// codes (a word insert, vcvtph2ps and a broadcast). For g32 / g64, groups of
// 8 blocks have their 8 scale words picked out of the group's bytes by word
// permutes and converted by one vcvtph2ps; only the group's own bytes are
// read. vcvtph2ps is exact, so the tables are the ones table() makes.
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
  static constexpr int64_t kElems = G, kBytes = sizeof(BlockInt4<G>);
  static constexpr int kRuns = G / 32, kRunElems = 32, kScaleBatch = G <= 64 ? 8 : 0;
  static constexpr bool kPackedX = false;
  static_assert(offsetof(BlockInt4<G>, d) == 0, "the scale permutes expect d at the start of each block");
  static __m512 table_of_scale(float d) { return _mm512_mul_ps(_mm512_load_ps(kInt4Values), _mm512_set1_ps(d)); }
  static __m512 table(const uint8_t* b, const Fp4Tables&) {
    uint16_t d;
    std::memcpy(&d, b + offsetof(BlockInt4<G>, d), 2);
    return table_of_scale(_cvtsh_ss(d));
  }
  static void batch_scales(const uint8_t* b, float* out) {
    if constexpr (G == 32) int4_scales8_g32(b, out);
    else int4_scales8_g64(b, out);
  }
  static void run(const uint8_t* b, int i, __m512 table, __m512* w) {
    decode32(b + offsetof(BlockInt4<G>, qs) + 16 * i, table, w[0], w[1]);
  }
  static float finish(float y) { return y; }
};

// Block b of R rows (wrb bytes apart) against C tokens: table_of(r, block)
// gives row r's scaled table.
template <class F, int R, int C, class TableOf>
__attribute__((always_inline)) inline void block_step(const uint8_t* w, size_t wrb, int64_t b, const char* x,
                                                      size_t xrb, __m512 (&acc)[R][C], TableOf table_of) {
  constexpr int V = F::kRunElems / 16;
  // Decode prefetches every line once or a few times: every kPrefetchEvery-th
  // block (at most 64 bytes apart, so no line is skipped), every 64 bytes of it.
  constexpr int64_t kPrefetchEvery = F::kBytes < 64 ? 64 / F::kBytes : 1;
  const bool prefetch = C == 1 && b % kPrefetchEvery == 0;
  const uint8_t* blk[R];
  __m512 scaled[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    blk[r] = w + r * wrb + b * F::kBytes;
    if (prefetch)
      for (int64_t o = 0; o < F::kBytes; o += 64)
        _mm_prefetch(reinterpret_cast<const char*>(blk[r]) + kPrefetchAhead + o, _MM_HINT_T0);
    scaled[r] = table_of(r, blk[r]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < F::kRuns; ++i) {
    __m512 wv[R][V];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) F::run(blk[r], i, scaled[r], wv[r]);
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const float* xr = reinterpret_cast<const float*>(x + c * xrb) + b * F::kElems + i * F::kRunElems;
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        const __m512 xv = _mm512_loadu_ps(xr + 16 * v);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) acc[r][c] = _mm512_fmadd_ps(wv[r][v], xv, acc[r][c]);
      }
    }
  }
}

// R rows x C tokens over the whole row. w: first row, the others wrb bytes
// apart; x: first token (tokens xrb bytes apart); y: &Y[t0, r], the rows yr
// floats apart and the tokens ys. Formats with kScaleBatch > 0 convert the
// scales of that many blocks at once; the tables, hence the results, are the
// same either way.
template <class F, int R, int C>
void tile(const uint8_t* w, size_t wrb, int64_t nb, const char* x, size_t xrb, float* y, int64_t ys, int64_t yr,
          const Fp4Tables& tabs) {
  __m512 acc[R][C];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  int64_t b = 0;
  if constexpr (F::kScaleBatch > 0) {
    constexpr int S = F::kScaleBatch;
    for (; b + S <= nb; b += S) {
      alignas(64) float sc[R][S];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) F::batch_scales(w + r * wrb + b * F::kBytes, sc[r]);
      for (int j = 0; j < S; ++j)
        block_step<F, R, C>(w, wrb, b + j, x, xrb, acc,
                            [&](int r, const uint8_t*) { return F::table_of_scale(sc[r][j]); });
    }
  }
  for (; b < nb; ++b)
    block_step<F, R, C>(w, wrb, b, x, xrb, acc, [&](int, const uint8_t* blk) { return F::table(blk, tabs); });
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) y[c * ys + r * yr] = F::finish(hsum512(acc[r][c]));
}

// The tile for c <= kPrefillCols tokens (fewer at the end of a batch).
template <class F, int R>
void tile_c(int c, const uint8_t* w, size_t wrb, int64_t nb, const char* x, size_t xrb, float* y, int64_t ys,
            const Fp4Tables& tabs) {
  static_assert(kPrefillCols == 4);
  switch (c) {
    case 1: return tile<F, R, 1>(w, wrb, nb, x, xrb, y, ys, 1, tabs);
    case 2: return tile<F, R, 2>(w, wrb, nb, x, xrb, y, ys, 1, tabs);
    case 3: return tile<F, R, 3>(w, wrb, nb, x, xrb, y, ys, 1, tabs);
    default: return tile<F, R, 4>(w, wrb, nb, x, xrb, y, ys, 1, tabs);
  }
}

// The T activation rows in kNvLane order, block by block, in this thread's
// scratch (each call packs its own copy: k floats per token, next to the
// k x rows weights it is used with).
const char* pack_nv_activations(const char* x, size_t xrb, int64_t T, int64_t k) {
  float* dst = static_cast<float*>(cpu::scratch(0, size_t(T * k) * sizeof(float)));
  const __m512i lane = _mm512_load_si512(kNvLane);
  for (int64_t t = 0; t < T; ++t) {
    const float* src = reinterpret_cast<const float*>(x + t * xrb);
    for (int64_t i = 0; i < k; i += 16)
      _mm512_store_ps(dst + t * k + i, _mm512_permutexvar_ps(lane, _mm512_loadu_ps(src + i)));
  }
  return reinterpret_cast<const char*>(dst);
}

template <class F>
void matmul_w4(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb, int64_t T,
               float* y, int64_t ys) {
  const Fp4Tables& tabs = cpu::fp4_tables();
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const char* x = static_cast<const char*>(xv);
  const int64_t nb = k / F::kElems;
  if constexpr (F::kPackedX) {
    x = pack_nv_activations(x, xrb, T, k);
    xrb = size_t(k) * sizeof(float);
  }
  if (T == 1) {
    for_row_streams<kDecodeRows>(
        r0, r1,
        [&](int64_t r, int64_t part) {
          tile<F, kDecodeRows, 1>(w + r * wrb, wrb * size_t(part), nb, x, xrb, y + r, ys, part, tabs);
        },
        [&](int64_t r) { tile<F, 1, 1>(w + r * wrb, wrb, nb, x, xrb, y + r, ys, 1, tabs); });
    return;
  }
  constexpr int R = kPrefillRows, C = kPrefillCols;
  int64_t rb = int64_t(kRowBlockBytes / wrb) / R * R;
  if (rb < R) rb = R;
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t b1 = b0 + rb < r1 ? b0 + rb : r1;
    for (int64_t t = 0; t < T; t += C) {
      const int c = int(T - t < C ? T - t : C);
      const char* xt = x + t * xrb;
      float* yt = y + t * ys;
      int64_t r = b0;
      for (; r + R <= b1; r += R) tile_c<F, R>(c, w + r * wrb, wrb, nb, xt, xrb, yt + r, ys, tabs);
      for (; r < b1; ++r) tile_c<F, 1>(c, w + r * wrb, wrb, nb, xt, xrb, yt + r, ys, tabs);
    }
  }
}

}  // namespace

void register_fp4_avx512(KernelTable& t) {
  auto set = [&](FormatId f, MatmulRowsFn fn) {
    t.matmul[size_t(f)] = fn;
    t.matmul_isa[size_t(f)] = kIsa;
  };
  set(FormatId::MXFP4, matmul_w4<MxW<1>>);
  set(FormatId::MXFP4_FPQ, matmul_w4<MxW<3>>);
  set(FormatId::NVFP4, matmul_w4<NvW>);
  set(FormatId::INT4_G32, matmul_w4<Int4W<32>>);
  set(FormatId::INT4_G64, matmul_w4<Int4W<64>>);
  set(FormatId::INT4_G128, matmul_w4<Int4W<128>>);
}

}  // namespace nb::kernels
