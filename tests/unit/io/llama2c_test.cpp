// llama2.c checkpoints: stories260K, synthetic version 0 / 1 files, bad headers.
#include <gtest/gtest.h>

#include "io/parse.h"
#include "io_test_util.h"
#include "support/test_support.h"

namespace nb::io {
namespace {

using testing::Bytes;
using testing::FailsWith;

TEST(IoLlama2c, Stories260K) {
  NB_REQUIRE_DATA("models/stories260K/stories260K.bin");
  auto r = open_llama2c(nb::test::data_path("models/stories260K/stories260K.bin"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ModelFile& m = r.value();
  EXPECT_EQ(m.container, "llama2c");
  EXPECT_EQ(m.get_int_or("llama2c.dim", 0), 64);
  EXPECT_EQ(m.get_int_or("llama2c.hidden_dim", 0), 172);
  EXPECT_EQ(m.get_int_or("llama2c.n_layers", 0), 5);
  EXPECT_EQ(m.get_int_or("llama2c.n_heads", 0), 8);
  EXPECT_EQ(m.get_int_or("llama2c.n_kv_heads", 0), 4);
  EXPECT_EQ(m.get_int_or("llama2c.vocab_size", 0), 512);
  EXPECT_EQ(m.get_int_or("llama2c.seq_len", 0), 512);
  EXPECT_EQ(m.get_int_or("llama2c.version", -1), 0);
  EXPECT_TRUE(m.get_bool_or("llama2c.shared_classifier", false));
  EXPECT_EQ(m.tensors.size(), 11u);
  EXPECT_EQ(m.find("wcls"), nullptr);
  EXPECT_TRUE(m.require("tok_embeddings", {512, 64}, {FormatId::F32}).ok());
  EXPECT_TRUE(m.require("rms_att", {5, 64}).ok());
  EXPECT_TRUE(m.require("wq", {5, 64, 64}).ok());
  EXPECT_TRUE(m.require("wk", {5, 32, 64}).ok());
  EXPECT_TRUE(m.require("wv", {5, 32, 64}).ok());
  EXPECT_TRUE(m.require("wo", {5, 64, 64}).ok());
  EXPECT_TRUE(m.require("rms_ffn", {5, 64}).ok());
  EXPECT_TRUE(m.require("w1", {5, 172, 64}).ok());
  EXPECT_TRUE(m.require("w2", {5, 64, 172}).ok());
  EXPECT_TRUE(m.require("w3", {5, 172, 64}).ok());
  EXPECT_TRUE(m.require("rms_final", {64}).ok());
  const TensorView& wk = m.find("wk")->view;
  EXPECT_EQ(wk.stride[0], 32 * 64 * 4);
  EXPECT_EQ(wk.stride[1], 64 * 4);
  EXPECT_EQ(static_cast<const uint8_t*>(m.find("tok_embeddings")->view.data) - m.maps[0]->data(), 28);
  // rms_final ends where the RoPE tables (2 × 512 × 4 floats) begin.
  const TensorInfo* fin = m.find("rms_final");
  EXPECT_EQ(static_cast<const uint8_t*>(fin->view.data) + fin->bytes + 2 * 512 * 4 * 4,
            m.maps[0]->data() + m.maps[0]->size());
}

struct Cfg {
  int32_t dim = 8, hidden = 12, layers = 2, heads = 2, kv_heads = 1, vocab = 10, seq = 3;
  bool shared = true;
};

// Tensor sizes in file order, as (name, floats); "" is the skipped RoPE tables.
std::vector<std::pair<std::string, size_t>> sizes(const Cfg& c, int version) {
  const size_t D = size_t(c.dim), H = size_t(c.hidden), L = size_t(c.layers), V = size_t(c.vocab), S = size_t(c.seq);
  const size_t hs = D / size_t(c.heads), KV = size_t(c.kv_heads) * hs;
  std::vector<std::pair<std::string, size_t>> v;
  if (version == 0) {
    v = {{"tok_embeddings", V * D}, {"rms_att", L * D}, {"wq", L * D * D}, {"wk", L * KV * D}, {"wv", L * KV * D},
         {"wo", L * D * D},         {"rms_ffn", L * D}, {"w1", L * H * D}, {"w2", L * D * H},  {"w3", L * H * D},
         {"rms_final", D},          {"", S * hs}};
  } else {
    v = {{"rms_att", L * D}, {"rms_ffn", L * D}, {"rms_final", D},    {"tok_embeddings", V * D},
         {"wq", L * D * D},  {"wk", L * KV * D}, {"wv", L * KV * D}, {"wo", L * D * D},
         {"w1", L * H * D},  {"w2", L * D * H},  {"w3", L * H * D}};
  }
  if (!c.shared) v.push_back({"wcls", V * D});
  return v;
}

// A checkpoint whose every float is the index of its tensor in file order.
std::vector<uint8_t> make(const Cfg& c, int version) {
  Bytes b;
  if (version == 1) b.put<uint32_t>(0x616b3432).put<int32_t>(1);
  b.put(c.dim).put(c.hidden).put(c.layers).put(c.heads).put(c.kv_heads);
  b.put<int32_t>(version == 0 && !c.shared ? -c.vocab : c.vocab).put(c.seq);
  if (version == 1) b.put<uint8_t>(c.shared).zeros(256 - b.size());
  float tag = 0;
  for (auto& [name, n] : sizes(c, version)) {
    for (size_t k = 0; k < n; ++k) b.put<float>(tag);
    tag += 1;
  }
  return b.b;
}

// Parses an exact-size heap copy, so ASan catches any read past the end. The
// copy lives until the next call: the views of the result point into it.
Result<ModelFile> parse(const std::vector<uint8_t>& b) {
  static std::vector<uint8_t> copy;
  copy = std::vector<uint8_t>(b.begin(), b.end());  // exact capacity
  return parse_llama2c(copy.data(), copy.size(), "hostile.bin");
}

TEST(IoLlama2c, SyntheticVersions) {
  for (int version : {0, 1}) {
    for (bool shared : {true, false}) {
      Cfg c;
      c.shared = shared;
      auto r = parse(make(c, version));
      ASSERT_TRUE(r.ok()) << r.status().message();
      EXPECT_EQ(r->get_int_or("llama2c.version", -1), version);
      EXPECT_EQ(r->get_int_or("llama2c.vocab_size", 0), 10);
      EXPECT_EQ(r->get_bool_or("llama2c.shared_classifier", !shared), shared);
      EXPECT_EQ(r->find("wcls") != nullptr, !shared);
      EXPECT_TRUE(r->require("wk", {2, 4, 8}).ok());
      EXPECT_TRUE(r->require("w2", {2, 8, 12}).ok());
      float tag = 0;
      for (auto& [name, n] : sizes(c, version)) {
        if (!name.empty()) {
          const TensorInfo* t = r->find(name);
          ASSERT_NE(t, nullptr) << name;
          EXPECT_EQ(t->bytes, n * 4) << name;
          const float* f = static_cast<const float*>(t->view.data);
          EXPECT_EQ(f[0], tag) << name << " v" << version;
          EXPECT_EQ(f[n - 1], tag) << name << " v" << version;
        }
        tag += 1;
      }
    }
  }
}

TEST(IoLlama2c, RejectsBadHeaders) {
  auto bad = [](Cfg c, const char* part) {
    Cfg sized;  // data for the default config, header possibly lying
    std::vector<uint8_t> b = make(sized, 0);
    const int32_t h[7] = {c.dim, c.hidden, c.layers, c.heads, c.kv_heads, c.vocab, c.seq};
    std::memcpy(b.data(), h, sizeof h);
    EXPECT_TRUE(FailsWith(parse(b), "hostile.bin", part));
  };
  Cfg c;
  c.dim = 0;          bad(c, "dim must be positive");
  c = Cfg(); c.hidden = -1;   bad(c, "hidden_dim must be positive");
  c = Cfg(); c.layers = 0;    bad(c, "n_layers must be positive");
  c = Cfg(); c.heads = 3;     bad(c, "n_heads does not divide dim");
  c = Cfg(); c.kv_heads = 3;  bad(c, "n_kv_heads does not divide n_heads");
  c = Cfg(); c.heads = 8;     bad(c, "head size dim/n_heads is odd");
  c = Cfg(); c.seq = 0;       bad(c, "seq_len must be positive");
  c = Cfg(); c.vocab = INT32_MIN; bad(c, "vocab_size must be positive");
  c = Cfg(); c.vocab = 11;    bad(c, "should be");
  c = Cfg(); c.dim = 1 << 30; c.hidden = 1 << 30; c.layers = 1 << 30; bad(c, "should be more than 2^64 bytes");
  c = Cfg(); c.dim = 1 << 30; c.heads = 2; bad(c, "should be");

  std::vector<uint8_t> b = make(Cfg(), 0);
  b.push_back(0);
  EXPECT_TRUE(FailsWith(parse(b), "hostile.bin", "bytes, found"));

  Bytes v2;
  v2.put<uint32_t>(0x616b3432).put<int32_t>(2).zeros(248);
  EXPECT_TRUE(FailsWith(parse(v2.b), "hostile.bin", "version 2 (int8, Q8_0) checkpoints are not supported"));
  Bytes v9;
  v9.put<uint32_t>(0x616b3432).put<int32_t>(9).zeros(248);
  EXPECT_TRUE(FailsWith(parse(v9.b), "hostile.bin", "unknown llama2.c checkpoint version 9"));
  std::vector<uint8_t> flag = make(Cfg(), 1);
  flag[36] = 7;
  EXPECT_TRUE(FailsWith(parse(flag), "hostile.bin", "shared_classifier flag is 7"));
}

TEST(IoLlama2c, EveryTruncationFailsCleanly) {
  for (int version : {0, 1}) {
    const std::vector<uint8_t> full = make(Cfg(), version);
    ASSERT_TRUE(parse(full).ok());
    for (size_t n = 0; n < full.size(); ++n) {
      std::vector<uint8_t> prefix(full.begin(), full.begin() + long(n));
      ASSERT_TRUE(FailsWith(parse(prefix), "hostile.bin")) << "prefix " << n;
    }
  }
}

TEST(IoLlama2c, ExactSizeMessage) {
  NB_REQUIRE_DATA("models/stories260K/stories260K.bin");
  auto full = testing::read_bytes(nb::test::data_path("models/stories260K/stories260K.bin"));
  full.resize(full.size() - 4);
  EXPECT_TRUE(FailsWith(parse(full), "hostile.bin", "should be 1056540 bytes, found 1056536"));
}

}  // namespace
}  // namespace nb::io
