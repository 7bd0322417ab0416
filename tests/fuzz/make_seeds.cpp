// Writes a small seed corpus for one fuzz target into a folder, at test time,
// so no binary corpus is committed: `make_seeds <target> <dir>`. Targets it
// knows nothing about get an empty folder (and their <target>.seeds list).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "io/gguf_writer.h"

namespace {

void put(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

template <class T>
void append(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

int gguf(const std::string& dir) {
  using namespace nb;
  using namespace nb::io;
  static float f32[2 * 32];
  static uint8_t q8[2 * 34], q4[2 * 18];
  static uint16_t f16[3];
  for (int k = 0; k < 64; ++k) f32[k] = float(k);
  {
    GgufWriter w;
    w.add_string("general.architecture", "llama");
    w.add_u32("llama.block_count", 1);
    w.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.add_bool("b", true);
    w.add("i64", MetaValue::Int(-3, MetaType::I64));
    w.add("u64", MetaValue::Int(7, MetaType::U64));
    w.add("f64", MetaValue::Float(0.25, MetaType::F64));
    w.add("tokenizer.ggml.tokens", MetaValue::StrArray({"<unk>", "a", "bc"}));
    w.add("tokenizer.ggml.scores", MetaValue::FloatArray({0, -1, -2}));
    w.add("tokenizer.ggml.token_type", MetaValue::IntArray({2, 1, 1}, MetaType::I32));
    if (!w.add_tensor("token_embd.weight", FormatId::F32, {2, 32}, f32, sizeof f32).ok()) return 1;
    if (!w.add_tensor("blk.0.attn_q.weight", FormatId::Q8_0, {2, 32}, q8, sizeof q8).ok()) return 1;
    if (!w.add_tensor("blk.0.attn_k.weight", FormatId::Q4_0, {1, 2, 32}, q4, sizeof q4).ok()) return 1;
    if (!w.add_tensor("output_norm.weight", FormatId::F16, {3}, f16, sizeof f16).ok()) return 1;
    if (!w.write(dir + "/model.gguf").ok()) return 1;
  }
  {
    GgufWriter w;  // vocab only, like llama.cpp's ggml-vocab-*.gguf
    w.add_string("general.architecture", "gpt2");
    w.add("tokenizer.ggml.merges", MetaValue::StrArray({"a b", "ab c"}));
    w.add("u8s", MetaValue::IntArray({1, 2, 3}, MetaType::U8));
    if (!w.write(dir + "/vocab.gguf").ok()) return 1;
  }
  return 0;
}

int safetensors(const std::string& dir) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},"s":{"dtype":"F16","shape":[],"data_offsets":[20,22]}})";
  std::string s;
  append<uint64_t>(s, header.size());
  s += header + std::string(22, '\1');
  put(dir + "/small.safetensors", s);
  return 0;
}

std::string llama2c_file(int version, bool shared) {
  const int32_t D = 4, H = 6, L = 1, NH = 2, KV = 1, V = 3, S = 2;
  std::string s;
  if (version == 1) append<uint32_t>(s, 0x616b3432), append<int32_t>(s, 1);
  for (int32_t v : {D, H, L, NH, KV, version == 0 && !shared ? -V : V, S}) append(s, v);
  if (version == 1) {
    append<uint8_t>(s, shared);
    s.resize(256, '\0');
  }
  const int32_t hs = D / NH;
  size_t floats = size_t(V * D + L * D * 2 + L * D * D * 2 + L * KV * hs * D * 2 + L * H * D * 3 + D);
  if (version == 0) floats += size_t(S * hs);
  if (!shared) floats += size_t(V * D);
  for (size_t k = 0; k < floats; ++k) append<float>(s, float(k % 7) * 0.5f);
  return s;
}

int llama2c(const std::string& dir) {
  put(dir + "/v0-shared.bin", llama2c_file(0, true));
  put(dir + "/v0-wcls.bin", llama2c_file(0, false));
  put(dir + "/v1-shared.bin", llama2c_file(1, true));
  put(dir + "/v1-wcls.bin", llama2c_file(1, false));
  return 0;
}

int config_json(const std::string& dir) {
  put(dir + "/config.json",
      R"({"architectures":["LlamaForCausalLM"],"hidden_size":64,"rms_norm_eps":1e-05,"tie_word_embeddings":true,)"
      R"("pad_token_id":null,"rope_scaling":{"type":"linear","factor":2.0},"eos_token_id":[1,2],"big":18446744073709551615})");
  put(dir + "/index.json",
      R"({"metadata":{"total_size":16},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}})");
  return 0;
}

// KL-divergence base files (eval/kld_file.h), written field by field: a
// llama.cpp half-chunk file and a nibble --score all file.
std::string kld_file(uint32_t n_ctx, int32_t n_vocab, int32_t n_chunk, int32_t scored_per_chunk) {
  std::string s = "_logits_";
  append(s, n_ctx);
  append(s, n_vocab);
  append(s, n_chunk);
  for (int32_t i = 0; i < int32_t(n_ctx) * n_chunk; ++i) append<int32_t>(s, i % n_vocab);
  const int32_t words = 2 * ((n_vocab + 1) / 2);
  for (int32_t r = 0; r < n_chunk * scored_per_chunk; ++r) {
    append<float>(s, 16.0f / 65535.0f);  // scale
    append<float>(s, -17.5f);            // min_log_prob
    for (int32_t i = 0; i < words; ++i) append<uint16_t>(s, i < n_vocab ? uint16_t(i * 30000 + r) : 0);
  }
  return s;
}

int kld_base(const std::string& dir) {
  put(dir + "/half.kld", kld_file(6, 3, 2, 6 - 1 - 6 / 2));
  put(dir + "/all.kld", kld_file(4, 2, 1, 4 - 1));
  return 0;
}

// .npy files as numpy writes them (version 1, header padded to 64 bytes).
std::string npy_file(const std::string& dict, const std::string& data) {
  std::string h = dict;
  h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::string s = "\x93NUMPY";
  s += '\x01';
  s += '\x00';
  append<uint16_t>(s, uint16_t(h.size()));
  return s + h + data;
}

int npy(const std::string& dir) {
  put(dir + "/f32.npy", npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", std::string(16, '\x3f')));
  put(dir + "/u8.npy", npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }", "abc"));
  put(dir + "/scalar.npy", npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", std::string(8, '\0')));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_seeds <target> <dir>\n");
    return 2;
  }
  const std::string target = argv[1], dir = argv[2];
  if (target == "gguf_fuzz") return gguf(dir);
  if (target == "safetensors_fuzz") return safetensors(dir);
  if (target == "llama2c_fuzz") return llama2c(dir);
  if (target == "config_json_fuzz") return config_json(dir);
  if (target == "kld_base_fuzz") return kld_base(dir);
  if (target == "npy_fuzz") return npy(dir);
  return 0;
}
