// libFuzzer target: SentencePiece `tokenizer.model` files. Our own protobuf
// reader (spm_vocab.cpp) must reject or accept any bytes without crashing;
// what it accepts goes on to libsentencepiece, and its vocabulary must then
// export as GGUF keys and build the llama.cpp-style tokenizer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/from_bytes.h"
#include "tokenizer/spm_vocab.h"
#include "tokenizer/vocab_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto vocab = nb::parse_spm_vocab(bytes, "fuzz.model");
  if (!vocab.ok()) return 0;
  if (vocab->pieces.size() != vocab->scores.size() || vocab->pieces.size() != vocab->types.size()) __builtin_trap();
  auto tok = nb::spm_tokenizer_from_bytes(bytes, "fuzz.model");
  if (!tok.ok()) return 0;
  nb::VocabData v;
  if (!(*tok)->export_vocab(&v).ok()) return 0;
  auto spm = nb::make_llama_spm_tokenizer(v);
  if (!spm.ok()) return 0;
  int32_t prev = -1;
  for (int32_t id : (*spm)->encode("Hello world, Zo\xC3\xAB \xF0\x9F\x99\x82\n", true)) {
    if (id < 0 || id >= (*spm)->n_vocab()) __builtin_trap();
    (*spm)->decode(prev, id);
    prev = id;
  }
  return 0;
}
