// Prefill of F32 / F16 / BF16 weights against fp32 activations on the
// AMX-BF16 tile unit, without rounding anything to bf16.
//
// Every fp32 value v is the exact sum of three bf16 values: hi = bf16(v),
// mid = bf16(v - hi), lo = v - hi - mid (v - hi has at most 16 significant
// bits and v - hi - mid at most 8). An F16 weight is hi + mid (11 bits), a
// BF16 weight is hi. So W·x is a sum of bf16 × bf16 products, each exact in
// fp32, and TDPBF16PS adds them with fp32 sums. With |mid| <= 2^-8 |v| and
// |lo| <= 2^-16 |v| (round to nearest), the part products w_i·x_j with
// i + j > 2 are at most 2^-24 of their product, the size of one fp32
// rounding (which the fp32 kernels make at every addition), and are left
// out: F16 weights take 5 passes over the tile unit (hi·hi, hi·mid,
// hi·lo, mid·hi, mid·mid), BF16 3, F32 6. The tile unit runs BF16 products
// about 16 times faster than 512-bit FMA here, so even 5 passes are ahead.
// The sums' order differs from the FMA kernels' (and decode's), so prefill
// equals decode to fp32 rounding, not bit for bit.
//
// Denormals: the tile unit treats bf16 denormals as zero, so parts below
// 2^-126 are lost: a value's lo part only when |v| is below about 2^-110.
//
// Layout of the work: tokens in groups of 256 (kernels/bf16_gemm.cpp packs
// their three parts once, as pair panels shared by the threads); rows in
// groups of kGroupRows whose running sums (parked fp32 tiles) stay in L2;
// inner values in chunks of kChunkSteps tile steps, for which each block of
// 32 rows is split once into a buffer (the next block prefetched meanwhile)
// and then meets every pair of token panels. Tiles 0-3 hold a 2 × 2 block of
// sums (32 rows × 32 tokens), 4-5 a weight part of the two row tiles, 6-7 an
// activation part of the two token panels.
#include "kernels/cpu/float_gemm_amx.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/amx_tiles.h"
#include "kernels/cpu/bf16_lanes.h"
#include "kernels/cpu/scratch.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries; the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels::cpu {
namespace {

// 32-value tile steps per chunk. A 32-row block's parts are then 32 KiB
// (BF16) to 96 KiB (F32), in L2; with 8 steps (each row's piece of the chunk
// 512 bytes of F16) prefill was 15-20% slower, the pieces too short for
// the memory system (TinyLlama F16 pp128, 3 interleaved runs: 1 thread
// 86-88 -> 102-109 tokens/s); 32 steps were no faster than 16.
constexpr int64_t kChunkSteps = 16;
constexpr int64_t kGroupRows = 256;  // parked sums: 256 rows x 256 tokens x 4 B = 256 KiB

// The three bf16 parts of 16 values, as fp32 bit patterns with zero low
// halves. Where hi would round past the largest bf16 (|v| above 3.3895e38)
// it is that largest value instead, so a huge finite v stays finite (v - hi
// is still exact and short). An infinite or NaN v gives NaN outputs (its
// lower parts are inf - inf, and a zero weight part times it is NaN) where
// the fp32 kernels may give an infinity: both say the same thing, that the
// activations overflowed. F16 and BF16 weights cannot be that large, and
// skip the check (Huge = false; it cost 5% of F16 prefill).
template <bool Huge = true, int Parts = 3>
inline void split3(__m512 v, __m512i (&p)[3]) {
  const __m512i high = _mm512_set1_epi32(int(0xFFFF0000u)), exp = _mm512_set1_epi32(0x7F800000);
  p[0] = _mm512_and_si512(rne_bf16_high(v), high);
  if constexpr (Huge) {
    const __m512i vb = _mm512_castps_si512(v);
    const __mmask16 finite = _mm512_cmpneq_epi32_mask(_mm512_and_si512(vb, exp), exp);
    const __mmask16 over = _mm512_mask_cmpeq_epi32_mask(finite, _mm512_and_si512(p[0], exp), exp);
    p[0] = _mm512_mask_or_epi32(p[0], over, _mm512_and_si512(vb, _mm512_set1_epi32(int(0x80000000u))),
                                _mm512_set1_epi32(0x7F7F0000));
  }
  if constexpr (Parts == 1) return;  // BF16 weights: hi is the value
  const __m512 r1 = _mm512_sub_ps(v, _mm512_castsi512_ps(p[0]));
  p[1] = _mm512_and_si512(rne_bf16_high(r1), high);
  if constexpr (Parts == 2) return;  // F16 weights: 11 bits, hi + mid
  const __m512 r2 = _mm512_sub_ps(r1, _mm512_castsi512_ps(p[1]));
  p[2] = _mm512_and_si512(rne_bf16_high(r2), high);  // r2 has at most 8 significant bits: exact
}

// The high halves of a's and b's 16 lanes each: 32 bf16 values in order.
inline __m512i pack32(__m512i a, __m512i b) {
  alignas(64) static const uint16_t odd[32] = {1,  3,  5,  7,  9,  11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31,
                                               33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63};
  return _mm512_permutex2var_epi16(a, _mm512_load_si512(odd), b);
}

inline __mmask16 first16(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? 0 : __mmask16((1u << n) - 1); }

// 16 weights from element i of a row, zeros at and past k.
template <FloatKind K>
inline __m512 load_w(const char* row, int64_t i, int64_t k) {
  const __mmask16 m = first16(k - i);
  if constexpr (K == FloatKind::F32) return _mm512_maskz_loadu_ps(m, reinterpret_cast<const float*>(row) + i);
  else if constexpr (K == FloatKind::F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * i));
  else return widen_bf16(_mm256_maskz_loadu_epi16(m, row + 2 * i));
}

template <FloatKind K>
constexpr int kWeightParts = K == FloatKind::F32 ? 3 : K == FloatKind::F16 ? 2 : 1;

// Rows [b, b + 32) of the weights, tile steps [s0, s0 + ns), as parts:
// buf[((part * 2 + row tile) * kChunkSteps + step) * 512], rows past r_end zero.
template <FloatKind K>
void split_weights(const char* w, size_t wrb, int64_t b, int64_t r_end, int64_t k, int64_t s0, int64_t ns,
                   uint16_t* buf) {
  constexpr int NW = kWeightParts<K>;
  for (int i = 0; i < 32; ++i) {
    const int64_t r = b + i;
    for (int64_t s = 0; s < ns; ++s) {
      __m512i lo[3] = {}, hi[3] = {};
      if (r < r_end) {
        const char* row = w + size_t(r) * wrb;
        const int64_t e = 32 * (s0 + s);
        split3<K == FloatKind::F32, NW>(load_w<K>(row, e, k), lo);
        split3<K == FloatKind::F32, NW>(load_w<K>(row, e + 16, k), hi);
      }
      for (int q = 0; q < NW; ++q)
        _mm512_store_si512(buf + ((q * 2 + i / 16) * kChunkSteps + s) * 512 + (i % 16) * 32, pack32(lo[q], hi[q]));
    }
  }
}

// Asks for rows [b, b + 32) ∩ [.., r_end), tile steps [s0, s0 + ns), into L2:
// the weights come from memory, and a block's 32 short row pieces (512 or
// 1024 bytes each, 4 KiB or more apart) defeat the hardware prefetcher
// (without this, 40% of the kernel's time was the first load of each piece).
template <FloatKind K>
void prefetch_weights(const char* w, size_t wrb, int64_t b, int64_t r_end, int64_t s0, int64_t ns) {
  constexpr size_t eb = K == FloatKind::F32 ? 4 : 2;
  for (int64_t r = b; r < std::min(b + 32, r_end); ++r)
    for (size_t o = size_t(s0) * 32 * eb; o < size_t(s0 + ns) * 32 * eb; o += 64)
      _mm_prefetch(w + size_t(r) * wrb + o, _MM_HINT_T1);
}

// 2 row tiles × 2 token panels over ns tile steps, all weight / activation
// part pairs with q_w + q_x <= 2. wb: the block's weight parts; xb: the
// first panel's activation parts at step s0 (part q of panel p + j at
// xb + (q * part_elems) + j * panel_elems).
//
// The tile registers are not renamed: a load into a tile waits for the
// multiplies that read it. So the multiplies of a pass run in the order that
// frees tile 6 first, and each tile is loaded for the next pass as soon as
// its last reader of this pass has been issued, two multiplies (~32 cycles)
// before its first use (in source order: the compiler keeps the order of
// tile instructions). Against loading all four operand tiles before each
// pass's four multiplies (TinyLlama F16 pp128, 3 interleaved runs): 1
// thread 99-102 against 88-98 tokens/s, 2 threads 185-187 against 174-180.
// (An earlier comparison, while the weight loads still stalled on memory,
// showed no difference.)
template <int NW>
inline void block_steps(const uint16_t* wb, const uint16_t* xb, size_t part_elems, size_t panel_elems, int64_t ns) {
  // The passes of one step: (q_w, q_x), weight part major.
  constexpr int NP = NW == 1 ? 3 : NW == 2 ? 5 : 6;
  constexpr int kQw[6] = {0, 0, 0, 1, 1, NW == 3 ? 2 : 1}, kQx[6] = {0, 1, 2, 0, 1, 0};
  auto a_at = [&](int qw, int64_t s, int rt) { return wb + ((qw * 2 + rt) * kChunkSteps + s) * 512; };
  auto b_at = [&](int qx, int64_t s) { return xb + qx * part_elems + s * 512; };
  _tile_loadd(4, a_at(0, 0, 0), 64);
  _tile_loadd(5, a_at(0, 0, 1), 64);
  _tile_loadd(6, b_at(0, 0), 64);
  _tile_loadd(7, b_at(0, 0) + panel_elems, 64);
  const int64_t n = ns * NP;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = i / NP, j = i % NP;
    const bool more = i + 1 < n;
    const int64_t s1 = (i + 1) / NP, j1 = (i + 1) % NP;
    const bool new_a = more && (s1 != s || kQw[j1] != kQw[j]);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(2, 5, 6);
    if (more) _tile_loadd(6, b_at(kQx[j1], s1), 64);
    _tile_dpbf16ps(1, 4, 7);
    if (new_a) _tile_loadd(4, a_at(kQw[j1], s1, 0), 64);
    _tile_dpbf16ps(3, 5, 7);
    if (new_a) _tile_loadd(5, a_at(kQw[j1], s1, 1), 64);
    if (more) _tile_loadd(7, b_at(kQx[j1], s1) + panel_elems, 64);
  }
}

// Tile (rows 16 × tokens 16, row-major fp32) into y[t][r] for the rows below
// r_end and the tokens below t_end.
inline void write_tile(const float* tile, float* y, int64_t ys, int64_t r, int64_t r_end, int64_t t, int64_t t_end) {
  __m512i v[16];
  for (int i = 0; i < 16; ++i) v[i] = _mm512_load_si512(tile + 16 * i);
  transpose16(v);  // v[j]: token t + j, rows r..r+15
  const __mmask16 m = first16(r_end - r);
  for (int j = 0; j < 16 && t + j < t_end; ++j)
    _mm512_mask_storeu_ps(y + (t + j) * ys + r, m, _mm512_castsi512_ps(v[j]));
}

template <FloatKind K>
void split_matmul_rows(const char* w, size_t wrb, int64_t r0, int64_t r1, int64_t k, const uint16_t* xp,
                       int64_t panels, int64_t t0, int64_t t_end, float* y, int64_t ys) {
  constexpr int NW = kWeightParts<K>;
  configure_full_tiles();
  const int64_t steps = (k + 31) / 32, pairs = panels / 2;
  const size_t panel_elems = size_t(steps) * 512, part_elems = size_t(panels) * panel_elems;
  auto* wbuf = static_cast<uint16_t*>(scratch(0, size_t(NW) * 2 * kChunkSteps * 1024));
  auto* park = static_cast<float*>(scratch(1, size_t(kGroupRows / 32) * size_t(pairs) * 4 * 1024));
  alignas(64) float tile[4][256];
  for (int64_t g = r0; g < r1; g += kGroupRows) {
    const int64_t g_end = std::min(r1, g + kGroupRows);
    for (int64_t s0 = 0; s0 < steps; s0 += kChunkSteps) {
      const int64_t ns = std::min(kChunkSteps, steps - s0);
      const bool first = s0 == 0, last = s0 + ns == steps;
      for (int64_t b = g; b < g_end; b += 32) {
        split_weights<K>(w, wrb, b, g_end, k, s0, ns, wbuf);
        // the next block's weights arrive while this one computes
        if (b + 32 < g_end) prefetch_weights<K>(w, wrb, b + 32, g_end, s0, ns);
        else if (!last) prefetch_weights<K>(w, wrb, g, g_end, s0 + ns, std::min(kChunkSteps, steps - s0 - ns));
        for (int64_t pp = 0; pp < pairs; ++pp) {
          float* pk = park + (((b - g) / 32) * pairs + pp) * 4 * 256;
          if (first) {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
          } else {
            _tile_loadd(0, pk, 64);
            _tile_loadd(1, pk + 256, 64);
            _tile_loadd(2, pk + 512, 64);
            _tile_loadd(3, pk + 768, 64);
          }
          block_steps<NW>(wbuf, xp + 2 * pp * panel_elems + s0 * 512, part_elems, panel_elems, ns);
          float* out = last ? tile[0] : pk;
          _tile_stored(0, out, 64);
          _tile_stored(1, out + 256, 64);
          _tile_stored(2, out + 512, 64);
          _tile_stored(3, out + 768, 64);
          if (last)
            for (int q = 0; q < 4; ++q)
              write_tile(tile[q], y, ys, b + 16 * (q / 2), g_end, t0 + 16 * (2 * pp + q % 2), t_end);
        }
      }
    }
  }
}

}  // namespace

void amx_pack_split_panels(const float* x, int64_t xs, int64_t t0, int64_t t_end, int64_t k, int64_t panels,
                           int64_t p0, int64_t p1, uint16_t* dst) {
  const int64_t steps = (k + 31) / 32;
  const size_t panel_elems = size_t(steps) * 512, part_elems = size_t(panels) * panel_elems;
  for (int64_t p = p0; p < p1; ++p)
    for (int64_t s = 0; s < steps; ++s) {
      __m512i part[3][16];
      for (int n = 0; n < 16; ++n) {
        const int64_t t = t0 + 16 * p + n, e = 32 * s;
        __m512i lo[3] = {}, hi[3] = {};
        if (t < t_end) {
          const float* row = x + t * xs;
          split3(_mm512_maskz_loadu_ps(first16(k - e), row + e), lo);
          split3(_mm512_maskz_loadu_ps(first16(k - e - 16), row + e + 16), hi);
        }
        // dword r of token n = values (32s + 2r, 32s + 2r + 1): its pair for tile row r
        for (int q = 0; q < 3; ++q) part[q][n] = pack32(lo[q], hi[q]);
      }
      for (int q = 0; q < 3; ++q) {
        transpose16(part[q]);
        uint16_t* d = dst + q * part_elems + size_t(p) * panel_elems + size_t(s) * 512;
        for (int r = 0; r < 16; ++r) _mm512_storeu_si512(d + 32 * r, part[q][r]);
      }
    }
}

void amx_split_matmul_rows(FloatKind kind, const char* w, size_t wrb, int64_t r0, int64_t r1, int64_t k,
                           const uint16_t* xp, int64_t panels, int64_t t0, int64_t t_end, float* y, int64_t ys) {
  switch (kind) {
    case FloatKind::F32: return split_matmul_rows<FloatKind::F32>(w, wrb, r0, r1, k, xp, panels, t0, t_end, y, ys);
    case FloatKind::F16: return split_matmul_rows<FloatKind::F16>(w, wrb, r0, r1, k, xp, panels, t0, t_end, y, ys);
    case FloatKind::BF16: return split_matmul_rows<FloatKind::BF16>(w, wrb, r0, r1, k, xp, panels, t0, t_end, y, ys);
  }
}

}  // namespace nb::kernels::cpu
