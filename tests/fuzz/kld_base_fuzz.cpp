// libFuzzer target: the KL-divergence base-file reader (eval/kld_file.h) on
// arbitrary bytes must return a clean error naming the input, or a view whose
// tokens lie in the vocabulary and whose records can all be read; never crash.
#include "eval/kld_codec.h"
#include "eval/kld_file.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kName = "fuzz.kld";
  auto r = nb::kld::parse_base(data, size, kName);
  if (!r.ok()) {
    nb::fuzz::check_error(r.status(), kName);
    return 0;
  }
  const nb::kld::BaseView& v = r.value();
  for (int32_t t : v.tokens())
    if (t < 0 || t >= v.n_vocab) nb::fuzz::fail("token outside the vocabulary", std::to_string(t));
  std::vector<uint16_t> recs;
  const int64_t words = nb::kld::record_words(v.n_vocab);
  for (int64_t c = 0; c < v.n_chunk; ++c) {
    nb::Status st = v.chunk_records(c, recs);
    if (!st.ok()) {
      nb::fuzz::check_error(st, kName);
      continue;
    }
    if (int64_t(recs.size()) != v.per_chunk() * words) nb::fuzz::fail("chunk size", std::to_string(recs.size()));
    for (size_t j = 0; j < recs.size(); j += size_t(words)) {
      const nb::kld::RecordHeader h = nb::kld::record_header(&recs[j]);
      volatile float sink = nb::kld::decode_log_prob(h, nb::kld::record_codes(&recs[j])[v.n_vocab - 1]);
      (void)sink;
    }
  }
  return 0;
}
