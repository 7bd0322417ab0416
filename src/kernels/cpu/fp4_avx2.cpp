// AVX2 + FMA + F16C matmul for the weight-only 4-bit formats (MXFP4,
// MXFP4_FPQ, NVFP4, INT4-g32/g64/g128 x bf16 activations, each widened to
// fp32 exactly), for CPUs without AVX-512 BF16. Everything is internal to
// this file.
//
// Decoding 8 codes at a time (int32 lanes, one code byte each):
//  * E2M1: vpermps (_mm256_permutevar8x32_ps) reads index bits 0..2, which
//    pick the magnitude from an 8-entry table already multiplied by the block
//    scale; the code's sign bit is shifted to bit 31 and xor-ed in (see
//    E2M1Codes). One shuffle and two or three simple ops per 8 weights.
//    Measured (MXFP4 decode from L2, one thread on a Sapphire Rapids VM, in
//    weights per cycle at 2.1 GHz): this 5.5; the sign masked then xor-ed
//    3.6; two 8-entry tables (+, -) and a blend on bit 3 3.1. A byte shuffle
//    into int8 was not tried: it needs as many shuffles (pshufb plus a
//    widening vpmovsxbd per 8) and adds a conversion per 8 weights.
//  * INT4: (code - 8) * d = fma(float(code), d, -8 d); both products are
//    exact, so is the sum of the two, so the fma's one rounding changes nothing.
// Every decoded weight is exact (see fp4_avx512.cpp), the scale being applied
// once per block and row, never per token.
//
// Determinism: output (t, r) has its own 8-lane accumulator, updated in a
// fixed order of its row's elements by one FMA each whatever the tile shape
// or T, then reduced by one fixed tree: T = 1 and T > 1 agree bit for bit.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "formats/blocks.h"
#include "kernels/cpu/bf16_lanes.h"
#include "kernels/cpu/fp4_kernels.h"
#include "kernels/cpu/hsum.h"
#include "kernels/cpu/row_streams.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels {
namespace {

using cpu::Fp4Tables;
using formats::BlockInt4;
using formats::BlockMXFP4;
using formats::BlockNVFP4;

constexpr int kDecodeRows = 4;
constexpr int kPrefillRows = 2, kPrefillCols = 4;  // 8 accumulators of 16 ymm
constexpr size_t kPrefetchAhead = 2048;  // as fp4_avx512.cpp
constexpr size_t kRowBlockBytes = 256 * 1024;

// 8 bf16 activations as fp32 (exact).
inline __m256 load_bf16x8(const uint16_t* p) {
  return widen_bf16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// 8 code bytes widened to int32 lanes.
inline __m256i code_bytes8(const uint8_t* q) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(q)));
}

// A block's scaled table: E2M1 magnitudes x d (a: the first 8 entries of its
// row of cpu::Fp4Tables, tagged by E2M1Codes::prep), or for INT4 d (a) and
// -8 d (b).
struct Scaled {
  __m256 a, b;
};

// The E2M1 sign without a mask: the 8 magnitudes of the block's table are
// stored pre-xored with (index << 28) (prep), so xoring the looked-up entry
// with (code << 28) cancels those bits and leaves the code's bit 3 in bit 31:
// ((i << 28) ^ ((s << 3 | i) << 28)) = s << 31, the high code bits falling
// off the top. Three ops per 8 weights for low nibbles, four for high.
struct E2M1Codes {
  static Scaled prep(const float* scaled16) {
    const __m256i tag = _mm256_setr_epi32(0, 1 << 28, 2 << 28, 3 << 28, 4 << 28, 5 << 28, 6 << 28, 7 << 28);
    return {_mm256_xor_ps(_mm256_load_ps(scaled16), _mm256_castsi256_ps(tag)), _mm256_setzero_ps()};
  }
  // Low nibble of each lane (kHi = false) or high nibble (kHi = true).
  template <bool kHi>
  static __m256 get(__m256i v, const Scaled& s) {
    const __m256i c = kHi ? _mm256_srli_epi32(v, 4) : v;
    return _mm256_xor_ps(_mm256_permutevar8x32_ps(s.a, c), _mm256_castsi256_ps(_mm256_slli_epi32(c, 28)));
  }
};

struct Int4Codes {
  template <bool kHi>
  static __m256 get(__m256i v, const Scaled& s) {
    const __m256i c = kHi ? _mm256_srli_epi32(v, 4) : _mm256_and_si256(v, _mm256_set1_epi32(0xF));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(c), s.a, s.b);
  }
};

// Per format: geometry, the code kind, the block's scaled table, and for each
// group h of 8 code bytes where they sit and which elements their low and
// high nibbles are (8 consecutive elements each).
template <int Div>  // 1: MXFP4; 3: MXFP4_FPQ (weights / 3, applied per output)
struct MxW {
  using Codes = E2M1Codes;
  static constexpr int64_t kElems = formats::kQKMXFP4, kBytes = sizeof(BlockMXFP4);
  static constexpr int kGroups = 2, kScaleBatch = 0;
  static Scaled scaled(const uint8_t* b, const Fp4Tables& t) {
    return E2M1Codes::prep(t.mxfp4[b[offsetof(BlockMXFP4, e)]]);
  }
  static const uint8_t* codes(const uint8_t* b, int h) { return b + offsetof(BlockMXFP4, qs) + 8 * h; }
  static int64_t lo_elem(int h) { return 8 * h; }
  static int64_t hi_elem(int h) { return 16 + 8 * h; }
  static float finish(float y) { return Div == 1 ? y : y / float(Div); }
};

struct NvW {
  using Codes = E2M1Codes;
  static constexpr int64_t kElems = formats::kQKNVFP4, kBytes = sizeof(BlockNVFP4);
  static constexpr int kGroups = 1, kScaleBatch = 0;
  static Scaled scaled(const uint8_t* b, const Fp4Tables& t) {
    return E2M1Codes::prep(t.nvfp4[b[offsetof(BlockNVFP4, d)]]);
  }
  static const uint8_t* codes(const uint8_t* b, int) { return b + offsetof(BlockNVFP4, qs); }
  static int64_t lo_elem(int) { return 0; }
  static int64_t hi_elem(int) { return 8; }
  static float finish(float y) { return y; }  // the tensor scale is kernels::matmul's
};

template <int G>
struct Int4W {
  using Codes = Int4Codes;
  static constexpr int64_t kElems = G, kBytes = sizeof(BlockInt4<G>);
  static constexpr int kGroups = G / 16;
  static constexpr int kScaleBatch = 8;
  static_assert(offsetof(BlockInt4<G>, d) == 0, "batch_scales gathers d from the start of each block");
  static Scaled scaled(const uint8_t* b, const Fp4Tables&) {
    uint16_t h;
    std::memcpy(&h, b + offsetof(BlockInt4<G>, d), 2);
    const float d = _cvtsh_ss(h);
    return {_mm256_set1_ps(d), _mm256_set1_ps(-8.0f * d)};
  }
  // d and -8 d of the 8 blocks from b on: one gather of the dwords that
  // start them (d and the first two code bytes, all inside the 8 blocks),
  // their low words packed and converted at once (vcvtph2ps is exact, as is
  // -8 d), instead of a conversion and a broadcast per block.
  static void batch_scales(const uint8_t* b, float* d, float* m8d) {
    const __m256i at = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(kBytes)));
    const __m256i g = _mm256_and_si256(_mm256_i32gather_epi32(reinterpret_cast<const int*>(b), at, 1),
                                       _mm256_set1_epi32(0xFFFF));
    const __m256 v = _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1)));
    _mm256_store_ps(d, v);
    _mm256_store_ps(m8d, _mm256_mul_ps(v, _mm256_set1_ps(-8.0f)));
  }
  // Runs of 32 elements in 16 bytes, as Q4_0: group h is bytes 8h .. 8h + 7.
  static const uint8_t* codes(const uint8_t* b, int h) { return b + offsetof(BlockInt4<G>, qs) + 8 * h; }
  static int64_t lo_elem(int h) { return 32 * (h / 2) + 8 * (h % 2); }
  static int64_t hi_elem(int h) { return 32 * (h / 2) + 16 + 8 * (h % 2); }
  static float finish(float y) { return y; }
};

// Block b of R rows (wrb bytes apart) against C tokens: scaled_of(r, block)
// gives row r's scaled table.
template <class F, int R, int C, class ScaledOf>
__attribute__((always_inline)) inline void block_step(const uint8_t* w, size_t wrb, int64_t b, const char* x,
                                                      size_t xrb, __m256 (&acc)[R][C], ScaledOf scaled_of) {
  using Codes = typename F::Codes;
  // Decode prefetches every line once or a few times: every kPrefetchEvery-th
  // block (at most 64 bytes apart, so no line is skipped), every 64 bytes of it.
  constexpr int64_t kPrefetchEvery = F::kBytes < 64 ? 64 / F::kBytes : 1;
  const bool prefetch = C == 1 && b % kPrefetchEvery == 0;
  const uint8_t* blk[R];
  Scaled s[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    blk[r] = w + r * wrb + b * F::kBytes;
    if (prefetch)
      for (int64_t o = 0; o < F::kBytes; o += 64)
        _mm_prefetch(reinterpret_cast<const char*>(blk[r]) + kPrefetchAhead + o, _MM_HINT_T0);
    s[r] = scaled_of(r, blk[r]);
  }
#pragma GCC unroll 8
  for (int h = 0; h < F::kGroups; ++h) {
    __m256 lo[R], hi[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m256i v = code_bytes8(F::codes(blk[r], h));
      lo[r] = Codes::template get<false>(v, s[r]);
      hi[r] = Codes::template get<true>(v, s[r]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const uint16_t* xr = reinterpret_cast<const uint16_t*>(x + c * xrb) + b * F::kElems;
      const __m256 xl = load_bf16x8(xr + F::lo_elem(h)), xh = load_bf16x8(xr + F::hi_elem(h));
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) {
        acc[r][c] = _mm256_fmadd_ps(lo[r], xl, acc[r][c]);
        acc[r][c] = _mm256_fmadd_ps(hi[r], xh, acc[r][c]);
      }
    }
  }
}

// R rows x C tokens over the whole row. w: first row, the others wrb bytes
// apart; x: first token (tokens xrb bytes apart); y: &Y[t0, r], the rows yr
// floats apart and the tokens ys. INT4 converts the scales of 8 blocks at a
// time (Int4W::batch_scales); the tables, hence the results, are the same.
template <class F, int R, int C>
void tile(const uint8_t* w, size_t wrb, int64_t nb, const char* x, size_t xrb, float* y, int64_t ys, int64_t yr,
          const Fp4Tables& tabs) {
  __m256 acc[R][C];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
  int64_t b = 0;
  if constexpr (F::kScaleBatch > 0) {
    for (; b + 8 <= nb; b += 8) {
      alignas(32) float d[R][8], m8d[R][8];
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) F::batch_scales(w + r * wrb + b * F::kBytes, d[r], m8d[r]);
      for (int j = 0; j < 8; ++j)
        block_step<F, R, C>(w, wrb, b + j, x, xrb, acc, [&](int r, const uint8_t*) {
          return Scaled{_mm256_broadcast_ss(&d[r][j]), _mm256_broadcast_ss(&m8d[r][j])};
        });
    }
  }
  for (; b < nb; ++b)
    block_step<F, R, C>(w, wrb, b, x, xrb, acc, [&](int, const uint8_t* blk) { return F::scaled(blk, tabs); });
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) y[c * ys + r * yr] = F::finish(hsum256(acc[r][c]));
}

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

template <class F>
void matmul_w4(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb, int64_t T,
               float* y, int64_t ys) {
  const Fp4Tables& tabs = cpu::fp4_tables();
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  const char* x = static_cast<const char*>(xv);
  const int64_t nb = k / F::kElems;
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

void register_fp4_avx2(KernelTable& t) {
  t.set_matmul(FormatId::MXFP4, matmul_w4<MxW<1>>);
  t.set_matmul(FormatId::MXFP4_FPQ, matmul_w4<MxW<3>>);
  t.set_matmul(FormatId::NVFP4, matmul_w4<NvW>);
  t.set_matmul(FormatId::INT4_G32, matmul_w4<Int4W<32>>);
  t.set_matmul(FormatId::INT4_G64, matmul_w4<Int4W<64>>);
  t.set_matmul(FormatId::INT4_G128, matmul_w4<Int4W<128>>);
}

}  // namespace nb::kernels
