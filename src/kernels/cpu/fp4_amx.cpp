// Prefill of the weight-only 4-bit formats (MXFP4, MXFP4_FPQ, NVFP4,
// INT4-g32/g64/g128) on the AMX-BF16 tile unit.
//
// The vector units only decode: each 32-weight vector is made by the same
// instructions as in fp4_avx512.cpp (fp4_decode_avx512.h: shifts and one
// vpermw per vector) and stored to L1; TDPBF16PS multiplies 16 rows of such
// vectors by a panel of 16 tokens. fp4_avx512.cpp's kernels use every
// decoded vector for at most 5 tokens with vdpbf16ps, which on the Intel
// guests issues once per two cycles and takes the shuffle port the decoders
// need (bench/simd_pipes.cpp); here a vector serves 16 tokens on a unit of
// its own. bench --kernels, one core, 64 tokens: MXFP4 47 -> 283 GMAC/s,
// NVFP4 40 -> 229, INT4-g32 33 -> 178 (W4R rows).
//
// Decode stays on fp4_avx512.cpp: with one token the tile unit saves nothing
// and the stores of the decoded vectors cost more than vdpbf16ps (measured:
// 9.8 against 13.9 GB/s for MXFP4 in L2).
//
// Values: the vectors hold the same exact bf16 weights (MXFP4, NVFP4: code
// times block scale; INT4: code - 8) and the activations are the same bf16
// values, so every product is exact in fp32; the fp32 sums run in another
// order than decode's, so this kernel is KernelTable::matmul_prefill, used
// only where the caller allows that (FloatSums::AnyOrder: the Llama models).
// INT4's fp16 block scale does not fit a bf16 weight exactly, so each INT4
// block is summed on its own (a fresh tile of sums) and added to the output
// by one FMA with its scale, as fp4_avx512.cpp does. Each output's sequence
// of tile steps and FMAs does not depend on the token's place in its panel,
// the number of tokens or the thread's rows, so results are the same for any
// T and thread count (fp4_harness_test.cpp checks it).
//
// Tiles: 0 and 2 hold the sums of two row tiles (32 adjacent rows), 1 and 3
// the second set INT4 alternates with by block (so that the tile unit works
// on block b + 1 while the vector units scale block b); 4 and 5 the two row
// tiles' weight vectors, 6 and 7 the token panel's vectors (alternating).
// Tokens go in blocks of kTokenBlock, whose panels stay in L2.
#include "kernels/cpu/fp4_amx.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/amx_tiles.h"

// As in fp4_avx512.cpp: GCC 12's intrinsic headers give false
// -W(maybe-)uninitialized warnings; the decoders need VBMI (the prefill
// entries call this file only where register_fp4_avx512 found it).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC push_options
#pragma GCC target("avx512vbmi")
#include "kernels/cpu/fp4_decode_avx512.h"  // after the target: its decoders use vpermb

namespace nb::kernels {
namespace {

constexpr int kRows = 32;            // two row tiles
constexpr int64_t kTokenBlock = 64;  // tokens packed at a time (4 column tiles), so that the panels stay in L2

// INT4-g32 on the tile unit needs one block per vector; fp4_decode_avx512.h's
// INT4-g32 vectors hold halves of two blocks. Here each block is one vector
// in the Runs order (blocks.h), from either layout.
struct Int4G32Blocks {
  // Block codes at q (16 bytes): as MxW::block, with INT4's table.
  static __m512i from_run(const uint8_t* q, const Fp4Tables& t) {
    const __m512i b = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
    return _mm512_permutexvar_epi16(_mm512_srlv_epi16(b, lane_nibble_shifts()), load_table(t.int4_bf16));
  }
  // Block i (0..3) of a W4R chunk line (RunPairs, formats/blocks.h): lanes
  // 2 (i & 1) and 2 (i & 1) + 1, nibbles 2 (i >> 1) and 2 (i >> 1) + 1 of
  // their words. Output lane L takes source lane 2 (i & 1) + (L & 1) and
  // nibble 2 (i >> 1) + (L >> 1): the Runs order.
  template <int i>
  static __m512i from_line(__m512i line, const Fp4Tables& t) {
    const __m512i lanes = _mm512_shuffle_i64x2(line, line, (i & 1) ? 0xEE : 0x44);
    const int s = 8 * (i >> 1);  // lanes 0, 1: nibble 2 (i >> 1); lanes 2, 3: the next one
    const __m512i sh =
        _mm512_mask_blend_epi16(0xFFFF0000u, _mm512_set1_epi16(short(s)), _mm512_set1_epi16(short(s + 4)));
    return _mm512_permutexvar_epi16(_mm512_srlv_epi16(lanes, sh), load_table(t.int4_bf16));
  }
};

// Where the tile kernel gets a row's 32-weight vectors: Src<F, kW4R> for
// F's file layout or its W4R layout. Vectors come in chunks of 4 (128
// elements: a W4R chunk, or the file's steps that cover it), then at most 4
// more for the row's last blocks. kUnit: vectors of one INT4 block (0 for
// the formats whose vectors hold the scaled weights); Pack: the decoder whose
// element order the activations are packed in.
template <class F, bool kW4R>
struct Src {
  using Pack = F;
  static constexpr int kUnit = F::kScaled ? 0 : int(F::kBlock / 32);
  static constexpr int64_t kCB = 128 / F::kBlock;               // blocks per chunk
  static constexpr int kB = F::kBlocksPerStep, kV = F::kVecs;  // blocks, vectors per file step
  static constexpr int64_t kS = F::kScaleBytes;
  static int64_t chunks(int64_t nb) { return nb / kCB; }
  // Chunk j's 4 vectors; INT4: sc[i] = the scale of its block i.
  static void chunk(const uint8_t* row, int64_t nb, int64_t j, const Fp4Tables& t, __m512i* v, float* sc) {
    if constexpr (kW4R) {
      __m512i line = _mm512_loadu_si512(row + kS * nb + 64 * j);
      asm("" : "+v"(line));  // one load, not one per use
      __m512i q[F::kPrep];
      F::prep(line, q);
      const uint8_t* scales = row + kS * kCB * j;
      for (int u = 0; u < 4 / kV; ++u) F::chunk_step(q, u, scales, t, v + kV * u);
      if constexpr (!F::kScaled) {
        alignas(16) float s4[4];
        F::chunk_scales(scales, s4);
        for (int i = 0; i < kCB; ++i) sc[i] = s4[i];
      }
    } else {
      const int64_t b0 = j * kCB;
      for (int s = 0; s < 4 / kV; ++s) F::weights(row + (b0 + s * kB) * F::kBytes, kB, t, v + kV * s);
      if constexpr (!F::kScaled)
        for (int i = 0; i < kCB; ++i) sc[i] = F::scale1(row, b0 + i);
    }
  }
  // The vectors past the whole chunks (returns how many, <= 4; vectors past
  // the row's last block are zero weights); INT4: their blocks' scales.
  static int tail(const uint8_t* row, int64_t nb, const Fp4Tables& t, __m512i* v, float* sc) {
    const int64_t b0 = chunks(nb) * kCB;
    int n = 0;
    for (int64_t b = b0; b < nb; b += kB, n += kV) {
      const int nblk = int(nb - b < kB ? nb - b : kB);
      if constexpr (kW4R) {
        const uint8_t* codes = row + kS * nb + 64 * chunks(nb) + (b - b0) * (F::kBytes - kS);
        F::tail(codes, row + kS * b, nblk, t, v + n);
        if constexpr (!F::kScaled)
          for (int i = 0; i < nblk; ++i) sc[b - b0 + i] = F::fp16_at(row + kS * (b + i));
      } else {
        F::weights(row + b * F::kBytes, nblk, t, v + n);
        if constexpr (!F::kScaled)
          for (int i = 0; i < nblk; ++i) sc[b - b0 + i] = F::scale1(row, b + i);
      }
    }
    return n;
  }
};

// The activations in the Runs order (one 32-element block per vector), for
// Int4G32Blocks.
struct RunsPack {
  static constexpr int kVecs = 2;
  static constexpr const Words& kOrder = kRunOrder;
};

// INT4-g32: one vector per block (Int4G32Blocks), activations in the Runs order.
template <bool kW4R>
struct Src<Int4W<32>, kW4R> {
  using F = Int4W<32>;
  using Pack = RunsPack;
  static constexpr int kUnit = 1;
  static int64_t chunks(int64_t nb) { return nb / 4; }
  static void chunk(const uint8_t* row, int64_t nb, int64_t j, const Fp4Tables& t, __m512i* v, float* sc) {
    if constexpr (kW4R) {
      __m512i line = _mm512_loadu_si512(row + 2 * nb + 64 * j);
      asm("" : "+v"(line));  // one load, not one per use
      v[0] = Int4G32Blocks::from_line<0>(line, t);
      v[1] = Int4G32Blocks::from_line<1>(line, t);
      v[2] = Int4G32Blocks::from_line<2>(line, t);
      v[3] = Int4G32Blocks::from_line<3>(line, t);
      alignas(16) float s4[4];
      F::chunk_scales(row + 8 * j, s4);
      for (int i = 0; i < 4; ++i) sc[i] = s4[i];
    } else {
      for (int i = 0; i < 4; ++i) {
        const uint8_t* blk = row + (4 * j + i) * F::kBytes;
        v[i] = Int4G32Blocks::from_run(blk + offsetof(BlockInt4<32>, qs), t);
        sc[i] = F::scale1(row, 4 * j + i);
      }
    }
  }
  static int tail(const uint8_t* row, int64_t nb, const Fp4Tables& t, __m512i* v, float* sc) {
    const int64_t b0 = chunks(nb) * 4;
    int n = 0;
    for (int64_t b = b0; b < nb; ++b, ++n) {
      if constexpr (kW4R) {
        v[n] = Int4G32Blocks::from_run(row + 2 * nb + 64 * chunks(nb) + 16 * (b - b0), t);
        sc[n] = F::fp16_at(row + 2 * b);
      } else {
        v[n] = Int4G32Blocks::from_run(row + b * F::kBytes + offsetof(BlockInt4<32>, qs), t);
        sc[n] = F::scale1(row, b);
      }
    }
    return n;
  }
};

// This thread's working memory for one call (scratch slot 2): the decoded
// vectors of one chunk (two buffers, alternating by chunk: [vector][row],
// 64 bytes each) and INT4's block scales ([block][row], for the whole row).
struct Work {
  uint16_t (*a)[4][kRows][32];  // a[buffer][vector][row]
  float (*sc)[kRows];           // sc[block][row]
};
Work work_buffers(int64_t nb) {
  const size_t a = 2 * sizeof(uint16_t[4][kRows][32]), sc = size_t(nb + 4) * sizeof(float[kRows]);
  char* p = static_cast<char*>(cpu::scratch(2, a + sc));
  return {reinterpret_cast<uint16_t(*)[4][kRows][32]>(p), reinterpret_cast<float(*)[kRows]>(p + a)};
}

// Decodes rows i0 .. i1 - 1 (< n; rows past n keep what they hold: zeros,
// written when the group began) of chunk j (the tail when j == chunks) into
// buffer a; INT4 scales go to sc[block0 + i][row] for the chunk's block i.
// Returns the chunk's vector count.
template <class S>
inline int decode_rows(const uint8_t* const* rows, int i0, int i1, int64_t nb, int64_t j, const Fp4Tables& t,
                       uint16_t (&a)[4][kRows][32], float (*sc)[kRows], int64_t block0) {
  int nv = 4;
  for (int i = i0; i < i1; ++i) {
    __m512i v[4];
    float s[4];
    if (j < S::chunks(nb)) {
      S::chunk(rows[i], nb, j, t, v, s);
      for (int u = 0; u < 4; ++u) _mm512_store_si512(a[u][i], v[u]);
    } else {
      nv = S::tail(rows[i], nb, t, v, s);
      for (int u = 0; u < nv; ++u) _mm512_store_si512(a[u][i], v[u]);
    }
    if constexpr (S::kUnit > 0)
      for (int u = 0; u < nv / S::kUnit; ++u) sc[block0 + u][i] = s[u];
  }
  return nv;
}

// Sets of sums: set 0 is tiles 0 (rows 0..15) and 2 (16..31), set 1 tiles 1 and 3.
inline void store_sums(int set, float* out) {  // [row][token]
  if (set == 0) {
    _tile_stored(0, out, 64);
    _tile_stored(2, out + 256, 64);
  } else {
    _tile_stored(1, out, 64);
    _tile_stored(3, out + 256, 64);
  }
}
inline void zero_sums(int set) {
  if (set == 0) {
    _tile_zero(0);
    _tile_zero(2);
  } else {
    _tile_zero(1);
    _tile_zero(3);
  }
}

// One tile step: row tile rt (weights tile 4 or 5, from a[rt * 16]) times
// the activations at b (tile 6 or 7 by the vector's parity par, loaded with
// row tile 0's step), added to the sums of set `set`.
inline void tile_step(int set, int rt, int par, const uint16_t (&a)[kRows][32], const uint16_t* b) {
  if (rt == 0) {
    if (par == 0) _tile_loadd(6, b, 64);
    else _tile_loadd(7, b, 64);
    _tile_loadd(4, a[0], 64);
    if (set == 0) {
      if (par == 0) _tile_dpbf16ps(0, 4, 6);
      else _tile_dpbf16ps(0, 4, 7);
    } else {
      if (par == 0) _tile_dpbf16ps(1, 4, 6);
      else _tile_dpbf16ps(1, 4, 7);
    }
  } else {
    _tile_loadd(5, a[16], 64);
    if (set == 0) {
      if (par == 0) _tile_dpbf16ps(2, 5, 6);
      else _tile_dpbf16ps(2, 5, 7);
    } else {
      if (par == 0) _tile_dpbf16ps(3, 5, 6);
      else _tile_dpbf16ps(3, 5, 7);
    }
  }
}

// Adds INT4 block sums (just stored at sums: kRows rows x 16 tokens) times
// their block scales sc[row] into acc[row][token].
inline void scale_block(const float* sums, const float* sc, float* acc) {
  for (int r = 0; r < kRows; ++r) {
    const __m512 s = _mm512_load_ps(sums + 16 * r);
    _mm512_store_ps(acc + 16 * r, _mm512_fmadd_ps(s, _mm512_set1_ps(sc[r]), _mm512_load_ps(acc + 16 * r)));
  }
}

// All vectors of the n rows at `rows` against one panel of 16 tokens (vector
// v's tile at panel + 512 v). The sums (MXFP4, NVFP4) or INT4's scaled
// block sums end in out[row * 16 + token].
//
// Software pipelined: the tile unit's steps for chunk j - 1 (2 per vector,
// one per row tile) are issued one after every kRowsPerStep rows decoded of
// chunk j, so that each waits behind decode work instead of stalling the
// core (tiles are not renamed: a tile load waits for the steps reading that
// tile; a whole chunk's decode does not fit the reorder window).
template <class S>
void row_group(const uint8_t* const* rows, int n, int64_t nb, const Fp4Tables& t, Work& wk, const uint16_t* panel,
               float* out) {
  constexpr int U = S::kUnit, kRowsPerStep = kRows / 8;
  const int64_t chunks = S::chunks(nb);
  alignas(64) float sums[2][kRows * 16];
  if constexpr (U > 0) std::fill(out, out + kRows * 16, 0.0f);
  int64_t vec = 0;  // first vector of the chunk whose steps are being issued
  // Step i (vector i / 2, row tile i % 2) of the chunk in buffer a.
  auto step = [&](const uint16_t (&a)[4][kRows][32], int i) {
    const int u = i / 2, rt = i % 2;
    const int64_t gv = vec + u;
    if constexpr (U == 0) {
      tile_step(0, rt, int(gv & 1), a[u], panel + 512 * gv);
    } else {  // INT4: block gv / U in set (gv / U) & 1; block b - 1 scaled once block b's steps are issued
      const int64_t block = gv / U;
      const int set = int(block & 1);
      if (gv % U == 0 && rt == 0) zero_sums(set);
      tile_step(set, rt, int(gv & 1), a[u], panel + 512 * gv);
      if (gv % U == U - 1 && rt == 1 && block > 0) {
        store_sums(1 - set, sums[1 - set]);
        scale_block(sums[1 - set], wk.sc[block - 1], out);
      }
    }
  };
  if constexpr (U == 0) zero_sums(0);
  int nv = decode_rows<S>(rows, 0, n, nb, 0, t, wk.a[0], wk.sc, 0);
  for (int64_t j = 1; j <= chunks; ++j) {
    const auto& prev = wk.a[(j - 1) & 1];
    int nv_next = 0;
    for (int i = 0; i < 8; ++i) {
      const int i0 = i * kRowsPerStep, i1 = std::min(n, i0 + kRowsPerStep);
      if (i0 < i1) nv_next = decode_rows<S>(rows, i0, i1, nb, j, t, wk.a[j & 1], wk.sc, U ? (vec + nv) / U : 0);
      if (i < 2 * nv) step(prev, i);
    }
    vec += nv;
    nv = nv_next;
  }
  for (int i = 0; i < 2 * nv; ++i) step(wk.a[chunks & 1], i);
  vec += nv;
  if constexpr (U == 0) {
    store_sums(0, out);
  } else if (vec > 0) {
    const int64_t last = vec / U - 1;
    store_sums(int(last & 1), sums[last & 1]);
    scale_block(sums[last & 1], wk.sc[last], out);
  }
}

inline void zero_buffers(Work& wk, int64_t nb) {
  std::memset(wk.a, 0, 2 * sizeof(uint16_t[4][kRows][32]));
  std::memset(wk.sc, 0, size_t(nb + 4) * sizeof(float[kRows]));
}

template <class F, bool kW4R>
void amx_w4(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb, int64_t T,
            float* y, int64_t ys) {
  using S = Src<F, kW4R>;
  const Fp4Tables& tabs = cpu::fp4_tables();
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const int64_t nb = k / F::kBlock;
  size_t prb = 0;  // packed row bytes: whole steps, zeros past k, so every vector the tail makes has its activations
  const char* xp = pack_activations<typename S::Pack>(static_cast<const char*>(xv), xrb, T, k, prb);
  const int64_t nvec = int64_t(prb / 64);
  Work wk = work_buffers(nb);
  const uint8_t* rows[kRows];
  alignas(64) float out[kRows * 16];
  cpu::configure_full_tiles();
  const int64_t max_panels = (std::min(T, kTokenBlock) + 15) / 16;
  auto* panels = static_cast<uint16_t*>(cpu::scratch(1, size_t(max_panels * nvec) * 1024));
  for (int64_t t0 = 0; t0 < T; t0 += kTokenBlock) {
    const int64_t np = (std::min(T - t0, kTokenBlock) + 15) / 16;
    // panel p, vector s at panels + (p * nvec + s) * 512 words: tile row i
    // holds the 16 tokens' words 2i, 2i + 1 of vector s
    cpu::pack_dword_panels(xp + size_t(t0) * prb, prb, T - t0, int64_t(prb), 16 * np, int64_t(prb), panels);
    for (int64_t g = r0; g < r1; g += kRows) {
      const int n = int(std::min<int64_t>(kRows, r1 - g));
      for (int j = 0; j < n; ++j) rows[j] = w + (g + j) * wrb;
      if (n < kRows) zero_buffers(wk, nb);
      for (int64_t p = 0; p < np; ++p) {
        row_group<S>(rows, n, nb, tabs, wk, panels + p * nvec * 512, out);
        for (int j = 0; j < n; ++j)
          for (int c = 0; c < 16 && t0 + 16 * p + c < T; ++c)
            y[(t0 + 16 * p + c) * ys + g + j] = F::finish(out[16 * j + c]);
      }
    }
  }
  _tile_release();
}

}  // namespace
#pragma GCC pop_options

namespace cpu {

void amx_w4_matmul(FormatId f, const void* w, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* x,
                   size_t xrb, int64_t T, float* y, int64_t ys) {
  switch (f) {
    case FormatId::MXFP4: return amx_w4<MxW<1>, false>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::MXFP4R: return amx_w4<MxW<1>, true>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::MXFP4_FPQ: return amx_w4<MxW<3>, false>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::MXFP4_FPQR: return amx_w4<MxW<3>, true>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::NVFP4: return amx_w4<NvW, false>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::NVFP4R: return amx_w4<NvW, true>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::INT4_G32: return amx_w4<Int4W<32>, false>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::INT4_G32R: return amx_w4<Int4W<32>, true>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::INT4_G64: return amx_w4<Int4W<64>, false>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::INT4_G64R: return amx_w4<Int4W<64>, true>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::INT4_G128: return amx_w4<Int4W<128>, false>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    default: return;
  }
}

}  // namespace cpu
}  // namespace nb::kernels
