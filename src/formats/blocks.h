// Byte layouts of the block formats. This file and the format table
// (format.h / *.cpp here) are the only places a layout is described; kernels
// include this header and use these structs and constants.
// All layouts are llama.cpp/GGUF's, little-endian, packed.
#pragma once
#include <cstdint>

namespace nb::formats {

// Q8_0: 32 int8 values, one fp16 scale. x = d * q.
constexpr int kQK8_0 = 32;
struct BlockQ8_0 {
  uint16_t d;  // fp16
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q4_0: 32 values as 4-bit codes, one fp16 scale. Element j (0..15) is the low
// nibble of qs[j], element j+16 the high nibble. x = d * (code - 8).
constexpr int kQK4_0 = 32;
struct BlockQ4_0 {
  uint16_t d;  // fp16
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

// K-quants: super-blocks of 256 values.
constexpr int kQK_K = 256;
constexpr int kKScaleBytes = 12;

// Q8_K: activation format for K-quant dots. float scale, 256 int8, and the sums
// of each group of 16 values (used to fold the K-quant minimums).
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

// Q4_K: 8 sub-blocks of 32 with 6-bit scale and 6-bit min (packed in `scales`,
// see get_scale_min_k4), fp16 super-scale d and super-min dmin.
// x = d * sc * q - dmin * m, q in 0..15. qs: for each 64-value chunk c (0..3),
// 32 bytes; values c*64 + l are low nibbles of qs[c*32+l], c*64+32+l high nibbles.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

// Q5_K: as Q4_K plus a fifth bit per value in qh: value c*64 + l takes bit
// (2c) of qh[l], value c*64+32+l takes bit (2c+1) of qh[l] (l in 0..31).
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

// Q6_K: 16 sub-blocks of 16 values with int8 scales, fp16 d. q = 6-bit code - 32.
// For each half h (128 values): ql[64h..64h+63], qh[32h..32h+31], scales[8h..8h+7].
// Within a half, for l in 0..31:
//   v[l]    = (ql[l]    & 0xF) | ((qh[l] >> 0) & 3) << 4
//   v[l+32] = (ql[l+32] & 0xF) | ((qh[l] >> 2) & 3) << 4
//   v[l+64] = (ql[l]    >> 4)  | ((qh[l] >> 4) & 3) << 4
//   v[l+96] = (ql[l+32] >> 4)  | ((qh[l] >> 6) & 3) << 4
// and value i of the half uses scale scales[8h + i/16].
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

// 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace nb::formats
