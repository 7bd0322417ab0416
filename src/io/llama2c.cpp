// llama2.c checkpoints (github.com/karpathy/llama2.c, run.c / export.py).
//  version 0 ("legacy"): 7 × i32 header (dim, hidden_dim, n_layers, n_heads,
//    n_kv_heads, vocab_size, seq_len; vocab_size < 0 means an unshared
//    classifier), then fp32: tok_embeddings, rms_att, wq, wk, wv, wo, rms_ffn,
//    w1, w2, w3, rms_final, freq_cis_real, freq_cis_imag, [wcls].
//  version 1: u32 magic "ak42", i32 1, the same 7 × i32, u8 shared_classifier,
//    zero padding to 256 bytes, then fp32: rms_att, rms_ffn, rms_final,
//    tok_embeddings, wq, wk, wv, wo, w1, w2, w3, [wcls] (export.py's
//    version1_export; no freq_cis).
// The file size must be exactly what the header implies. A version-1 file of
// the size of bitllama2.c's ternary body is handed to parse_bitnet_c.
#include <cstring>
#include <vector>

#include "io/checked.h"
#include "io/parse.h"
#include "io/tensor_layout.h"

namespace nb::io {
namespace {

constexpr uint32_t kMagic = 0x616b3432;  // "ak42" read as a little-endian u32
constexpr size_t kLegacyHeaderBytes = 7 * 4;
constexpr size_t kV1HeaderBytes = 256;

struct Config {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
  bool shared;
  int version;
};

Config read_fields(const uint8_t* p) {
  int32_t h[7];
  std::memcpy(h, p, sizeof h);
  Config c{};
  c.dim = h[0], c.hidden_dim = h[1], c.n_layers = h[2], c.n_heads = h[3];
  c.n_kv_heads = h[4], c.vocab_size = h[5], c.seq_len = h[6];
  return c;
}

struct Entry {
  const char* name;  // nullptr: bytes that are skipped (the legacy RoPE tables)
  std::vector<int64_t> shape;
};

Status check_config(const std::string& file, const Config& c) {
  auto bad = [&](const std::string& why) {
    return Status::Error(strfmt("%s: not a valid llama2.c checkpoint (header dim=%d hidden_dim=%d n_layers=%d "
                                "n_heads=%d n_kv_heads=%d vocab_size=%d seq_len=%d): %s",
                                file.c_str(), c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size,
                                c.seq_len, why.c_str()));
  };
  const std::pair<const char*, int32_t> fields[] = {{"dim", c.dim},         {"hidden_dim", c.hidden_dim},
                                                    {"n_layers", c.n_layers}, {"n_heads", c.n_heads},
                                                    {"n_kv_heads", c.n_kv_heads}, {"vocab_size", c.vocab_size},
                                                    {"seq_len", c.seq_len}};
  for (auto& [name, v] : fields)
    if (v <= 0) return bad(strfmt("%s must be positive", name));
  if (c.dim % c.n_heads != 0) return bad("n_heads does not divide dim");
  if (c.n_heads % c.n_kv_heads != 0) return bad("n_kv_heads does not divide n_heads");
  if ((c.dim / c.n_heads) % 2 != 0) return bad("the head size dim/n_heads is odd (RoPE rotates pairs)");
  return Status::Ok();
}

std::vector<Entry> layout(const Config& c) {
  const int64_t D = c.dim, H = c.hidden_dim, L = c.n_layers, V = c.vocab_size, S = c.seq_len;
  const int64_t head = D / c.n_heads, KV = int64_t(c.n_kv_heads) * head;
  Entry emb{"tok_embeddings", {V, D}}, rms_att{"rms_att", {L, D}}, rms_ffn{"rms_ffn", {L, D}},
      rms_final{"rms_final", {D}};
  std::vector<Entry> attn_ffn = {{"wq", {L, D, D}},  {"wk", {L, KV, D}}, {"wv", {L, KV, D}}, {"wo", {L, D, D}},
                                 {"w1", {L, H, D}}, {"w2", {L, D, H}},  {"w3", {L, H, D}}};
  std::vector<Entry> out;
  if (c.version == 0) {
    out = {emb, rms_att};
    out.insert(out.end(), attn_ffn.begin(), attn_ffn.begin() + 4);
    out.push_back(rms_ffn);
    out.insert(out.end(), attn_ffn.begin() + 4, attn_ffn.end());
    out.push_back(rms_final);
    out.push_back({nullptr, {S, head / 2}});  // freq_cis_real
    out.push_back({nullptr, {S, head / 2}});  // freq_cis_imag
  } else {
    out = {rms_att, rms_ffn, rms_final, emb};
    out.insert(out.end(), attn_ffn.begin(), attn_ffn.end());
  }
  if (!c.shared) out.push_back({"wcls", {V, D}});
  return out;
}

Result<ModelFile> parse(const uint8_t* data, size_t size, const std::string& file, const Config& c, size_t header) {
  NB_TRY(check_config(file, c));
  const std::vector<Entry> entries = layout(c);
  // Sizes first, against the exact file size, before any view is made.
  std::vector<uint64_t> bytes;
  uint64_t total = header;
  bool fits = true;
  for (const Entry& e : entries) {
    uint64_t b = sizeof(float);  // every dimension was checked positive
    for (int64_t d : e.shape) fits = fits && checked_mul(b, uint64_t(d), &b);
    bytes.push_back(b);
    fits = fits && checked_add(total, b, &total);
  }
  if (!fits || total != size) {
    // bitllama2.c's ternary checkpoints carry the same version-1 header; only
    // the exact size tells the two bodies apart.
    const uint64_t ternary = c.version == 1 ? bitnet_c_expected_size(data, size) : 0;
    if (ternary != 0 && ternary == size) return parse_bitnet_c(data, size, file);
    const std::string or_ternary =
        ternary != 0 ? strfmt(" (fp32 llama2.c) or %llu bytes (bitllama2.c ternary)", (unsigned long long)ternary) : "";
    return Status::Error(strfmt("%s: llama2.c version %d checkpoint with dim=%d hidden_dim=%d n_layers=%d n_heads=%d "
                                "n_kv_heads=%d vocab_size=%d seq_len=%d (%s classifier) should be %s bytes%s, found %zu",
                                file.c_str(), c.version, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                                c.vocab_size, c.seq_len, c.shared ? "shared" : "separate",
                                fits ? std::to_string(total).c_str() : "more than 2^64", or_ternary.c_str(), size));
  }
  ModelFile m;
  m.path = file;
  m.container = "llama2c";
  const std::pair<const char*, int64_t> fields[] = {
      {"dim", c.dim},         {"hidden_dim", c.hidden_dim}, {"n_layers", c.n_layers}, {"n_heads", c.n_heads},
      {"n_kv_heads", c.n_kv_heads}, {"vocab_size", c.vocab_size}, {"seq_len", c.seq_len}, {"version", c.version}};
  for (auto& [k, v] : fields) m.meta[std::string("llama2c.") + k] = MetaValue::Int(v);
  m.meta["llama2c.shared_classifier"] = MetaValue::Bool(c.shared);
  uint64_t offset = header;
  for (size_t k = 0; k < entries.size(); ++k) {
    const Entry& e = entries[k];
    if (e.name)
      m.tensors.push_back(make_tensor(file, e.name, FormatId::F32, e.shape.data(), int(e.shape.size()), bytes[k],
                                      data + offset));
    offset += bytes[k];
  }
  NB_TRY(m.build_index());
  return m;
}

}  // namespace

Result<ModelFile> parse_llama2c(const uint8_t* data, size_t size, const std::string& name) {
  uint32_t magic = 0;
  if (size >= 4) std::memcpy(&magic, data, 4);
  if (magic == kMagic) {
    int32_t version;
    if (size < 8) return Status::Error(name + ": llama2.c checkpoint ends inside its header");
    std::memcpy(&version, data + 4, 4);
    if (version == 2)
      return Status::Error(name + ": llama2.c version 2 (int8, Q8_0) checkpoints are not supported; "
                                  "export with --version 0 or 1 (fp32)");
    if (version != 1) return Status::Error(strfmt("%s: unknown llama2.c checkpoint version %d", name.c_str(), version));
    if (size < kV1HeaderBytes)
      return Status::Error(strfmt("%s: llama2.c version 1 header needs %zu bytes, the file has %zu", name.c_str(),
                                  kV1HeaderBytes, size));
    Config c = read_fields(data + 8);
    const uint8_t shared = data[8 + 7 * 4];
    if (shared > 1) return Status::Error(strfmt("%s: llama2.c shared_classifier flag is %u, not 0 or 1", name.c_str(), shared));
    c.shared = shared == 1;
    c.version = 1;
    return parse(data, size, name, c, kV1HeaderBytes);
  }
  if (size < kLegacyHeaderBytes)
    return Status::Error(strfmt("%s: %zu bytes is too short for a llama2.c checkpoint (header alone is %zu)",
                                name.c_str(), size, kLegacyHeaderBytes));
  Config c = read_fields(data);
  c.version = 0;
  c.shared = c.vocab_size > 0;
  // A negative vocab_size flags the separate classifier; INT32_MIN has no magnitude.
  if (c.vocab_size < 0 && c.vocab_size != INT32_MIN) c.vocab_size = -c.vocab_size;
  return parse(data, size, name, c, kLegacyHeaderBytes);
}

}  // namespace nb::io
