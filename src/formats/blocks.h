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

// ---- Ternary formats. A trit t = w + 1 in {0, 1, 2} codes w in {-1, 0, +1}.

// TQ2_0 (llama.cpp): 256 weights, 2-bit codes and an fp16 scale. Element e:
// h = e / 128, r = e % 128, its code is bits 2*(r/32) .. +1 of qs[32*h + r%32].
struct BlockTQ2_0 {
  uint8_t qs[kQK_K / 4];
  uint16_t d;  // fp16
};
static_assert(sizeof(BlockTQ2_0) == 66);

// TQ1_0 (llama.cpp): 256 weights as base-3 digits, 5 per byte in qs (elements
// 0..239) and 4 per byte in qh (240..255), and an fp16 scale.
// A byte holding trits t0..t4 (t0 most significant) stores
// ceil(q * 256 / 243) with q = ((((t0*3+t1)*3+t2)*3+t3)*3+t4); trit n is
// recovered as floor(3 * ((byte * 3^n) mod 256) / 256). qh bytes hold 4 trits
// (q multiplied by 3 first, so the fifth trit is 0).
// Element order: qs[m], m < 32, trit n -> 32n + m (0..159);
// qs[32 + m], m < 16, trit n -> 160 + 16n + m (160..239);
// qh[j], trit n < 4 -> 240 + 4n + j.
struct BlockTQ1_0 {
  uint8_t qs[48];
  uint8_t qh[4];
  uint16_t d;  // fp16
};
static_assert(sizeof(BlockTQ1_0) == 54);

// T2 (nibble): blocks of 128 weights in 32 bytes; element k of a block is bits
// 2*(k/32) .. +1 of byte k%32, so one 32-byte load and a shift gives 32
// consecutive elements. Rows are padded to whole blocks with trit 1 (weight 0).
// The weights are trit - 1 times the tensor's fp32 scale.
constexpr int kQKT2 = 128;
struct BlockT2 {
  uint8_t qs[kQKT2 / 4];
};
static_assert(sizeof(BlockT2) == 32);

// T1_6 (nibble): blocks of 160 weights in 32 bytes, 5 trits per byte with
// TQ1_0's byte encoding; element 32n + m is trit n of byte m. Rows padded with
// trit 1; weights are trit - 1 times the tensor's fp32 scale.
constexpr int kQKT1_6 = 160;
struct BlockT1_6 {
  uint8_t qs[32];
};
static_assert(sizeof(BlockT1_6) == 32);

// Encode five trits (t0 most significant) into one byte, and decode trit n.
inline uint8_t pack_trits5(const uint8_t t[5]) {
  unsigned q = (((t[0] * 3u + t[1]) * 3u + t[2]) * 3u + t[3]) * 3u + t[4];
  return uint8_t((q * 256u + 242u) / 243u);
}
inline uint8_t unpack_trit(uint8_t byte, int n) {
  static const uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  uint8_t b = uint8_t(byte * kPow3[n]);  // mod 256
  return uint8_t((unsigned(b) * 3u) >> 8);
}

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
