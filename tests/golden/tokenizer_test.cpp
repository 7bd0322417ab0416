// Tokenizers against the reference encodings in ../shared/data: llama2.c's
// encoder, SentencePiece, and llama.cpp's own tokenizer test vectors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "io/model_file.h"
#include "support/test_support.h"
#include "tokenizer/from_bytes.h"
#include "tokenizer/spm_vocab.h"
#include "tokenizer/tokenizer.h"

namespace nb {
namespace {

using test::data_path;
using test::read_file;
using test::read_ids;

std::unique_ptr<Tokenizer> load(const std::string& rel) {
  auto t = load_tokenizer(data_path(rel));
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? std::move(t).value() : nullptr;
}

std::string case_text(int i) { return read_file(data_path("reference/encode/case" + std::to_string(i) + ".txt")); }

std::vector<int32_t> case_ids(int i, const std::string& which) {
  return read_ids(data_path("reference/encode/case" + std::to_string(i) + "." + which + ".ids.txt"));
}

// Print ids the way a generation loop does: decode(prev, id) from the start.
std::string detokenize(const Tokenizer& t, const std::vector<int32_t>& ids, int32_t prev = -1) {
  std::string out;
  for (int32_t id : ids) {
    out += t.decode(prev, id);
    prev = id;
  }
  return out;
}

// The 46 strings of a llama.cpp .inp file, split at each separator.
std::vector<std::string> read_inp(const std::string& path) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::string all = read_file(path);
  std::vector<std::string> out;
  size_t pos = 0, hit;
  while ((hit = all.find(sep, pos)) != std::string::npos) {
    out.push_back(all.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  return out;
}

std::vector<std::vector<int32_t>> read_out(const std::string& path) {
  std::vector<std::vector<int32_t>> out;
  std::string all = read_file(path);
  size_t pos = 0, nl;
  while ((nl = all.find('\n', pos)) != std::string::npos) {
    std::vector<int32_t> ids;
    const char* p = all.c_str() + pos;
    const char* end = all.c_str() + nl;
    while (p < end) {
      char* next;
      long v = std::strtol(p, &next, 10);
      if (next == p) break;
      ids.push_back(int32_t(v));
      p = next;
    }
    out.push_back(ids);
    pos = nl + 1;
  }
  return out;
}

// ---- llama2.c tokenizer.bin ----

TEST(TokenizerGolden, Llama2cTok512MatchesRunC) {
  NB_REQUIRE_DATA("models/stories260K/tok512.bin");
  auto t = load("models/stories260K/tok512.bin");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind(), "llama2c");
  EXPECT_EQ(t->n_vocab(), 512);
  for (int i = 1; i <= 5; ++i) {
    std::string text = case_text(i);
    auto ids = t->encode(text, true);
    EXPECT_EQ(ids, case_ids(i, "tok512.llama2c")) << "case " << i;
    EXPECT_EQ(detokenize(*t, ids), text) << "case " << i;
  }
}

TEST(TokenizerGolden, Llama2cLlama2MatchesRunC) {
  NB_REQUIRE_DATA("models/llama2-tokenizer/tokenizer.bin");
  auto t = load("models/llama2-tokenizer/tokenizer.bin");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->n_vocab(), 32000);
  for (int i = 1; i <= 5; ++i) {
    std::string text = case_text(i);
    auto ids = t->encode(text, true);
    EXPECT_EQ(ids, case_ids(i, "llama2.llama2c")) << "case " << i;
    EXPECT_EQ(detokenize(*t, ids), text) << "case " << i;
  }
  // From llama2.c's test.c (Meta's example prompt).
  EXPECT_EQ(t->encode("I believe the meaning of life is", true),
            (std::vector<int32_t>{1, 306, 4658, 278, 6593, 310, 2834, 338}));
  EXPECT_EQ(t->encode("", true), std::vector<int32_t>{1});
}

TEST(TokenizerGolden, Llama2cDecodesRunCStdout) {
  NB_REQUIRE_DATA("reference/stories260K-greedy.txt");
  auto t = load("models/stories260K/tok512.bin");
  ASSERT_TRUE(t);
  for (const char* stem : {"stories260K-greedy", "stories260K-greedy-once-upon-a-time",
                           "stories260K-greedy-lily-and-ben", "stories260K-t1.0-p0.9-s133742"}) {
    auto ids = read_ids(data_path(std::string("reference/") + stem + ".ids.txt"));
    ASSERT_FALSE(ids.empty()) << stem;
    EXPECT_EQ(detokenize(*t, ids) + "\n", read_file(data_path(std::string("reference/") + stem + ".txt"))) << stem;
  }
}

// ---- SentencePiece tokenizer.model ----

TEST(TokenizerGolden, SpmMatchesSentencePiece) {
  NB_REQUIRE_DATA("models/stories260K/tok512.model");
  for (auto [model, tag] : {std::pair{"models/stories260K/tok512.model", "tok512.spm"},
                            std::pair{"models/llama2-tokenizer/tokenizer.model", "llama2.spm"}}) {
    auto t = load(model);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->kind(), "spm");
    for (int i = 1; i <= 5; ++i) {
      std::string text = case_text(i);
      auto ids = t->encode(text, true);
      EXPECT_EQ(ids, case_ids(i, tag)) << model << " case " << i;
      // tok512.model collapses "has  two" (remove_extra_whitespaces).
      if (!(i == 4 && std::string(tag) == "tok512.spm")) EXPECT_EQ(detokenize(*t, ids), text) << model << " case " << i;
    }
  }
}

TEST(TokenizerGolden, SpmVocabExport) {
  NB_REQUIRE_DATA("models/llama2-tokenizer/tokenizer.model");
  auto small = read_spm_vocab(data_path("models/stories260K/tok512.model"));
  ASSERT_TRUE(small.ok()) << small.status().message();
  EXPECT_EQ(small->pieces.size(), 512u);
  EXPECT_TRUE(small->add_dummy_prefix);
  EXPECT_TRUE(small->remove_extra_whitespaces);
  EXPECT_EQ(small->model_type, 2);
  EXPECT_TRUE(small->byte_fallback);

  auto v = read_spm_vocab(data_path("models/llama2-tokenizer/tokenizer.model"));
  ASSERT_TRUE(v.ok()) << v.status().message();
  ASSERT_EQ(v->pieces.size(), 32000u);
  EXPECT_TRUE(v->add_dummy_prefix);
  EXPECT_FALSE(v->remove_extra_whitespaces);
  EXPECT_EQ(v->unk_id, 0);
  EXPECT_EQ(v->bos_id, 1);
  EXPECT_EQ(v->eos_id, 2);
  EXPECT_EQ(v->pad_id, -1);
  EXPECT_EQ(v->types[0], 2);
  EXPECT_EQ(v->types[1], 3);
  EXPECT_EQ(v->types[2], 3);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(v->types[3 + b], 6);
  EXPECT_EQ(v->pieces[3 + 0x41], "<0x41>");
  EXPECT_EQ(v->types[259], 1);

  // Same vocabulary as llama.cpp's converter embedded in the llama-spm GGUF.
  NB_REQUIRE_DATA("tokenizers/ggml-vocab-llama-spm.gguf");
  auto mf = io::open_gguf(data_path("tokenizers/ggml-vocab-llama-spm.gguf"));
  ASSERT_TRUE(mf.ok()) << mf.status().message();
  const io::MetaValue* tokens = mf->get("tokenizer.ggml.tokens");
  const io::MetaValue* scores = mf->get("tokenizer.ggml.scores");
  const io::MetaValue* types = mf->get("tokenizer.ggml.token_type");
  ASSERT_TRUE(tokens && scores && types);
  EXPECT_EQ(tokens->strings, v->pieces);
  ASSERT_EQ(scores->floats.size(), v->scores.size());
  ASSERT_EQ(types->ints.size(), v->types.size());
  for (size_t i = 0; i < v->scores.size(); ++i) {
    ASSERT_EQ(float(scores->floats[i]), v->scores[i]) << i;
    ASSERT_EQ(types->ints[i], v->types[i]) << i;
  }
}

// ---- GGUF-embedded vocabularies ----

TEST(TokenizerGolden, GgufLlamaSpmTestVectors) {
  NB_REQUIRE_DATA("tokenizers/ggml-vocab-llama-spm.gguf");
  auto t = load("tokenizers/ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind(), "gguf-llama");
  EXPECT_TRUE(t->add_bos_default());
  auto inp = read_inp(data_path("tokenizers/ggml-vocab-llama-spm.gguf.inp"));
  auto out = read_out(data_path("tokenizers/ggml-vocab-llama-spm.gguf.out"));
  ASSERT_EQ(inp.size(), 46u);
  ASSERT_EQ(out.size(), 46u);
  int pass = 0;
  for (size_t i = 0; i < inp.size(); ++i) {
    auto ids = t->encode(inp[i], false);
    EXPECT_EQ(ids, out[i]) << "test " << i << ": '" << inp[i] << "'";
    pass += ids == out[i];
    // Printed after BOS, the dummy-prefix space goes away again.
    EXPECT_EQ(detokenize(*t, ids, t->bos()), inp[i]) << "test " << i;
  }
  EXPECT_EQ(pass, 46);
}

TEST(TokenizerGolden, GgufGpt2TestVectors) {
  NB_REQUIRE_DATA("tokenizers/ggml-vocab-gpt-2.gguf");
  auto t = load("tokenizers/ggml-vocab-gpt-2.gguf");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind(), "bpe");
  EXPECT_EQ(t->n_vocab(), 50257);
  EXPECT_EQ(t->bos(), 50256);
  auto inp = read_inp(data_path("tokenizers/ggml-vocab-gpt-2.gguf.inp"));
  auto out = read_out(data_path("tokenizers/ggml-vocab-gpt-2.gguf.out"));
  ASSERT_EQ(inp.size(), 46u);
  ASSERT_EQ(out.size(), 46u);
  int pass = 0;
  for (size_t i = 0; i < inp.size(); ++i) {
    auto ids = t->encode(inp[i], false);
    EXPECT_EQ(ids, out[i]) << "test " << i << ": '" << inp[i] << "'";
    pass += ids == out[i];
    EXPECT_EQ(detokenize(*t, ids), inp[i]) << "test " << i;
  }
  EXPECT_EQ(pass, 46);
}

TEST(TokenizerGolden, GgufModelsMatchLlama2cEncodings) {
  NB_REQUIRE_DATA("models/gguf-small/stories260K.gguf");
  for (auto [model, tag] : {std::pair{"models/gguf-small/stories260K.gguf", "tok512.llama2c"},
                            std::pair{"models/gguf-small/llama-2-tiny-random.gguf", "llama2.llama2c"}}) {
    auto mf = io::open_gguf(data_path(model));
    ASSERT_TRUE(mf.ok()) << mf.status().message();
    auto t = tokenizer_for_model(*mf);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ((*t)->kind(), "gguf-llama");
    EXPECT_TRUE((*t)->add_bos_default());
    for (int i = 1; i <= 5; ++i) {
      std::string text = case_text(i);
      auto ids = (*t)->encode(text, true);
      EXPECT_EQ(ids, case_ids(i, tag)) << model << " case " << i;
      EXPECT_EQ(detokenize(**t, ids), text) << model << " case " << i;
    }
  }
}

// ---- hostile files ----

TEST(TokenizerGolden, TruncatedTokenizerBinIsRejected) {
  NB_REQUIRE_DATA("models/stories260K/tok512.bin");
  std::string bytes = read_file(data_path("models/stories260K/tok512.bin"));
  size_t rejected = 0;
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto t = llama2c_tokenizer_from_bytes(std::string_view(bytes).substr(0, n), "tok512.bin");
    if (t.ok()) {
      EXPECT_LT((*t)->n_vocab(), 512) << n;  // cut on a record boundary: fewer tokens
      continue;
    }
    ++rejected;
    EXPECT_NE(t.status().message().find("tok512.bin"), std::string::npos) << t.status().message();
  }
  EXPECT_GT(rejected, bytes.size() * 9 / 10);
}

TEST(TokenizerGolden, CorruptedModelIsRejected) {
  NB_REQUIRE_DATA("models/stories260K/tok512.model");
  std::string bytes = read_file(data_path("models/stories260K/tok512.model"));
  // Truncations: most cut a message in half; none may crash.
  size_t rejected = 0, tried = 0;
  for (size_t n = 0; n < bytes.size(); n += 7, ++tried) {
    auto t = spm_tokenizer_from_bytes(std::string_view(bytes).substr(0, n), "tok512.model");
    if (!t.ok()) {
      ++rejected;
      EXPECT_NE(t.status().message().find("tok512.model"), std::string::npos) << t.status().message();
    }
  }
  EXPECT_GT(rejected, tried / 2);
  // Overwritten bytes: a length prefix made huge, then garbage everywhere.
  std::string bad = bytes;
  bad[1] = char(0xFF);
  auto t = spm_tokenizer_from_bytes(bad, "tok512.model");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("tok512.model"), std::string::npos);
  for (size_t i = 0; i < bytes.size(); i += 13) {
    bad = bytes;
    bad[i] = char(bad[i] ^ 0x5A);
    auto r = spm_tokenizer_from_bytes(bad, "tok512.model");
    if (r.ok()) (*r)->encode("Once upon a time", true);  // a survivable flip must still work
  }
  // Through load_tokenizer, a file that is no SentencePiece model at all.
  std::string path = test::temp_path("garbage.model");
  std::ofstream(path, std::ios::binary) << "this is not a protobuf";
  auto g = load_tokenizer(path);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find(path), std::string::npos) << g.status().message();
}

// ---- loading by sniffing; tokenizer.json ----

TEST(TokenizerGolden, LoadTokenizerSniffsEachKind) {
  NB_REQUIRE_DATA("tokenizers/ggml-vocab-gpt-2.gguf");
  struct Case { const char* rel; const char* kind; };
  for (const Case& c : {Case{"models/stories260K/tok512.bin", "llama2c"}, Case{"models/stories260K/tok512.model", "spm"},
                        Case{"models/gguf-small/stories260K.gguf", "gguf-llama"},
                        Case{"tokenizers/ggml-vocab-gpt-2.gguf", "bpe"}, Case{"models/llama-gutenberg", "spm"}}) {
    if (!test::data_available(c.rel)) continue;
    auto t = load(c.rel);
    ASSERT_TRUE(t) << c.rel;
    EXPECT_EQ(t->kind(), c.kind) << c.rel;
  }
  auto missing = load_tokenizer(data_path("no/such/tokenizer.bin"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no/such/tokenizer.bin"), std::string::npos);
}

TEST(TokenizerGolden, HfFolderFindsTokenizerModel) {
  NB_REQUIRE_DATA("models/llama-gutenberg/tokenizer.model");
  auto mf = io::open_model(data_path("models/llama-gutenberg"));
  ASSERT_TRUE(mf.ok()) << mf.status().message();
  auto t = tokenizer_for_model(*mf);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->kind(), "spm");
  EXPECT_EQ((*t)->n_vocab(), 8192);
  // prompts.txt line 1 -> the first ids of ids.txt line 1.
  auto ids = read_ids(data_path("models/llama-gutenberg/ids.txt"));
  auto enc = (*t)->encode("The old captain looked out over the grey sea and said", true);
  ASSERT_LE(enc.size(), ids.size());
  EXPECT_EQ(enc, std::vector<int32_t>(ids.begin(), ids.begin() + long(enc.size())));
}

TEST(TokenizerGolden, TokenizerJsonFromGpt2Vocab) {
  NB_REQUIRE_DATA("tokenizers/ggml-vocab-gpt-2.gguf");
  auto mf = io::open_gguf(data_path("tokenizers/ggml-vocab-gpt-2.gguf"));
  ASSERT_TRUE(mf.ok()) << mf.status().message();
  const auto& tokens = mf->get("tokenizer.ggml.tokens")->strings;
  const auto& merges = mf->get("tokenizer.ggml.merges")->strings;
  // Write a GPT-2 style tokenizer.json: the 50256 BPE tokens in model.vocab,
  // <|endoftext|> as an added special token, merges in the newer pair form.
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t i = 0; i + 1 < tokens.size(); ++i) vocab[tokens[i]] = i;
  nlohmann::json pairs = nlohmann::json::array();
  for (const auto& m : merges) {
    size_t sp = m.find(' ', 1);
    pairs.push_back({m.substr(0, sp), m.substr(sp + 1)});
  }
  nlohmann::json doc = {
      {"version", "1.0"},
      {"added_tokens", {{{"id", tokens.size() - 1}, {"content", tokens.back()}, {"special", true}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
                 {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
                 {"merges", pairs}}}};
  std::string path = test::temp_path("tokenizer.json");
  std::ofstream(path, std::ios::binary) << doc.dump();
  auto t = load_tokenizer(path);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->kind(), "bpe");
  EXPECT_EQ((*t)->n_vocab(), 50257);
  EXPECT_EQ((*t)->bos(), 50256);
  auto inp = read_inp(data_path("tokenizers/ggml-vocab-gpt-2.gguf.inp"));
  auto out = read_out(data_path("tokenizers/ggml-vocab-gpt-2.gguf.out"));
  ASSERT_EQ(inp.size(), out.size());
  for (size_t i = 0; i < inp.size(); ++i) EXPECT_EQ((*t)->encode(inp[i], false), out[i]) << "test " << i;
}

// ---- a whole corpus: the Gutenberg valid stream (data/text/SOURCES.md) ----

// [BOS] + enc(p1) + [<0x0A>] + enc(p2) ... + [EOS] per book; books are
// separated by an empty line, paragraphs are lines.
std::vector<int32_t> gutenberg_stream(const Tokenizer& t) {
  std::string text = read_file(data_path("text/gutenberg-valid.txt"));
  std::vector<int32_t> out;
  bool book_open = false, first_para = true;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line(text.data() + pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) {
      if (book_open) out.push_back(t.eos());
      book_open = false;
      continue;
    }
    if (!book_open) {
      out.push_back(t.bos());
      book_open = true;
      first_para = true;
    }
    if (!first_para) out.push_back(13);
    first_para = false;
    auto ids = t.encode(line, false);
    out.insert(out.end(), ids.begin(), ids.end());
  }
  if (book_open) out.push_back(t.eos());
  return out;
}

TEST(TokenizerGolden, GutenbergValidStream) {
  NB_REQUIRE_DATA("text/gutenberg-valid.ids");
  NB_REQUIRE_DATA("models/tokenizer-8k/tokenizer.model");
  auto want = read_ids(data_path("text/gutenberg-valid.ids"));
  ASSERT_EQ(want.size(), 143346u);
  auto spm = load("models/tokenizer-8k/tokenizer.model");
  ASSERT_TRUE(spm);
  EXPECT_EQ(gutenberg_stream(*spm), want);
  // llama.cpp's algorithm on the same vocabulary embedded in GGUF.
  if (test::data_available("models/llama-gutenberg-gguf/llama-gutenberg-Q8_0.gguf")) {
    auto g = load("models/llama-gutenberg-gguf/llama-gutenberg-Q8_0.gguf");
    ASSERT_TRUE(g);
    auto got = gutenberg_stream(*g);
    size_t diff = 0;
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) diff += got[i] != want[i];
    EXPECT_EQ(got.size(), want.size());
    EXPECT_EQ(diff, 0u);
  }
}

}  // namespace
}  // namespace nb
