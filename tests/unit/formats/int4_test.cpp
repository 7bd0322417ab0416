// INT4-gG rows (variant A of design/fp4-and-gptq.md §4.1): s = amax / 7.5,
// q = clamp(RNE(x / s), -8, 7), fp16 scale, Q4_0-style nibbles per 32.
#include <gtest/gtest.h>

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

const FormatId kInt4[] = {FormatId::INT4_G32, FormatId::INT4_G64, FormatId::INT4_G128};

// q (-8..7) of element k of the row's first block, for any group size.
int q_of(FormatId f, const unsigned char* blk, int k) {
  switch (f) {
    case FormatId::INT4_G32: return int4_code(*reinterpret_cast<const BlockInt4<32>*>(blk), k) - 8;
    case FormatId::INT4_G64: return int4_code(*reinterpret_cast<const BlockInt4<64>*>(blk), k) - 8;
    default: return int4_code(*reinterpret_cast<const BlockInt4<128>*>(blk), k) - 8;
  }
}

uint16_t d_of(const unsigned char* blk) {
  uint16_t d;
  std::memcpy(&d, blk, 2);
  return d;
}

TEST(Int4Format, GridTiesAndClamp) {
  for (FormatId f : kInt4) {
    const int G = int(traits(f).block_size);
    SCOPED_TRACE(traits(f).name);
    // amax 7.5 gives s = 1 exactly: the codes are RNE(x) clamped to -8..7.
    std::vector<float> x(size_t(G), 0.0f);
    const std::pair<float, int> cases[] = {
        {7.5f, 7},  {-7.5f, -8}, {-7.0f, -7}, {6.0f, 6},   {2.5f, 2},   {3.5f, 4},   {-2.5f, -2},
        {-3.5f, -4}, {0.5f, 0},  {-0.5f, 0},  {1.5f, 2},   {-1.5f, -2}, {6.5f, 6},   {-6.5f, -6},
        {std::nextafter(2.5f, 3.0f), 3}, {std::nextafter(-0.5f, -1.0f), -1}, {0.49f, 0}, {5.0f, 5},
    };
    for (size_t j = 0; j < std::size(cases); ++j) x[j] = cases[j].first;
    auto q = encode(f, x);
    ASSERT_EQ(q.size(), size_t(2 + G / 2));
    EXPECT_EQ(d_of(q.data()), 0x3C00);
    for (size_t j = 0; j < std::size(cases); ++j) EXPECT_EQ(q_of(f, q.data(), int(j)), cases[j].second) << x[j];
    auto y = decode(f, q.data(), G);
    for (size_t j = 0; j < std::size(cases); ++j) EXPECT_EQ(y[j], float(cases[j].second));
    // Every grid point: -7..7 from themselves, -8 from the tie -7.5 (amax 7.5 keeps s = 1).
    for (int v = -7; v <= 7; ++v) x[size_t(v + 8)] = float(v);
    x[0] = -7.5f;
    for (size_t j = 16; j < size_t(G); ++j) x[j] = 0.0f;
    x[20] = 7.5f;
    q = encode(f, x);
    EXPECT_EQ(d_of(q.data()), 0x3C00);
    for (int v = -8; v <= 7; ++v) EXPECT_EQ(q_of(f, q.data(), v + 8), v);
  }
}

// §4.1 example: {1.5, -1.5, 0.1, 0...}: s = 0.2, codes 7, -8, 0 -> 1.4, -1.6, 0.
TEST(Int4Format, SpecExample) {
  for (FormatId f : kInt4) {
    SCOPED_TRACE(traits(f).name);
    std::vector<float> x(size_t(traits(f).block_size), 0.0f);
    x[0] = 1.5f;
    x[1] = -1.5f;
    x[2] = 0.1f;
    auto q = encode(f, x);
    EXPECT_EQ(d_of(q.data()), f32_to_fp16(0.2f));
    EXPECT_EQ(q_of(f, q.data(), 0), 7);
    EXPECT_EQ(q_of(f, q.data(), 1), -8);
    EXPECT_EQ(q_of(f, q.data(), 2), 0);
    auto y = decode(f, q.data(), int64_t(x.size()));
    const float s = fp16_to_f32(f32_to_fp16(0.2f));
    EXPECT_EQ(y[0], 7 * s);
    EXPECT_EQ(y[1], -8 * s);
    EXPECT_EQ(y[2], 0.0f);
    EXPECT_NEAR(y[0], 1.4f, 1e-3f);
    EXPECT_NEAR(y[1], -1.6f, 1e-3f);
  }
}

TEST(Int4Format, AllZeroAndHugeGroups) {
  for (FormatId f : kInt4) {
    SCOPED_TRACE(traits(f).name);
    const size_t G = size_t(traits(f).block_size);
    auto q = encode(f, std::vector<float>(2 * G, 0.0f));
    for (size_t b = 0; b < 2; ++b) {
      const unsigned char* blk = q.data() + b * traits(f).block_bytes;
      EXPECT_EQ(d_of(blk), 0);
      for (size_t j = 2; j < traits(f).block_bytes; ++j) EXPECT_EQ(blk[j], 0x88);
    }
    for (float v : decode(f, q.data(), int64_t(2 * G))) EXPECT_EQ(v, 0.0f);
    // s = amax / 7.5 beyond fp16's range is clamped to 65504 (not Inf).
    std::vector<float> x(G, 0.0f);
    x[0] = 1e6f;
    x[1] = -1e6f;
    x[2] = 65504.0f;
    q = encode(f, x);
    EXPECT_EQ(d_of(q.data()), 0x7BFF);
    EXPECT_EQ(q_of(f, q.data(), 0), 7);
    EXPECT_EQ(q_of(f, q.data(), 1), -8);
    EXPECT_EQ(q_of(f, q.data(), 2), 1);
    // Non-finite input: NaN scale for its group only.
    x.assign(2 * G, 1.0f);
    x[G + 3] = INFINITY;
    auto y = decode(f, encode(f, x).data(), int64_t(2 * G));
    EXPECT_EQ(y[0], fp16_to_f32(f32_to_fp16(1.0f / 7.5f)) * 7);
    EXPECT_TRUE(std::isnan(y[G]));
  }
}

// Element 32c + j is the low nibble of qs[16c + j], 32c + j + 16 the high one;
// INT4-g32 blocks are Q4_0 blocks.
TEST(Int4Format, NibbleLayoutOnHandBuiltBlocks) {
  BlockInt4<128> b{};
  b.d = f32_to_fp16(0.5f);
  std::memset(b.qs, 0x88, sizeof b.qs);
  b.qs[0] = 0x3F;       // element 0: q 7, element 16: q -5
  b.qs[16 + 5] = 0x08;  // element 37: q 0, element 53: q -8
  b.qs[63] = 0xA1;      // element 111: q -7, element 127: q 2
  auto y = decode(FormatId::INT4_G128, &b, 128);
  EXPECT_EQ(y[0], 3.5f);
  EXPECT_EQ(y[16], -2.5f);
  EXPECT_EQ(y[37], 0.0f);
  EXPECT_EQ(y[53], -4.0f);
  EXPECT_EQ(y[111], -3.5f);
  EXPECT_EQ(y[127], 1.0f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(int4_code(b, 53), 0);
  EXPECT_EQ(int4_code(b, 127), 10);
}

TEST(Int4Format, G32BytesDecodeAsQ4_0) {
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(32 * 16);
  for (auto& v : x) v = dist(rng);
  auto q = encode(FormatId::INT4_G32, x);
  ASSERT_EQ(q.size(), row_bytes(FormatId::Q4_0, int64_t(x.size())));
  EXPECT_EQ(decode(FormatId::INT4_G32, q.data(), int64_t(x.size())), decode(FormatId::Q4_0, q.data(), int64_t(x.size())));
  // g64 / g128 decode like Q4_0 runs of 32 sharing one scale.
  auto q64 = encode(FormatId::INT4_G64, x);
  auto y64 = decode(FormatId::INT4_G64, q64.data(), int64_t(x.size()));
  for (size_t g = 0; g < x.size() / 64; ++g) {
    for (int c = 0; c < 2; ++c) {
      BlockQ4_0 b;
      std::memcpy(&b.d, q64.data() + g * 34, 2);
      std::memcpy(b.qs, q64.data() + g * 34 + 2 + 16 * c, 16);
      auto yq = decode(FormatId::Q4_0, &b, 32);
      for (int j = 0; j < 32; ++j) EXPECT_EQ(yq[size_t(j)], y64[g * 64 + 32 * size_t(c) + size_t(j)]);
    }
  }
}

// Round trip: half a step of the fp32 scale s = amax / 7.5 everywhere (+amax
// sits at 7.5 s and clamps to 7 s), plus the fp16 rounding of s times 8.
TEST(Int4Format, RoundTripErrorWithinHalfStep) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(128 * 8);
  for (auto& v : x) v = dist(rng) * 0.02f;
  for (FormatId f : kInt4) {
    const size_t G = size_t(traits(f).block_size);
    auto y = decode(f, encode(f, x).data(), int64_t(x.size()));
    for (size_t g = 0; g < x.size() / G; ++g) {
      float amax = 0.0f;
      for (size_t j = 0; j < G; ++j) amax = std::fmax(amax, std::fabs(x[g * G + j]));
      const float s = amax / 7.5f, sh = fp16_to_f32(f32_to_fp16(s));
      for (size_t j = 0; j < G; ++j) {
        const size_t i = g * G + j;
        ASSERT_LE(std::fabs(x[i] - y[i]), 0.5f * s + 8.0f * std::fabs(s - sh) + 1e-6f * amax)
            << traits(f).name << " " << i;
      }
    }
  }
}

// Reference dot (bf16 activations, double sums) against the decoded dot.
TEST(Int4Dot, MatchesDequantizedDot) {
  for (FormatId f : kInt4) {
    const FormatTraits& t = traits(f);
    ASSERT_EQ(t.dot_type, FormatId::BF16);
    for (int64_t n : {int64_t(128), int64_t(256), int64_t(4096)}) {
      SCOPED_TRACE(std::string(t.name) + " n=" + std::to_string(n));
      std::mt19937 rng(uint32_t(n) * 3 + uint32_t(f));
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
      EXPECT_NEAR(t.dot(w.data(), ab.data(), n), want, 0x1p-40 * mag + 0x1p-24 * std::fabs(want));
    }
  }
}

}  // namespace
}  // namespace nb::formats
