// Hugging Face folders: config.json flattening, single and sharded checkpoints.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "io/parse.h"
#include "io_test_util.h"
#include "support/test_support.h"

namespace nb::io {
namespace {

using testing::FailsWith;

TEST(IoHf, LlamaGutenbergSharded) {
  NB_REQUIRE_DATA("models/llama-gutenberg/model.safetensors.index.json");
  const std::string dir = nb::test::data_path("models/llama-gutenberg");
  auto r = open_hf_folder(dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ModelFile& m = r.value();
  EXPECT_EQ(m.container, "hf");
  EXPECT_EQ(m.path, dir);
  EXPECT_EQ(m.tensors.size(), 74u);
  EXPECT_EQ(m.maps.size(), 2u);
  EXPECT_EQ(m.get_int_or("hf.num_hidden_layers", 0), 8);
  EXPECT_EQ(m.get_int_or("hf.num_key_value_heads", 0), 4);
  EXPECT_EQ(m.get_float_or("hf.rms_norm_eps", 0), 1e-5);
  EXPECT_EQ(m.get_float_or("hf.rope_parameters.rope_theta", 0), 10000.0);
  EXPECT_EQ(m.get_string_or("hf.rope_parameters.rope_type", ""), "default");
  EXPECT_EQ(m.get_string_or("hf.model_type", ""), "llama");
  EXPECT_TRUE(m.get_bool_or("hf.tie_word_embeddings", false));
  EXPECT_EQ(m.get("hf.tie_word_embeddings")->type, MetaType::Bool);
  EXPECT_EQ(m.get("hf.pad_token_id"), nullptr);  // null values are skipped
  ASSERT_NE(m.get("hf.architectures"), nullptr);
  EXPECT_EQ(m.get("hf.architectures")->strings, std::vector<std::string>{"LlamaForCausalLM"});
  EXPECT_EQ(m.get_string_or("safetensors.format", ""), "pt");
  EXPECT_TRUE(m.require("model.embed_tokens.weight", {8192, 256}, {FormatId::BF16}).ok());
  EXPECT_TRUE(m.require("model.layers.3.mlp.down_proj.weight", {256, 768}, {FormatId::BF16}).ok());
  EXPECT_TRUE(m.require("model.layers.7.self_attn.k_proj.weight", {128, 256}).ok());
  EXPECT_TRUE(m.require("model.norm.weight", {256}).ok());
  EXPECT_NE(m.find("model.layers.3.mlp.down_proj.weight")->file.find("model-00002-of-00002"), std::string::npos);
  EXPECT_TRUE(FailsWith(m.get_int("hf.model_type"), "llama-gutenberg/config.json",
                        "hf.model_type: expected an integer, found string"));
}

TEST(IoHf, MmfreeSingleFile) {
  for (const char* rel : {"models/mmfree-gutenberg", "models/mmfree-tiny-random"}) {
    if (!nb::test::data_available(std::string(rel) + "/model.safetensors")) GTEST_SKIP() << "no " << rel;
    auto r = open_model(nb::test::data_path(rel));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->container, "hf");
    EXPECT_EQ(r->get_string_or("hf.model_type", ""), "hgrn_bit");
    EXPECT_FALSE(r->get_bool_or("hf.tie_word_embeddings", true));
    const int64_t d = r->get_int_or("hf.hidden_size", 0), v = r->get_int_or("hf.vocab_size", 0);
    EXPECT_TRUE(r->require("lm_head.weight", {v, d}).ok()) << rel;
    EXPECT_TRUE(r->require("model.layers.0.attn.f_proj.weight", {d, d}).ok()) << rel;
  }
}

TEST(IoHf, FlattenConfig) {
  std::map<std::string, MetaValue> meta;
  const char* json = R"({"a": 1, "b": -2.5, "c": "s", "d": true, "e": null,
    "f": {"g": {"h": 3}, "i": [1, 2]}, "j": [1, 2.5], "k": ["x", "y"], "l": [true, false],
    "m": [1, "x"], "n": [[1]], "o": 18446744073709551615, "p": []})";
  ASSERT_TRUE(flatten_hf_config(json, "config.json", &meta).ok());
  EXPECT_EQ(meta.at("hf.a").i, 1);
  EXPECT_EQ(meta.at("hf.a").type, MetaType::I64);
  EXPECT_EQ(meta.at("hf.b").f, -2.5);
  EXPECT_EQ(meta.at("hf.c").s, "s");
  EXPECT_EQ(meta.at("hf.d").type, MetaType::Bool);
  EXPECT_EQ(meta.count("hf.e"), 0u);
  EXPECT_EQ(meta.at("hf.f.g.h").i, 3);
  EXPECT_EQ(meta.at("hf.f.i").ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(meta.at("hf.j").floats, (std::vector<double>{1, 2.5}));
  EXPECT_EQ(meta.at("hf.k").strings, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(meta.at("hf.l").elem_type, MetaType::Bool);
  EXPECT_EQ(meta.count("hf.m"), 0u);  // mixed kinds: not representable, left out
  EXPECT_EQ(meta.count("hf.n"), 0u);
  EXPECT_EQ(meta.at("hf.o").type, MetaType::U64);
  EXPECT_EQ(meta.at("hf.p").array_size(), 0u);

  std::map<std::string, MetaValue> m2;
  EXPECT_TRUE(FailsWith(Result<int>(flatten_hf_config(R"({"a.b": 1, "a": {"b": 2}})", "cfg.json", &m2)), "cfg.json",
                        "'hf.a.b' appears twice"));
  EXPECT_TRUE(FailsWith(Result<int>(flatten_hf_config("{", "cfg.json", &m2)), "cfg.json", "not valid JSON"));
  EXPECT_TRUE(FailsWith(Result<int>(flatten_hf_config("[]", "cfg.json", &m2)), "cfg.json", "expected a JSON object"));
  std::string deep;
  for (int k = 0; k < 40; ++k) deep += "{\"x\":";
  deep += "1" + std::string(40, '}');
  EXPECT_TRUE(FailsWith(Result<int>(flatten_hf_config(deep, "cfg.json", &m2)), "cfg.json", "nested more than 16"));
  const std::string deeper = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_TRUE(FailsWith(Result<int>(flatten_hf_config("{\"a\":" + deeper + "}", "cfg.json", &m2)), "cfg.json",
                        "deeper than 64"));
  EXPECT_TRUE(FailsWith(parse_hf_index("{\"weight_map\":" + deeper + "}", "idx.json"), "idx.json", "deeper than 64"));
}

TEST(IoHf, ParseIndex) {
  auto r = parse_hf_index(R"({"metadata": {}, "weight_map": {"b": "s2", "a": "s1"}})", "idx.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].tensor, "b");  // file order
  EXPECT_EQ((*r)[0].shard, "s2");
  EXPECT_TRUE(FailsWith(parse_hf_index(R"({"metadata": {}})", "idx.json"), "idx.json", "weight_map"));
  EXPECT_TRUE(FailsWith(parse_hf_index(R"({"weight_map": {"a": 3}})", "idx.json"), "idx.json", "weight_map['a']"));
  for (const char* bad : {"../x.safetensors", "/etc/passwd", "sub/x", "..", ""})
    EXPECT_TRUE(FailsWith(parse_hf_index(std::string(R"({"weight_map": {"a": ")") + bad + "\"}}", "idx.json"),
                          "idx.json", "not a plain file name"))
        << bad;
}

// ---- hostile folders ----

std::vector<uint8_t> shard(const std::string& header, size_t data) {
  testing::Bytes b;
  b.put<uint64_t>(header.size()).raw(header).zeros(data);
  return b.b;
}

std::string make_dir(const std::string& name) {
  std::string d = nb::test::temp_path(name);
  mkdir(d.c_str(), 0700);
  testing::write_file(d + "/config.json", std::string(R"({"model_type": "llama", "hidden_size": 4})"));
  return d;
}

const char* kA = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
const char* kB = R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
const char* kAB = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})";

void write_index(const std::string& dir, const std::string& map) {
  testing::write_file(dir + "/model.safetensors.index.json", "{\"weight_map\": {" + map + "}}");
}

TEST(IoHf, ShardedGoodAndBad) {
  std::string d = make_dir("hf-good");
  testing::write_file(d + "/s1.safetensors", shard(kA, 8));
  testing::write_file(d + "/s2.safetensors", shard(kB, 8));
  write_index(d, R"("a": "s1.safetensors", "b": "s2.safetensors")");
  auto r = open_hf_folder(d);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->get_int_or("hf.hidden_size", 0), 4);

  d = make_dir("hf-missing-shard");
  testing::write_file(d + "/s1.safetensors", shard(kA, 8));
  write_index(d, R"("a": "s1.safetensors", "b": "s2.safetensors")");
  EXPECT_TRUE(FailsWith(open_hf_folder(d), "model.safetensors.index.json: shard 's2.safetensors'", "cannot open"));

  d = make_dir("hf-not-in-shard");
  testing::write_file(d + "/s1.safetensors", shard(kA, 8));
  testing::write_file(d + "/s2.safetensors", shard(kA, 8));
  write_index(d, R"("a": "s1.safetensors", "b": "s2.safetensors")");
  EXPECT_TRUE(FailsWith(open_hf_folder(d), "model.safetensors.index.json",
                        "tensor 'b' is mapped to s2.safetensors, which does not hold it"));

  d = make_dir("hf-twice");
  testing::write_file(d + "/s1.safetensors", shard(kAB, 16));
  testing::write_file(d + "/s2.safetensors", shard(kB, 8));
  write_index(d, R"("a": "s1.safetensors", "b": "s2.safetensors")");
  EXPECT_TRUE(FailsWith(open_hf_folder(d), "hf-twice", "tensor 'b' is in two shards"));

  d = make_dir("hf-bad-shard");
  testing::write_file(d + "/s1.safetensors", shard(kA, 4));  // data cut short
  write_index(d, R"("a": "s1.safetensors")");
  EXPECT_TRUE(FailsWith(open_hf_folder(d), d + "/s1.safetensors", "runs past end of file"));

  d = make_dir("hf-bad-index");
  testing::write_file(d + "/model.safetensors.index.json", std::string("{\"weight_map\": "));
  EXPECT_TRUE(FailsWith(open_hf_folder(d), d + "/model.safetensors.index.json", "not valid JSON"));
}

TEST(IoHf, MissingPieces) {
  std::string d = make_dir("hf-empty");
  EXPECT_TRUE(FailsWith(open_hf_folder(d), d, "neither model.safetensors nor model.safetensors.index.json"));
  testing::write_file(d + "/config.json", std::string("{\"a\": "));
  EXPECT_TRUE(FailsWith(open_hf_folder(d), d + "/config.json", "not valid JSON"));
  std::string e = nb::test::temp_path("hf-no-config");
  mkdir(e.c_str(), 0700);
  EXPECT_TRUE(FailsWith(open_model(e), e, "no config.json"));
}

}  // namespace
}  // namespace nb::io
