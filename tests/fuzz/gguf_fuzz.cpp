// libFuzzer target: the gguf parser on arbitrary bytes must return a clean
// error naming the input, or views that lie inside it; never crash. What
// parses also goes through the GGUF-embedded vocabulary reader
// (tokenizer.ggml.*), whose tokenizer must then encode and decode.
#include "fuzz_check.h"
#include "io/parse.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kName = "fuzz.gguf";
  auto r = nb::io::parse_gguf(data, size, kName);
  if (!r.ok()) {
    nb::fuzz::check_error(r.status(), kName);
    return 0;
  }
  nb::fuzz::check_model(r.value(), data, size);
  auto tok = nb::tokenizer_from_gguf(r.value());
  if (!tok.ok()) return 0;
  int32_t prev = -1;
  for (int32_t id : (*tok)->encode("Hello world, Zo\xC3\xAB \xF0\x9F\x99\x82\n", true)) {
    if (id < 0 || id >= (*tok)->n_vocab()) __builtin_trap();
    (*tok)->decode(prev, id);
    prev = id;
  }
  return 0;
}
