// Helpers shared by the _amx.cpp kernels (only they include this: it needs
// their -mamx-* and AVX-512 flags): the tile configuration, and the 16 × 16
// dword transpose that packs panels and unpacks tiles.
#pragma once
#include <immintrin.h>

#include <cstdint>

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

// All eight tiles full size, 16 rows × 64 bytes: the shape of the bf16 and
// ternary kernels (2 × 2 blocks of sums, two operand tiles each side).
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

}  // namespace nb::kernels::cpu
