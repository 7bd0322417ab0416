// Byte layouts of the block formats. This file and the format table
// (format.h / *.cpp here) are the only places a layout is described; kernels
// include this header and use these structs and constants.
// All layouts are llama.cpp/GGUF's, little-endian, packed.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace nb::formats {

// Q8_0: 32 int8 values, one fp16 scale. x = d * q.
constexpr int kQK8_0 = 32;
struct BlockQ8_0 {
  uint16_t d;  // fp16
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q8_0R (nibble's own, made at load time, never in files): a row of nb Q8_0
// blocks with the same scales and codes, placed so that SIMD kernels read
// whole 64-byte lines with no gathering. First the nb fp16 scales in block
// order; then, from byte 2 nb, the codes in groups of 4 blocks (the last
// group has m = nb - 4g < 4 blocks when 4 does not divide nb): group g holds
// the first 16 codes of each of its m blocks in order, then their last 16
// codes. 34 nb bytes per row, as Q8_0. Scales first, so that a row read in
// order meets its scales before its codes (and prefetching the codes ahead
// also fetches the next row's scales); rows are best placed with their codes
// on a 64-byte boundary (FormatTraits::aligned_at).
constexpr int64_t kQ8_0RGroup = 4;
inline int64_t q8_0r_codes_start(int64_t nb) { return 2 * nb; }
inline int64_t q8_0r_codes_at(int64_t nb, int64_t b, int half) {  // half 0: codes 0..15, 1: 16..31
  const int64_t g = b / kQ8_0RGroup, m = nb - kQ8_0RGroup * g < kQ8_0RGroup ? nb - kQ8_0RGroup * g : kQ8_0RGroup;
  return q8_0r_codes_start(nb) + 128 * g + 16 * (half * m + b % kQ8_0RGroup);
}

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

// Q4_KR, Q5_KR, Q6_KR (nibble's own, made at load time, never in files): a
// row of nb Q4_K / Q5_K / Q6_K super-blocks with the same scales and codes.
// Every block's header comes first (Q4_KR: d, dmin and the 12 scale bytes as
// in Q4_K, 16 bytes; Q5_KR: the same and then the 32 bytes of fifth bits, 48;
// Q6_KR: d and the 16 int8 scales, 18 bytes), then from byte nb * header each
// block's codes: 128 bytes (Q4_KR, Q5_KR) or 192 (Q6_KR), whole lines when
// that byte starts one (FormatTraits::aligned_at). A row takes as many bytes
// as in the file.
// Inside a block the 256 codes form four vectors of 64: byte k (0..3) of
// 32-bit lane l (0..15) of vector v holds element kr_elem(v, l, k), so each
// lane of every vector lies in sub-block l/2 (Q4_K's 32 values) or l (Q6_K's
// 16) and one VPDPBUSD per vector against activations in the same order
// leaves one sub-block's partial sums in each lane, all four vectors in one
// accumulator; lane l's activations are then exactly Q8_K's bsums[l] group.
// Q4_KR: code byte 64 h + 4 l + k holds vector 2h in its low nibble and
// vector 2h + 1 in its high one. Q6_KR: the same for the low four bits of the
// 6-bit codes (code + 32), then 64 bytes of high bits: byte 4 l + k holds
// vector v's two in bits 2v..2v+1. Q5_KR's fifth bits: bit 64 v + 4 l + k of
// the header's 32 bytes (little-endian) belongs to vector v, byte 4 l + k.
constexpr int kr_elem(int v, int l, int k) { return 16 * l + 4 * v + k; }
constexpr int64_t kQ4_KRHeader = 16, kQ5_KRHeader = 48, kQ6_KRHeader = 18;
constexpr int64_t kQ4_KRCodes = 128, kQ5_KRCodes = 128, kQ6_KRCodes = 192;
static_assert(kQ4_KRHeader + kQ4_KRCodes == sizeof(BlockQ4_K) && kQ5_KRHeader + kQ5_KRCodes == sizeof(BlockQ5_K) &&
              kQ6_KRHeader + kQ6_KRCodes == sizeof(BlockQ6_K));

// ---- Ternary formats. A trit t = w + 1 in {0, 1, 2} codes w in {-1, 0, +1}.

// TQ2_0 (llama.cpp): 256 weights, 2-bit codes and an fp16 scale. Element e:
// h = e / 128, r = e % 128, its code is bits 2*(r/32) .. +1 of qs[32*h + r%32].
struct BlockTQ2_0 {
  uint8_t qs[kQK_K / 4];
  uint16_t d;  // fp16
};
static_assert(sizeof(BlockTQ2_0) == 66);

// TQ2_0R (nibble's own, made at load time, never in files): a row of nb
// TQ2_0 blocks with the same scales and codes, the nb fp16 scales first (block
// order), then from byte 2 nb each block's 64 code bytes as in TQ2_0: 66 nb
// bytes per row, as TQ2_0, and every block's codes one whole line when the
// row's byte 2 nb starts one (FormatTraits::aligned_at). Scales first for the
// reason Q8_0R's come first.
inline int64_t tq2_0r_codes_at(int64_t nb, int64_t j) { return 2 * nb + 64 * j; }

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

// ---- FP4 formats. An E2M1 code (4 bits) is sign (bit 3), 2 exponent bits
// (bias 1) and 1 mantissa bit; codes 0..7 are +0, 0.5, 1, 1.5, 2, 3, 4, 6 and
// codes 8..15 the same values negated (0x8 is -0). No Inf, no NaN.
// kE2M1Doubled holds twice each value as int8, so that integer dots work.
inline constexpr float kE2M1Values[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                          -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
inline constexpr int8_t kE2M1Doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// E8M0 scale byte b: 2^(b - 127) for b in 0..254 (0 gives the fp32 denormal
// 2^-127); 0xFF is NaN (ModelFile::require rejects it in a file; a NaN
// block decodes to NaN).
inline float e8m0_to_f32(uint8_t b) {
  if (b == 0xFF) return std::numeric_limits<float>::quiet_NaN();
  if (b == 0) return 0x1p-127f;
  const uint32_t bits = uint32_t(b) << 23;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// E4M3 (OCP FP8) byte: sign bit 7, exponent bits 6..3 (bias 7), mantissa 2..0.
// Normal 2^(e-7) * (1 + m/8); subnormal (e = 0) 2^-9 * m; e = 15, m = 7 is NaN;
// no Inf; largest finite 448 (0x7E).
inline float e4m3_to_f32(uint8_t b) {
  const int e = (b >> 3) & 0xF, m = b & 7;
  float v;
  if (e == 15 && m == 7) v = std::numeric_limits<float>::quiet_NaN();
  else if (e == 0) v = float(m) * 0x1p-9f;
  else v = std::ldexp(1.0f + float(m) * 0.125f, e - 7);
  return (b & 0x80) ? -v : v;
}

// E(a) = floor(log2 a) for finite a > 0, read from the fp32 exponent field
// (exact; log2f can round a value just below a power of two up). Subnormals
// included: E(2^-149) = -149.
inline int float_exponent(float a) {
  uint32_t u;
  std::memcpy(&u, &a, 4);
  const int e = int((u >> 23) & 0xFF);
  if (e != 0) return e - 127;
  const uint32_t m = u & 0x7FFFFF;  // subnormal: a = m * 2^-149
  return m == 0 ? -150 : -150 + (32 - __builtin_clz(m));
}

// fp32 -> E4M3, round to nearest even, saturating finite values (and Inf) to
// +-448, NaN -> 0x7F (the `cvt.rn.satfinite.e4m3` rule).
inline uint8_t f32_to_e4m3(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint8_t sign = uint8_t((u >> 24) & 0x80);
  const uint32_t au = u & 0x7FFFFFFF;
  if (au > 0x7F800000u) return uint8_t(sign | 0x7F);
  if (au >= 0x43E00000u) return uint8_t(sign | 0x7E);  // >= 448 (and Inf): saturate
  uint32_t code;
  if (au < 0x3C800000u) {  // below 2^-6: subnormal steps of 2^-9; 8 steps reach 2^-6 (code 8)
    float a;
    std::memcpy(&a, &au, 4);
    code = uint32_t(std::nearbyint(a * 512.0f));  // exact scaling, RNE in the default mode
  } else {
    const uint32_t e = (au >> 23) - 127 + 7, mant = au & 0x7FFFFF;
    code = (e << 3) | (mant >> 20);
    const uint32_t rem = mant & 0xFFFFF;
    if (rem > 0x80000u || (rem == 0x80000u && (code & 1))) ++code;  // a carry moves into the exponent
    if (code > 0x7E) code = 0x7E;  // 448 < |x| < 464 rounds to 448 anyway; 464.. would be NaN's code
  }
  return uint8_t(sign | code);
}

// E2M1 code of v (already divided by the block scale): round to nearest even
// with saturation to +-6: |v| > 0.25 -> 0.5, >= 0.75 -> 1, > 1.25 -> 1.5,
// >= 1.75 -> 2, > 2.5 -> 3, >= 3.5 -> 4, > 5 -> 6. A value that rounds to zero
// gets +0 (code 0x0, never 0x8), as GGML writes it. NaN gives 0x0.
inline uint8_t e2m1_code(double v) {
  const double a = std::fabs(v);
  uint8_t c = a > 5.0 ? 7 : a >= 3.5 ? 6 : a > 2.5 ? 5 : a >= 1.75 ? 4 : a > 1.25 ? 3 : a >= 0.75 ? 2 : a > 0.25 ? 1 : 0;
  return (c != 0 && v < 0) ? uint8_t(c | 8) : c;
}

// MXFP4 (OCP MX, llama.cpp's block_mxfp4, GGUF type 39): 32 weights, the E8M0
// scale byte first, then 16 bytes of E2M1 codes. Element j (0..15) is the low
// nibble of qs[j], element j+16 the high nibble. x = E2M1(code) * 2^(e - 127).
// MXFP4_FPQ has the same bytes; its weights are E2M1(code) * 2^(e - 127) / 3.
constexpr int kQKMXFP4 = 32;
struct BlockMXFP4 {
  uint8_t e;  // E8M0
  uint8_t qs[kQKMXFP4 / 2];
};
static_assert(sizeof(BlockMXFP4) == 17);

// NVFP4 (nibble): 16 weights, an E4M3 block scale first, then 8 bytes of E2M1
// codes; element j (0..7) is the low nibble of qs[j], j+8 the high nibble (the
// order GGML's NVFP4 uses inside each 16). x = E2M1(code) * E4M3(d) * s_T, with
// s_T the tensor's fp32 scale (TensorView::scale; ModelOpt's weight_scale_2).
// The rows hold E2M1(code) * E4M3(d) only. A quantizer picks
// s_T = amax(tensor) / kNVFP4TensorDivisor so that block scales fit E4M3.
constexpr int kQKNVFP4 = 16;
constexpr float kNVFP4TensorDivisor = 6.0f * 448.0f;  // E2M1 max * E4M3 max = 2688
struct BlockNVFP4 {
  uint8_t d;  // E4M3, sign bit 0 when nibble writes it
  uint8_t qs[kQKNVFP4 / 2];
};
static_assert(sizeof(BlockNVFP4) == 9);

// INT4-gG (nibble): symmetric 4-bit integers, one fp16 scale per group of G
// (32, 64 or 128) weights. x = d * (code - 8), code in 0..15 (q = code - 8 in
// -8..7). The codes of each run of 32 elements (32c .. 32c+31) sit in
// qs[16c .. 16c+15] as in Q4_0: element 32c+j is the low nibble of qs[16c+j],
// element 32c+j+16 the high nibble. INT4-g32 blocks are byte-identical to Q4_0
// blocks (only the encoders differ).
template <int G>
struct BlockInt4 {
  uint16_t d;  // fp16
  uint8_t qs[G / 2];
};
static_assert(sizeof(BlockInt4<32>) == 18);
static_assert(sizeof(BlockInt4<64>) == 34);
static_assert(sizeof(BlockInt4<128>) == 66);

// Code of element k (0 .. G-1) of an INT4-gG block, 0..15.
template <int G>
inline int int4_code(const BlockInt4<G>& b, int k) {
  const uint8_t byte = b.qs[16 * (k / 32) + k % 16];
  return (k % 32) < 16 ? (byte & 0xF) : (byte >> 4);
}

// W4R (nibble's own, made at load time, never in files): MXFP4, MXFP4_FPQ,
// NVFP4, INT4-g32 and INT4-g64 rows rearranged so that one 64-byte load and
// three shifts give a kernel 128 codes, one per 16-bit word in bits 0..3 of
// four vectors (the file layouts need a byte permute per 32 or 64 codes).
// The same codes and scales as the file row, in as many bytes, placed so:
//  * first the nb block scales in block order, s bytes each (s = the
//    block's scale field: 1 for MXFP4 / NVFP4, 2 for INT4's fp16);
//  * then, from byte s nb, the codes of elements 0 .. 128 c - 1 (c = n / 128
//    chunks) in 64-byte chunks: nibble V (bits 4V .. 4V + 3) of 16-bit
//    word w (little-endian, bytes 2w and 2w + 1) of chunk j holds the code
//    of element 128 j + w4r_elem(order, V, w);
//  * then the codes of the remaining n % 128 elements, block after block, as
//    in the file's blocks (their qs fields without the scales).
// w4r_elem is the order in which the file-layout kernels already hold codes
// in their vectors, so that kernels over both layouts make the same vectors
// and the same sums. Word w = 8 L + m is word m of 128-bit lane L; in a
// run of 32 elements (MXFP4, INT4) element j < 16 is the low nibble of byte
// j, j + 16 its high nibble; in an NVFP4 block byte j < 8 holds j and j + 8.
//  * RunPairs (all five): nibble V of word w holds element 64 (V / 2) +
//    16 L + 2 m + V % 2, so each byte's two nibbles are neighbours of one
//    block (what the integer decode kernels need), and nibbles 2u, 2u + 1 of
//    lanes 0, 1 hold run 2u and of lanes 2, 3 run 2u + 1 (NVFP4: lane L
//    holds block 4u + L).
//  * Runs (only an element order of the tile unit's INT4-g32 vectors,
//    fp4_amx.cpp): nibble V holds block V, lane L nibble L of its words.
// Rows are best placed with their codes on a 64-byte boundary.
constexpr int64_t kW4RChunk = 128;
enum class W4ROrder { Runs, RunPairs };
constexpr int w4r_elem(W4ROrder order, int V, int w) {
  const int L = w >> 3, m = w & 7;
  switch (order) {
    case W4ROrder::Runs: return 32 * V + 16 * (L & 1) + 2 * m + (L >> 1);
    default: return 64 * (V >> 1) + 16 * L + 2 * m + (V & 1);
  }
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
