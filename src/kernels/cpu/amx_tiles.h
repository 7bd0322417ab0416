// The AMX tile configuration, shared by the _amx.cpp kernels (only they
// include this: it needs their -mamx-* flags).
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
  _tile_loadconfig(&c);
}

}  // namespace nb::kernels::cpu
