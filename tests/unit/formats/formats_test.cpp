// The format table: ids and sizes, the reference encoders against hand-computed
// blocks, error bounds of encode -> decode, and every reference dot against a
// double-precision dot of the decoded values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/blocks.h"
#include "formats/format.h"
#include "support/test_support.h"

namespace nb::formats {
namespace {

using test::normal_values;

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

// A random finite fp16 (no inf/nan exponent), for scales of random blocks.
uint16_t random_finite_fp16(std::mt19937& rng, int max_exp = 0x14) {
  const uint16_t sign = uint16_t((rng() & 1) << 15);
  const uint16_t exp = uint16_t(rng() % uint32_t(max_exp + 1));
  return uint16_t(sign | (exp << 10) | (rng() & 0x3ff));
}

// Random bytes for n values of a K-quant weight format, with finite d and dmin.
std::vector<unsigned char> random_kquant_row(FormatId f, int64_t n, std::mt19937& rng) {
  std::vector<unsigned char> row(row_bytes(f, n));
  for (auto& b : row) b = static_cast<unsigned char>(rng());
  const size_t bb = traits(f).block_bytes;
  for (int64_t s = 0; s < n / kQK_K; ++s) {
    unsigned char* blk = row.data() + size_t(s) * bb;
    if (f == FormatId::Q6_K) {
      reinterpret_cast<BlockQ6_K*>(blk)->d = random_finite_fp16(rng);
    } else {
      // Q4_K and Q5_K share the d, dmin prefix.
      auto* b = reinterpret_cast<BlockQ4_K*>(blk);
      b->d = random_finite_fp16(rng);
      b->dmin = random_finite_fp16(rng);
    }
  }
  return row;
}

// ---------------------------------------------------------------- the table

struct ExpectedRow {
  FormatId id;
  const char* name;
  int32_t gguf;
  int64_t block_size;
  size_t block_bytes;
  size_t row_overhead;
  FormatId dot_type;
  bool has_from_float;
  bool has_dot;
};

const ExpectedRow kExpected[] = {
    {FormatId::F32, "f32", 0, 1, 4, 0, FormatId::F32, true, true},
    {FormatId::F16, "f16", 1, 1, 2, 0, FormatId::F32, true, true},
    {FormatId::BF16, "bf16", 30, 1, 2, 0, FormatId::F32, true, true},
    {FormatId::Q8_0, "q8_0", 8, 32, sizeof(BlockQ8_0), 0, FormatId::Q8_0, true, true},
    {FormatId::Q4_0, "q4_0", 2, 32, sizeof(BlockQ4_0), 0, FormatId::Q8_0, true, true},
    {FormatId::Q4_K, "q4_k", 12, 256, sizeof(BlockQ4_K), 0, FormatId::Q8_K, true, true},
    {FormatId::Q5_K, "q5_k", 13, 256, sizeof(BlockQ5_K), 0, FormatId::Q8_K, true, true},
    {FormatId::Q6_K, "q6_k", 14, 256, sizeof(BlockQ6_K), 0, FormatId::Q8_K, true, true},
    {FormatId::Q8_K, "q8_k", 15, 256, sizeof(BlockQ8_K), 0, FormatId::Q8_K, true, false},
    {FormatId::I8_ROW, "i8_row", -1, 1, 1, 4, FormatId::I8_ROW, true, true},
    {FormatId::TQ1_0, "tq1_0", 34, 256, sizeof(BlockTQ1_0), 0, FormatId::Q8_K, true, true},
    {FormatId::TQ2_0, "tq2_0", 35, 256, sizeof(BlockTQ2_0), 0, FormatId::Q8_K, true, true},
    {FormatId::T2, "t2", kPrivateGgufTypeBase + 0, 128, sizeof(BlockT2), 0, FormatId::I8_ROW, true, true},
    {FormatId::T1_6, "t1_6", kPrivateGgufTypeBase + 1, 160, sizeof(BlockT1_6), 0, FormatId::I8_ROW, true, true},
    {FormatId::MXFP4, "mxfp4", 39, 32, sizeof(BlockMXFP4), 0, FormatId::BF16, true, true},
    {FormatId::MXFP4_FPQ, "mxfp4_fpq", kPrivateGgufTypeBase + 2, 32, sizeof(BlockMXFP4), 0, FormatId::BF16, true, true},
    {FormatId::NVFP4, "nvfp4", kPrivateGgufTypeBase + 3, 16, sizeof(BlockNVFP4), 0, FormatId::BF16, true, true},
    {FormatId::INT4_G32, "int4_g32", kPrivateGgufTypeBase + 4, 32, sizeof(BlockInt4<32>), 0, FormatId::BF16, true, true},
    {FormatId::INT4_G64, "int4_g64", kPrivateGgufTypeBase + 5, 64, sizeof(BlockInt4<64>), 0, FormatId::BF16, true, true},
    {FormatId::INT4_G128, "int4_g128", kPrivateGgufTypeBase + 6, 128, sizeof(BlockInt4<128>), 0, FormatId::BF16, true, true},
    {FormatId::Q8_0R, "q8_0r", -1, 32, sizeof(BlockQ8_0), 0, FormatId::Q8_0, true, true},
    {FormatId::TQ2_0R, "tq2_0r", -1, 256, sizeof(BlockTQ2_0), 0, FormatId::Q8_K, true, true},
    {FormatId::MXFP4R, "mxfp4r", -1, 32, sizeof(BlockMXFP4), 0, FormatId::BF16, true, true},
    {FormatId::MXFP4_FPQR, "mxfp4_fpqr", -1, 32, sizeof(BlockMXFP4), 0, FormatId::BF16, true, true},
    {FormatId::NVFP4R, "nvfp4r", -1, 16, sizeof(BlockNVFP4), 0, FormatId::BF16, true, true},
    {FormatId::INT4_G32R, "int4_g32r", -1, 32, sizeof(BlockInt4<32>), 0, FormatId::BF16, true, true},
    {FormatId::INT4_G64R, "int4_g64r", -1, 64, sizeof(BlockInt4<64>), 0, FormatId::BF16, true, true},
    {FormatId::Q4_KR, "q4_kr", -1, 256, sizeof(BlockQ4_K), 0, FormatId::Q8_K, true, true},
    {FormatId::Q5_KR, "q5_kr", -1, 256, sizeof(BlockQ5_K), 0, FormatId::Q8_K, true, true},
    {FormatId::Q6_KR, "q6_kr", -1, 256, sizeof(BlockQ6_K), 0, FormatId::Q8_K, true, true},
};

// Q8_0R's layout byte by byte (blocks.h): 6 blocks = a group of 4 and a
// partial group of 2; block b's code j is the byte 100 b + j, its scale word
// 1000 + b.
TEST(FormatTable, Q8_0RLayout) {
  const int64_t nb = 6;
  std::vector<BlockQ8_0> src(static_cast<size_t>(nb));
  for (int64_t b = 0; b < nb; ++b) {
    src[size_t(b)].d = uint16_t(1000 + b);
    for (int j = 0; j < 32; ++j) src[size_t(b)].qs[j] = int8_t(uint8_t(100 * b + j));
  }
  const FormatTraits& t = traits(FormatId::Q8_0R);
  ASSERT_EQ(t.rearranges, FormatId::Q8_0);
  std::vector<uint8_t> row(row_bytes(FormatId::Q8_0R, nb * 32));
  ASSERT_EQ(row.size(), size_t(34 * nb));
  t.rearrange(src.data(), row.data(), nb * 32);
  auto code = [&](int64_t b, int j) { return uint8_t(100 * b + j); };
  for (int64_t b = 0; b < nb; ++b) EXPECT_EQ(row[size_t(2 * b)] | row[size_t(2 * b + 1)] << 8, 1000 + b);
  const uint8_t* c = row.data() + 2 * nb;
  for (int64_t b = 0; b < 4; ++b)
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(c[16 * b + j], code(b, j)) << b << " " << j;            // first halves of group 0
      EXPECT_EQ(c[64 + 16 * b + j], code(b, 16 + j)) << b << " " << j;  // its second halves
    }
  for (int64_t b = 4; b < 6; ++b)
    for (int j = 0; j < 16; ++j) {
      EXPECT_EQ(c[128 + 16 * (b - 4) + j], code(b, j)) << b << " " << j;  // group 1 has 2 blocks
      EXPECT_EQ(c[128 + 32 + 16 * (b - 4) + j], code(b, 16 + j)) << b << " " << j;
    }
  EXPECT_EQ(t.aligned_at(nb * 32), 2 * nb);
}

// The W4R layouts byte by byte (blocks.h): file rows whose element e has
// code (7 e + 3) % 16 and block b the scale bytes 10 + b (INT4: the word
// 1000 + b): two whole chunks and the most blocks that can follow them.
TEST(FormatTable, W4RLayouts) {
  struct Case {
    FormatId id;
    int64_t block;      // elements per block
    int scale_bytes;    // the block's scale field, first in the block
    int run;            // 32: element j at byte 16 (j / 32) + j % 16, high nibble if j % 32 >= 16; 16: byte j % 8
    W4ROrder order;
  };
  const Case cases[] = {{FormatId::MXFP4R, 32, 1, 32, W4ROrder::RunPairs},
                        {FormatId::MXFP4_FPQR, 32, 1, 32, W4ROrder::RunPairs},
                        {FormatId::NVFP4R, 16, 1, 16, W4ROrder::RunPairs},
                        {FormatId::INT4_G32R, 32, 2, 32, W4ROrder::RunPairs},
                        {FormatId::INT4_G64R, 64, 2, 32, W4ROrder::RunPairs}};
  for (const Case& c : cases) {
    const FormatTraits& t = traits(c.id);
    ASSERT_NE(t.rearrange, nullptr) << t.name;
    const int64_t n = 3 * kW4RChunk - c.block;  // 2 chunks, then 128 / block - 1 blocks
    const int64_t nb = n / c.block;
    const size_t bb = t.block_bytes, code_bytes = bb - size_t(c.scale_bytes);
    ASSERT_EQ(row_bytes(t.rearranges, n), row_bytes(c.id, n)) << t.name;
    std::vector<uint8_t> file(size_t(nb) * bb, 0), row(row_bytes(c.id, n), 0xEE);
    auto code = [](int64_t e) { return uint8_t((7 * e + 3) % 16); };
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t* blk = file.data() + size_t(b) * bb;
      if (c.scale_bytes == 1) {
        blk[0] = uint8_t(10 + b);
      } else {
        blk[0] = uint8_t((1000 + b) & 0xFF);
        blk[1] = uint8_t((1000 + b) >> 8);
      }
      for (int64_t j = 0; j < c.block; ++j) {
        const int64_t half = c.run / 2;
        uint8_t& byte = blk[c.scale_bytes + half * (j / c.run) + j % half];
        byte |= uint8_t(code(b * c.block + j) << (j % c.run >= half ? 4 : 0));
      }
    }
    t.rearrange(file.data(), row.data(), n);
    for (int64_t b = 0; b < nb; ++b)
      for (int i = 0; i < c.scale_bytes; ++i)
        EXPECT_EQ(row[size_t(c.scale_bytes * b + i)], file[size_t(b) * bb + size_t(i)]) << t.name << " scale " << b;
    const uint8_t* codes = row.data() + c.scale_bytes * nb;
    EXPECT_EQ(t.aligned_at(n), c.scale_bytes * nb) << t.name;
    for (int64_t ch = 0; ch < 2; ++ch)
      for (int w = 0; w < 32; ++w)
        for (int V = 0; V < 4; ++V) {
          const unsigned word = codes[64 * ch + 2 * w] | unsigned(codes[64 * ch + 2 * w + 1]) << 8;
          EXPECT_EQ((word >> (4 * V)) & 0xF, code(kW4RChunk * ch + w4r_elem(c.order, V, w)))
              << t.name << " chunk " << ch << " word " << w << " nibble " << V;
        }
    for (int64_t b = 2 * kW4RChunk / c.block, i = 0; b < nb; ++b, ++i)
      EXPECT_EQ(0, std::memcmp(codes + 128 + i * int64_t(code_bytes), file.data() + size_t(b) * bb + c.scale_bytes,
                               code_bytes))
          << t.name << " block " << b;
    // Each order places every element of a chunk exactly once.
    std::vector<int> seen(kW4RChunk, 0);
    for (int V = 0; V < 4; ++V)
      for (int w = 0; w < 32; ++w) ++seen[size_t(w4r_elem(c.order, V, w))];
    for (int e = 0; e < kW4RChunk; ++e) EXPECT_EQ(seen[size_t(e)], 1) << t.name << " element " << e;
  }
}

// Q4_KR, Q5_KR and Q6_KR byte by byte (blocks.h) on a row of 3 blocks whose codes
// are made up per element: headers first, then each block's code bytes with
// element 16 l + 4 v + k at byte 4 l + k of vector v; restoring gives the file back.
TEST(FormatTable, KRLayouts) {
  const int64_t nb = 3, n = nb * 256;
  auto code = [](int64_t b, int e, int bits) { return int((e * 37 + b * 11 + e / 7) % (1 << bits)); };
  {
    std::vector<BlockQ4_K> src(static_cast<size_t>(nb));
    for (int64_t b = 0; b < nb; ++b) {
      src[size_t(b)].d = uint16_t(0x3c00 + b);
      src[size_t(b)].dmin = uint16_t(0x3800 + b);
      for (int i = 0; i < 12; ++i) src[size_t(b)].scales[i] = uint8_t(b * 12 + i);
      for (int c = 0; c < 4; ++c)  // q4_k's order: chunk c, low nibbles first
        for (int l = 0; l < 32; ++l)
          src[size_t(b)].qs[32 * c + l] = uint8_t(code(b, 64 * c + l, 4) | code(b, 64 * c + 32 + l, 4) << 4);
    }
    const FormatTraits& t = traits(FormatId::Q4_KR);
    ASSERT_EQ(t.rearranges, FormatId::Q4_K);
    std::vector<uint8_t> row(row_bytes(FormatId::Q4_KR, n));
    ASSERT_EQ(row.size(), size_t(144 * nb));
    t.rearrange(src.data(), row.data(), n);
    EXPECT_EQ(t.aligned_at(n), 16 * nb);
    for (int64_t b = 0; b < nb; ++b) {
      EXPECT_EQ(0, std::memcmp(row.data() + 16 * b, &src[size_t(b)], 16)) << "header " << b;
      const uint8_t* c = row.data() + 16 * nb + 128 * b;
      for (int v = 0; v < 4; ++v)
        for (int l = 0; l < 16; ++l)
          for (int k = 0; k < 4; ++k)
            ASSERT_EQ((c[64 * (v / 2) + 4 * l + k] >> (4 * (v % 2))) & 0xF, code(b, 16 * l + 4 * v + k, 4))
                << "block " << b << " vector " << v << " lane " << l << " byte " << k;
    }
    EXPECT_EQ(decode(FormatId::Q4_KR, row.data(), n), decode(FormatId::Q4_K, src.data(), n));
  }
  {  // Q5_KR: Q4_KR's nibbles plus the fifth bits in the header
    std::vector<BlockQ5_K> src(static_cast<size_t>(nb));
    for (int64_t b = 0; b < nb; ++b) {
      src[size_t(b)] = BlockQ5_K{};
      src[size_t(b)].d = uint16_t(0x3c00 + b);
      for (int i = 0; i < 12; ++i) src[size_t(b)].scales[i] = uint8_t(b * 12 + i);
      for (int e = 0; e < 256; ++e) {  // q5_k's order (blocks.h)
        const int c = e / 64, r = e % 64, q = code(b, e, 5);
        src[size_t(b)].qs[32 * c + r % 32] |= uint8_t((q & 0xF) << (r < 32 ? 0 : 4));
        src[size_t(b)].qh[r % 32] |= uint8_t((q >> 4) << (2 * c + (r < 32 ? 0 : 1)));
      }
    }
    const FormatTraits& t = traits(FormatId::Q5_KR);
    ASSERT_EQ(t.rearranges, FormatId::Q5_K);
    std::vector<uint8_t> row(row_bytes(FormatId::Q5_KR, n));
    ASSERT_EQ(row.size(), size_t(176 * nb));
    t.rearrange(src.data(), row.data(), n);
    EXPECT_EQ(t.aligned_at(n), 48 * nb);
    for (int64_t b = 0; b < nb; ++b) {
      EXPECT_EQ(0, std::memcmp(row.data() + 48 * b, &src[size_t(b)], 16)) << "header " << b;
      const uint8_t* fifth = row.data() + 48 * b + 16;
      const uint8_t* c = row.data() + 48 * nb + 128 * b;
      for (int v = 0; v < 4; ++v)
        for (int l = 0; l < 16; ++l)
          for (int k = 0; k < 4; ++k) {
            const int i = 64 * v + 4 * l + k;
            const int lo = (c[64 * (v / 2) + 4 * l + k] >> (4 * (v % 2))) & 0xF, hi = (fifth[i / 8] >> (i % 8)) & 1;
            ASSERT_EQ(lo | hi << 4, code(b, 16 * l + 4 * v + k, 5))
                << "block " << b << " vector " << v << " lane " << l << " byte " << k;
          }
    }
    EXPECT_EQ(decode(FormatId::Q5_KR, row.data(), n), decode(FormatId::Q5_K, src.data(), n));
  }
  {
    std::vector<BlockQ6_K> src(static_cast<size_t>(nb));
    for (int64_t b = 0; b < nb; ++b) {
      src[size_t(b)] = BlockQ6_K{};
      src[size_t(b)].d = uint16_t(0x3c00 + b);
      for (int i = 0; i < 16; ++i) src[size_t(b)].scales[i] = int8_t(b * 16 + i - 20);
      for (int e = 0; e < 256; ++e) {  // q6_k's order (blocks.h)
        const int h = e / 128, r = e % 128, l = r % 32, quarter = r / 32, q = code(b, e, 6);
        src[size_t(b)].ql[64 * h + l + (quarter & 1) * 32] |= uint8_t((q & 0xF) << (quarter < 2 ? 0 : 4));
        src[size_t(b)].qh[32 * h + l] |= uint8_t((q >> 4) << (2 * quarter));
      }
    }
    const FormatTraits& t = traits(FormatId::Q6_KR);
    ASSERT_EQ(t.rearranges, FormatId::Q6_K);
    std::vector<uint8_t> row(row_bytes(FormatId::Q6_KR, n));
    ASSERT_EQ(row.size(), size_t(210 * nb));
    t.rearrange(src.data(), row.data(), n);
    EXPECT_EQ(t.aligned_at(n), 18 * nb);
    for (int64_t b = 0; b < nb; ++b) {
      EXPECT_EQ(0, std::memcmp(row.data() + 18 * b, &src[size_t(b)].d, 2)) << "d " << b;
      EXPECT_EQ(0, std::memcmp(row.data() + 18 * b + 2, src[size_t(b)].scales, 16)) << "scales " << b;
      const uint8_t* c = row.data() + 18 * nb + 192 * b;
      for (int v = 0; v < 4; ++v)
        for (int l = 0; l < 16; ++l)
          for (int k = 0; k < 4; ++k) {
            const int lo = (c[64 * (v / 2) + 4 * l + k] >> (4 * (v % 2))) & 0xF, hi = (c[128 + 4 * l + k] >> (2 * v)) & 3;
            ASSERT_EQ(lo | hi << 4, code(b, 16 * l + 4 * v + k, 6))
                << "block " << b << " vector " << v << " lane " << l << " byte " << k;
          }
    }
    EXPECT_EQ(decode(FormatId::Q6_KR, row.data(), n), decode(FormatId::Q6_K, src.data(), n));
  }
}

TEST(FormatTable, RowsMatchGgufAndBlockStructs) {
  ASSERT_EQ(std::size(kExpected), size_t(FormatId::kCount));
  for (const ExpectedRow& e : kExpected) {
    SCOPED_TRACE(e.name);
    const FormatTraits& t = traits(e.id);
    EXPECT_EQ(t.id, e.id);
    EXPECT_STREQ(t.name, e.name);
    EXPECT_EQ(t.gguf_type, e.gguf);
    EXPECT_EQ(t.block_size, e.block_size);
    EXPECT_EQ(t.block_bytes, e.block_bytes);
    EXPECT_EQ(t.row_overhead, e.row_overhead);
    EXPECT_EQ(t.dot_type, e.dot_type);
    EXPECT_NE(t.to_float, nullptr);
    EXPECT_EQ(t.from_float != nullptr, e.has_from_float);
    EXPECT_EQ(t.dot != nullptr, e.has_dot);
    // Activations must be encodable into every dot type.
    if (t.dot) {
      EXPECT_NE(traits(t.dot_type).from_float, nullptr);
    }
  }
}

// The scale fields each file format declares (checked at load): every
// block-scaled file format has them, where its block struct keeps them, and
// first_bad_scale finds a NaN or infinite one in any block and field, and
// nothing in blocks encoded from finite weights.
TEST(FormatTable, FirstBadScaleFindsCorruptScales) {
  struct Case {
    FormatId id;
    std::vector<ScaleField> fields;
  };
  const Case cases[] = {
      {FormatId::Q8_0, {{ScaleType::F16, offsetof(BlockQ8_0, d)}}},
      {FormatId::Q4_0, {{ScaleType::F16, offsetof(BlockQ4_0, d)}}},
      {FormatId::Q4_K, {{ScaleType::F16, offsetof(BlockQ4_K, d)}, {ScaleType::F16, offsetof(BlockQ4_K, dmin)}}},
      {FormatId::Q5_K, {{ScaleType::F16, offsetof(BlockQ5_K, d)}, {ScaleType::F16, offsetof(BlockQ5_K, dmin)}}},
      {FormatId::Q6_K, {{ScaleType::F16, offsetof(BlockQ6_K, d)}}},
      {FormatId::TQ1_0, {{ScaleType::F16, offsetof(BlockTQ1_0, d)}}},
      {FormatId::TQ2_0, {{ScaleType::F16, offsetof(BlockTQ2_0, d)}}},
      {FormatId::MXFP4, {{ScaleType::E8M0, offsetof(BlockMXFP4, e)}}},
      {FormatId::MXFP4_FPQ, {{ScaleType::E8M0, offsetof(BlockMXFP4, e)}}},
      {FormatId::NVFP4, {{ScaleType::E4M3, offsetof(BlockNVFP4, d)}}},
      {FormatId::INT4_G32, {{ScaleType::F16, 0}}},
      {FormatId::INT4_G64, {{ScaleType::F16, 0}}},
      {FormatId::INT4_G128, {{ScaleType::F16, 0}}},
  };
  std::mt19937 rng(11);
  for (const Case& c : cases) {
    const FormatTraits& t = traits(c.id);
    SCOPED_TRACE(t.name);
    for (size_t i = 0; i < 2; ++i) {
      const ScaleField want = i < c.fields.size() ? c.fields[i] : ScaleField{};
      EXPECT_EQ(t.scales[i].type, want.type) << i;
      EXPECT_EQ(t.scales[i].offset, want.offset) << i;
    }
    const int64_t nb = 7;
    std::vector<float> x(size_t(nb * t.block_size));
    std::normal_distribution<float> nd(0.0f, 3.0f);
    for (float& v : x) v = nd(rng);
    x[5] = 0.0f;
    std::fill(x.begin() + t.block_size, x.begin() + 2 * t.block_size, 0.0f);  // an all-zero block
    std::vector<uint8_t> good(size_t(nb) * t.block_bytes);
    t.from_float(x.data(), good.data(), nb * t.block_size);
    EXPECT_EQ(first_bad_scale(c.id, good.data(), nb), -1);
    for (const ScaleField& f : c.fields) {
      std::vector<std::vector<uint8_t>> bad_values;
      if (f.type == ScaleType::F16) bad_values = {{0x00, 0x7C}, {0x00, 0xFC}, {0x01, 0x7E}, {0xFF, 0xFF}};  // +-inf, NaNs
      if (f.type == ScaleType::E8M0) bad_values = {{0xFF}};
      if (f.type == ScaleType::E4M3) bad_values = {{0x7F}, {0xFF}};
      for (const auto& v : bad_values)
        for (int64_t b : {int64_t(0), int64_t(4), nb - 1}) {
          std::vector<uint8_t> w = good;
          std::memcpy(w.data() + size_t(b) * t.block_bytes + f.offset, v.data(), v.size());
          EXPECT_EQ(first_bad_scale(c.id, w.data(), nb), b) << "field at " << int(f.offset) << " block " << b;
          EXPECT_EQ(first_bad_scale(c.id, w.data(), b), -1) << "blocks before it";
        }
    }
    // The largest finite scales are not flagged.
    std::vector<uint8_t> w = good;
    for (const ScaleField& f : c.fields) {
      uint8_t* p = w.data() + 2 * t.block_bytes + f.offset;
      if (f.type == ScaleType::F16) p[0] = 0xFF, p[1] = 0x7B;  // 65504
      if (f.type == ScaleType::E8M0) p[0] = 0xFE;
      if (f.type == ScaleType::E4M3) p[0] = 0xFE;  // -448
    }
    EXPECT_EQ(first_bad_scale(c.id, w.data(), nb), -1);
  }
  // Formats without scale fields.
  for (FormatId f : {FormatId::F32, FormatId::F16, FormatId::BF16, FormatId::T2, FormatId::T1_6})
    EXPECT_EQ(traits(f).scales[0].type, ScaleType::None) << traits(f).name;
}

TEST(FormatTable, LookupByGgufTypeAndName) {
  for (const ExpectedRow& e : kExpected) {
    SCOPED_TRACE(e.name);
    if (e.gguf >= 0) {
      EXPECT_EQ(find_by_gguf_type(uint32_t(e.gguf)), &traits(e.id));
    }
    EXPECT_EQ(find_by_name(e.name), &traits(e.id));
    std::string upper = e.name;
    for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(find_by_name(upper), &traits(e.id));
  }
  EXPECT_EQ(find_by_gguf_type(3), nullptr);  // Q4_1: not supported
  EXPECT_EQ(find_by_gguf_type(0xffffffffu), nullptr);
  EXPECT_EQ(find_by_name("q4"), nullptr);
  EXPECT_EQ(find_by_name(""), nullptr);
  EXPECT_EQ(find_by_name("q8_0 "), nullptr);
}

TEST(FormatTable, RowBytes) {
  EXPECT_EQ(row_bytes(FormatId::F32, 7), 28u);
  EXPECT_EQ(row_bytes(FormatId::BF16, 7), 14u);
  EXPECT_EQ(row_bytes(FormatId::Q8_0, 64), 68u);
  EXPECT_EQ(row_bytes(FormatId::Q4_0, 4096), 128u * 18u);
  EXPECT_EQ(row_bytes(FormatId::Q4_K, 512), 288u);
  EXPECT_EQ(row_bytes(FormatId::Q6_K, 256), 210u);
  EXPECT_EQ(row_bytes(FormatId::Q8_K, 768), 3u * 292u);
  EXPECT_EQ(row_bytes(FormatId::I8_ROW, 10), 14u);
}

TEST(FormatTable, CheckRowNamesEverything) {
  EXPECT_TRUE(check_row(FormatId::Q4_0, 64, "x").ok());
  EXPECT_TRUE(check_row(FormatId::F16, 3, "x").ok());
  const Status st = check_row(FormatId::Q4_K, 300, "blk.3.ffn_down.weight");
  ASSERT_FALSE(st.ok());
  for (const char* part : {"blk.3.ffn_down.weight", "q4_k", "300", "256"})
    EXPECT_NE(st.message().find(part), std::string::npos) << st.message();
  EXPECT_FALSE(check_row(FormatId::Q8_0, 0, "empty").ok());
}

// ---------------------------------------------------------------- fp16 scales

// Q8_0 stores d = amax/127 as fp16, rounded to nearest even; the codes are
// computed with the unrounded d.
TEST(FormatFp16, Q8_0ScaleRoundsToNearestEven) {
  struct Case {
    float d;          // exact in fp32
    uint16_t stored;  // expected fp16 bits
  };
  const Case cases[] = {
      {1.0f + 0x1p-11f, 0x3C00},        // halfway between 1 and 1+2^-10: even is 1
      {1.0f + 3 * 0x1p-11f, 0x3C02},    // halfway between 1+2^-10 and 1+2^-9: even is 1+2^-9
      {1.0f + 0x1p-11f + 0x1p-16f, 0x3C01},  // just above halfway: rounds up
  };
  for (const Case& c : cases) {
    std::vector<float> x(32, 0.0f);
    x[5] = c.d * 127.0f;  // exact: d has few mantissa bits
    x[6] = -c.d * 3.0f;
    auto q = encode(FormatId::Q8_0, x);
    const auto* b = reinterpret_cast<const BlockQ8_0*>(q.data());
    EXPECT_EQ(b->d, c.stored) << c.d;
    EXPECT_EQ(b->qs[5], 127);
    EXPECT_EQ(b->qs[6], -3);
    EXPECT_FLOAT_EQ(decode(FormatId::Q8_0, q.data(), 32)[5], fp16_to_f32(c.stored) * 127.0f);
  }
}

// ---------------------------------------------------------------- Q8_0

TEST(FormatQ8_0, AllZeroBlock) {
  auto q = encode(FormatId::Q8_0, std::vector<float>(32, 0.0f));
  const auto* b = reinterpret_cast<const BlockQ8_0*>(q.data());
  EXPECT_EQ(b->d, 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b->qs[j], 0);
  for (float v : decode(FormatId::Q8_0, q.data(), 32)) EXPECT_EQ(v, 0.0f);
}

TEST(FormatQ8_0, NegativeMaximum) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[size_t(j)] = float(j - 16);  // -16..15
  x[9] = -127.0f;                                              // largest magnitude, negative
  auto q = encode(FormatId::Q8_0, x);
  const auto* b = reinterpret_cast<const BlockQ8_0*>(q.data());
  EXPECT_EQ(b->d, 0x3C00);  // d = 127/127 = 1
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b->qs[j], int(x[size_t(j)])) << j;
}

TEST(FormatQ8_0, RoundingTiesGoAwayFromZero) {
  std::vector<float> x(32, 0.0f);
  x[0] = 254.0f;  // d = 2, 1/d = 0.5: odd integers land exactly on ties
  x[1] = 3.0f;    // 1.5  -> 2
  x[2] = 5.0f;    // 2.5  -> 3
  x[3] = -1.0f;   // -0.5 -> -1
  x[4] = -5.0f;   // -2.5 -> -3
  x[5] = 1.0f;    // 0.5  -> 1
  x[6] = 0.9f;    // 0.45 -> 0
  auto q = encode(FormatId::Q8_0, x);
  const auto* b = reinterpret_cast<const BlockQ8_0*>(q.data());
  EXPECT_EQ(b->d, 0x4000);
  const int want[] = {127, 2, 3, -1, -3, 1, 0};
  for (int j = 0; j < 7; ++j) EXPECT_EQ(b->qs[j], want[j]) << j;
}

// ---------------------------------------------------------------- Q4_0

int q4_code(const BlockQ4_0& b, int j) { return j < 16 ? (b.qs[j] & 0xF) : (b.qs[j - 16] >> 4); }

TEST(FormatQ4_0, AllZeroBlock) {
  auto q = encode(FormatId::Q4_0, std::vector<float>(32, 0.0f));
  const auto* b = reinterpret_cast<const BlockQ4_0*>(q.data());
  EXPECT_EQ(b->d, 0x8000);  // d = 0 / -8 is -0.0, as in GGUF's quantizer
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b->qs[j], 0x88);
  for (float v : decode(FormatId::Q4_0, q.data(), 32)) EXPECT_EQ(v, 0.0f);
}

TEST(FormatQ4_0, NegativeMaximumAndTies) {
  std::vector<float> x(32, 0.0f);
  x[3] = -8.0f;   // m = -8: d = 1, code 0
  x[0] = 7.0f;    // 15
  x[1] = 0.5f;    // 8.5 + 0.5 = 9.0 -> 9: ties go up
  x[2] = -0.5f;   // 8.0 -> 8
  x[4] = -7.5f;   // 1.0 -> 1
  x[17] = 2.4f;   // 10.9 -> 10   (element 17 is the high nibble of qs[1])
  x[31] = -3.6f;  // 4.9 -> 4
  auto q = encode(FormatId::Q4_0, x);
  const auto* b = reinterpret_cast<const BlockQ4_0*>(q.data());
  EXPECT_EQ(b->d, 0x3C00);
  const std::pair<int, int> want[] = {{0, 15}, {1, 9}, {2, 8}, {3, 0}, {4, 1}, {17, 10}, {31, 4}, {5, 8}};
  for (auto [j, code] : want) EXPECT_EQ(q4_code(*b, j), code) << j;
  EXPECT_EQ(b->qs[1], 0x9 | (10 << 4));
  auto y = decode(FormatId::Q4_0, q.data(), 32);
  EXPECT_EQ(y[3], -8.0f);
  EXPECT_EQ(y[17], 2.0f);
}

TEST(FormatQ4_0, PositiveMaximumClampsOppositeExtreme) {
  std::vector<float> x(32, 0.0f);
  x[0] = 8.0f;   // m = 8: d = -1, code 0 (value 8)
  x[1] = -8.0f;  // 16.5 -> 16, clamped to 15 (value -7)
  x[2] = 4.0f;   // 4.5 -> 4 (value 4)
  x[3] = -8.0f + 1e-3f;
  auto q = encode(FormatId::Q4_0, x);
  const auto* b = reinterpret_cast<const BlockQ4_0*>(q.data());
  EXPECT_EQ(b->d, f32_to_fp16(-1.0f));
  EXPECT_EQ(q4_code(*b, 0), 0);
  EXPECT_EQ(q4_code(*b, 1), 15);
  EXPECT_EQ(q4_code(*b, 2), 4);
  EXPECT_EQ(q4_code(*b, 3), 15);
  auto y = decode(FormatId::Q4_0, q.data(), 32);
  EXPECT_EQ(y[0], 8.0f);
  EXPECT_EQ(y[1], -7.0f);
}

TEST(FormatQ4_0, FirstOfEqualMagnitudesSetsTheSign) {
  std::vector<float> x(32, 0.0f);
  x[0] = 4.0f;
  x[1] = -4.0f;
  auto q = encode(FormatId::Q4_0, x);
  EXPECT_EQ(reinterpret_cast<const BlockQ4_0*>(q.data())->d, f32_to_fp16(-0.5f));
  x[0] = -4.0f;
  x[1] = 4.0f;
  q = encode(FormatId::Q4_0, x);
  EXPECT_EQ(reinterpret_cast<const BlockQ4_0*>(q.data())->d, f32_to_fp16(0.5f));
}

// ---------------------------------------------------------------- Q8_K, I8_ROW

TEST(FormatQ8_K, KnownValuesAndBsums) {
  std::vector<float> x(256, 0.0f);
  x[7] = -127.0f;  // m = -127: iscale = 1, d = 1
  x[0] = 2.5f;     // ties go to even: 2
  x[1] = 3.5f;     // 4
  x[2] = -2.5f;    // -2
  x[20] = 100.2f;  // 100
  auto q = encode(FormatId::Q8_K, x);
  const auto* b = reinterpret_cast<const BlockQ8_K*>(q.data());
  EXPECT_EQ(b->d, 1.0f);
  EXPECT_EQ(b->qs[7], -127);
  EXPECT_EQ(b->qs[0], 2);
  EXPECT_EQ(b->qs[1], 4);
  EXPECT_EQ(b->qs[2], -2);
  EXPECT_EQ(b->qs[20], 100);
  EXPECT_EQ(b->bsums[0], 2 + 4 - 2 - 127);
  EXPECT_EQ(b->bsums[1], 100);
  for (int g = 2; g < 16; ++g) EXPECT_EQ(b->bsums[g], 0);

  // A positive maximum maps to -127 (d negative).
  x.assign(256, 0.0f);
  x[0] = 2.0f;
  x[1] = -2.0f;
  q = encode(FormatId::Q8_K, x);
  b = reinterpret_cast<const BlockQ8_K*>(q.data());
  EXPECT_EQ(b->qs[0], -127);
  EXPECT_EQ(b->qs[1], 127);
  EXPECT_FLOAT_EQ(b->d, -2.0f / 127.0f);
}

TEST(FormatQ8_K, AllZeroBlock) {
  std::vector<float> x(512, 0.0f);
  x[300] = 1.0f;  // second block is not zero
  auto q = encode(FormatId::Q8_K, x);
  const auto* b = reinterpret_cast<const BlockQ8_K*>(q.data());
  EXPECT_EQ(b[0].d, 0.0f);
  for (int j = 0; j < 256; ++j) EXPECT_EQ(b[0].qs[j], 0);
  for (int g = 0; g < 16; ++g) EXPECT_EQ(b[0].bsums[g], 0);
  EXPECT_EQ(b[1].qs[44], -127);
}

TEST(FormatI8Row, KnownValues) {
  std::vector<float> x = {2.5f, 3.5f, -2.5f, -127.0f, 0.0f, 126.6f};
  auto q = encode(FormatId::I8_ROW, x);
  ASSERT_EQ(q.size(), 4u + x.size());
  float scale;
  std::memcpy(&scale, q.data(), 4);
  EXPECT_EQ(scale, 1.0f);
  const int8_t* c = reinterpret_cast<const int8_t*>(q.data() + 4);
  const int want[] = {2, 4, -2, -127, 0, 127};
  for (int j = 0; j < 6; ++j) EXPECT_EQ(c[j], want[j]) << j;

  auto z = encode(FormatId::I8_ROW, std::vector<float>(5, 0.0f));
  std::memcpy(&scale, z.data(), 4);
  EXPECT_EQ(scale, 0.0f);
  for (int j = 0; j < 5; ++j) EXPECT_EQ(z[4 + size_t(j)], 0);
}

// ---------------------------------------------------------------- encode -> decode

// Per-block bound on |x - decode(encode(x))|: half a quantization step with
// the unrounded scale, plus the largest code times the fp16 rounding of the
// scale, plus a little fp32 slack.
TEST(FormatRoundTrip, ErrorWithinHalfStep) {
  const int64_t n = 1024;
  const auto x = normal_values(n, 1234, 2.0f);
  float xmax = 0.0f;
  for (float v : x) xmax = std::fmax(xmax, std::fabs(v));
  const float slack = 4e-7f * xmax;

  {  // Q8_0
    auto y = decode(FormatId::Q8_0, encode(FormatId::Q8_0, x).data(), n);
    for (int64_t blk = 0; blk < n / 32; ++blk) {
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[size_t(blk * 32 + j)]));
      const float d = amax / 127.0f, dh = fp16_to_f32(f32_to_fp16(d));
      const float bound = 0.5f * d + 127.0f * std::fabs(d - dh) + slack;
      for (int j = 0; j < 32; ++j) {
        const size_t i = size_t(blk * 32 + j);
        ASSERT_LE(std::fabs(x[i] - y[i]), bound) << "q8_0 element " << i;
      }
    }
  }
  {  // Q4_0: one full step where the opposite extreme is clamped from +8 to +7
    auto y = decode(FormatId::Q4_0, encode(FormatId::Q4_0, x).data(), n);
    for (int64_t blk = 0; blk < n / 32; ++blk) {
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[size_t(blk * 32 + j)]));
      const float d = amax / 8.0f, dh = fp16_to_f32(f32_to_fp16(d));
      for (int j = 0; j < 32; ++j) {
        const size_t i = size_t(blk * 32 + j);
        const bool clamped = std::fabs(x[i]) / d >= 7.5f && std::fabs(x[i]) != amax;
        const float bound = (clamped ? 1.0f : 0.5f) * d + 8.0f * std::fabs(d - dh) + slack;
        ASSERT_LE(std::fabs(x[i] - y[i]), bound) << "q4_0 element " << i;
      }
    }
  }
  {  // Q8_K: fp32 scale, so half a step
    auto q = encode(FormatId::Q8_K, x);
    auto y = decode(FormatId::Q8_K, q.data(), n);
    const auto* b = reinterpret_cast<const BlockQ8_K*>(q.data());
    for (int64_t blk = 0; blk < n / 256; ++blk) {
      for (int g = 0; g < 16; ++g) {
        int sum = 0;
        for (int j = 0; j < 16; ++j) sum += b[blk].qs[g * 16 + j];
        EXPECT_EQ(b[blk].bsums[g], sum);
      }
      for (int j = 0; j < 256; ++j) {
        const size_t i = size_t(blk * 256 + j);
        ASSERT_LE(std::fabs(x[i] - y[i]), 0.5f * std::fabs(b[blk].d) + slack) << "q8_k element " << i;
      }
    }
  }
  {  // I8_ROW: one scale for the whole row
    auto q = encode(FormatId::I8_ROW, x);
    auto y = decode(FormatId::I8_ROW, q.data(), n);
    const float scale = xmax / 127.0f;
    for (size_t i = 0; i < size_t(n); ++i) ASSERT_LE(std::fabs(x[i] - y[i]), 0.5f * scale + slack) << i;
  }
  {  // F16 / BF16: relative rounding error 2^-11 / 2^-8 (values are normal here)
    auto h = decode(FormatId::F16, encode(FormatId::F16, x).data(), n);
    auto b = decode(FormatId::BF16, encode(FormatId::BF16, x).data(), n);
    auto f = decode(FormatId::F32, encode(FormatId::F32, x).data(), n);
    for (size_t i = 0; i < size_t(n); ++i) {
      ASSERT_LE(std::fabs(x[i] - h[i]), std::fabs(x[i]) * 0x1p-11f + 0x1p-25f) << i;
      ASSERT_LE(std::fabs(x[i] - b[i]), std::fabs(x[i]) * 0x1p-8f) << i;
      ASSERT_EQ(x[i], f[i]);
    }
  }
}

// ---------------------------------------------------------------- dots

// Double-precision dot of the decoded rows, and sum |w_i| |a_i| for the bound.
struct DequantDot {
  double value = 0.0, magnitude = 0.0;
};
DequantDot dequant_dot(FormatId wf, const void* w, const void* a, int64_t n) {
  auto wd = decode(wf, w, n);
  auto ad = decode(traits(wf).dot_type, a, n);
  DequantDot r;
  for (size_t i = 0; i < size_t(n); ++i) {
    r.value += double(wd[i]) * double(ad[i]);
    r.magnitude += std::fabs(double(wd[i]) * double(ad[i]));
  }
  return r;
}

// Tolerance: the reference dots sum integer products exactly within a block,
// so their only error is fp32 rounding: one product of two scales and one
// multiply per block, then one fp32 add per block into the running sum. The
// decoded values the double dot uses are themselves d*q rounded once. With
// m = number of fp32 accumulation steps (blocks, or elements for float
// formats), the standard bound gives |error| <= (m + 4) * 2^-24 * sum|w_i a_i|
// to first order; we allow (m + 8) to cover the second-order terms.
double dot_tolerance(int64_t accum_steps, double magnitude) { return double(accum_steps + 8) * 0x1p-24 * magnitude; }

TEST(FormatDot, MatchesDequantizedDot) {
  for (FormatId f : {FormatId::F32, FormatId::F16, FormatId::BF16, FormatId::Q8_0, FormatId::Q4_0, FormatId::I8_ROW}) {
    const FormatTraits& t = traits(f);
    for (int64_t n : {int64_t(32), int64_t(256), int64_t(4096)}) {
      SCOPED_TRACE(std::string(t.name) + " n=" + std::to_string(n));
      auto w = encode(f, normal_values(n, uint32_t(n) * 7 + uint32_t(f), 0.05f));
      auto a = encode(t.dot_type, normal_values(n, uint32_t(n) * 13 + 1, 3.0f));
      const float got = t.dot(w.data(), a.data(), n);
      const DequantDot want = dequant_dot(f, w.data(), a.data(), n);
      // I8_ROW has one scale per row: a single fp32 step after the integer sum.
      const int64_t steps = f == FormatId::I8_ROW ? 1 : n / t.block_size;
      EXPECT_NEAR(got, want.value, dot_tolerance(steps, want.magnitude));
    }
  }
}

// K-quant blocks from random bytes (any scale, min and code pattern) against
// the decoded dot. The tolerance's magnitude uses the two terms of each
// decoded value separately, since d*sc*q - dmin*m may cancel: the reference
// computes both terms and rounds each.
TEST(FormatDot, KQuantRandomBlocksMatchDequantizedDot) {
  std::mt19937 rng(42);
  for (FormatId f : {FormatId::Q4_K, FormatId::Q5_K, FormatId::Q6_K}) {
    const FormatTraits& t = traits(f);
    for (int64_t n : {int64_t(256), int64_t(1024)}) {
      for (int rep = 0; rep < 20; ++rep) {
        SCOPED_TRACE(std::string(t.name) + " n=" + std::to_string(n) + " rep=" + std::to_string(rep));
        auto w = random_kquant_row(f, n, rng);
        auto a = encode(FormatId::Q8_K, normal_values(n, rng(), 1.0f));
        const float got = t.dot(w.data(), a.data(), n);
        const DequantDot want = dequant_dot(f, w.data(), a.data(), n);
        // Magnitude with the min term counted separately (an upper bound of
        // |d*sc*q| + |dmin*m| per element is |w| + 2*|dmin*m|; dmin*m <= |dmin|*63).
        auto ad = decode(FormatId::Q8_K, a.data(), n);
        double mag = want.magnitude;
        if (f != FormatId::Q6_K) {
          for (int64_t s = 0; s < n / kQK_K; ++s) {
            const auto* b = reinterpret_cast<const BlockQ4_K*>(w.data() + size_t(s) * t.block_bytes);
            double asum = 0.0;
            for (int j = 0; j < kQK_K; ++j) asum += std::fabs(double(ad[size_t(s * kQK_K + j)]));
            mag += 2.0 * 63.0 * std::fabs(double(fp16_to_f32(b->dmin))) * asum;
          }
        }
        // Per super-block the reference also rounds the int32 sums to float
        // (they can exceed 2^24) and each of the two terms: a few more steps.
        EXPECT_NEAR(got, want.value, dot_tolerance(n / kQK_K + 8, mag));
      }
    }
  }
}

// ---------------------------------------------------------------- K-quant decode by hand

// Scales packed by hand (see get_scale_min_k4 in blocks.h):
//   bytes 0..3: sc0..sc3 (low 6 bits), top 2 bits = bits 4..5 of sc4..sc7
//   bytes 4..7: m0..m3  (low 6 bits), top 2 bits = bits 4..5 of m4..m7
//   bytes 8..11: low nibble = bits 0..3 of sc4..sc7, high nibble = bits 0..3 of m4..m7
// Here: sc = {5, 2, 3, 4, 26, 0, 0, 0}, m = {7, 1, 0, 0, 35, 0, 0, 0}.
constexpr uint8_t kScales[12] = {0x45, 0x02, 0x03, 0x04, 0x87, 0x01, 0x00, 0x00, 0x3A, 0x00, 0x00, 0x00};

TEST(FormatKQuant, ScalePacking) {
  const int sc_want[8] = {5, 2, 3, 4, 26, 0, 0, 0}, m_want[8] = {7, 1, 0, 0, 35, 0, 0, 0};
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, kScales, &sc, &m);
    EXPECT_EQ(sc, sc_want[j]) << j;
    EXPECT_EQ(m, m_want[j]) << j;
  }
}

TEST(FormatKQuant, Q4_KHandBuiltBlock) {
  BlockQ4_K b{};
  b.d = f32_to_fp16(0.5f);
  b.dmin = f32_to_fp16(0.25f);
  std::memcpy(b.scales, kScales, 12);
  b.qs[0] = 0x9C;   // element 0: code 12 (sub-block 0); element 32: code 9 (sub-block 1)
  b.qs[64] = 0x0F;  // element 128: code 15 (sub-block 4); element 160: code 0 (sub-block 5)
  b.qs[37] = 0x20;  // element 69: code 0 (sub-block 2); element 101: code 2 (sub-block 3)
  auto y = decode(FormatId::Q4_K, &b, 256);
  EXPECT_FLOAT_EQ(y[0], 0.5f * 5 * 12 - 0.25f * 7);     // 28.25
  EXPECT_FLOAT_EQ(y[1], -0.25f * 7);                    // code 0: just the min
  EXPECT_FLOAT_EQ(y[32], 0.5f * 2 * 9 - 0.25f * 1);     // 8.75
  EXPECT_FLOAT_EQ(y[69], 0.0f);                         // sc 3, m 0, code 0
  EXPECT_FLOAT_EQ(y[101], 0.5f * 4 * 2);                // 4
  EXPECT_FLOAT_EQ(y[128], 0.5f * 26 * 15 - 0.25f * 35); // 186.25
  EXPECT_FLOAT_EQ(y[160], 0.0f);
  EXPECT_FLOAT_EQ(y[255], 0.0f);
}

TEST(FormatKQuant, Q5_KHandBuiltBlock) {
  BlockQ5_K b{};
  b.d = f32_to_fp16(0.5f);
  b.dmin = f32_to_fp16(0.25f);
  std::memcpy(b.scales, kScales, 12);
  b.qs[0] = 0x9C;
  b.qs[64] = 0x0F;
  b.qs[37] = 0x20;
  b.qh[0] = 0x01 | 0x10;  // fifth bit of element 0 (bit 0) and element 128 (bit 4: chunk 2, low half)
  b.qh[5] = 0x08;         // fifth bit of element 101 (bit 3: chunk 1, high half, l = 5)
  auto y = decode(FormatId::Q5_K, &b, 256);
  EXPECT_FLOAT_EQ(y[0], 0.5f * 5 * 28 - 0.25f * 7);      // 68.25
  EXPECT_FLOAT_EQ(y[32], 0.5f * 2 * 9 - 0.25f * 1);      // bit 1 of qh[0] clear
  EXPECT_FLOAT_EQ(y[69], 0.0f);                          // bit 2 of qh[5] clear
  EXPECT_FLOAT_EQ(y[101], 0.5f * 4 * 18);                // 36
  EXPECT_FLOAT_EQ(y[128], 0.5f * 26 * 31 - 0.25f * 35);  // 394.25
}

// The encoders on blocks whose values lie exactly on the K-quant grids: every
// sub-block holds its lowest and highest code, the largest sub-block scale and
// minimum are 63 (Q6_K: 127) steps of a power of two, so the encoder must find
// those same scales and codes and decoding gives the input back bit for bit.
// This pins the scale packing and the code order of all three writers.
std::vector<float> k_grid_values(FormatId f) {
  std::vector<float> x(512);
  for (size_t i = 0; i < x.size(); ++i) {
    const int s = int(i / 256), v = int(i % 256);
    if (f == FormatId::Q6_K) {
      const int j = v / 16, l = v % 16, sc = (127 - 8 * j) * (j % 2 ? -1 : 1);
      const int q = l == 0 ? -32 : (l * 7 + j + s) % 64 - 32;  // -32 has the largest magnitude
      x[i] = 0x1p-8f * float(sc) * float(q);
    } else {
      const int qmax = f == FormatId::Q4_K ? 15 : 31;
      const int j = v / 32, l = v % 32, sc = 63 - 7 * j, m = 63 - 5 * j;
      const int q = l == 0 ? 0 : l == 1 ? qmax : (l * 5 + j + s) % (qmax + 1);
      x[i] = 0x1p-6f * float(sc) * float(q) - 0x1p-7f * float(m);
    }
  }
  return x;
}

TEST(FormatKQuant, EncodersReproduceGridValuesExactly) {
  for (FormatId f : {FormatId::Q4_K, FormatId::Q5_K, FormatId::Q6_K}) {
    SCOPED_TRACE(traits(f).name);
    const auto x = k_grid_values(f);
    const auto y = decode(f, encode(f, x).data(), int64_t(x.size()));
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(y[i], x[i]) << "element " << i;
  }
}

// On normal data: each value within a step of its sub-block's min-max grid
// (half a step, a whole one where a value is clamped at the grid's end) plus
// what rounding the sub-block scales and minima to multiples of the
// super-block's d and dmin moves the grid: up to half a d per step across the
// grid, half a dmin. Q4_K/Q5_K refine the min-max grid by least squares and
// keep it only if its total error is smaller, which bounds the sum, not each
// value; on this data their worst values are 0.57 and 0.75 min-max steps off.
TEST(FormatKQuant, EncodersRoundTripNormalData) {
  const int64_t n = 4096;
  const auto x = normal_values(n, 77, 1.5f);
  for (FormatId f : {FormatId::Q4_K, FormatId::Q5_K, FormatId::Q6_K}) {
    SCOPED_TRACE(traits(f).name);
    const auto y = decode(f, encode(f, x).data(), n);
    const bool q6 = f == FormatId::Q6_K;
    const int sub = q6 ? 16 : 32, qmax = f == FormatId::Q4_K ? 15 : 31;
    double err2 = 0.0, x2 = 0.0;
    for (int64_t s = 0; s < n / 256; ++s) {
      std::vector<float> step(size_t(256 / sub)), lift(step.size());
      float step_max = 0.0f, lift_max = 0.0f;
      for (int j = 0; j < 256 / sub; ++j) {
        const float* v = &x[size_t(s * 256 + j * sub)];
        float lo = 0.0f, hi = v[0], amax = 0.0f;
        for (int l = 0; l < sub; ++l) lo = std::fmin(lo, v[l]), hi = std::fmax(hi, v[l]), amax = std::fmax(amax, std::fabs(v[l]));
        step[size_t(j)] = q6 ? amax / 32.0f : (hi - lo) / float(qmax);
        lift[size_t(j)] = -lo;
        step_max = std::fmax(step_max, step[size_t(j)]);
        lift_max = std::fmax(lift_max, lift[size_t(j)]);
      }
      const float d = step_max / (q6 ? 127.0f : 63.0f) * 1.001f, dmin = lift_max / 63.0f * 1.001f;  // fp16 d: 2^-11
      for (int j = 0; j < 256 / sub; ++j) {
        const float bound = q6 ? step[size_t(j)] * 1.001f + 32.0f * 0.5f * d
                               : step[size_t(j)] * 1.001f + float(qmax) * 0.5f * d + 0.5f * dmin;
        for (int l = 0; l < sub; ++l) {
          const size_t i = size_t(s * 256 + j * sub + l);
          ASSERT_LE(std::fabs(x[i] - y[i]), bound) << "element " << i;
          err2 += double(x[i] - y[i]) * double(x[i] - y[i]);
          x2 += double(x[i]) * double(x[i]);
        }
      }
    }
    // Relative RMS error: about a step / sqrt(12) over the data's RMS. With
    // min-max grids alone it was 0.0785 (Q4_K) and 0.0385 (Q5_K); least squares
    // gives 0.0739 and 0.0368, Q6_K 0.0186.
    const double rel = std::sqrt(err2 / x2);
    EXPECT_LT(rel, f == FormatId::Q4_K ? 0.076 : f == FormatId::Q5_K ? 0.0375 : 0.02) << rel;
    EXPECT_GT(rel, 0.001);  // not a float copy
  }
}

TEST(FormatKQuant, Q6_KHandBuiltBlock) {
  BlockQ6_K b{};
  b.d = f32_to_fp16(2.0f);
  // First half, l = 16: elements 16, 48, 80, 112 use scales 1, 3, 5, 7.
  b.ql[16] = 0x5A;  // low nibble 10 (element 16), high nibble 5 (element 80)
  b.ql[48] = 0x3F;  // low nibble 15 (element 48), high nibble 3 (element 112)
  b.qh[16] = 0xD9;  // bit pairs from low: 1 (el. 16), 2 (el. 48), 1 (el. 80), 3 (el. 112)
  b.scales[1] = 3;
  b.scales[3] = 1;
  b.scales[5] = -2;
  b.scales[7] = 4;
  // Second half: element 128 (ql[64] low, qh[32] bits 0-1, scale 8) and
  // element 255 (l = 31, last quarter: ql[127] high, qh[63] bits 6-7, scale 15).
  b.ql[64] = 0x01;
  b.scales[8] = 5;
  b.ql[127] = 0xF0;
  b.qh[63] = 0xC0;
  b.scales[15] = 7;
  auto y = decode(FormatId::Q6_K, &b, 256);
  EXPECT_FLOAT_EQ(y[16], 2.0f * 3 * (26 - 32));    // -36
  EXPECT_FLOAT_EQ(y[48], 2.0f * 1 * (47 - 32));    // 30
  EXPECT_FLOAT_EQ(y[80], 2.0f * -2 * (21 - 32));   // 44
  EXPECT_FLOAT_EQ(y[112], 2.0f * 4 * (51 - 32));   // 152
  EXPECT_FLOAT_EQ(y[128], 2.0f * 5 * (1 - 32));    // -310
  EXPECT_FLOAT_EQ(y[255], 2.0f * 7 * (63 - 32));   // 434
  EXPECT_FLOAT_EQ(y[129], 2.0f * 5 * -32);         // code 0 in a scaled group
  EXPECT_FLOAT_EQ(y[0], 0.0f);                     // scale 0
}

}  // namespace
}  // namespace nb::formats
