// libFuzzer target: the llama2c parser on arbitrary bytes must return a clean
// error naming the input, or views that lie inside it; never crash.
#include "fuzz_check.h"
#include "io/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kName = "fuzz.llama2c";
  auto r = nb::io::parse_llama2c(data, size, kName);
  if (r.ok()) nb::fuzz::check_model(r.value(), data, size);
  else nb::fuzz::check_error(r.status(), kName);
  return 0;
}
