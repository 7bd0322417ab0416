// bitllama2.c ternary checkpoints: the "ak42" version-1 header of llama2.c
// with a BitNet b1.58 body, as runbit.c reads it (bitllama2.c at d4bd6ee).
// All little-endian.
//  header (256 bytes): u32 magic "ak42", i32 version 1, i32 dim, hidden_dim,
//    n_layers, n_heads, n_kv_heads, vocab_size, seq_len, u8 shared_classifier,
//    zero padding.
//  body: f32 rms_final[dim]; f32 tok_embeddings[vocab_size][dim]; then the
//    BitLinear records grouped by matrix, then by layer: every layer's wq,
//    then every layer's wk, wv, wo, w1, w2, w3. A record of an (out, in)
//    matrix is f32 s followed by out*in/4 bytes of 2-bit codes: weight
//    k = r*in + c sits in byte k/4 at bits 2*(k%4) (LSB first); code 00 is 0,
//    01 is +1, 11 is -1, 10 is invalid. The weights are s times the codes.
//    A file with shared_classifier 0 would end with one more record (wcls);
//    runbit.c never reads it, so such files are rejected.
// The file size must be exactly what the header implies; the same header
// with an fp32 body is an ordinary llama2.c checkpoint (llama2c.cpp), and the
// size is what tells the two apart.
#include "io/bitnet_c.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "io/checked.h"
#include "io/parse.h"
#include "io/tensor_layout.h"

namespace nb::io {
namespace {

constexpr uint32_t kMagic = 0x616b3432;  // "ak42" read as a little-endian u32
constexpr size_t kHeaderBytes = 256;

struct Header {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
  uint8_t shared;
};

Header read_header(const uint8_t* p) {
  int32_t h[7];
  std::memcpy(h, p + 8, sizeof h);
  return Header{h[0], h[1], h[2], h[3], h[4], h[5], h[6], p[8 + sizeof h]};
}

std::string describe(const Header& h) {
  return strfmt("dim=%d hidden_dim=%d n_layers=%d n_heads=%d n_kv_heads=%d vocab_size=%d seq_len=%d", h.dim,
                h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len);
}

// Every header field. shared_classifier 0 passes here because it still
// defines a layout (the size check needs it); parse_bitnet_c rejects it.
Status check_header(const std::string& file, const Header& h) {
  auto bad = [&](const std::string& why) {
    return Status::Error(strfmt("%s: not a valid bitllama2.c ternary checkpoint (header %s): %s", file.c_str(),
                                describe(h).c_str(), why.c_str()));
  };
  const std::pair<const char*, int32_t> fields[] = {{"dim", h.dim},         {"hidden_dim", h.hidden_dim},
                                                    {"n_layers", h.n_layers}, {"n_heads", h.n_heads},
                                                    {"n_kv_heads", h.n_kv_heads}, {"vocab_size", h.vocab_size},
                                                    {"seq_len", h.seq_len}};
  for (auto& [name, v] : fields)
    if (v <= 0) return bad(strfmt("%s must be positive", name));
  if (h.dim % h.n_heads != 0) return bad("n_heads does not divide dim");
  if (h.n_heads % h.n_kv_heads != 0) return bad("n_kv_heads does not divide n_heads");
  if ((h.dim / h.n_heads) % 2 != 0) return bad("the head size dim/n_heads is odd (RoPE rotates pairs)");
  // Every matrix has dim on one side, so this makes each record whole bytes.
  if (h.dim % 4 != 0) return bad("dim is not a multiple of 4 (a byte holds four 2-bit codes)");
  if (h.shared > 1) return bad(strfmt("shared_classifier is %u, not 0 or 1", h.shared));
  return Status::Ok();
}

struct Entry {
  std::string name;
  std::vector<int64_t> shape;  // f32 tensors: their shape; records: {out, in}
  bool record;                 // a BitLinear record (scale + codes)
  uint64_t bytes = 0;
};

// (out, in) of wq, wk, wv, wo, w1, w2, w3, as PyTorch's nn.Linear stores them.
void matrix_shapes(const Header& h, int64_t shapes[7][2]) {
  const int64_t D = h.dim, H = h.hidden_dim, KV = int64_t(h.n_kv_heads) * (D / h.n_heads);
  const int64_t s[7][2] = {{D, D}, {KV, D}, {KV, D}, {D, D}, {H, D}, {D, H}, {H, D}};
  std::memcpy(shapes, s, sizeof s);
}

// Bytes of a record of an (out, in) matrix: f32 scale + out*in/4 code bytes
// (out*in is a multiple of 4, see check_header); false on overflow.
bool record_bytes(int64_t out, int64_t in, uint64_t* bytes) {
  uint64_t n;
  return checked_mul(uint64_t(out), uint64_t(in), &n) && checked_add(sizeof(float), n / 4, bytes);
}

// The exact file size the (checked) header implies, computed per matrix type
// so that a hostile n_layers costs nothing; false when it overflows.
bool total_size(const Header& h, uint64_t* total) {
  int64_t shapes[7][2];
  matrix_shapes(h, shapes);
  uint64_t t = kHeaderBytes, b;
  bool ok = checked_mul(uint64_t(h.vocab_size) + 1, uint64_t(h.dim), &b) && checked_mul(b, sizeof(float), &b) &&
            checked_add(t, b, &t);  // rms_final and tok_embeddings
  for (int m = 0; ok && m < 7; ++m)
    ok = record_bytes(shapes[m][0], shapes[m][1], &b) && checked_mul(b, uint64_t(h.n_layers), &b) &&
         checked_add(t, b, &t);
  if (ok && h.shared == 0) ok = record_bytes(h.vocab_size, h.dim, &b) && checked_add(t, b, &t);
  *total = t;
  return ok;
}

// File order; only called once the size matched, which bounds n_layers.
std::vector<Entry> layout(const Header& h) {
  const int64_t D = h.dim, V = h.vocab_size;
  int64_t shapes[7][2];
  matrix_shapes(h, shapes);
  std::vector<Entry> out = {{"rms_final", {D}, false, uint64_t(D) * sizeof(float)},
                            {"tok_embeddings", {V, D}, false, uint64_t(V * D) * sizeof(float)}};
  for (int m = 0; m < 7; ++m)
    for (int64_t l = 0; l < h.n_layers; ++l) {
      Entry e{bitnet_c_tensor_name(l, kBitnetCMatrices[m]), {shapes[m][0], shapes[m][1]}, true};
      record_bytes(shapes[m][0], shapes[m][1], &e.bytes);
      out.push_back(std::move(e));
    }
  return out;
}

// First byte of `codes` holding the invalid code 10, or -1. A pair is 10 when
// its high bit is set and its low bit is not.
int64_t find_invalid_code(const uint8_t* codes, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    const unsigned b = codes[i];
    if ((b & 0xAAu) & ~(b << 1)) return int64_t(i);
  }
  return -1;
}

}  // namespace

std::string bitnet_c_tensor_name(int64_t layer, const char* matrix) {
  return "layers." + std::to_string(layer) + "." + matrix;
}

float bitnet_c_scale(const TensorInfo& record) {
  float s;
  std::memcpy(&s, record.view.data, sizeof s);
  return s;
}

Status bitnet_c_unpack_row(const TensorInfo& record, int64_t r, int64_t in, float* out) {
  const int64_t n_codes = record.view.format == FormatId::I8_ROW && record.view.ndim == 1 ? record.view.shape[0] : 0;
  if (r < 0 || in <= 0 || (r + 1) > n_codes * 4 / in)
    return Status::Error(strfmt("%s: tensor '%s': row %lld of %lld weights lies outside its %lld codes",
                                record.file.c_str(), record.name.c_str(), (long long)r, (long long)in,
                                (long long)n_codes * 4));
  const uint8_t* codes = static_cast<const uint8_t*>(record.view.data) + sizeof(float);
  static const float kWeight[4] = {0.0f, 1.0f, NAN, -1.0f};  // by code: 00, 01, 10 (invalid), 11
  for (int64_t c = 0; c < in; ++c) {
    const int64_t k = r * in + c;
    const unsigned code = (codes[k >> 2] >> (2 * (k & 3))) & 3u;
    if (code == 2)
      return Status::Error(strfmt("%s: tensor '%s': invalid 2-bit code 10 at byte %lld of its codes (weight %lld)",
                                  record.file.c_str(), record.name.c_str(), (long long)(k >> 2), (long long)k));
    out[c] = kWeight[code];
  }
  return Status::Ok();
}

uint64_t bitnet_c_expected_size(const uint8_t* data, size_t size) {
  if (size < kHeaderBytes) return 0;
  const Header h = read_header(data);
  if (!check_header("", h).ok()) return 0;
  uint64_t total;
  return total_size(h, &total) ? total : 0;
}

Result<ModelFile> parse_bitnet_c(const uint8_t* data, size_t size, const std::string& name) {
  if (size < kHeaderBytes)
    return Status::Error(strfmt("%s: bitllama2.c checkpoint header needs %zu bytes, the file has %zu", name.c_str(),
                                kHeaderBytes, size));
  uint32_t magic;
  int32_t version;
  std::memcpy(&magic, data, 4);
  std::memcpy(&version, data + 4, 4);
  if (magic != kMagic)
    return Status::Error(strfmt("%s: not a bitllama2.c checkpoint: magic 0x%08x, expected 0x%08x (\"ak42\")",
                                name.c_str(), magic, kMagic));
  if (version != 1)
    return Status::Error(strfmt("%s: bitllama2.c checkpoint version %d, runbit.c reads only version 1", name.c_str(),
                                version));
  const Header h = read_header(data);
  NB_TRY(check_header(name, h));
  if (h.shared == 0)
    return Status::Error(name + ": bitllama2.c checkpoint with shared_classifier = 0 (a separate ternary classifier) "
                                "is not supported: runbit.c always uses the token embedding as the classifier");

  uint64_t total;
  const bool fits = total_size(h, &total);
  if (!fits || total != size)
    return Status::Error(strfmt("%s: bitllama2.c ternary checkpoint with %s should be %s bytes, found %zu", name.c_str(),
                                describe(h).c_str(), fits ? std::to_string(total).c_str() : "more than 2^64", size));

  ModelFile m;
  m.path = name;
  m.container = kBitnetCContainer;
  const std::pair<const char*, int64_t> fields[] = {
      {"dim", h.dim},         {"hidden_dim", h.hidden_dim}, {"n_layers", h.n_layers}, {"n_heads", h.n_heads},
      {"n_kv_heads", h.n_kv_heads}, {"vocab_size", h.vocab_size}, {"seq_len", h.seq_len}, {"version", version}};
  for (auto& [k, v] : fields) m.meta[std::string("bitnet.") + k] = MetaValue::Int(v);
  m.meta["bitnet.shared_classifier"] = MetaValue::Bool(h.shared == 1);
  // The records are tagged i8_row (their byte shape); this says what the bytes are.
  m.meta["bitnet.record_layout"] =
      MetaValue::Str("f32 scale, then 2-bit codes, 4 per byte, LSB first: 00=0 01=+1 11=-1");

  uint64_t offset = kHeaderBytes;
  for (const Entry& e : layout(h)) {
    const uint8_t* p = data + offset;
    if (e.record) {
      const uint64_t n_codes = e.bytes - sizeof(float);
      float s;
      std::memcpy(&s, p, sizeof s);
      // The exporter writes mean|W| clamped to >= 1e-5; anything else is damage.
      if (!std::isfinite(s) || !(s > 0.0f))
        return Status::Error(strfmt("%s: tensor '%s': scale %g at byte %llu is not a positive finite number",
                                    name.c_str(), e.name.c_str(), double(s), (unsigned long long)offset));
      const int64_t bad = find_invalid_code(p + sizeof(float), n_codes);
      if (bad >= 0)
        return Status::Error(strfmt("%s: tensor '%s': invalid 2-bit code 10 in byte 0x%02x at file offset %llu",
                                    name.c_str(), e.name.c_str(), p[sizeof(float) + uint64_t(bad)],
                                    (unsigned long long)(offset + sizeof(float) + uint64_t(bad))));
      const int64_t shape[1] = {int64_t(n_codes)};
      m.tensors.push_back(make_tensor(name, e.name, FormatId::I8_ROW, shape, 1, e.bytes, p));
    } else {
      m.tensors.push_back(make_tensor(name, e.name, FormatId::F32, e.shape.data(), int(e.shape.size()), e.bytes, p));
    }
    offset += e.bytes;
  }
  NB_TRY(m.build_index());
  return m;
}

}  // namespace nb::io
