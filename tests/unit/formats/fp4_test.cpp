// FP4 rows (MXFP4, MXFP4_FPQ, NVFP4) against design/fp4-and-gptq.md §1-§3, §5:
// E2M1 code points and RNE thresholds, E8M0 / E4M3 scale edge cases, the
// worked examples, llama.cpp's nibble order, and the reference dots.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/blocks.h"
#include "formats/format.h"

namespace nb::formats {
namespace {

std::vector<unsigned char> encode(FormatId f, const std::vector<float>& x) {
  std::vector<unsigned char> out(row_bytes(f, int64_t(x.size())));
  traits(f).from_float(x.data(), out.data(), int64_t(x.size()));
  return out;
}

std::vector<float> decode(FormatId f, const void* src, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  traits(f).to_float(src, out.data(), n);
  return out;
}

int mx_code(const BlockMXFP4& b, int j) { return j < 16 ? (b.qs[j] & 0xF) : (b.qs[j - 16] >> 4); }
int nv_code(const BlockNVFP4& b, int j) { return j < 8 ? (b.qs[j] & 0xF) : (b.qs[j - 8] >> 4); }

// ---------------------------------------------------------------- E2M1

TEST(Fp4E2M1, EveryCodePointRoundTrips) {
  const float want[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(kE2M1Values[c], want[c]) << c;
    EXPECT_EQ(std::signbit(kE2M1Values[c]), c >= 8) << c;  // 0x8 is -0
    EXPECT_EQ(float(kE2M1Doubled[c]), 2.0f * want[c]) << c;
    EXPECT_EQ(e2m1_code(kE2M1Values[c]), c == 8 ? 0 : c) << c;  // -0 is written as +0
  }
  // Through an MXFP4 block with scale 1: amax 6 gives E = 2, byte 127.
  std::vector<float> x(32, 0.0f);
  for (int c = 0; c < 16; ++c) x[size_t(c)] = x[size_t(c + 16)] = kE2M1Values[c];
  auto q = encode(FormatId::MXFP4, x);
  const auto* b = reinterpret_cast<const BlockMXFP4*>(q.data());
  EXPECT_EQ(b->e, 0x7F);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(mx_code(*b, j), j % 16 == 8 ? 0 : j % 16) << j;
  auto y = decode(FormatId::MXFP4, q.data(), 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[size_t(j)], x[size_t(j)]) << j;
}

struct Threshold {
  float t;
  int below, at, above;  // codes of the value just below, at, and just above t
};
// §1.2: >0.25, >=0.75, >1.25, >=1.75, >2.5, >=3.5, >5.
const Threshold kThresholds[] = {
    {0.25f, 0, 0, 1}, {0.75f, 1, 2, 2}, {1.25f, 2, 2, 3}, {1.75f, 3, 4, 4},
    {2.5f, 4, 4, 5},  {3.5f, 5, 6, 6},  {5.0f, 6, 6, 7},
};

TEST(Fp4E2M1, RoundingThresholdsAndTiesBothSigns) {
  for (const Threshold& th : kThresholds) {
    const double t = th.t;
    for (double sign : {1.0, -1.0}) {
      SCOPED_TRACE(std::to_string(sign * t));
      auto signed_code = [&](int c) { return (sign < 0 && c != 0) ? c | 8 : c; };
      EXPECT_EQ(e2m1_code(sign * std::nextafter(t, 0.0)), signed_code(th.below));
      EXPECT_EQ(e2m1_code(sign * t), signed_code(th.at));
      EXPECT_EQ(e2m1_code(sign * std::nextafter(t, 10.0)), signed_code(th.above));
    }
  }
  // The same through the MXFP4 encoder (fp32 inputs, block scale 1).
  std::vector<float> x(32, 0.0f);
  x[31] = 6.0f;
  int j = 0;
  for (const Threshold& th : kThresholds) {
    for (float sign : {1.0f, -1.0f}) {
      x[size_t(j++)] = sign * std::nextafter(th.t, 0.0f);
      x[size_t(j++)] = sign * th.t;
      x[size_t(j++)] = sign * std::nextafter(th.t, 10.0f);
    }
    if (j >= 30) break;
  }
  // j is 30 after five thresholds; the last two were checked directly above.
  auto q = encode(FormatId::MXFP4, x);
  const auto* b = reinterpret_cast<const BlockMXFP4*>(q.data());
  ASSERT_EQ(b->e, 0x7F);
  for (int k = 0; k < 30; ++k) {
    const Threshold& th = kThresholds[k / 6];
    const int side = k % 3, neg = (k / 3) % 2;
    int c = side == 0 ? th.below : side == 1 ? th.at : th.above;
    if (neg && c != 0) c |= 8;
    EXPECT_EQ(mx_code(*b, k), c) << "element " << k << " value " << x[size_t(k)];
  }
}

TEST(Fp4E2M1, SaturationAndSignOfZero) {
  EXPECT_EQ(e2m1_code(6.0), 0x7);
  EXPECT_EQ(e2m1_code(7.0), 0x7);
  EXPECT_EQ(e2m1_code(100.0), 0x7);
  EXPECT_EQ(e2m1_code(-1e30), 0xF);
  EXPECT_EQ(e2m1_code(-0.1), 0x0);  // canonical +0 (an IEEE encoder would give 0x8)
  EXPECT_EQ(e2m1_code(-0.0), 0x0);
  // In a block: amax = 7.9999995 has E = 2 (log2f may say 3), so the scale is
  // 1 and everything above 6 (and above 5) saturates to 6.
  std::vector<float> x(32, 0.0f);
  x[0] = 7.9999995f;
  x[1] = -6.5f;
  x[2] = 5.0001f;
  auto q = encode(FormatId::MXFP4, x);
  const auto* b = reinterpret_cast<const BlockMXFP4*>(q.data());
  EXPECT_EQ(b->e, 0x7F);
  EXPECT_EQ(mx_code(*b, 0), 0x7);
  EXPECT_EQ(mx_code(*b, 1), 0xF);
  EXPECT_EQ(mx_code(*b, 2), 0x7);
  // Decoders accept 0x8 and give -0.
  BlockMXFP4 z{};
  z.e = 0x7F;
  z.qs[0] = 0x08;
  auto y = decode(FormatId::MXFP4, &z, 32);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_TRUE(std::signbit(y[0]));
}

// ---------------------------------------------------------------- MXFP4 scales

TEST(Fp4Mxfp4, AllZeroBlocks) {
  for (FormatId f : {FormatId::MXFP4, FormatId::MXFP4_FPQ}) {
    auto q = encode(f, std::vector<float>(64, 0.0f));
    for (int i = 0; i < 2; ++i) {
      const auto* b = reinterpret_cast<const BlockMXFP4*>(q.data()) + i;
      EXPECT_EQ(b->e, 0x00);
      for (int j = 0; j < 16; ++j) EXPECT_EQ(b->qs[j], 0);
    }
    for (float v : decode(f, q.data(), 64)) EXPECT_EQ(v, 0.0f);
  }
  auto q = encode(FormatId::NVFP4, std::vector<float>(32, 0.0f));
  for (unsigned char c : q) EXPECT_EQ(c, 0);
}

// Scale byte of a one-element block under each rule.
uint8_t scale_byte(FormatId f, float amax) {
  std::vector<float> x(32, 0.0f);
  x[7] = -amax;
  return reinterpret_cast<const BlockMXFP4*>(encode(f, x).data())->e;
}

TEST(Fp4Mxfp4, E8M0ScaleEdgeCases) {
  struct Case {
    float amax;
    int ocp, fpq;  // expected bytes: E + 125 and E + 127, clamped to [0, 254]
  };
  const Case cases[] = {
      {1.0f, 125, 127},
      {7.9999995f, 127, 129},          // just below 8: E = 2, not 3
      {8.0f, 128, 130},
      {std::nextafter(1.0f, 0.0f), 124, 126},  // just below a power of two
      {0x1p-125f, 0, 2},               // E - 2 = -127: byte 0 exactly
      {0x1p-126f, 0, 1},               // smallest normal: OCP clamps -128 to 0
      {0x1p-130f, 0, 0},               // subnormal amax
      {0x1p-149f, 0, 0},               // smallest subnormal
      {0x1.8p-140f, 0, 0},
      {FLT_MAX, 252, 254},             // E = 127: never 0xFF
      {0x1p127f, 252, 254},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(scale_byte(FormatId::MXFP4, c.amax), c.ocp) << c.amax;
    EXPECT_EQ(scale_byte(FormatId::MXFP4_FPQ, c.amax), c.fpq) << c.amax;
  }
  EXPECT_EQ(float_exponent(7.9999995f), 2);
  EXPECT_EQ(float_exponent(0x1p-149f), -149);
  EXPECT_EQ(float_exponent(0x1.fffffcp-127f), -127);
  EXPECT_EQ(e8m0_to_f32(0), 0x1p-127f);
  EXPECT_EQ(e8m0_to_f32(127), 1.0f);
  EXPECT_EQ(e8m0_to_f32(254), 0x1p127f);
  EXPECT_TRUE(std::isnan(e8m0_to_f32(0xFF)));

  // With the clamped scale 2^-127 the smallest normal is code 4 (2.0): exact.
  std::vector<float> x(32, 0.0f);
  x[0] = 0x1p-126f;
  x[1] = 0x1p-128f;  // subnormal input: 0.5 * 2^-127, code 1
  x[2] = 0x1p-130f;  // 1/16 of the scale: code 0
  auto q = encode(FormatId::MXFP4, x);
  const auto* b = reinterpret_cast<const BlockMXFP4*>(q.data());
  EXPECT_EQ(mx_code(*b, 0), 0x4);
  EXPECT_EQ(mx_code(*b, 1), 0x1);
  EXPECT_EQ(mx_code(*b, 2), 0x0);
  auto y = decode(FormatId::MXFP4, q.data(), 32);
  EXPECT_EQ(y[0], 0x1p-126f);
  EXPECT_EQ(y[1], 0x1p-128f);

  // Huge amax: the block max clips to 6 * 2^125 but stays finite.
  x.assign(32, 0.0f);
  x[3] = FLT_MAX;
  y = decode(FormatId::MXFP4, encode(FormatId::MXFP4, x).data(), 32);
  EXPECT_EQ(y[3], 6.0f * 0x1p125f);

  // A NaN scale byte decodes the whole block to NaN.
  BlockMXFP4 nan_block{};
  nan_block.e = 0xFF;
  for (float v : decode(FormatId::MXFP4, &nan_block, 32)) EXPECT_TRUE(std::isnan(v));
}

// §2.7 and §2.9: x0 = 7, x1 = -0.3, x16 = 1.3.
TEST(Fp4Mxfp4, WorkedExampleAndLlamaCppBytes) {
  std::vector<float> x(32, 0.0f);
  x[0] = 7.0f;
  x[1] = -0.3f;
  x[16] = 1.3f;
  auto q = encode(FormatId::MXFP4, x);
  ASSERT_EQ(q.size(), 17u);
  const unsigned char want[17] = {0x7F, 0x37, 0x09};  // e, then qs[0] = c0 | c16 << 4, qs[1] = c1 | c17 << 4
  EXPECT_EQ(std::memcmp(q.data(), want, 17), 0);
  auto y = decode(FormatId::MXFP4, q.data(), 32);
  EXPECT_EQ(y[0], 6.0f);
  EXPECT_EQ(y[1], -0.5f);
  EXPECT_EQ(y[16], 1.5f);
  // GGML's decode: doubled table times 2^(e - 128).
  const auto* b = reinterpret_cast<const BlockMXFP4*>(q.data());
  for (int j = 0; j < 32; ++j)
    EXPECT_EQ(float(kE2M1Doubled[mx_code(*b, j)]) * std::ldexp(1.0f, int(b->e) - 128), y[size_t(j)]) << j;

  // R-FPQ: byte 0x81; 3x/4 = 5.25 -> 6, -0.225 -> 0 (+0 here), 0.975 -> 1.
  auto f = encode(FormatId::MXFP4_FPQ, x);
  const auto* bf = reinterpret_cast<const BlockMXFP4*>(f.data());
  EXPECT_EQ(bf->e, 0x81);
  EXPECT_EQ(bf->qs[0], 0x27);
  EXPECT_EQ(bf->qs[1], 0x00);
  auto yf = decode(FormatId::MXFP4_FPQ, f.data(), 32);
  EXPECT_EQ(yf[0], 8.0f);
  EXPECT_EQ(yf[1], 0.0f);
  EXPECT_EQ(yf[16], 4.0f / 3.0f);
}

TEST(Fp4Mxfp4, LlamaCppNibbleOrderOnAHandBuiltBlock) {
  BlockMXFP4 b{};
  b.e = 0x80;       // scale 2
  b.qs[0] = 0x3A;   // element 0: code 0xA (-1), element 16: code 0x3 (1.5)
  b.qs[15] = 0x71;  // element 15: code 0x1 (0.5), element 31: code 0x7 (6)
  b.qs[7] = 0xC0;   // element 7: 0, element 23: code 0xC (-2)
  auto y = decode(FormatId::MXFP4, &b, 32);
  EXPECT_EQ(y[0], -2.0f);
  EXPECT_EQ(y[16], 3.0f);
  EXPECT_EQ(y[15], 1.0f);
  EXPECT_EQ(y[31], 12.0f);
  EXPECT_EQ(y[7], 0.0f);
  EXPECT_EQ(y[23], -4.0f);
  EXPECT_EQ(y[1], 0.0f);
  // Encoding the decoded values gives the same bytes back.
  auto q = encode(FormatId::MXFP4, y);
  EXPECT_EQ(std::memcmp(q.data(), &b, sizeof b), 0);
}

// §2.6: R-FPQ's effective scale is 4/3 of R-OCP's in every block; its stored
// byte is OCP's + 2 and its decode divides by 3.
TEST(Fp4Mxfp4, OcpAndFpqDifferByFourThirds) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(32 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = dist(rng) * std::ldexp(1.0f, int(i / 32) % 40 - 20);
  auto qo = encode(FormatId::MXFP4, x), qf = encode(FormatId::MXFP4_FPQ, x);
  for (size_t i = 0; i < x.size() / 32; ++i) {
    const auto* bo = reinterpret_cast<const BlockMXFP4*>(qo.data()) + i;
    const auto* bf = reinterpret_cast<const BlockMXFP4*>(qf.data()) + i;
    ASSERT_EQ(int(bf->e), int(bo->e) + 2) << i;
    const double so = double(e8m0_to_f32(bo->e)), sf = double(e8m0_to_f32(bf->e)) / 3.0;
    EXPECT_EQ(sf / so, 4.0 / 3.0) << i;
    // Same bytes read both ways: the FPQ reading of bytes with e + 2 is 4/3
    // times the OCP reading of bytes with e.
    BlockMXFP4 shifted = *bf;
    shifted.e = uint8_t(bf->e - 2);
    auto vf = decode(FormatId::MXFP4_FPQ, bf, 32), vo = decode(FormatId::MXFP4, &shifted, 32);
    for (int j = 0; j < 32; ++j) EXPECT_FLOAT_EQ(vf[size_t(j)], vo[size_t(j)] * (4.0f / 3.0f)) << i << " " << j;
  }
}

// Every decoded value is a nearest point of its block's grid (ties either way).
void expect_nearest(FormatId f, const std::vector<float>& x) {
  auto q = encode(f, x);
  auto y = decode(f, q.data(), int64_t(x.size()));
  const int64_t bs = traits(f).block_size;
  for (size_t i = 0; i < x.size(); ++i) {
    const unsigned char* blk = q.data() + (int64_t(i) / bs) * traits(f).block_bytes;
    double s = f == FormatId::NVFP4 ? double(e4m3_to_f32(blk[0])) : double(e8m0_to_f32(blk[0]));
    if (f == FormatId::MXFP4_FPQ) s /= 3.0;
    const double err = std::fabs(double(x[i]) - double(y[i]));
    for (float g : kE2M1Values) {
      ASSERT_LE(err, std::fabs(double(x[i]) - double(g) * s) + 1e-6 * std::fabs(double(x[i])) + 1e-30)
          << traits(f).name << " element " << i << " x=" << x[i] << " y=" << y[i];
    }
  }
}

TEST(Fp4Formats, EncodersPickTheNearestGridPoint) {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(32 * 128);
  for (size_t i = 0; i < x.size(); ++i) x[i] = dist(rng) * std::ldexp(1.0f, int(i / 32) % 12 - 6);
  expect_nearest(FormatId::MXFP4, x);
  expect_nearest(FormatId::MXFP4_FPQ, x);
  expect_nearest(FormatId::NVFP4, x);
}

// ---------------------------------------------------------------- E4M3 / NVFP4

TEST(Fp4E4M3, ConversionEdgeCases) {
  // Every finite code round-trips (both signs).
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) continue;
    EXPECT_EQ(f32_to_e4m3(e4m3_to_f32(uint8_t(c))), c) << c;
  }
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0xFF)));
  EXPECT_EQ(e4m3_to_f32(0x7E), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0x76), 224.0f);
  EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(e4m3_to_f32(0x08), 0x1p-6f);
  EXPECT_EQ(e4m3_to_f32(0x01), 0x1p-9f);
  // Saturation at 448 (no Inf), NaN stays NaN.
  EXPECT_EQ(f32_to_e4m3(448.0f), 0x7E);
  EXPECT_EQ(f32_to_e4m3(464.0f), 0x7E);
  EXPECT_EQ(f32_to_e4m3(1e9f), 0x7E);
  EXPECT_EQ(f32_to_e4m3(-1e9f), 0xFE);
  EXPECT_EQ(f32_to_e4m3(INFINITY), 0x7E);
  EXPECT_EQ(f32_to_e4m3(NAN), 0x7F);
  // Ties to even in the normal range.
  EXPECT_EQ(f32_to_e4m3(1.0625f), 0x38);                         // 1 | 1.125 -> 1
  EXPECT_EQ(f32_to_e4m3(1.1875f), 0x3A);                         // 1.125 | 1.25 -> 1.25
  EXPECT_EQ(f32_to_e4m3(std::nextafter(1.0625f, 2.0f)), 0x39);   // just above the tie
  EXPECT_EQ(f32_to_e4m3(1.9375f), 0x40);                         // 1.875 | 2 -> 2 (carry into the exponent)
  EXPECT_EQ(f32_to_e4m3(-1.0625f), 0xB8);
  EXPECT_EQ(f32_to_e4m3(416.0f), 0x7D);                          // 1.625 * 2^8: exact
  EXPECT_EQ(f32_to_e4m3(400.0f), 0x7C);                          // 384 | 416 -> 384 (even)
  EXPECT_EQ(f32_to_e4m3(432.0f), 0x7E);                          // 416 | 448 -> 448 (even)
  // Subnormals: steps of 2^-9; ties to even; 7.5 steps round up to the min normal.
  EXPECT_EQ(f32_to_e4m3(0x1p-10f), 0x00);                        // 0 | 2^-9 -> 0
  EXPECT_EQ(f32_to_e4m3(std::nextafter(0x1p-10f, 1.0f)), 0x01);
  EXPECT_EQ(f32_to_e4m3(3 * 0x1p-10f), 0x02);                    // 1 | 2 steps -> 2
  EXPECT_EQ(f32_to_e4m3(15 * 0x1p-10f), 0x08);                   // 7 | 8 steps -> 8 = 2^-6
  EXPECT_EQ(f32_to_e4m3(0x1p-149f), 0x00);
  EXPECT_EQ(f32_to_e4m3(-0x1p-9f), 0x81);
}

// §3.3: amax_T = 2 -> g = 1344; block 1.0, -0.2 -> byte 0x76, codes 0x7, 0xA.
TEST(Fp4Nvfp4, WorkedExampleAndBothTensorScaleConventions) {
  const float amax_t = 2.0f, g = kNVFP4TensorDivisor / amax_t, s_t = amax_t / kNVFP4TensorDivisor;
  EXPECT_EQ(g, 1344.0f);
  std::vector<float> w(16, 0.0f);
  w[0] = 1.0f;
  w[1] = -0.2f;
  std::vector<float> u(16);
  for (size_t i = 0; i < 16; ++i) u[i] = w[i] * g;  // the row holds weights / s_T
  auto q = encode(FormatId::NVFP4, u);
  ASSERT_EQ(q.size(), 9u);
  const auto* b = reinterpret_cast<const BlockNVFP4*>(q.data());
  EXPECT_EQ(b->d, 0x76);
  EXPECT_EQ(nv_code(*b, 0), 0x7);
  EXPECT_EQ(nv_code(*b, 1), 0xA);
  EXPECT_EQ(b->qs[0], 0x07);
  EXPECT_EQ(b->qs[1], 0x0A);
  auto y = decode(FormatId::NVFP4, q.data(), 16);
  EXPECT_EQ(y[0], 1344.0f);
  EXPECT_EQ(y[1], -224.0f);
  // Decode multiplier (ModelOpt's weight_scale_2) and encode multiplier (g).
  EXPECT_FLOAT_EQ(y[0] * s_t, 1.0f);
  EXPECT_FLOAT_EQ(y[1] * s_t, -1.0f / 6.0f);
  EXPECT_FLOAT_EQ(y[0] / g, y[0] * s_t);
  EXPECT_FLOAT_EQ(y[1] / g, y[1] * s_t);
  EXPECT_TRUE(traits(FormatId::NVFP4).tensor_scale);
  EXPECT_EQ(traits(FormatId::NVFP4).dot_i32, nullptr);
}

TEST(Fp4Nvfp4, NibbleOrderScaleSaturationAndTinyBlocks) {
  BlockNVFP4 b{};
  b.d = 0x38;       // 1.0
  b.qs[0] = 0x5F;   // element 0: -6, element 8: 3
  b.qs[7] = 0x90;   // element 7: 0, element 15: -0.5
  auto y = decode(FormatId::NVFP4, &b, 16);
  EXPECT_EQ(y[0], -6.0f);
  EXPECT_EQ(y[8], 3.0f);
  EXPECT_EQ(y[15], -0.5f);
  // amax / 6 above 448 saturates the scale; the block max then clips to 6 * 448.
  std::vector<float> x(16, 0.0f);
  x[2] = 6000.0f;
  x[3] = 448.0f;
  auto q = encode(FormatId::NVFP4, x);
  EXPECT_EQ(q[0], 0x7E);
  y = decode(FormatId::NVFP4, q.data(), 16);
  EXPECT_EQ(y[2], 2688.0f);
  EXPECT_EQ(y[3], 448.0f);
  // A block whose amax / 6 is below half the smallest subnormal: scale 0, codes 0.
  x.assign(16, 0.0f);
  x[5] = 0x1p-12f;
  q = encode(FormatId::NVFP4, x);
  for (unsigned char c : q) EXPECT_EQ(c, 0);
  // Subnormal block scale: amax = 6 * 2^-9 -> byte 0x01, code 7.
  x[5] = 6 * 0x1p-9f;
  x[6] = -0x1p-9f;
  q = encode(FormatId::NVFP4, x);
  EXPECT_EQ(q[0], 0x01);
  y = decode(FormatId::NVFP4, q.data(), 16);
  EXPECT_EQ(y[5], 6 * 0x1p-9f);
  EXPECT_EQ(y[6], -0x1p-9f);
}

TEST(Fp4Formats, NonFiniteInputPoisonsOnlyItsBlock) {
  std::vector<float> x(64, 1.0f);
  x[40] = NAN;
  for (FormatId f : {FormatId::MXFP4, FormatId::MXFP4_FPQ, FormatId::NVFP4}) {
    auto y = decode(f, encode(f, x).data(), 64);
    EXPECT_FALSE(std::isnan(y[0])) << traits(f).name;
    EXPECT_TRUE(std::isnan(y[40])) << traits(f).name;
  }
}

// ---------------------------------------------------------------- dots

// The reference dots sum in double (exact products) and round once to float;
// the decoded values are exact except MXFP4_FPQ's (x / 3 rounded once each).
// Activations are bf16 rows (the dot type), each a value `want` uses as is.
// Tolerance: 2^-23 * sum |w_i a_i| + 2^-24 * |dot|.
TEST(Fp4Dot, MatchesDequantizedDot) {
  for (FormatId f : {FormatId::MXFP4, FormatId::MXFP4_FPQ, FormatId::NVFP4}) {
    const FormatTraits& t = traits(f);
    ASSERT_EQ(t.dot_type, FormatId::BF16);
    for (int64_t n : {int64_t(32), int64_t(256), int64_t(4096)}) {
      SCOPED_TRACE(std::string(t.name) + " n=" + std::to_string(n));
      std::mt19937 rng(uint32_t(n) + uint32_t(f));
      std::normal_distribution<float> dist(0.0f, 1.0f);
      std::vector<float> wf(static_cast<size_t>(n)), a(static_cast<size_t>(n));
      for (auto& v : wf) v = dist(rng) * 0.05f;
      for (auto& v : a) v = bf16_to_f32(f32_to_bf16(dist(rng) * 3.0f));
      std::vector<uint8_t> ab(2 * a.size());
      traits(FormatId::BF16).from_float(a.data(), ab.data(), n);
      auto w = encode(f, wf);
      auto wd = decode(f, w.data(), n);
      double want = 0.0, mag = 0.0;
      for (size_t i = 0; i < size_t(n); ++i) {
        want += double(wd[i]) * double(a[i]);
        mag += std::fabs(double(wd[i]) * double(a[i]));
      }
      const float got = t.dot(w.data(), ab.data(), n);
      EXPECT_NEAR(got, want, 0x1p-23 * mag + 0x1p-24 * std::fabs(want));
      if (t.tensor_scale) {  // y = dot * TensorView::scale
        const float s_t = 0.37f;
        EXPECT_NEAR(got * s_t, want * s_t, (0x1p-23 * mag + 0x1p-23 * std::fabs(want)) * s_t);
      }
    }
  }
}

}  // namespace
}  // namespace nb::formats
