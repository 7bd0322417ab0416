// safetensors reader: real files and hostile headers.
#include <gtest/gtest.h>

#include "io/parse.h"
#include "io_test_util.h"
#include "support/test_support.h"

namespace nb::io {
namespace {

using testing::FailsWith;

// A safetensors file: u64 header length, the JSON header, `data` bytes (k-th byte = k).
std::vector<uint8_t> st_file(const std::string& header, size_t data) {
  testing::Bytes b;
  b.put<uint64_t>(header.size()).raw(header);
  for (size_t k = 0; k < data; ++k) b.put<uint8_t>(uint8_t(k));
  return b.b;
}

// Parses an exact-size heap copy, so ASan catches any read past the end. The
// copy lives until the next call: the views of the result point into it.
Result<ModelFile> parse(const std::vector<uint8_t>& b) {
  static std::vector<uint8_t> copy;
  copy = std::vector<uint8_t>(b.begin(), b.end());  // exact capacity
  return parse_safetensors(copy.data(), copy.size(), "hostile.safetensors");
}

const char* kGood =
    R"({"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},)"
    R"("a":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},"s":{"dtype":"F16","shape":[],"data_offsets":[20,22]}})";

TEST(IoSafetensors, HandBuiltFile) {
  std::vector<uint8_t> b = st_file(kGood, 22);
  auto r = parse(b);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ModelFile& m = r.value();
  EXPECT_EQ(m.container, "safetensors");
  EXPECT_EQ(m.get_string_or("safetensors.format", ""), "pt");
  ASSERT_EQ(m.tensors.size(), 3u);
  EXPECT_EQ(m.tensors[0].name, "b");  // header order is kept
  EXPECT_TRUE(m.require("b", {2, 3}, {FormatId::BF16}).ok());
  EXPECT_EQ(m.find("b")->view.stride[0], 6);
  EXPECT_EQ(m.find("b")->view.stride[1], 2);
  EXPECT_TRUE(m.require("a", {2}, {FormatId::F32}).ok());
  EXPECT_EQ(m.find("s")->view.ndim, 0);
  EXPECT_EQ(m.find("s")->bytes, 2u);
}

TEST(IoSafetensors, RealFiles) {
  NB_REQUIRE_DATA("models/mmfree-tiny-random/model.safetensors");
  auto r = open_safetensors(nb::test::data_path("models/mmfree-tiny-random/model.safetensors"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tensors.size(), 50u);
  EXPECT_TRUE(r->require("lm_head.weight", {512, 72}, {FormatId::F32}).ok());
  EXPECT_TRUE(r->require("model.embeddings.weight", {512, 72}, {FormatId::F32}).ok());
  if (nb::test::data_available("models/llama-gutenberg/reference_logits.safetensors")) {
    auto l = open_safetensors(nb::test::data_path("models/llama-gutenberg/reference_logits.safetensors"));
    ASSERT_TRUE(l.ok()) << l.status().message();
    EXPECT_TRUE(l->require("seq2", {64, 8192}, {FormatId::F32}).ok());
    EXPECT_NE(l->get_string_or("safetensors.description", "").find("logits"), std::string::npos);
  }
}

TEST(IoSafetensors, RejectsHostileHeaders) {
  auto fails = [](const std::vector<uint8_t>& b, const char* part) {
    EXPECT_TRUE(FailsWith(parse(b), "hostile.safetensors", part));
  };
  fails({}, "too short");
  fails({1, 2, 3}, "too short");
  testing::Bytes huge;
  huge.put<uint64_t>(~0ull).raw("{}");
  fails(huge.b, "header length");
  testing::Bytes over;
  over.put<uint64_t>(200ull << 20).raw("{}");
  fails(over.b, "header length");
  fails(st_file("{\"a\":", 0), "not valid JSON");
  fails(st_file("[1,2]", 0), "not an object");
  fails(st_file(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8),
        "tensor 'a': dtype I64 is not supported (nibble reads F32, F16, BF16)");
  fails(st_file(R"({"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1), "dtype F8_E4M3");
  fails(st_file(R"({"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,1]}})", 1), "unknown dtype 'Q9'");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
        "tensor 'a': data_offsets [0, 8) hold 8 bytes, but F32 [3] needs 12");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4), "runs past end of file");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,8]}})", 8), "bad data_offsets");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,18446744073709551615]}})", 8),
        "tensor 'a'");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "not a non-negative integer");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}})", 8), "not a non-negative integer");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", 8), "needs more bytes");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})", 4), "5 dimensions");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "data_offsets");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4), "data_offsets");
  fails(st_file(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), "dtype");
  fails(st_file(R"({"a":[1]})", 4), "tensor 'a': expected an object");
  fails(st_file(R"({"__metadata__":{"k":1}})", 0), "__metadata__ key 'k'");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4),
        "tensor 'a' appears twice");
  const std::string open(100000, '['), close(100000, ']');
  fails(st_file(R"({"a":{"dtype":"F32","shape":[)" + open + "]}}", 4), "nests JSON deeper than 64 levels");
  fails(st_file(R"({"a":{"dtype":"F32","shape":[)" + open + close + R"(],"data_offsets":[0,4]}})", 4),
        "nests JSON deeper");
  // Brackets inside strings do not count.
  fails(st_file(R"({"__metadata__":{"k":")" + open + R"("},"a":{"dtype":"F32","shape":[[[1]]],"data_offsets":[0,4]}})", 4),
        "shape entry 0 is not a non-negative integer: an array");
}

TEST(IoSafetensors, EveryTruncationFailsCleanly) {
  const std::vector<uint8_t> full = st_file(kGood, 22);
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + long(n));
    ASSERT_TRUE(FailsWith(parse(prefix), "hostile.safetensors")) << "prefix " << n;
  }
}

TEST(IoSafetensors, ZeroSizedTensor) {
  auto r = parse(st_file(R"({"e":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]}})", 0));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->find("e")->bytes, 0u);
}

}  // namespace
}  // namespace nb::io
