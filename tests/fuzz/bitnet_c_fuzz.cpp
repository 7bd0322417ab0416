// libFuzzer target: the bitllama2.c ternary parser on arbitrary bytes must
// return a clean error naming the input, or views that lie inside it, whose
// rows unpack without reading past them; never crash.
//
// Random bytes almost never have the exact size a header implies, so every
// input is tried twice: as it is (through parse_bitnet_c and through
// parse_llama2c, which hands ternary-sized files over), and as the body of a
// small well-formed header chosen by its first bytes and sized exactly, so
// the scale and code checks and the views are exercised too.
#include <algorithm>
#include <cstring>
#include <vector>

#include "fuzz_check.h"
#include "io/bitnet_c.h"
#include "io/parse.h"

namespace {

void check_rows(const nb::io::ModelFile& m) {
  if (m.container != nb::io::kBitnetCContainer) return;
  const int64_t D = m.get_int_or("bitnet.dim", 0), H = m.get_int_or("bitnet.hidden_dim", 0);
  const int64_t KV = m.get_int_or("bitnet.n_kv_heads", 0) * (D / std::max<int64_t>(1, m.get_int_or("bitnet.n_heads", 1)));
  const int64_t shapes[7][2] = {{D, D}, {KV, D}, {KV, D}, {D, D}, {H, D}, {D, H}, {H, D}};
  std::vector<float> row;
  for (int64_t l = 0; l < m.get_int_or("bitnet.n_layers", 0); ++l)
    for (int k = 0; k < 7; ++k) {
      const nb::io::TensorInfo* t = m.find(nb::io::bitnet_c_tensor_name(l, nb::io::kBitnetCMatrices[k]));
      if (!t) nb::fuzz::fail("missing record", nb::io::bitnet_c_tensor_name(l, nb::io::kBitnetCMatrices[k]));
      row.resize(size_t(shapes[k][1]));
      // One row past the end too: it must be an error, not a read.
      for (int64_t r = 0; r <= shapes[k][0]; ++r) {
        const bool ok = nb::io::bitnet_c_unpack_row(*t, r, shapes[k][1], row.data()).ok();
        if (ok != (r < shapes[k][0])) nb::fuzz::fail("unpack_row bounds", t->name);
      }
    }
}

void parse_all(const uint8_t* data, size_t size, const std::string& name) {
  for (auto parse : {nb::io::parse_bitnet_c, nb::io::parse_llama2c}) {
    auto r = parse(data, size, name);
    if (r.ok()) {
      nb::fuzz::check_model(r.value(), data, size);
      check_rows(r.value());
    } else {
      nb::fuzz::check_error(r.status(), name);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kName = "fuzz.bitnet";
  {
    // As it is, in an exact-size heap copy so ASan sees any read past the end.
    std::vector<uint8_t> copy(data, data + size);
    parse_all(copy.data(), copy.size(), kName);
  }
  if (size < 4) return 0;
  // A small valid header from the first four bytes; the rest fills the body,
  // once as it is and once with every code 10 turned into 11 and every scale
  // set to 1, so that whole files load too.
  const int32_t heads = 1 << (data[0] % 3), kv = (data[1] % 2 && heads > 1) ? heads / 2 : heads;
  const int32_t head_size = 4 * (1 + data[0] / 3 % 3), dim = heads * head_size;
  const int32_t hidden = 4 * (1 + data[2] % 5), layers = 1 + data[3] % 2, vocab = 1 + data[2] / 5 % 4, seq = 2;
  std::vector<uint8_t> file(256, 0);
  const uint32_t magic = 0x616b3432;
  const int32_t fields[8] = {1, dim, hidden, layers, heads, kv, vocab, seq};
  std::memcpy(file.data(), &magic, 4);
  std::memcpy(file.data() + 4, fields, sizeof fields);
  file[36] = 1;
  const uint64_t want = nb::io::bitnet_c_expected_size(file.data(), file.size());
  if (want <= 256 || want > (1u << 20)) nb::fuzz::fail("expected size of a valid header", std::to_string(want));
  file.resize(size_t(want));
  for (size_t i = 256; i < file.size(); ++i) file[i] = size > 4 ? data[4 + (i - 256) % (size - 4)] : 0;
  parse_all(file.data(), file.size(), kName);

  const int64_t D = dim, H = hidden, KV = int64_t(kv) * head_size;
  const int64_t shapes[7][2] = {{D, D}, {KV, D}, {KV, D}, {D, D}, {H, D}, {D, H}, {H, D}};
  size_t at = 256 + 4 * size_t(D) * size_t(1 + vocab);  // rms_final, tok_embeddings
  for (int k = 0; k < 7; ++k)
    for (int l = 0; l < layers; ++l) {
      const float one = 1.0f;
      std::memcpy(file.data() + at, &one, 4);
      at += 4;
      for (int64_t i = 0; i < shapes[k][0] * shapes[k][1] / 4; ++i, ++at)
        file[at] = uint8_t(file[at] | ((file[at] & 0xAA) >> 1));
    }
  if (at != file.size()) nb::fuzz::fail("harness layout", std::to_string(at));
  auto r = nb::io::parse_bitnet_c(file.data(), file.size(), kName);
  if (!r.ok()) nb::fuzz::fail("a well-formed file does not load", r.status().message());
  nb::fuzz::check_model(r.value(), file.data(), file.size());
  check_rows(r.value());
  return 0;
}
