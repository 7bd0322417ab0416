// AMX-BF16 tile kernels behind kernels/bf16_gemm.h. Only called after
// amx_bf16_ready() (CPU support and the kernel's permission for tile state).
//
// TDPBF16PS: C[m][n] (fp32, 16×16) += Σ_p A[m][2p]·B[p][2n] + A[m][2p+1]·B[p][2n+1]
// over p < 16: A is 16 rows of 32 bf16 (row-major, any row stride), B is 16
// rows of 16 bf16 *pairs* — the right-hand side with two consecutive inner
// indices side by side ("pair panels", packed by amx_pack_pairs). Every
// product of two bf16 values is exact in fp32; only the summation order
// differs from an fp32 dot over the same values.
//
// Tiles 0-3 hold a 2×2 block of C, 4-5 two A tiles, 6-7 two B tiles.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/amx_tiles.h"
#include "kernels/cpu/bf16_lanes.h"
#include "kernels/cpu/bf16_gemm_cpu.h"

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries; the warnings are false positives.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels::cpu {
namespace {

// C block of MT×NT tiles over kb_n steps of 32 inner indices.
// a: first A row (bf16), a_stride bytes; b: first B panel, panel_elems apart.
template <int MT, int NT>
inline void dot_block(const uint16_t* a, size_t a_stride, const uint16_t* b, size_t panel_elems, int64_t kb_n) {
  for (int64_t kb = 0; kb < kb_n; ++kb) {
    _tile_loadd(4, a + kb * 32, a_stride);
    if constexpr (MT > 1) _tile_loadd(5, reinterpret_cast<const char*>(a + kb * 32) + 16 * a_stride, a_stride);
    _tile_loadd(6, b + kb * 512, 64);
    if constexpr (NT > 1) _tile_loadd(7, b + panel_elems + kb * 512, 64);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (NT > 1) _tile_dpbf16ps(1, 4, 7);
    if constexpr (MT > 1) _tile_dpbf16ps(2, 5, 6);
    if constexpr (MT > 1 && NT > 1) _tile_dpbf16ps(3, 5, 7);
  }
}

template <int MT, int NT>
void zero_block() {
  _tile_zero(0);
  if constexpr (NT > 1) _tile_zero(1);
  if constexpr (MT > 1) _tile_zero(2);
  if constexpr (MT > 1 && NT > 1) _tile_zero(3);
}

// Stores tile `t` of the block to tmp (16×16 fp32, row-major).
template <int MT, int NT>
void store_block(float (*tmp)[256]) {
  _tile_stored(0, tmp[0], 64);
  if constexpr (NT > 1) _tile_stored(1, tmp[1], 64);
  if constexpr (MT > 1) _tile_stored(2, tmp[2], 64);
  if constexpr (MT > 1 && NT > 1) _tile_stored(3, tmp[3], 64);
}

// One matmul block: weight rows r (MT tiles) × tokens t0 (NT tiles); Y[t][r].
template <int MT, int NT>
void matmul_block(const uint16_t* w, size_t w_row_bytes, const uint16_t* b, size_t panel_elems, int64_t kb_n,
                  int64_t r, int64_t t0, int64_t T, float* Y, int64_t ys) {
  alignas(64) float tmp[4][256];
  zero_block<MT, NT>();
  dot_block<MT, NT>(w, w_row_bytes, b, panel_elems, kb_n);
  store_block<MT, NT>(tmp);
  for (int mi = 0; mi < MT; ++mi)
    for (int ni = 0; ni < NT; ++ni) {
      const float* c = tmp[mi * 2 + ni];
      const int64_t tb = t0 + 16 * ni, tn = std::min<int64_t>(16, T - tb);
      for (int64_t j = 0; j < tn; ++j) {
        float* y = Y + (tb + j) * ys + r + 16 * mi;
        for (int i = 0; i < 16; ++i) y[i] = c[i * 16 + j];
      }
    }
}

// One Gram block: C tiles loaded from G, accumulated, stored back.
template <int MT, int NT>
void gram_block(const uint16_t* a, size_t a_stride, const uint16_t* b, size_t panel_elems, int64_t kb_n, float* g,
                size_t g_stride) {
  char* g0 = reinterpret_cast<char*>(g);
  _tile_loadd(0, g0, g_stride);
  if constexpr (NT > 1) _tile_loadd(1, g0 + 64, g_stride);
  if constexpr (MT > 1) _tile_loadd(2, g0 + 16 * g_stride, g_stride);
  if constexpr (MT > 1 && NT > 1) _tile_loadd(3, g0 + 16 * g_stride + 64, g_stride);
  dot_block<MT, NT>(a, a_stride, b, panel_elems, kb_n);
  _tile_stored(0, g0, g_stride);
  if constexpr (NT > 1) _tile_stored(1, g0 + 64, g_stride);
  if constexpr (MT > 1) _tile_stored(2, g0 + 16 * g_stride, g_stride);
  if constexpr (MT > 1 && NT > 1) _tile_stored(3, g0 + 16 * g_stride + 64, g_stride);
}

// bf16 bits of one fp32 value, round to nearest even (finite inputs): the
// integer rule of rne_bf16_high (bf16_lanes.h), so packing does not depend on
// which branch handled an element.
inline uint16_t rne_scalar(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

}  // namespace

void amx_pack_pairs(const float* src, int64_t inner_stride, int64_t col_stride, int64_t inner, int64_t cols,
                    int64_t p0, int64_t p1, uint16_t* dst) {
  const int64_t kb_n = (inner + 31) / 32;
  const __m512i iota16 = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(16));
  for (int64_t p = p0; p < p1; ++p)
    for (int64_t kb = 0; kb < kb_n; ++kb) {
      uint16_t* tile = dst + (p * kb_n + kb) * 512;
      const int64_t k0 = kb * 32, c0 = p * 16;
      if (inner_stride == 1 && k0 + 32 <= inner) {
        // Each column's 32 inner values are contiguous: one 64-byte run of
        // pairs, scattered down the tile's column (dword r -> row r).
        for (int64_t n = 0; n < 16; ++n) {
          __m512i v = _mm512_setzero_si512();
          if (c0 + n < cols) {
            const float* s = src + (c0 + n) * col_stride + k0;
            const __m512i lo = _mm512_srli_epi32(rne_bf16_high(_mm512_loadu_ps(s)), 16);
            const __m512i hi = _mm512_srli_epi32(rne_bf16_high(_mm512_loadu_ps(s + 16)), 16);
            // dword r = (value 2r, value 2r+1): pack the 32 halves in order
            const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            const __m512i even = _mm512_permutex2var_epi32(lo, idx, hi);
            const __m512i odd = _mm512_permutex2var_epi32(lo, _mm512_add_epi32(idx, _mm512_set1_epi32(1)), hi);
            v = _mm512_or_si512(even, _mm512_slli_epi32(odd, 16));
          }
          _mm512_i32scatter_epi32(tile + n * 2, iota16, v, 4);
        }
        continue;
      }
      if (col_stride == 1 && c0 + 16 <= cols) {
        // Each inner index's 16 columns are contiguous: rows k and k+1 give one tile row.
        for (int64_t r = 0; r < 16; ++r) {
          const int64_t k = k0 + 2 * r;
          __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
          if (k < inner) a = _mm512_srli_epi32(rne_bf16_high(_mm512_loadu_ps(src + k * inner_stride + c0)), 16);
          if (k + 1 < inner)
            b = _mm512_and_si512(rne_bf16_high(_mm512_loadu_ps(src + (k + 1) * inner_stride + c0)),
                                 _mm512_set1_epi32(int(0xFFFF0000u)));
          _mm512_storeu_si512(tile + r * 32, _mm512_or_si512(a, b));
        }
        continue;
      }
      for (int64_t r = 0; r < 16; ++r)
        for (int64_t n = 0; n < 16; ++n)
          for (int64_t q = 0; q < 2; ++q) {
            const int64_t k = k0 + 2 * r + q, c = c0 + n;
            tile[r * 32 + n * 2 + q] = k < inner && c < cols ? rne_scalar(src[k * inner_stride + c * col_stride]) : 0;
          }
    }
}

void amx_to_bf16_rows(const float* src, int64_t row_stride, int64_t col_stride, int64_t cols, int64_t cols_pad,
                      int64_t r0, int64_t r1, uint16_t* dst) {
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const bool gather = col_stride != 1 && col_stride * 16 < (int64_t(1) << 31) / 4;
  const __m512i vindex = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(int(gather ? col_stride : 0)));
  for (int64_t r = r0; r < r1; ++r) {
    uint16_t* d = dst + r * cols_pad;
    const float* s = src + r * row_stride;
    int64_t c = 0;
    for (; c + 16 <= cols && (col_stride == 1 || gather); c += 16) {
      const __m512 v = col_stride == 1 ? _mm512_loadu_ps(s + c) : _mm512_i32gather_ps(vindex, s + c * col_stride, 4);
      const __m256i h = _mm512_cvtepi32_epi16(_mm512_srli_epi32(rne_bf16_high(v), 16));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + c), h);
    }
    for (; c < cols; ++c) d[c] = rne_scalar(s[c * col_stride]);
    for (; c < cols_pad; ++c) d[c] = 0;
  }
}

void amx_matmul_rows(const uint16_t* w, size_t w_row_bytes, int64_t r0, int64_t r1, int64_t k, const uint16_t* b,
                     int64_t T, float* Y, int64_t ys) {
  configure_full_tiles();
  const int64_t kb_n = k / 32, panels = (T + 15) / 16;
  const size_t panel_elems = size_t(kb_n) * 512;
  // Tokens in chunks whose packed panels stay in L2 while the rows sweep them;
  // each row block's weights (32 rows) are then reused from L1/L2 across the chunk.
  const int64_t chunk_panels = std::max<int64_t>(2, (int64_t(768) << 10) / int64_t(panel_elems * 2) / 2 * 2);
  for (int64_t p0 = 0; p0 < panels; p0 += chunk_panels) {
    const int64_t p1 = std::min(panels, p0 + chunk_panels);
    for (int64_t r = r0; r < r1; r += 32) {
      const bool two_rows = r + 32 <= r1;
      const uint16_t* wr = reinterpret_cast<const uint16_t*>(reinterpret_cast<const char*>(w) + r * w_row_bytes);
      for (int64_t p = p0; p < p1; p += 2) {
        const uint16_t* bp = b + p * panel_elems;
        const bool two_cols = p + 2 <= p1;
        if (two_rows && two_cols) matmul_block<2, 2>(wr, w_row_bytes, bp, panel_elems, kb_n, r, p * 16, T, Y, ys);
        else if (two_rows) matmul_block<2, 1>(wr, w_row_bytes, bp, panel_elems, kb_n, r, p * 16, T, Y, ys);
        else if (two_cols) matmul_block<1, 2>(wr, w_row_bytes, bp, panel_elems, kb_n, r, p * 16, T, Y, ys);
        else matmul_block<1, 1>(wr, w_row_bytes, bp, panel_elems, kb_n, r, p * 16, T, Y, ys);
      }
    }
  }
}

void amx_gram_rows(const uint16_t* a, int64_t lda, const uint16_t* b, int64_t inner, int64_t i0, int64_t i1,
                   float* g, int64_t ldg) {
  configure_full_tiles();
  const int64_t kb_n = inner / 32;
  const size_t panel_elems = size_t(kb_n) * 512, a_stride = size_t(lda) * 2, g_stride = size_t(ldg) * 4;
  for (int64_t i = i0; i < i1; i += 32) {
    const bool two_rows = i + 32 <= i1;
    const int64_t j_end = i + (two_rows ? 32 : 16);  // columns up to the end of the diagonal block
    const uint16_t* ai = a + i * lda;
    for (int64_t j = 0; j < j_end; j += 32) {
      const bool two_cols = j + 32 <= j_end;
      const uint16_t* bp = b + (j / 16) * panel_elems;
      float* gij = g + i * ldg + j;
      if (two_rows && two_cols) gram_block<2, 2>(ai, a_stride, bp, panel_elems, kb_n, gij, g_stride);
      else if (two_rows) gram_block<2, 1>(ai, a_stride, bp, panel_elems, kb_n, gij, g_stride);
      else if (two_cols) gram_block<1, 2>(ai, a_stride, bp, panel_elems, kb_n, gij, g_stride);
      else gram_block<1, 1>(ai, a_stride, bp, panel_elems, kb_n, gij, g_stride);
    }
  }
}

}  // namespace nb::kernels::cpu
