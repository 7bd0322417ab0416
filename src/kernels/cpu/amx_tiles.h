// Helpers shared by the _amx.cpp kernels (only they include this: it needs
// their -mamx-* and AVX-512 flags): the tile configuration, and the 16 × 16
// dword transpose that packs panels and unpacks tiles.
#pragma once
#include <immintrin.h>

#include <cstdint>

// GCC 12's intrinsic headers trip -W(maybe-)uninitialized on their own
// _mm*_undefined_* temporaries (false positives), here where pack_dword_panels
// is emitted out of line.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace nb::kernels::cpu {

// Palette 1: tile i is rows[i] rows of colsb[i] bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Loads tiles 0..7 as {rows, bytes per row}. The configuration is per thread
// and the AMX kernels use different shapes, so every kernel entry loads its own.
inline void configure_tiles(const uint8_t (&rows)[8], const uint16_t (&colsb)[8]) {
  TileConfig c;
  for (int i = 0; i < 8; ++i) {
    c.rows[i] = rows[i];
    c.colsb[i] = colsb[i];
  }
  // Not _tile_loadconfig: GCC 12's version tells the compiler it reads only
  // the first 8 bytes, so the rows / colsb stores may be dropped as dead (seen
  // when this is inlined into a small function: every tile left unconfigured).
  // The operand here is the whole 64-byte configuration.
  __asm__ volatile("ldtilecfg %0" : : "m"(c));
}

// All eight tiles full size, 16 rows × 64 bytes: the shape of the bf16,
// float, 4-bit and ternary kernels (2 × 2 blocks of sums, two operand tiles
// each side; the 4-bit kernel's second pair of sums is a second set).
inline void configure_full_tiles() {
  configure_tiles({16, 16, 16, 16, 16, 16, 16, 16}, {64, 64, 64, 64, 64, 64, 64, 64});
}

// In place: a[i] lane j becomes a[j] lane i (16 × 16 dwords).
inline void transpose16(__m512i (&a)[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {  // 128-bit lane L: [a_i, a_i+1] columns 4L, 4L+1 | 4L+2, 4L+3
    t[i] = _mm512_unpacklo_epi32(a[i], a[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(a[i], a[i + 1]);
  }
  for (int j = 0; j < 16; j += 4) {  // u[j + c], lane L: rows j..j+3 of column 4L + c
    u[j] = _mm512_unpacklo_epi64(t[j], t[j + 2]);
    u[j + 1] = _mm512_unpackhi_epi64(t[j], t[j + 2]);
    u[j + 2] = _mm512_unpacklo_epi64(t[j + 1], t[j + 3]);
    u[j + 3] = _mm512_unpackhi_epi64(t[j + 1], t[j + 3]);
  }
  for (int c = 0; c < 4; ++c) {  // row 4L + c: lane L of u[c], u[4 + c], u[8 + c], u[12 + c]
    const __m512i s0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44), s1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xEE);
    const __m512i s2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44);
    const __m512i s3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xEE);
    a[0 + c] = _mm512_shuffle_i32x4(s0, s2, 0x88);
    a[4 + c] = _mm512_shuffle_i32x4(s0, s2, 0xDD);
    a[8 + c] = _mm512_shuffle_i32x4(s1, s3, 0x88);
    a[12 + c] = _mm512_shuffle_i32x4(s1, s3, 0xDD);
  }
}

// The tile unit's B operand from T rows of bytes (row t at X + t * xs, k
// bytes of it used, zeros past k up to us, a multiple of 64, and for rows
// t >= T up to Tp, a multiple of 16): panel g, step c (bytes 64c..64c+63 of
// rows 16g..16g+15) is the KiB at panels + (g * us / 64 + c) * 1024, whose
// tile row p holds each row's 4-byte group p, row n's at bytes 4n..4n+3 (a
// 16 × 16 dword transpose). Int8 codes (TDPBUSD) and bf16 pairs (TDPBF16PS)
// alike.
inline void pack_dword_panels(const void* X, size_t xs, int64_t T, int64_t k, int64_t Tp, int64_t us, void* panels) {
  const int64_t nk = us / 64;
  const char* x = static_cast<const char*>(X);
  for (int64_t g = 0; g < Tp / 16; ++g)
    for (int64_t kc = 0; kc < nk; ++kc) {
      char* dst = static_cast<char*>(panels) + (g * nk + kc) * 1024;
      const int64_t left = k - 64 * kc;
      const __mmask64 m = left >= 64 ? ~__mmask64(0) : left > 0 ? (__mmask64(1) << left) - 1 : 0;
      __m512i a[16];
      for (int n = 0; n < 16; ++n) {
        const int64_t t = 16 * g + n;
        a[n] = t < T ? _mm512_maskz_loadu_epi8(m, x + size_t(t) * xs + 64 * kc) : _mm512_setzero_si512();
      }
      transpose16(a);
      for (int p = 0; p < 16; ++p) _mm512_storeu_si512(dst + p * 64, a[p]);
    }
}

}  // namespace nb::kernels::cpu

#pragma GCC diagnostic pop
