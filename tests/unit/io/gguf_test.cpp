// GGUF reader: real files from llama.cpp, and hostile headers built byte by byte.
#include <gtest/gtest.h>

#include <random>

#include "formats/format.h"
#include "io/gguf_writer.h"
#include "io/parse.h"
#include "io_test_util.h"
#include "support/test_support.h"

namespace nb::io {
namespace {

using testing::Bytes;
using testing::FailsWith;

// ---- real files ----

TEST(IoGguf, Stories260K) {
  NB_REQUIRE_DATA("models/gguf-small/stories260K.gguf");
  const std::string path = nb::test::data_path("models/gguf-small/stories260K.gguf");
  auto r = open_gguf(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ModelFile& m = r.value();
  EXPECT_EQ(m.container, "gguf");
  EXPECT_EQ(m.tensors.size(), 48u);
  EXPECT_EQ(m.meta.size(), 19u);
  EXPECT_EQ(m.get_string_or("general.architecture", ""), "llama");
  EXPECT_EQ(m.get_int_or("llama.embedding_length", 0), 64);
  EXPECT_EQ(m.get_int_or("llama.attention.head_count_kv", 0), 4);
  EXPECT_FLOAT_EQ(float(m.get_float_or("llama.attention.layer_norm_rms_epsilon", 0)), 1e-5f);
  const MetaValue* tokens = m.get("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  EXPECT_EQ(tokens->elem_type, MetaType::String);
  EXPECT_EQ(tokens->strings.size(), 512u);
  EXPECT_EQ(m.get("tokenizer.ggml.scores")->floats.size(), 512u);
  EXPECT_EQ(uint32_t(m.get_int_or("tokenizer.ggml.padding_token_id", 0)), 4294967295u);

  auto emb = m.require("token_embd.weight", {512, 64}, {FormatId::F32});
  ASSERT_TRUE(emb.ok()) << emb.status().message();
  EXPECT_EQ(emb->stride[0], 64 * 4);
  EXPECT_EQ(emb->stride[1], 4);
  EXPECT_TRUE(m.require("blk.0.attn_k.weight", {32, 64}).ok());
  EXPECT_TRUE(m.require("blk.4.ffn_down.weight", {64, 172}).ok());
  EXPECT_TRUE(m.require("output_norm.weight", {64}).ok());
  // Tensor data is 32-byte aligned inside the map.
  for (const TensorInfo& t : m.tensors) {
    EXPECT_EQ((static_cast<const uint8_t*>(t.view.data) - m.maps[0]->data()) % 32, 0) << t.name;
    EXPECT_EQ(t.file, path);
  }
  // Same values as the llama2.c file it was converted from.
  auto l2c = open_llama2c(nb::test::data_path("models/stories260K/stories260K.bin"));
  ASSERT_TRUE(l2c.ok()) << l2c.status().message();
  const TensorInfo* a = m.find("blk.2.attn_q.weight");
  const TensorInfo* b = l2c->find("wq");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(std::memcmp(a->view.data, b->view.row<char>(2), a->bytes), 0);
}

TEST(IoGguf, TinyRandomF16) {
  NB_REQUIRE_DATA("models/gguf-small/llama-2-tiny-random.gguf");
  auto r = open_model(nb::test::data_path("models/gguf-small/llama-2-tiny-random.gguf"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->container, "gguf");
  EXPECT_EQ(r->tensors.size(), 12u);
  EXPECT_EQ(r->get_string_or("general.name", ""), "LLaMA v2");
  auto emb = r->require("token_embd.weight", {32000, 8}, {FormatId::F16});
  ASSERT_TRUE(emb.ok()) << emb.status().message();
  EXPECT_EQ(emb->stride[0], 16);
  EXPECT_TRUE(r->require("blk.0.ffn_down.weight", {8, 32}, {FormatId::F16}).ok());
  EXPECT_TRUE(r->require("blk.0.attn_norm.weight", {8}, {FormatId::F32}).ok());
  EXPECT_EQ(r->get("tokenizer.ggml.tokens")->strings.size(), 32000u);
}

struct QuantCase {
  const char* file;
  FormatId attn_q;
  FormatId embd;
};

TEST(IoGguf, LlamaGutenbergQuantized) {
  const QuantCase cases[] = {
      {"llama-gutenberg-Q8_0.gguf", FormatId::Q8_0, FormatId::Q8_0},
      {"llama-gutenberg-Q4_0.gguf", FormatId::Q4_0, FormatId::Q6_K},
      {"llama-gutenberg-Q4_K_M.gguf", FormatId::Q4_K, FormatId::Q6_K},
  };
  for (const QuantCase& c : cases) {
    const std::string rel = std::string("models/llama-gutenberg-gguf/") + c.file;
    if (!nb::test::data_available(rel)) GTEST_SKIP() << "no " << rel;
    auto r = open_gguf(nb::test::data_path(rel));
    ASSERT_TRUE(r.ok()) << r.status().message();
    const ModelFile& m = r.value();
    EXPECT_EQ(m.get_int_or("llama.block_count", 0), 8) << c.file;
    auto q = m.require("blk.0.attn_q.weight", {256, 256}, {c.attn_q});
    ASSERT_TRUE(q.ok()) << q.status().message();
    EXPECT_EQ(size_t(q->stride[0]), formats::row_bytes(c.attn_q, 256));
    EXPECT_TRUE(m.require("token_embd.weight", {8192, 256}, {c.embd}).ok()) << c.file;
    EXPECT_TRUE(m.require("output_norm.weight", {256}, {FormatId::F32}).ok()) << c.file;
    EXPECT_TRUE(m.require("blk.7.ffn_down.weight", {256, 768}).ok()) << c.file;
    auto wrong = m.require("blk.0.attn_k.weight", {256, 256});
    EXPECT_TRUE(FailsWith(wrong, c.file, "expected shape [256, 256], found [128, 256]"));
  }
}

TEST(IoGguf, LlamaCppTernaryFileLoads) {
  NB_REQUIRE_DATA("models/llama-gutenberg-gguf/llama-gutenberg-TQ2_0.gguf");
  auto r = open_gguf(nb::test::data_path("models/llama-gutenberg-gguf/llama-gutenberg-TQ2_0.gguf"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const TensorInfo* t = r->find("blk.0.attn_q.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->view.format, FormatId::TQ2_0);
  EXPECT_EQ(t->bytes, size_t(256) * 66);  // 256 rows of one 256-weight block
}

TEST(IoGguf, VocabOnlyFiles) {
  for (const char* rel : {"tokenizers/ggml-vocab-llama-spm.gguf", "tokenizers/ggml-vocab-gpt-2.gguf"}) {
    if (!nb::test::data_available(rel)) GTEST_SKIP() << "no " << rel;
    auto r = open_model(nb::test::data_path(rel));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_TRUE(r->tensors.empty());
    EXPECT_GT(r->get("tokenizer.ggml.tokens")->strings.size(), 30000u) << rel;
    EXPECT_FALSE(r->get_string_or("tokenizer.ggml.model", "").empty());
  }
}

// ---- hostile headers ----

void tensor_info(Bytes& b, const std::string& name, std::vector<uint64_t> dims_inner_first, uint32_t type,
                 uint64_t offset) {
  b.str(name).put<uint32_t>(uint32_t(dims_inner_first.size()));
  for (uint64_t d : dims_inner_first) b.put<uint64_t>(d);
  b.put<uint32_t>(type).put<uint64_t>(offset);
}

// A GGUF with the given KV and tensor-info bytes, padded to 32, then `data` zero bytes.
std::vector<uint8_t> gguf(uint64_t n_kv, const Bytes& kvs, uint64_t n_tensors, const Bytes& infos, size_t data,
                          uint32_t version = 3) {
  Bytes b;
  b.raw("GGUF").put<uint32_t>(version).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
  b.b.insert(b.b.end(), kvs.b.begin(), kvs.b.end());
  b.b.insert(b.b.end(), infos.b.begin(), infos.b.end());
  b.zeros((32 - b.size() % 32) % 32).zeros(data);
  return b.b;
}

Bytes arch_kv() {
  Bytes kv;
  kv.str("general.architecture").put<uint32_t>(8).str("llama");
  return kv;
}

Bytes one_tensor(std::vector<uint64_t> dims = {4, 2}, uint32_t type = 0, uint64_t offset = 0,
                 const std::string& name = "blk.0.attn_q.weight") {
  Bytes t;
  tensor_info(t, name, std::move(dims), type, offset);
  return t;
}

// Parses an exact-size heap copy, so ASan catches any read past the end. The
// copy lives until the next call: the views of the result point into it.
Result<ModelFile> parse(const std::vector<uint8_t>& b) {
  static std::vector<uint8_t> copy;
  copy = std::vector<uint8_t>(b.begin(), b.end());  // exact capacity
  return parse_gguf(copy.data(), copy.size(), "hostile.gguf");
}

TEST(IoGguf, HandBuiltValidFileLoads) {
  auto r = parse(gguf(1, arch_kv(), 1, one_tensor(), 32));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->require("blk.0.attn_q.weight", {2, 4}, {FormatId::F32}).ok());
}

TEST(IoGguf, RejectsBadMagicAndVersions) {
  auto good = gguf(1, arch_kv(), 1, one_tensor(), 32);
  auto bad = good;
  bad[0] = 'X';
  EXPECT_TRUE(FailsWith(parse(bad), "hostile.gguf", "not a GGUF file"));
  EXPECT_TRUE(FailsWith(parse(gguf(1, arch_kv(), 1, one_tensor(), 32, 1)), "hostile.gguf", "version 1 is not supported"));
  EXPECT_TRUE(FailsWith(parse(gguf(1, arch_kv(), 1, one_tensor(), 32, 0x03000000)), "hostile.gguf", "big-endian"));
  EXPECT_TRUE(FailsWith(parse(gguf(1, arch_kv(), 1, one_tensor(), 32, 7)), "hostile.gguf", "unsupported GGUF version 7"));
  EXPECT_TRUE(parse(gguf(1, arch_kv(), 1, one_tensor(), 32, 2)).ok());
}

TEST(IoGguf, RejectsHugeCounts) {
  EXPECT_TRUE(FailsWith(parse(gguf(1ull << 60, arch_kv(), 1, one_tensor(), 32)), "hostile.gguf", "metadata count"));
  EXPECT_TRUE(FailsWith(parse(gguf(1, arch_kv(), ~0ull, one_tensor(), 32)), "hostile.gguf", "tensor count"));
  Bytes kv;
  kv.str("k").put<uint32_t>(8).put<uint64_t>(~0ull);  // string longer than the file
  EXPECT_TRUE(FailsWith(parse(gguf(1, kv, 0, {}, 0)), "hostile.gguf", "string value of key 'k'"));
  Bytes arr;
  arr.str("a").put<uint32_t>(9).put<uint32_t>(6).put<uint64_t>(1ull << 40);  // 2^40 floats
  EXPECT_TRUE(FailsWith(parse(gguf(1, arr, 0, {}, 0)), "hostile.gguf", "cannot fit"));
  Bytes strs;
  strs.str("s").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(1ull << 62);
  EXPECT_TRUE(FailsWith(parse(gguf(1, strs, 0, {}, 0)), "hostile.gguf", "cannot fit"));
  Bytes longkey;
  longkey.put<uint64_t>(1ull << 20).zeros(1 << 20).put<uint32_t>(4).put<uint32_t>(1);
  EXPECT_TRUE(FailsWith(parse(gguf(1, longkey, 0, {}, 0)), "hostile.gguf", "more than the 65535 allowed"));
}

TEST(IoGguf, ReadsEveryValueTypeAndRejectsBadOnes) {
  Bytes kv;
  kv.str("u8").put<uint32_t>(0).put<uint8_t>(200);
  kv.str("i8").put<uint32_t>(1).put<int8_t>(-5);
  kv.str("u16").put<uint32_t>(2).put<uint16_t>(60000);
  kv.str("i16").put<uint32_t>(3).put<int16_t>(-30000);
  kv.str("u32").put<uint32_t>(4).put<uint32_t>(4000000000u);
  kv.str("i32").put<uint32_t>(5).put<int32_t>(-7);
  kv.str("f32").put<uint32_t>(6).put<float>(0.5f);
  kv.str("bool").put<uint32_t>(7).put<uint8_t>(1);
  kv.str("str").put<uint32_t>(8).str("hi");
  kv.str("arr").put<uint32_t>(9).put<uint32_t>(5).put<uint64_t>(3).put<int32_t>(1).put<int32_t>(-2).put<int32_t>(3);
  kv.str("u64").put<uint32_t>(10).put<uint64_t>(~0ull);
  kv.str("i64").put<uint32_t>(11).put<int64_t>(-1ll << 40);
  kv.str("f64").put<uint32_t>(12).put<double>(2.25);
  auto r = parse(gguf(13, kv, 0, {}, 0));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ModelFile& m = r.value();
  EXPECT_EQ(m.get_int_or("u8", 0), 200);
  EXPECT_EQ(m.get_int_or("i8", 0), -5);
  EXPECT_EQ(m.get_int_or("u16", 0), 60000);
  EXPECT_EQ(m.get_int_or("i16", 0), -30000);
  EXPECT_EQ(m.get_int_or("u32", 0), 4000000000ll);
  EXPECT_EQ(m.get_int_or("i32", 0), -7);
  EXPECT_EQ(m.get_float_or("f32", 0), 0.5);
  EXPECT_TRUE(m.get_bool_or("bool", false));
  EXPECT_EQ(m.get_string_or("str", ""), "hi");
  EXPECT_EQ(m.get("arr")->ints, (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(uint64_t(m.get("u64")->i), ~0ull);
  EXPECT_TRUE(FailsWith(m.get_int("u64"), "hostile.gguf", "fits in int64"));
  EXPECT_EQ(m.get_int_or("i64", 0), -1ll << 40);
  EXPECT_EQ(m.get_float_or("f64", 0), 2.25);

  Bytes nested;
  nested.str("n").put<uint32_t>(9).put<uint32_t>(9).put<uint64_t>(1).put<uint32_t>(4).put<uint64_t>(0);
  EXPECT_TRUE(FailsWith(parse(gguf(1, nested, 0, {}, 0)), "hostile.gguf", "key 'n': arrays of arrays"));
  Bytes badtype;
  badtype.str("t").put<uint32_t>(13).put<uint32_t>(0);
  EXPECT_TRUE(FailsWith(parse(gguf(1, badtype, 0, {}, 0)), "hostile.gguf", "key 't': unknown value type 13"));
  Bytes dup = arch_kv();
  dup.str("general.architecture").put<uint32_t>(8).str("x");
  EXPECT_TRUE(FailsWith(parse(gguf(2, dup, 0, {}, 0)), "hostile.gguf", "appears twice"));
}

TEST(IoGguf, RejectsBadTensorInfos) {
  auto fails = [](const Bytes& infos, uint64_t n, size_t data, const char* part, const Bytes& kv = arch_kv()) {
    EXPECT_TRUE(FailsWith(parse(gguf(1, kv, n, infos, data)), "hostile.gguf", part));
  };
  fails(one_tensor({4, 2}, 99), 1, 32, "tensor 'blk.0.attn_q.weight': unknown tensor type 99");
  fails(one_tensor({4, 2}, 3), 1, 32, "tensor 'blk.0.attn_q.weight': unsupported tensor type 3 (Q4_1)");
  fails(one_tensor({1, 1, 1, 1, 1}), 1, 32, "5 dimensions");
  fails(one_tensor({}), 1, 32, "0 dimensions");
  fails(one_tensor({4, 2}, 0, 8), 1, 64, "not a multiple of the alignment 32");
  fails(one_tensor({4, 3}), 1, 32, "data [");                           // 48 bytes, 32 there
  fails(one_tensor({4, 2}, 0, 1ull << 63), 1, 32, "past the end");      // offset far away
  fails(one_tensor({1ull << 62, 1ull << 62}), 1, 32, "needs more bytes");  // rows × cols overflows
  fails(one_tensor({~0ull}), 1, 32, "dimension 0 is");
  fails(one_tensor({33}, 8), 1, 64, "block");                           // Q8_0 row of 33 elements
  Bytes two = one_tensor();
  tensor_info(two, "blk.0.attn_q.weight", {4, 2}, 0, 32);
  fails(two, 2, 64, "appears twice");
  Bytes align;
  align.str("general.alignment").put<uint32_t>(4).put<uint32_t>(48);
  fails(one_tensor(), 1, 32, "power of two", align);
  Bytes align0;
  align0.str("general.alignment").put<uint32_t>(4).put<uint32_t>(0);
  fails(one_tensor(), 1, 32, "power of two", align0);
}

TEST(IoGguf, ReportsTheExactDataRange) {
  auto r = parse(gguf(1, arch_kv(), 1, one_tensor({4, 3}), 32));
  ASSERT_FALSE(r.ok());
  const size_t size = gguf(1, arch_kv(), 1, one_tensor({4, 3}), 32).size();
  const size_t start = size - 32;
  EXPECT_NE(r.status().message().find(strfmt("hostile.gguf: tensor 'blk.0.attn_q.weight': data [%zu, %zu) runs past "
                                             "end of file (size %zu)", start, start + 48, size)),
            std::string::npos)
      << r.status().message();
}

std::vector<uint8_t> small_valid_file() {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 1);
  w.add("tokenizer.ggml.tokens", MetaValue::StrArray({"a", "bc", "def"}));
  w.add("tokenizer.ggml.scores", MetaValue::FloatArray({0.5, -1, 2}));
  static float data[2 * 32];
  static uint8_t q[2 * 34];
  EXPECT_TRUE(w.add_tensor("a", FormatId::F32, {2, 32}, data, sizeof data).ok());
  EXPECT_TRUE(w.add_tensor("b", FormatId::Q8_0, {2, 32}, q, sizeof q).ok());
  const std::string path = nb::test::temp_path("small.gguf");
  EXPECT_TRUE(w.write(path).ok());
  return testing::read_bytes(path);
}

TEST(IoGguf, EveryTruncationFailsCleanly) {
  const std::vector<uint8_t> full = small_valid_file();
  ASSERT_TRUE(parse(full).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + long(n));
    ASSERT_TRUE(FailsWith(parse(prefix), "hostile.gguf")) << "prefix " << n;
  }
}

TEST(IoGguf, RandomCorruptionNeverCrashes) {
  const std::vector<uint8_t> full = small_valid_file();
  std::mt19937 rng(1234);
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> b = full;
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      size_t at = rng() % std::min<size_t>(b.size(), 400);  // the header, where the structure is
      b[at] = uint8_t(rng() % 3 == 0 ? 0xff : rng());
    }
    auto r = parse(b);
    if (!r.ok()) {
      ASSERT_NE(r.status().message().find("hostile.gguf"), std::string::npos) << r.status().message();
    }
  }
}

TEST(IoGguf, EmptyAndMissingFiles) {
  const std::string empty = nb::test::temp_path("empty.gguf");
  testing::write_file(empty, std::string());
  EXPECT_TRUE(FailsWith(open_gguf(empty), empty));
  EXPECT_TRUE(FailsWith(open_gguf(empty + ".nope"), empty + ".nope", "cannot open"));
}

}  // namespace
}  // namespace nb::io
