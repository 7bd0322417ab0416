// The KL-divergence base file: the exact llama.cpp layout, a round trip
// through the writer and the reader, and corrupt input as clean errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "eval/kld_codec.h"
#include "eval/kld_file.h"
#include "support/test_support.h"

namespace nb::kld {
namespace {

template <class T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// A valid file written field by field from the layout llama.cpp's
// perplexity tool writes: magic, u32 n_ctx, i32 n_vocab, i32 n_chunk, i32
// tokens, then n_chunk × S records of record_words(n_vocab) uint16.
std::string make_file(uint32_t n_ctx, int32_t n_vocab, int32_t n_chunk, bool score_all = false) {
  std::string s = "_logits_";
  put(s, n_ctx);
  put(s, n_vocab);
  put(s, n_chunk);
  for (int64_t i = 0; i < int64_t(n_ctx) * n_chunk; ++i) put<int32_t>(s, int32_t(i % n_vocab));
  const int64_t S = scored_per_chunk(n_ctx, score_all), W = record_words(n_vocab);
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  std::vector<uint16_t> rec(static_cast<size_t>(W));
  for (int64_t r = 0; r < n_chunk * S; ++r) {
    for (int32_t v = 0; v < n_vocab; ++v) logits[size_t(v)] = float(std::sin(0.7 * double(r * n_vocab + v)) * 5);
    encode_log_probs(logits.data(), n_vocab, rec.data());
    s.append(reinterpret_cast<const char*>(rec.data()), rec.size() * 2);
  }
  return s;
}

Result<BaseView> parse(const std::string& s) {
  return parse_base(reinterpret_cast<const uint8_t*>(s.data()), s.size(), "base.kld");
}

void expect_error(const std::string& bytes, const std::string& needle) {
  auto r = parse(bytes);
  ASSERT_FALSE(r.ok()) << "expected an error containing: " << needle;
  EXPECT_EQ(r.status().message().rfind("base.kld: ", 0), 0u) << r.status().message();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(KldFile, ParsesLlamaCppLayout) {
  const std::string s = make_file(8, 5, 3);
  // 20 header bytes, 24 tokens, 3 chunks × (8-1-4 = 3) records × 2·(6+4) bytes
  ASSERT_EQ(s.size(), 20u + 24 * 4 + 3 * 3 * 20);
  auto r = parse(s);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->n_ctx, 8);
  EXPECT_EQ(r->n_vocab, 5);
  EXPECT_EQ(r->n_chunk, 3);
  EXPECT_FALSE(r->score_all);
  EXPECT_EQ(r->first(), 4);
  EXPECT_EQ(r->per_chunk(), 3);
  EXPECT_EQ(r->tokens()[23], 23 % 5);
  std::vector<uint16_t> rec;
  ASSERT_TRUE(r->chunk_records(2, rec).ok());
  EXPECT_EQ(rec.size(), 3u * 10);
  EXPECT_EQ(std::memcmp(rec.data(), s.data() + s.size() - 60, 60), 0);
  EXPECT_FALSE(r->chunk_records(3, rec).ok());
}

TEST(KldFile, ScoreAllFilesAreToldApartBySize) {
  auto r = parse(make_file(8, 5, 2, true));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->score_all);
  EXPECT_EQ(r->first(), 0);
  EXPECT_EQ(r->per_chunk(), 7);
}

TEST(KldFile, WriterRoundTrip) {
  const std::string path = test::temp_path("rt.kld");
  const int64_t C = 6, V = 7, N = 2;
  std::vector<int32_t> tokens;
  for (int i = 0; i < 15; ++i) tokens.push_back(i % 7);  // more than N·C: the rest is not written
  BaseWriter w;
  ASSERT_TRUE(w.open(path, C, V, N, false, tokens).ok());
  std::vector<uint16_t> chunk(static_cast<size_t>(scored_per_chunk(C, false) * record_words(V)));
  for (int c = 0; c < N; ++c) {
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = uint16_t(i + 100 * c);
    for (size_t j = 0; j < chunk.size(); j += size_t(record_words(V))) {
      const float h[2] = {0.001f, -3.0f};  // a valid header in each record
      std::memcpy(&chunk[j], h, 8);
    }
    ASSERT_TRUE(w.append_chunk(chunk).ok());
  }
  EXPECT_FALSE(w.append_chunk(chunk).ok());  // one chunk too many
  ASSERT_TRUE(w.finish().ok());
  auto f = BaseFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->view().n_ctx, C);
  EXPECT_EQ(f->view().n_chunk, N);
  EXPECT_EQ(f->view().tokens(), std::vector<int32_t>(tokens.begin(), tokens.begin() + N * C));
  std::vector<uint16_t> back;
  ASSERT_TRUE(f->view().chunk_records(1, back).ok());
  EXPECT_EQ(back, chunk);
}

TEST(KldFile, EveryTruncationIsAnError) {
  const std::string s = make_file(4, 3, 2);
  for (size_t n = 0; n < s.size(); ++n) {
    auto r = parse(s.substr(0, n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().message().rfind("base.kld: ", 0), 0u) << r.status().message();
  }
  expect_error(s.substr(0, 5), "magic");
  expect_error(s.substr(0, 10), "n_ctx");
  expect_error(s.substr(0, 15), "n_vocab");
  expect_error(s.substr(0, 19), "n_chunk");
  expect_error(s.substr(0, 30), "tokens");
  expect_error(s.substr(0, s.size() - 1), "truncated");
  expect_error(s + "xx", "bytes of log-probabilities");  // trailing bytes
}

TEST(KldFile, WrongMagic) {
  std::string s = make_file(4, 3, 1);
  s[0] = 'X';
  expect_error(s, "magic is \"Xlogits_\"");
  s.replace(0, 8, "GGUF\x03\0\0\0", 8);
  expect_error(s, "\\x03");
}

TEST(KldFile, AbsurdSizes) {
  auto header = [](uint32_t n_ctx, int32_t n_vocab, int32_t n_chunk) {
    std::string s = "_logits_";
    put(s, n_ctx), put(s, n_vocab), put(s, n_chunk);
    return s + std::string(64, '\0');
  };
  expect_error(header(1, 3, 1), "n_ctx is 1");
  expect_error(header(0xFFFFFFFFu, 3, 1), "n_ctx is 4294967295");
  expect_error(header(4, 0, 1), "n_vocab is 0");
  expect_error(header(4, -5, 1), "n_vocab is -5");
  expect_error(header(4, 3, -1), "n_chunk is -1");
  const int32_t big = std::numeric_limits<int32_t>::max();
  expect_error(header(uint32_t(big), 3, big), "tokens");
  // tokens fit (1 chunk of 2), but 2^31-1 vocab entries cannot follow
  std::string s = "_logits_";
  put<uint32_t>(s, 2), put(s, big), put<int32_t>(s, 1), put<int32_t>(s, 0), put<int32_t>(s, 1);
  expect_error(s, "bytes of log-probabilities");
  // huge n_ctx · n_chunk token counts are checked against the file size first
  s = "_logits_";
  put<uint32_t>(s, 2147483647u), put(s, big), put<int32_t>(s, 1);
  expect_error(s, "tokens");
  s = "_logits_";
  put<uint32_t>(s, 3), put(s, big), put(s, big);
  expect_error(s, "tokens");
}

TEST(KldFile, TokensOutOfRange) {
  std::string s = make_file(4, 3, 2);
  const int32_t bad[2] = {3, -1};
  for (int32_t b : bad) {
    std::string t = s;
    std::memcpy(&t[20 + 5 * 4], &b, 4);
    expect_error(t, strfmt("tokens[5] is %d, outside the vocabulary [0, 3)", b));
  }
}

TEST(KldFile, BadRecordHeaders) {
  const std::string s = make_file(4, 3, 2);
  auto r = parse(s);
  ASSERT_TRUE(r.ok());
  const size_t rec0 = 20 + 8 * 4;
  const float bad[3] = {std::numeric_limits<float>::quiet_NaN(), -1.0f, std::numeric_limits<float>::infinity()};
  for (float b : bad) {
    std::string t = s;
    std::memcpy(&t[rec0 + 8], &b, 4);  // record 0: scale, min_log_prob, 3 codes, 1 padding word
    auto v = parse(t);
    ASSERT_TRUE(v.ok());
    std::vector<uint16_t> rec;
    ASSERT_TRUE(v->chunk_records(0, rec).ok());  // the change is in the codes of record 0, harmless
    std::memcpy(&t[rec0], &b, 4);                // now the scale
    v = parse(t);
    ASSERT_TRUE(v.ok());
    Status st = v->chunk_records(0, rec);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("base.kld: chunk 0, scored token 0: scale"), std::string::npos) << st.message();
  }
  std::string t = s;
  const float pos = 0.5f;
  std::memcpy(&t[rec0 + 4], &pos, 4);
  std::vector<uint16_t> rec;
  Status st = parse(t)->chunk_records(0, rec);
  EXPECT_NE(st.message().find("min_log_prob is 0.5"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace nb::kld
