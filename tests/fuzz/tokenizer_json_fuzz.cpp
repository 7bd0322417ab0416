// libFuzzer target: the Hugging Face tokenizer.json reader on arbitrary
// bytes; whatever it accepts must then encode and decode without crashing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/from_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto t = nb::hf_tokenizer_from_json(bytes, "fuzz.json");
  if (!t.ok()) return 0;
  const nb::Tokenizer& tok = **t;
  for (std::string_view text : {std::string_view("Hello world's 123 \xE6\x97\xA5\n\n  x"), bytes.substr(0, 256)}) {
    int32_t prev = -1;
    for (int32_t id : tok.encode(text, false)) {
      if (id < 0 || id >= tok.n_vocab()) __builtin_trap();
      tok.decode(prev, id);
      prev = id;
    }
  }
  return 0;
}
