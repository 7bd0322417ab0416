// bitllama2.c ternary checkpoints: the real bitnet-small file, synthetic files
// with known weights, the size-based hand-over from the llama2.c parser, and
// hostile headers, sizes and codes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "io/bitnet_c.h"
#include "io/parse.h"
#include "io_test_util.h"
#include "support/test_support.h"

namespace nb::io {
namespace {

using testing::Bytes;
using testing::FailsWith;

const std::string kModel = "models/bitnet-small/model.bin";

struct Cfg {
  int32_t dim = 8, hidden = 12, layers = 2, heads = 2, kv_heads = 1, vocab = 10, seq = 3;
  uint8_t shared = 1;
};

struct Mat {
  std::string name;
  int64_t out, in;
};

// The records in file order.
std::vector<Mat> records(const Cfg& c) {
  const int64_t D = c.dim, H = c.hidden, KV = int64_t(c.kv_heads) * (c.dim / c.heads);
  const int64_t shapes[7][2] = {{D, D}, {KV, D}, {KV, D}, {D, D}, {H, D}, {D, H}, {H, D}};
  std::vector<Mat> v;
  for (int m = 0; m < 7; ++m)
    for (int l = 0; l < c.layers; ++l) v.push_back({bitnet_c_tensor_name(l, kBitnetCMatrices[m]), shapes[m][0], shapes[m][1]});
  if (!c.shared) v.push_back({"wcls", c.vocab, D});
  return v;
}

// The weight a synthetic file stores at flat index k of record number rec.
int weight_of(size_t rec, int64_t k) { return int((k * 7 + int64_t(rec) * 3) % 3) - 1; }
float scale_of(size_t rec) { return 0.25f + float(rec) * 0.125f; }

// A checkpoint with known floats (index / 8) and known ternary weights.
std::vector<uint8_t> make(const Cfg& c) {
  Bytes b;
  b.put<uint32_t>(0x616b3432).put<int32_t>(1);
  b.put(c.dim).put(c.hidden).put(c.layers).put(c.heads).put(c.kv_heads).put(c.vocab).put(c.seq);
  b.put<uint8_t>(c.shared).zeros(256 - b.size());
  for (int64_t k = 0; k < int64_t(c.dim) * (1 + c.vocab); ++k) b.put<float>(float(k) / 8);
  const std::vector<Mat> recs = records(c);
  for (size_t r = 0; r < recs.size(); ++r) {
    b.put<float>(scale_of(r));
    const int64_t n = recs[r].out * recs[r].in;
    for (int64_t k = 0; k < n; k += 4) {
      uint8_t byte = 0;
      for (int j = 0; j < 4; ++j) {
        const int w = weight_of(r, k + j);
        byte |= uint8_t((w == 0 ? 0 : w == 1 ? 1 : 3) << (2 * j));  // 00 = 0, 01 = +1, 11 = -1, LSB first
      }
      b.put<uint8_t>(byte);
    }
  }
  return b.b;
}

// Exact-size heap copies, so ASan catches any read past the end; they live
// until the next call (the views of the result point into them).
Result<ModelFile> parse(const std::vector<uint8_t>& b) {
  static std::vector<uint8_t> copy;
  copy = std::vector<uint8_t>(b.begin(), b.end());
  return parse_bitnet_c(copy.data(), copy.size(), "hostile.bin");
}
Result<ModelFile> parse_as_llama2c(const std::vector<uint8_t>& b) {
  static std::vector<uint8_t> copy;
  copy = std::vector<uint8_t>(b.begin(), b.end());
  return parse_llama2c(copy.data(), copy.size(), "hostile.bin");
}

TEST(IoBitnetC, BitnetSmall) {
  NB_REQUIRE_DATA(kModel);
  auto r = open_model(nb::test::data_path(kModel));  // through the llama2.c sniffing
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ModelFile& m = r.value();
  EXPECT_EQ(m.container, kBitnetCContainer);
  EXPECT_EQ(m.get_int_or("bitnet.dim", 0), 256);
  EXPECT_EQ(m.get_int_or("bitnet.hidden_dim", 0), 256);
  EXPECT_EQ(m.get_int_or("bitnet.n_layers", 0), 8);
  EXPECT_EQ(m.get_int_or("bitnet.n_heads", 0), 8);
  EXPECT_EQ(m.get_int_or("bitnet.n_kv_heads", 0), 4);
  EXPECT_EQ(m.get_int_or("bitnet.vocab_size", 0), 512);
  EXPECT_EQ(m.get_int_or("bitnet.seq_len", 0), 512);
  EXPECT_TRUE(m.get_bool_or("bitnet.shared_classifier", false));
  EXPECT_EQ(m.tensors.size(), 2u + 7 * 8);
  EXPECT_TRUE(m.require("rms_final", {256}, {FormatId::F32}).ok());
  EXPECT_TRUE(m.require("tok_embeddings", {512, 256}, {FormatId::F32}).ok());
  EXPECT_TRUE(m.require("layers.7.wq", {256 * 256 / 4}, {FormatId::I8_ROW}).ok());
  EXPECT_TRUE(m.require("layers.0.wk", {128 * 256 / 4}, {FormatId::I8_ROW}).ok());
  // FORMAT.md: the body starts with rms_final at 256, and the last record ends the file.
  const uint8_t* base = m.maps[0]->data();
  EXPECT_EQ(static_cast<const uint8_t*>(m.find("rms_final")->view.data) - base, 256);
  const TensorInfo* last = m.find("layers.7.w3");
  EXPECT_EQ(static_cast<const uint8_t*>(last->view.data) + last->bytes, base + m.maps[0]->size());
  // Every weight decodes to -1, 0 or +1 and all three occur; scales are mean|W| > 0.
  std::vector<float> row(256);
  int count[3] = {0, 0, 0};
  for (int l = 0; l < 8; ++l) {
    const TensorInfo* wq = m.find(bitnet_c_tensor_name(l, "wq"));
    EXPECT_GT(bitnet_c_scale(*wq), 0.0f);
    for (int64_t r = 0; r < 256; ++r) {
      ASSERT_TRUE(bitnet_c_unpack_row(*wq, r, 256, row.data()).ok());
      for (float w : row) ++count[int(w) + 1];
    }
  }
  EXPECT_GT(count[0], 0);
  EXPECT_GT(count[1], 0);
  EXPECT_GT(count[2], 0);
}

TEST(IoBitnetC, SyntheticWeightsDecode) {
  const Cfg c;
  const std::vector<uint8_t> file = make(c);
  for (auto* fn : {&parse, &parse_as_llama2c}) {
    auto r = (*fn)(file);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->container, kBitnetCContainer);
    EXPECT_EQ(r->get_int_or("bitnet.hidden_dim", 0), 12);
    const float* emb = static_cast<const float*>(r->find("tok_embeddings")->view.data);
    EXPECT_EQ(emb[0], float(c.dim) / 8);  // rms_final comes first
    EXPECT_EQ(emb[c.vocab * c.dim - 1], float(c.dim * (1 + c.vocab) - 1) / 8);
    const std::vector<Mat> recs = records(c);
    for (size_t k = 0; k < recs.size(); ++k) {
      const TensorInfo* t = r->find(recs[k].name);
      ASSERT_NE(t, nullptr) << recs[k].name;
      EXPECT_EQ(t->bytes, 4 + size_t(recs[k].out * recs[k].in / 4)) << recs[k].name;
      EXPECT_EQ(bitnet_c_scale(*t), scale_of(k)) << recs[k].name;
      std::vector<float> row(size_t(recs[k].in));
      for (int64_t rr = 0; rr < recs[k].out; ++rr) {
        ASSERT_TRUE(bitnet_c_unpack_row(*t, rr, recs[k].in, row.data()).ok());
        for (int64_t cc = 0; cc < recs[k].in; ++cc)
          ASSERT_EQ(row[size_t(cc)], float(weight_of(k, rr * recs[k].in + cc))) << recs[k].name << " " << rr << "," << cc;
      }
    }
    // A row past the record is an error, not a read past it.
    EXPECT_FALSE(bitnet_c_unpack_row(*r->find("layers.0.wk"), 4, 8, std::vector<float>(8).data()).ok());
  }
}

TEST(IoBitnetC, SizeDecidesBetweenFp32AndTernary) {
  // Neither size: the llama2.c parser names both.
  std::vector<uint8_t> b = make(Cfg());
  const uint64_t ternary = b.size();
  EXPECT_EQ(bitnet_c_expected_size(b.data(), b.size()), ternary);
  b.push_back(0);
  EXPECT_TRUE(FailsWith(parse_as_llama2c(b), "hostile.bin",
                        strfmt("bytes (fp32 llama2.c) or %llu bytes (bitllama2.c ternary), found %llu",
                               (unsigned long long)ternary, (unsigned long long)ternary + 1)));
  EXPECT_TRUE(FailsWith(parse(b), "hostile.bin", strfmt("should be %llu bytes, found", (unsigned long long)ternary)));
}

TEST(IoBitnetC, BitnetSmallTruncatedNamesBothSizes) {
  NB_REQUIRE_DATA(kModel);
  auto full = testing::read_bytes(nb::test::data_path(kModel));
  full.resize(full.size() - 1);
  EXPECT_TRUE(FailsWith(parse_as_llama2c(full), "hostile.bin",
                        "should be 13124864 bytes (fp32 llama2.c) or 1312224 bytes (bitllama2.c ternary), found 1312223"));
}

TEST(IoBitnetC, EveryTruncationFailsCleanly) {
  const std::vector<uint8_t> full = make(Cfg());
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + long(n));
    ASSERT_TRUE(FailsWith(parse(prefix), "hostile.bin")) << "prefix " << n;
    ASSERT_TRUE(FailsWith(parse_as_llama2c(prefix), "hostile.bin")) << "prefix " << n;
  }
}

TEST(IoBitnetC, InvalidCodeNamesTensorAndOffset) {
  const Cfg c;
  std::vector<uint8_t> b = make(c);
  // The second code byte of layers.1.wk: after the header, the f32 tensors, the
  // two wq records and the layers.0.wk record, then its own scale.
  const size_t wq = 4 + 8 * 8 / 4, wk = 4 + 4 * 8 / 4;
  const size_t at = 256 + 4 * 8 * 11 + 2 * wq + wk + 4 + 1;
  b[at] = 0x08;  // codes 00 10 00 00: weight 1 of the byte is the invalid 10
  EXPECT_TRUE(FailsWith(parse(b), "hostile.bin",
                        strfmt("tensor 'layers.1.wk': invalid 2-bit code 10 in byte 0x08 at file offset %zu", at)));
  EXPECT_TRUE(FailsWith(parse_as_llama2c(b), "hostile.bin", "tensor 'layers.1.wk': invalid 2-bit code 10"));
}

TEST(IoBitnetC, RejectsBadScales) {
  for (float s : {0.0f, -1.0f, NAN, INFINITY}) {
    std::vector<uint8_t> b = make(Cfg());
    std::memcpy(&b[256 + 4 * 8 * 11], &s, 4);  // the scale of layers.0.wq
    EXPECT_TRUE(FailsWith(parse(b), "hostile.bin", "tensor 'layers.0.wq': scale"));
  }
}

TEST(IoBitnetC, RejectsBadHeaders) {
  auto bad = [](Cfg c, const std::string& part) {
    std::vector<uint8_t> b = make(Cfg());  // the body of the default config; the header may lie
    const int32_t h[7] = {c.dim, c.hidden, c.layers, c.heads, c.kv_heads, c.vocab, c.seq};
    std::memcpy(b.data() + 8, h, sizeof h);
    b[36] = c.shared;
    EXPECT_TRUE(FailsWith(parse(b), "hostile.bin", part));
  };
  Cfg c;
  c.dim = 0;                  bad(c, "dim must be positive");
  c = Cfg(); c.hidden = -1;   bad(c, "hidden_dim must be positive");
  c = Cfg(); c.layers = 0;    bad(c, "n_layers must be positive");
  c = Cfg(); c.heads = 0;     bad(c, "n_heads must be positive");
  c = Cfg(); c.kv_heads = -2; bad(c, "n_kv_heads must be positive");
  c = Cfg(); c.vocab = INT32_MIN; bad(c, "vocab_size must be positive");
  c = Cfg(); c.seq = 0;       bad(c, "seq_len must be positive");
  c = Cfg(); c.heads = 3;     bad(c, "n_heads does not divide dim");
  c = Cfg(); c.kv_heads = 3;  bad(c, "n_kv_heads does not divide n_heads");
  c = Cfg(); c.heads = 8;     bad(c, "head size dim/n_heads is odd");
  c = Cfg(); c.dim = 6; c.heads = 3; c.kv_heads = 1; bad(c, "dim is not a multiple of 4");
  c = Cfg(); c.shared = 2;    bad(c, "shared_classifier is 2");
  c = Cfg(); c.shared = 0;    bad(c, "shared_classifier = 0");
  c = Cfg(); c.vocab = 11;    bad(c, "should be");
  c = Cfg(); c.dim = 1 << 28; c.hidden = 1 << 30; c.layers = 1 << 30; bad(c, "should be more than 2^64 bytes");

  std::vector<uint8_t> b = make(Cfg());
  b[0] ^= 1;
  EXPECT_TRUE(FailsWith(parse(b), "hostile.bin", "magic"));
  b = make(Cfg());
  b[4] = 2;
  EXPECT_TRUE(FailsWith(parse(b), "hostile.bin", "version 2"));
  EXPECT_TRUE(FailsWith(parse(std::vector<uint8_t>(b.begin(), b.begin() + 255)), "hostile.bin", "header needs 256 bytes"));
}

}  // namespace
}  // namespace nb::io
