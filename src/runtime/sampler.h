// Token sampling: repetition penalty, temperature, top-k, min-p, top-p, seed.
// With top-k and min-p off, temperature + top-p sampling reproduces llama2.c's
// sampler exactly (same xorshift64* generator, same nucleus cut-off and order),
// so its reference runs can be checked token for token.
#pragma once
#include <cstdint>
#include <deque>
#include <vector>

namespace nb {

struct SamplerParams {
  float temp = 0.8f;           // 0: greedy (argmax)
  int32_t top_k = 40;          // 0: off
  float top_p = 0.95f;         // >= 1: off
  float min_p = 0.05f;         // 0: off
  float repeat_penalty = 1.0f; // 1: off
  int32_t repeat_last_n = 64;  // how many recent tokens the penalty looks at
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);
  // Picks the next token from logits (modified in place). Deterministic for a
  // given seed and call sequence.
  int32_t sample(float* logits, int32_t n_vocab);
  void accept(int32_t token);  // record a token for the repetition penalty
  const SamplerParams& params() const { return p_; }

 private:
  float random_f32();
  SamplerParams p_;
  uint64_t state_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> cand_;
  std::vector<float> probs_;
};

}  // namespace nb
