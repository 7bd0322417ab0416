// The tokenizer parsers on small hand-made files: what they accept, and
// that every malformed input gives an error naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "io/model_file.h"
#include "tokenizer/from_bytes.h"
#include "tokenizer/spm_vocab.h"
#include "tokenizer/vocab_data.h"

namespace nb {
namespace {

// A llama2.c tokenizer.bin: <unk>, BOS, EOS, 256 byte tokens, then `extra`.
std::string llama2c_bytes(const std::vector<std::pair<std::string, float>>& extra) {
  std::vector<std::pair<std::string, float>> all = {{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}};
  for (int b = 0; b < 256; ++b) all.push_back({strfmt("<0x%02X>", b), 0});
  all.insert(all.end(), extra.begin(), extra.end());
  int32_t max_len = 0;
  for (auto& [p, s] : all) max_len = std::max<int32_t>(max_len, int32_t(p.size()));
  std::string out(reinterpret_cast<const char*>(&max_len), 4);
  for (auto& [p, s] : all) {
    int32_t len = int32_t(p.size());
    out.append(reinterpret_cast<const char*>(&s), 4);
    out.append(reinterpret_cast<const char*>(&len), 4);
    out += p;
  }
  return out;
}

TEST(TokenizerLlama2c, EncodesLikeRunC) {
  // ids: 259 " ", 260 "a", 261 "b", 262 " a", 263 "ab", 264 " ab", 265 "ba"
  std::string bytes = llama2c_bytes({{" ", -1}, {"a", -2}, {"b", -3}, {" a", -4}, {"ab", -1}, {" ab", -5}, {"ba", -1}});
  auto t = llama2c_tokenizer_from_bytes(bytes, "tiny.bin");
  ASSERT_TRUE(t.ok()) << t.status().message();
  const Tokenizer& tk = **t;
  EXPECT_EQ(tk.n_vocab(), 266);
  EXPECT_EQ(tk.encode("", true), std::vector<int32_t>{1});
  EXPECT_EQ(tk.encode("", false), std::vector<int32_t>{});
  // " a" (-4) beats "ab" (-1)? No: highest score wins, so "ab" (-1) first,
  // then " " + "ab" = " ab" (-5).
  EXPECT_EQ(tk.encode("ab", true), (std::vector<int32_t>{1, 264}));
  // "bab": "ba" and "ab" tie at -1; the leftmost ("ba") wins.
  EXPECT_EQ(tk.encode("bab", false), (std::vector<int32_t>{259, 265, 261}));
  // Unknown characters become byte tokens (byte + 3).
  EXPECT_EQ(tk.encode("\xC3\xA9", false), (std::vector<int32_t>{259, 0xC3 + 3, 0xA9 + 3}));
  // Decoding: the space after BOS goes, byte pieces become bytes, BOS/EOS print nothing.
  EXPECT_EQ(tk.decode(1, 264), "ab");
  EXPECT_EQ(tk.decode(260, 264), " ab");
  EXPECT_EQ(tk.decode(-1, 0xC3 + 3) + tk.decode(0xC3 + 3, 0xA9 + 3), "\xC3\xA9");
  EXPECT_EQ(tk.decode(5, 1), "");
  EXPECT_EQ(tk.decode(5, 2), "");
  EXPECT_EQ(tk.decode(5, 9999), "");
  EXPECT_EQ(tk.piece(1), "\n<s>\n");
}

TEST(TokenizerLlama2c, RejectsEveryTruncation) {
  std::string bytes = llama2c_bytes({{" ", -1}, {"ab", -2}});
  ASSERT_TRUE(llama2c_tokenizer_from_bytes(bytes, "t.bin").ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto t = llama2c_tokenizer_from_bytes(std::string_view(bytes).substr(0, n), "t.bin");
    if (t.ok()) {
      // A cut on a record boundary is a smaller, still valid vocabulary.
      EXPECT_LT((*t)->n_vocab(), 261) << n;
      EXPECT_GE((*t)->n_vocab(), 259) << n;
    } else {
      EXPECT_NE(t.status().message().find("t.bin"), std::string::npos) << t.status().message();
    }
  }
}

TEST(TokenizerLlama2c, RejectsHostileFields) {
  std::string good = llama2c_bytes({});
  auto expect_error = [](const std::string& b, const char* what) {
    auto t = llama2c_tokenizer_from_bytes(b, "h.bin");
    ASSERT_FALSE(t.ok()) << what;
    EXPECT_NE(t.status().message().find("h.bin"), std::string::npos);
    EXPECT_NE(t.status().message().find(what), std::string::npos) << t.status().message();
  };
  std::string b = good;
  int32_t v = -5;
  std::memcpy(b.data(), &v, 4);
  expect_error(b, "max_token_length");
  b = good;
  v = 1 << 30;  // the length of id 0
  std::memcpy(b.data() + 8, &v, 4);
  expect_error(b, "length");
  b = good;
  float nan = std::nanf("");
  std::memcpy(b.data() + 4, &nan, 4);
  expect_error(b, "non-finite");
  b = good;
  b[4 + (8 + 5) + (8 + 5) + (8 + 6) + 8 + 1] = 'X';  // id 3's "<0x00>" -> "<X...>"
  expect_error(b, "byte token");
  expect_error("", "too short");
}

TEST(TokenizerSpmVocab, RejectsMalformedProtobuf) {
  for (std::string bad : {std::string("\x0A\xFF\xFF\xFF\xFF\x0F", 6), std::string("\x0A\x05\x0A\x01", 4),
                          std::string("\x0B", 1), std::string("\x0A\x02\x1A\x00", 4), std::string()}) {
    auto v = parse_spm_vocab(bad, "bad.model");
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.status().message().find("bad.model"), std::string::npos) << v.status().message();
    auto t = spm_tokenizer_from_bytes(bad, "bad.model");
    ASSERT_FALSE(t.ok());
  }
  // Pieces <unk> (type 2), <s>, </s> (type 3): well formed, default ids.
  auto piece = [](const std::string& p, char type) {
    std::string body = "\x0A" + std::string(1, char(p.size())) + p + "\x18" + std::string(1, type);
    return "\x0A" + std::string(1, char(body.size())) + body;
  };
  std::string model = piece("<unk>", 2) + piece("<s>", 3) + piece("</s>", 3);
  auto v = parse_spm_vocab(model, "three.model");
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->pieces, (std::vector<std::string>{"<unk>", "<s>", "</s>"}));
  EXPECT_EQ(v->types, (std::vector<int32_t>{2, 3, 3}));
  EXPECT_EQ(v->bos_id, 1);
  EXPECT_TRUE(v->add_dummy_prefix);
  // A NUL inside a piece (libsentencepiece's trie would throw on it).
  auto nul = parse_spm_vocab(model + piece(std::string("a\0b", 3), 1), "nul.model");
  ASSERT_FALSE(nul.ok());
  EXPECT_NE(nul.status().message().find("NUL"), std::string::npos) << nul.status().message();
  EXPECT_FALSE(spm_tokenizer_from_bytes(model + piece(std::string("a\0b", 3), 1), "nul.model").ok());
  // Only <unk>: the default bos_id 1 points past the pieces.
  auto one = parse_spm_vocab(piece("<unk>", 2), "one.model");
  ASSERT_FALSE(one.ok());
  EXPECT_NE(one.status().message().find("bos_id"), std::string::npos) << one.status().message();
}

TEST(TokenizerJson, ErrorsNameTheUnsupportedPart) {
  auto err = [](const std::string& j) {
    auto t = hf_tokenizer_from_json(j, "tok.json");
    EXPECT_FALSE(t.ok());
    return t.ok() ? std::string() : t.status().message();
  };
  EXPECT_NE(err("{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(err("[]").find("not an object"), std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "WordPiece"}})").find("WordPiece"), std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "Unigram"}})").find("Unigram"), std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                   "pre_tokenizer": {"type": "Metaspace"}})").find("Metaspace"), std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                   "pre_tokenizer": {"type": "Sequence", "pretokenizers": []}})").find("Sequence"), std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": true},
                   "pre_tokenizer": {"type": "ByteLevel"}})").find("byte_fallback"), std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": 5}, "merges": []},
                   "pre_tokenizer": {"type": "ByteLevel"}})").find("out of range"), std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [3]},
                   "pre_tokenizer": {"type": "ByteLevel"}})").find("merges[0]"), std::string::npos);
  EXPECT_NE(err(R"({"normalizer": {"type": "NFC"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                   "pre_tokenizer": {"type": "ByteLevel"}})").find("NFC"), std::string::npos);
  EXPECT_NE(err(R"({"model": {"type": "BPE"}, "pre_tokenizer": {"type": "ByteLevel"}})").find("tok.json"),
            std::string::npos);
}

TEST(TokenizerJson, SmallByteLevelBpe) {
  // Byte-level alphabet for "hi there": 'Ġ' is U+0120.
  const char* j = R"({
    "added_tokens": [{"id": 7, "content": "<|endoftext|>", "special": true}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
              "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
              "vocab": {"h": 0, "i": 1, "\u0120": 2, "t": 3, "hi": 4, "\u0120t": 5, "e": 6},
              "merges": ["h i", ["\u0120", "t"]]}
  })";
  auto t = hf_tokenizer_from_json(j, "small.json");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->kind(), "bpe");
  EXPECT_EQ((*t)->n_vocab(), 8);
  EXPECT_EQ((*t)->bos(), 7);
  EXPECT_EQ((*t)->encode("hi te", false), (std::vector<int32_t>{4, 5, 6}));
  EXPECT_EQ((*t)->decode(4, 5), " t");
  EXPECT_EQ((*t)->decode(4, 7), "");  // special tokens print nothing
}

io::ModelFile gguf_with(std::map<std::string, io::MetaValue> meta) {
  io::ModelFile mf;
  mf.path = "mem.gguf";
  mf.container = "gguf";
  mf.meta = std::move(meta);
  return mf;
}

TEST(TokenizerGgufMeta, LlamaVocabAndErrors) {
  std::vector<std::string> toks = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) toks.push_back(strfmt("<0x%02X>", b));
  toks.push_back("\xE2\x96\x81");        // 259 ▁
  toks.push_back("a");                   // 260
  toks.push_back("\xE2\x96\x81" "a");    // 261 ▁a
  std::vector<double> scores(toks.size(), 0.0);
  scores[261] = 1;
  std::vector<int64_t> types(toks.size(), 1);
  types[0] = 2; types[1] = types[2] = 3;
  for (int b = 0; b < 256; ++b) types[3 + b] = 6;
  auto mf = gguf_with({{"tokenizer.ggml.model", io::MetaValue::Str("llama")},
                       {"tokenizer.ggml.tokens", io::MetaValue::StrArray(toks)},
                       {"tokenizer.ggml.scores", io::MetaValue::FloatArray(scores)},
                       {"tokenizer.ggml.token_type", io::MetaValue::IntArray(types, io::MetaType::I32)}});
  auto t = tokenizer_from_gguf(mf);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ((*t)->kind(), "gguf-llama");
  EXPECT_TRUE((*t)->add_bos_default());
  EXPECT_EQ((*t)->encode("a a", true), (std::vector<int32_t>{1, 261, 261}));
  EXPECT_EQ((*t)->encode("a\xC3\xA9", false), (std::vector<int32_t>{261, 0xC3 + 3, 0xA9 + 3}));
  EXPECT_EQ((*t)->decode(1, 261), "a");
  EXPECT_EQ((*t)->decode(260, 261), " a");
  EXPECT_EQ((*t)->decode(260, 1), "");

  auto bad = mf;
  bad.meta["tokenizer.ggml.scores"] = io::MetaValue::FloatArray({1.0, 2.0});
  auto e = tokenizer_from_gguf(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("tokenizer.ggml.scores"), std::string::npos);
  EXPECT_NE(e.status().message().find("mem.gguf"), std::string::npos);

  bad = mf;
  bad.meta["tokenizer.ggml.model"] = io::MetaValue::Str("t5");
  e = tokenizer_from_gguf(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("'t5'"), std::string::npos);

  bad = mf;
  bad.meta.erase("tokenizer.ggml.model");
  e = tokenizer_from_gguf(bad);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("--tokenizer"), std::string::npos);
}

TEST(TokenizerGgufMeta, Gpt2NeedsAKnownPreTokenizer) {
  auto mf = gguf_with({{"tokenizer.ggml.model", io::MetaValue::Str("gpt2")},
                       {"tokenizer.ggml.pre", io::MetaValue::Str("llama-bpe")},
                       {"tokenizer.ggml.tokens", io::MetaValue::StrArray({"a", "b", "ab"})},
                       {"tokenizer.ggml.merges", io::MetaValue::StrArray({"a b"})}});
  auto e = tokenizer_from_gguf(mf);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("'llama-bpe'"), std::string::npos) << e.status().message();
  mf.meta["tokenizer.ggml.pre"] = io::MetaValue::Str("gpt-2");
  auto t = tokenizer_from_gguf(mf);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_FALSE((*t)->add_bos_default());
  EXPECT_EQ((*t)->encode("ab", true), std::vector<int32_t>{2});  // no BOS id in this vocab
  mf.meta["tokenizer.ggml.merges"] = io::MetaValue::StrArray({"ab"});
  e = tokenizer_from_gguf(mf);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("merge 0"), std::string::npos) << e.status().message();
}

TEST(TokenizerForModel, Llama2cCheckpointNeedsTokenizerFlag) {
  io::ModelFile mf;
  mf.path = "stories.bin";
  mf.container = "llama2c";
  auto t = tokenizer_for_model(mf);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("--tokenizer"), std::string::npos);
  EXPECT_NE(t.status().message().find("stories.bin"), std::string::npos);
}

}  // namespace
}  // namespace nb
