// libFuzzer target: Hugging Face config.json flattening and
// model.safetensors.index.json parsing on arbitrary text.
#include "fuzz_check.h"
#include "io/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kName = "fuzz.json";
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::map<std::string, nb::io::MetaValue> meta;
  nb::Status st = nb::io::flatten_hf_config(text, kName, &meta);
  if (!st.ok()) nb::fuzz::check_error(st, kName);
  for (auto& [key, v] : meta) {
    if (key.rfind("hf.", 0) != 0) nb::fuzz::fail("key without the hf. prefix", key);
    (void)v.to_string();
  }
  auto idx = nb::io::parse_hf_index(text, kName);
  if (!idx.ok()) nb::fuzz::check_error(idx.status(), kName);
  else
    for (const auto& e : idx.value())
      if (e.shard.empty() || e.shard.find('/') != std::string::npos || e.shard == "..")
        nb::fuzz::fail("shard name escapes the folder", e.shard);
  return 0;
}
