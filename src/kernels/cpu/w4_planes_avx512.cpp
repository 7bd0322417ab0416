// 4-bit decode (one token) with VPDPBUSD: INT4 (g32, g64, g128), MXFP4,
// MXFP4_FPQ and NVFP4 weights against bf16 activations held as three int8
// digit planes, so every product of a weight code and an activation is an
// exact integer multiply-add. KernelTable::matmul_decode entries (used only
// for FloatSums::AnyOrder); fp4_avx512.cpp registers them.
//
// Why: on Intel cores VDPBF16PS issues once per two cycles and holds both
// 512-bit ports (bench/simd_pipes.cpp; docs/performance.md), so the bf16
// kernels decode 8-9 weights per cycle, under one core's share of DRAM
// bandwidth. VPDPBUSD multiplies 64 byte pairs on one port slot; three of
// them per 64 codes (one per plane) still cost a third of one VDPBF16PS per
// weight.
//
// Numbers. Activation x_i (a bf16 value; bf16 subnormals count as zero, as
// VDPBF16PS treats them) belongs to a group of 8 (the elements one 32-bit
// lane of the weight vectors meets, below). With E the exponent of the
// group's largest |x| (2^E <= max < 2^(E+1)), v_i = round_half_even(x_i *
// 2^(21-E)) is an integer with |v_i| <= 2^22, exact whenever x_i >= 2^(E-14)
// in magnitude (8 significant bits); smaller elements are off by at most
// 2^(E-22), two fp32 units in the last place of the group's largest value. Each
// v_i = a0 * 2^16 + a1 * 2^8 + a2 with a1, a2 in [-128, 127] and a0 in
// [-64, 64]. Each weight is an unsigned byte c_i = q_i + o: INT4 the code
// itself (q = code - 8, o = 8); E2M1 twice its value (kE2M1Doubled: q in
// [-12, 12], o = 12), from the code by one byte lookup (VPERMB). Per 32-bit
// lane, VPDPBUSD (c as the unsigned operand, one digit plane as the signed
// one) gives S_p = sum c * a_p, one plane after the other in one chain with
// a shift by 8 between planes (as fast as three chains joined after, with
// four fewer operations): S = (S0 << 16) + (S1 << 8) + S2 - o * sum v is
// sum q_i * v_i exactly (|S| <= 8 * 12 * 2^22 < 2^29, so the wrapping int32
// arithmetic ends on the true value). Then y += float(S) * 2^(E-21) * d,
// d the block's scale (INT4: its fp16; MXFP4: 2^(e-127) / 2; NVFP4: its
// E4M3 value / 2; the halves undo the doubling): the lane's sum rounded
// once, where the bf16 kernels round at every addition. So the result
// equals sum w_i * x_i up to fp32 summation error plus the rounding of
// elements 2^14 below their group's largest (and, for groups whose largest
// |x| is below 2^-105, subnormal fp32 scales). MXFP4_FPQ divides the row's
// sum by 3 at the end, as the reference does; NVFP4's tensor scale is
// kernels::matmul's.
//
// Layouts (formats/blocks.h). Each step is 128 codes in one 64-byte line:
// an AND and a shift give the low and high nibbles as two byte vectors
// (E2M1: the shift alone, the lookup ignoring the bits above), and each
// 32-bit lane of them must meet elements of one block (the group).
//  * INT4-g128 blocks are a 2-byte fp16 scale and 64 code bytes; code byte j
//    holds element 32 (j / 16) + j % 16 in its low nibble and that + 16 in
//    its high one. Lane i = 4c + q meets elements 32c + 4q + {0..3} and
//    32c + 16 + 4q + {0..3}, all in the one block.
//  * W4R rows (RunPairs order: INT4-g32/g64, MXFP4, NVFP4): word w = 8L + m
//    of a chunk holds elements 16L + 2m + {0, 1} in its low byte and 64 +
//    those in its high byte, so a lane would mix the chunk's halves. One
//    in-lane byte shuffle puts each 128-bit lane's even bytes first: then
//    lane 4a + d meets elements 64 (d / 2) + 16a + 8 (d % 2) + {0..7}, inside
//    one block of 16 or more.
// pack() writes, per step, the digit planes in the order of the (shuffled)
// code bytes, the lane corrections -o * sum v and the lane scales 2^(E-21)
// (times 1/2 for E2M1).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "formats/blocks.h"
#include "kernels/cpu/w4_planes.h"
#include "kernels/cpu/row_streams.h"
#include "kernels/cpu/scratch.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries; the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// vpermb (E2M1's byte lookup): fp4_avx512.cpp registers these entries only
// where it found AVX512-VBMI.
#pragma GCC target("avx512vbmi")

namespace nb::kernels::cpu {
namespace {

constexpr int kStep = 128;
// Rows (sequential streams) decoded together, and how far ahead (bytes)
// each is prefetched; as the bf16 kernels (fp4_avx512.cpp).
#ifndef NIBBLE_PLANES_ROWS
#define NIBBLE_PLANES_ROWS 4
#endif
#ifndef NIBBLE_PLANES_AHEAD
#define NIBBLE_PLANES_AHEAD 2048
#endif
constexpr int kRows = NIBBLE_PLANES_ROWS;
constexpr size_t kPrefetchAhead = NIBBLE_PLANES_AHEAD;

// One step's activations: planes[p][h][j] is digit p of the element that
// meets the low (h = 0) or high (h = 1) nibble of (shuffled) code byte j.
struct alignas(64) BlockPlanes {
  int8_t planes[3][2][64];
  int32_t corr[16];  // -o * sum of the lane's v
  float scale[16];   // 2^(E - 21) of the lane's group (E2M1: times 1/2)
};
static_assert(sizeof(BlockPlanes) == 512);

// Splits int32 v (|v| <= 2^22) into digits a0 * 2^16 + a1 * 2^8 + a2, each
// plane's 16 bytes in d[0], d[1], d[2].
inline void digits(__m512i v, __m128i (&d)[3]) {
  const __m512i a2 = _mm512_srai_epi32(_mm512_slli_epi32(v, 24), 24);
  const __m512i v1 = _mm512_srai_epi32(_mm512_sub_epi32(v, a2), 8);
  const __m512i a1 = _mm512_srai_epi32(_mm512_slli_epi32(v1, 24), 24);
  d[0] = _mm512_cvtepi32_epi8(_mm512_srai_epi32(_mm512_sub_epi32(v1, a1), 8));
  d[1] = _mm512_cvtepi32_epi8(a1);
  d[2] = _mm512_cvtepi32_epi8(a2);
}

// The 16 bf16 values at x as fp32, subnormals as zero.
inline __m512 load_bf16(const uint16_t* x) {
  const __m512i b = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x))), 16);
  const __mmask16 normal = _mm512_test_epi32_mask(b, _mm512_set1_epi32(0x7F800000));
  return _mm512_castsi512_ps(_mm512_maskz_mov_epi32(normal, b));
}

// 2^(21-E) from a vector of group maxima (|x| bit patterns): t = 21 - E;
// an all-zero group has E = -127 and gives zero v.
inline __m512 group_t(__m512i m) {
  return _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_set1_epi32(148), _mm512_srli_epi32(m, 23)));
}
// 2^-t times one (INT4) or one half (E2M1, whose bytes are doubled values).
template <class W>
inline __m512 scale_of(__m512 t) {
  return _mm512_scalef_ps(_mm512_set1_ps(W::kHalf ? 0.5f : 1.0f), _mm512_sub_ps(_mm512_setzero_ps(), t));
}
inline __m512i abs_bits(__m512 x) { return _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7FFFFFFF)); }
// -o * the sum of each 128-bit lane's four int32, in every one of its lanes.
template <class W>
inline __m512i lane_corr(__m512i s) {
  s = _mm512_add_epi32(s, _mm512_shuffle_epi32(s, _MM_PERM_CDAB));
  s = _mm512_add_epi32(s, _mm512_shuffle_epi32(s, _MM_PERM_BADC));
  return _mm512_mullo_epi32(s, _mm512_set1_epi32(-W::kOffset));
}

// INT4-g128 file blocks: per run c of 32, the low vector (elements 32c ..
// 32c + 15) and the high one; the group of lane 4c + q is 128-bit lane q of
// both.
template <class W>
void pack_g128(const uint16_t* x, int64_t steps, BlockPlanes* out) {
  for (int64_t b = 0; b < steps; ++b) {
    BlockPlanes& o = out[b];
    for (int c = 0; c < 4; ++c) {
      const uint16_t* xc = x + kStep * b + 32 * c;
      const __m512 lo = load_bf16(xc), hi = load_bf16(xc + 16);
      __m512i m = _mm512_max_epu32(abs_bits(lo), abs_bits(hi));
      m = _mm512_max_epu32(m, _mm512_shuffle_epi32(m, _MM_PERM_CDAB));
      m = _mm512_max_epu32(m, _mm512_shuffle_epi32(m, _MM_PERM_BADC));
      const __m512 t = group_t(m);
      const __m512i vl = _mm512_cvtps_epi32(_mm512_scalef_ps(lo, t));
      const __m512i vh = _mm512_cvtps_epi32(_mm512_scalef_ps(hi, t));
      __m128i d[2][3];
      digits(vl, d[0]);
      digits(vh, d[1]);
      for (int h = 0; h < 2; ++h)
        for (int i = 0; i < 3; ++i) _mm_storeu_si128(reinterpret_cast<__m128i*>(&o.planes[i][h][16 * c]), d[h][i]);
      _mm512_mask_compressstoreu_epi32(&o.corr[4 * c], 0x1111, lane_corr<W>(_mm512_add_epi32(vl, vh)));
      _mm512_mask_compressstoreu_ps(&o.scale[4 * c], 0x1111, scale_of<W>(t));
    }
  }
}

// W4R chunks (RunPairs): natural vector n = 4h + a (elements 16n ..
// 16n + 15) feeds shuffled bytes 16a + 8h + 0..7, its even elements the low
// plane and its odd ones the high plane; its halves are lanes 4a + 2h and
// 4a + 2h + 1.
template <class W>
void pack_w4r(const uint16_t* x, int64_t steps, BlockPlanes* out) {
  const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  for (int64_t b = 0; b < steps; ++b) {
    BlockPlanes& o = out[b];
    for (int n = 0; n < 8; ++n) {
      const int a = n % 4, h = n / 4;
      const __m512 xv = load_bf16(x + kStep * b + 16 * n);
      __m512i m = abs_bits(xv);
      m = _mm512_max_epu32(m, _mm512_shuffle_epi32(m, _MM_PERM_CDAB));
      m = _mm512_max_epu32(m, _mm512_shuffle_epi32(m, _MM_PERM_BADC));
      m = _mm512_max_epu32(m, _mm512_shuffle_i32x4(m, m, _MM_SHUFFLE(2, 3, 0, 1)));  // 8-lane halves
      const __m512 t = group_t(m);
      const __m512i v = _mm512_cvtps_epi32(_mm512_scalef_ps(xv, t));
      __m128i d[3];
      digits(v, d);
      for (int i = 0; i < 3; ++i) {
        const __m128i eo = _mm_shuffle_epi8(d[i], even_odd);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(&o.planes[i][0][16 * a + 8 * h]), eo);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(&o.planes[i][1][16 * a + 8 * h]), _mm_unpackhi_epi64(eo, eo));
      }
      __m512i s = lane_corr<W>(v);
      s = _mm512_add_epi32(s, _mm512_shuffle_i32x4(s, s, _MM_SHUFFLE(2, 3, 0, 1)));  // both 128-bit lanes of a half
      _mm512_mask_compressstoreu_epi32(&o.corr[4 * a + 2 * h], 0x0101, s);
      _mm512_mask_compressstoreu_ps(&o.scale[4 * a + 2 * h], 0x0101, scale_of<W>(t));
    }
  }
}

// The weights: their bytes c = q + o from a vector of codes (one per byte,
// in bits 0..3; kMasked: the bits above cleared), o, and whether the lane
// scales carry E2M1's 1/2.
struct Int4Values {
  static constexpr int kOffset = 8;
  static constexpr bool kHalf = false;
  static constexpr bool kMasked = true;  // bytes() takes the nibbles alone
  static __m512i bytes(__m512i codes) { return codes; }
};
struct E2M1Values {
  static constexpr int kOffset = 12;
  static constexpr bool kHalf = true;
  // vpermb reads index bits 0..5, so the 16 values four times over make the
  // AND of the nibble split unneeded (bytes() takes the codes unmasked).
  struct Table {
    alignas(64) int8_t b[64];
  };
  static constexpr Table table() {
    Table t{};
    for (int i = 0; i < 64; ++i) t.b[i] = int8_t(formats::kE2M1Doubled[i % 16] + kOffset);
    return t;
  }
  static constexpr bool kMasked = false;
  static __m512i bytes(__m512i codes) {
    static constexpr Table kTable = table();
    return _mm512_permutexvar_epi8(codes, _mm512_load_si512(kTable.b));
  }
};

// The layouts: where step b's 64 code bytes are, the step's block scales as
// one per lane, the shuffle their bytes need, and their values (W).
struct G128 {
  using W = Int4Values;
  static const uint8_t* codes(const uint8_t* row, int64_t, int64_t b) { return row + 66 * b + 2; }
  static __m512 scales(const uint8_t* row, int64_t, int64_t b) {
    return _mm512_cvtph_ps(_mm256_set1_epi16(int16_t(row[66 * b] | row[66 * b + 1] << 8)));
  }
  static __m512i arrange(__m512i c) { return c; }
  static constexpr auto pack = pack_g128<W>;
};

// W4R rows (RunPairs): nb = k / G scale fields of S bytes, then the 64-byte
// chunks of weights Values. Lane 4a + d of a step meets elements 64 (d / 2)
// + 16a + 8 (d % 2) + 0..7 (above).
template <int G, int S, class Values>
struct Pairs {
  using W = Values;
  static constexpr auto pack = pack_w4r<W>;
  static const uint8_t* codes(const uint8_t* row, int64_t k, int64_t b) { return row + S * (k / G) + 64 * b; }
  static const uint8_t* scale_bytes(const uint8_t* row, int64_t b) { return row + S * (kStep / G) * b; }
  static __m512i arrange(__m512i c) {
    return _mm512_shuffle_epi8(c, _mm512_broadcast_i32x4(_mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)));
  }
};
template <int G>
struct Int4Pairs : Pairs<G, 2, Int4Values> {
  static __m512 scales(const uint8_t* row, int64_t, int64_t b) {
    const uint8_t* s = Int4Pairs::scale_bytes(row, b);
    if constexpr (G == 64) {  // lanes 4a + d: block d / 2
      int32_t two;
      std::memcpy(&two, s, 4);
      return _mm512_permute_ps(_mm512_cvtph_ps(_mm256_set1_epi32(two)), _MM_SHUFFLE(1, 1, 0, 0));
    } else {  // G == 32, lanes 4a + d: block 2 (d / 2) + a / 2
      const __m512 four = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s))));
      return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 2, 2, 0, 0, 2, 2, 1, 1, 3, 3, 1, 1, 3, 3), four);
    }
  }
};
// The control of a vpshufb that moves scale byte sel(a, d) (of a broadcast)
// to bits 24..31 of lane 4a + d, zeroing the rest.
struct Select {
  alignas(64) int32_t c[16];
};
template <class Sel>
constexpr Select top_byte_select(Sel sel) {
  Select s{};
  for (int a = 0; a < 4; ++a)
    for (int d = 0; d < 4; ++d) s.c[4 * a + d] = int32_t(uint32_t(sel(a, d)) << 24 | 0x808080u);
  return s;
}
// MXFP4: the 4 E8M0 bytes e of a chunk's blocks; lane 4a + d holds block
// 2 (d / 2) + a / 2. e << 23 is the fp32 2^(e-127) for e = 1..254; e = 0
// (2^-127) gives 0, as the bf16 kernels' vdpbf16ps, which treats that
// subnormal weight as zero; e = 255 gives +inf, made NaN (the format's value).
struct MxPairs : Pairs<32, 1, E2M1Values> {
  static __m512 scales(const uint8_t* row, int64_t, int64_t b) {
    static constexpr Select kSel = top_byte_select([](int a, int d) { return 2 * (d / 2) + a / 2; });
    const __m512i sel = _mm512_load_si512(kSel.c);
    int32_t e4;
    std::memcpy(&e4, scale_bytes(row, b), 4);
    const __m512i bits = _mm512_srli_epi32(_mm512_shuffle_epi8(_mm512_set1_epi32(e4), sel), 1);
    // vfixupimmps: +inf (token 5) -> QNaN (response 3), all else kept (1).
    return _mm512_fixupimm_ps(_mm512_castsi512_ps(bits), _mm512_castsi512_ps(bits), _mm512_set1_epi32(0x11311111), 0);
  }
};
// NVFP4: the 8 E4M3 bytes of a chunk's blocks; lane 4a + d holds block
// 4 (d / 2) + a. Byte b placed as fp32 bits (b & 0x80) << 24 | (b & 0x7F)
// << 20 is the E4M3 value times 2^-120 (subnormal E4M3 codes become fp32
// subnormals, exactly), so one exact product by 2^120 gives the value;
// 0x7F / 0xFF (NaN) are made NaN.
struct NvPairs : Pairs<16, 1, E2M1Values> {
  static __m512 scales(const uint8_t* row, int64_t, int64_t b) {
    static constexpr Select kSel = top_byte_select([](int a, int d) { return 4 * (d / 2) + a; });
    const __m512i sel = _mm512_load_si512(kSel.c);
    int64_t d8;
    std::memcpy(&d8, scale_bytes(row, b), 8);
    const __m512i top = _mm512_shuffle_epi8(_mm512_set1_epi64(d8), sel);  // b << 24
    const __m512i bits = _mm512_and_si512(_mm512_srai_epi32(top, 4), _mm512_set1_epi32(int32_t(0x87F00000u)));
    const __m512 v = _mm512_mul_ps(_mm512_castsi512_ps(bits), _mm512_set1_ps(0x1p120f));
    const __mmask16 nan = _mm512_cmpeq_epi32_mask(_mm512_and_si512(top, _mm512_set1_epi32(0x7F000000)),
                                                  _mm512_set1_epi32(0x7F000000));
    return _mm512_mask_mov_ps(v, nan, _mm512_set1_ps(__builtin_nanf("")));
  }
};

// Rows w + j * stride (j < R) against the packed activations a: y[j * ys].
template <class L, int R, int Div>
inline void rows_dot(const uint8_t* w, size_t stride, int64_t k, const BlockPlanes* a, float* y, int64_t ys) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512 acc[R];
  for (int j = 0; j < R; ++j) acc[j] = _mm512_setzero_ps();
  for (int64_t b = 0; b < k / kStep; ++b) {
    const BlockPlanes& p = a[b];
#pragma GCC unroll 4
    for (int j = 0; j < R; ++j) {
      const uint8_t* row = w + j * stride;
      const uint8_t* c = L::codes(row, k, b);
      _mm_prefetch(reinterpret_cast<const char*>(c) + kPrefetchAhead, _MM_HINT_T0);
      const __m512i codes = L::arrange(_mm512_loadu_si512(c));
      const __m512i shifted = _mm512_srli_epi16(codes, 4);
      const __m512i lo = L::W::bytes(L::W::kMasked ? _mm512_and_si512(codes, low4) : codes);
      const __m512i hi = L::W::bytes(L::W::kMasked ? _mm512_and_si512(shifted, low4) : shifted);
      auto plane = [&](int i, int h) { return _mm512_load_si512(p.planes[i][h]); };
      __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, plane(0, 0));
      s = _mm512_dpbusd_epi32(s, hi, plane(0, 1));
      s = _mm512_slli_epi32(s, 8);
      s = _mm512_dpbusd_epi32(s, lo, plane(1, 0));
      s = _mm512_dpbusd_epi32(s, hi, plane(1, 1));
      s = _mm512_slli_epi32(s, 8);
      s = _mm512_dpbusd_epi32(s, lo, plane(2, 0));
      s = _mm512_dpbusd_epi32(s, hi, plane(2, 1));
      s = _mm512_add_epi32(s, _mm512_load_si512(p.corr));
      const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_load_ps(p.scale));
      acc[j] = _mm512_fmadd_ps(f, L::scales(row, k, b), acc[j]);
    }
  }
  for (int j = 0; j < R; ++j) {
    const float sum = _mm512_reduce_add_ps(acc[j]);
    y[j * ys] = Div == 1 ? sum : sum / float(Div);
  }
}

template <class L, int Div = 1>
void planes_matmul(const void* wv, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* xv, size_t xrb, int64_t T,
                   float* y, int64_t ys) {
  const uint8_t* w = static_cast<const uint8_t*>(wv);
  auto* a = static_cast<BlockPlanes*>(scratch(0, size_t(k / kStep) * sizeof(BlockPlanes)));
  for (int64_t t = 0; t < T; ++t) {
    L::pack(reinterpret_cast<const uint16_t*>(static_cast<const char*>(xv) + t * xrb), k / kStep, a);
    float* yt = y + t * ys;
    for_row_streams<kRows>(
        r0, r1, [&](int64_t r, int64_t part) { rows_dot<L, kRows, Div>(w + r * wrb, wrb * size_t(part), k, a, yt + r, part); },
        [&](int64_t r) { rows_dot<L, 1, Div>(w + r * wrb, wrb, k, a, yt + r, 1); });
  }
}

}  // namespace

void int4_g128_planes_matmul(const void* w, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* x, size_t xrb,
                             int64_t T, float* y, int64_t ys) {
  planes_matmul<G128>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
}
void w4r_planes_matmul(FormatId f, const void* w, size_t wrb, int64_t r0, int64_t r1, int64_t k, const void* x,
                       size_t xrb, int64_t T, float* y, int64_t ys) {
  switch (f) {
    case FormatId::INT4_G32R: return planes_matmul<Int4Pairs<32>>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::INT4_G64R: return planes_matmul<Int4Pairs<64>>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::MXFP4R: return planes_matmul<MxPairs>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::MXFP4_FPQR: return planes_matmul<MxPairs, 3>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    case FormatId::NVFP4R: return planes_matmul<NvPairs>(w, wrb, r0, r1, k, x, xrb, T, y, ys);
    default: return;
  }
}

}  // namespace nb::kernels::cpu
