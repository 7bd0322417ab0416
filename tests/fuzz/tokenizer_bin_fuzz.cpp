// libFuzzer target: the llama2.c tokenizer.bin parser on arbitrary bytes;
// whatever it accepts must then encode and decode without crashing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/from_bytes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto t = nb::llama2c_tokenizer_from_bytes(bytes, "fuzz.bin");
  if (!t.ok()) return 0;
  const nb::Tokenizer& tok = **t;
  // A fixed text, then the input itself as (usually invalid UTF-8) text.
  for (std::string_view text : {std::string_view("Once upon a time, Zo\xC3\xAB \xF0\x9F\x99\x82"), bytes.substr(0, 512)}) {
    int32_t prev = -1;
    for (int32_t id : tok.encode(text, true)) {
      if (id < 0 || id >= tok.n_vocab()) __builtin_trap();
      tok.decode(prev, id);
      tok.piece(id);
      prev = id;
    }
  }
  return 0;
}
