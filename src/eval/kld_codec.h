// llama.cpp's compressed log-probabilities: one record per scored token of a
// KL-divergence base file (design/fp4-and-gptq.md §9.7).
//
// A record is record_words(n_vocab) uint16 words: an fp32 `scale`, an fp32
// `min_log_prob`, then one code per vocabulary entry, padded with a zero word
// to an even count. With max/min over the token's logits and
// min_logit = max(min, max - 16):
//   scale        = (max - min_logit) / 65535
//   code_i       = round((logit_i - min_logit) / scale) if logit_i > min_logit, else 0
//   min_log_prob = min_logit - max - log sum_j exp(logit_j - max)
// so log p_i = scale * code_i + min_log_prob to within scale/2, for the top 16
// nats; everything lower reads back as min_log_prob (<= -16).
//
// The arithmetic follows llama.cpp's float by float, so the same logits give
// the same bytes as llama-perplexity --kl-divergence-base.
#pragma once
#include <cstdint>

namespace nb::kld {

// Log-probabilities more than this many nats below the top are not kept
// (they decode to min_log_prob) and are left out of the KL sum.
inline constexpr float kLogProbRange = 16.0f;

// uint16 words of one record: 4 for the two floats, the codes rounded up to even.
inline int64_t record_words(int64_t n_vocab) { return 2 * ((n_vocab + 1) / 2) + 4; }

struct RecordHeader {
  float scale = 0, min_log_prob = 0;
};

// Fills rec[0 .. record_words(n_vocab)) from one position's logits.
void encode_log_probs(const float* logits, int64_t n_vocab, uint16_t* rec);

RecordHeader record_header(const uint16_t* rec);
inline const uint16_t* record_codes(const uint16_t* rec) { return rec + 4; }
inline float decode_log_prob(const RecordHeader& h, uint16_t code) { return h.scale * float(code) + h.min_log_prob; }

}  // namespace nb::kld
