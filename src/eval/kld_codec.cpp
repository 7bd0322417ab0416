#include "eval/kld_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nb::kld {
namespace {

// Round to nearest, ties to even: what llama.cpp's nearest_int does (its
// 1.5·2^23 trick) for the only range used here, [0, 65535].
uint16_t to_code(float v) {
  float r = std::nearbyint(v);
  return r >= 65535.0f ? uint16_t(65535) : uint16_t(r);
}

}  // namespace

void encode_log_probs(const float* logits, int64_t n_vocab, uint16_t* rec) {
  float max_logit = logits[0], min_logit = logits[0];
  for (int64_t i = 1; i < n_vocab; ++i) {
    max_logit = std::max(max_logit, logits[i]);
    min_logit = std::min(min_logit, logits[i]);
  }
  min_logit = std::max(min_logit, max_logit - kLogProbRange);
  double sum_exp = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
  const float log_sum_exp = float(std::log(sum_exp));
  const RecordHeader h{(max_logit - min_logit) / 65535.0f, min_logit - max_logit - log_sum_exp};
  std::memcpy(rec, &h.scale, sizeof(float));
  std::memcpy(rec + 2, &h.min_log_prob, sizeof(float));
  uint16_t* codes = rec + 4;
  const int64_t words = record_words(n_vocab) - 4;
  std::fill(codes, codes + words, uint16_t(0));
  if (h.scale == 0) return;  // every logit equal: all codes 0, log p = min_log_prob
  const float inv_scale = 1.0f / h.scale;
  for (int64_t i = 0; i < n_vocab; ++i)
    if (logits[i] > min_logit) codes[i] = to_code(inv_scale * (logits[i] - min_logit));
}

RecordHeader record_header(const uint16_t* rec) {
  RecordHeader h;
  std::memcpy(&h.scale, rec, sizeof(float));
  std::memcpy(&h.min_log_prob, rec + 2, sizeof(float));
  return h;
}

}  // namespace nb::kld
