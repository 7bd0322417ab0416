#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>

namespace nb {

Sampler::Sampler(const SamplerParams& p) : p_(p), state_(p.seed) {}

// xorshift64*, as llama2.c's run.c uses it, so seeded runs can be compared.
float Sampler::random_f32() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  uint32_t r = uint32_t((state_ * 0x2545F4914F6CDD1Dull) >> 32);
  return float(r >> 8) / 16777216.0f;
}

void Sampler::accept(int32_t token) {
  if (p_.repeat_last_n <= 0) return;
  recent_.push_back(token);
  while (int32_t(recent_.size()) > p_.repeat_last_n) recent_.pop_front();
}

int32_t Sampler::sample(float* logits, int32_t n) {
  // repetition penalty (CTRL-style, as llama.cpp): shrink positive logits, grow negative ones
  if (p_.repeat_penalty != 1.0f) {
    std::vector<int32_t> seen(recent_.begin(), recent_.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t t : seen)
      if (t >= 0 && t < n) logits[t] = logits[t] > 0 ? logits[t] / p_.repeat_penalty : logits[t] * p_.repeat_penalty;
  }
  if (p_.temp <= 0.0f) return int32_t(std::max_element(logits, logits + n) - logits);

  // softmax of logits / temperature
  probs_.resize(size_t(n));
  float mx = -INFINITY;
  for (int32_t i = 0; i < n; ++i) mx = std::max(mx, logits[i] / p_.temp);
  float sum = 0;
  for (int32_t i = 0; i < n; ++i) sum += (probs_[size_t(i)] = std::exp(logits[i] / p_.temp - mx));
  for (int32_t i = 0; i < n; ++i) probs_[size_t(i)] /= sum;

  // top-k and min-p drop candidates; the rest are renormalized
  bool filtered = false;
  if (p_.top_k > 0 && p_.top_k < n) {
    std::vector<float> sorted(probs_);
    std::nth_element(sorted.begin(), sorted.begin() + (p_.top_k - 1), sorted.end(), std::greater<float>());
    float kth = sorted[size_t(p_.top_k - 1)];
    // keep exactly top_k: ties at the threshold are kept in index order
    int32_t above = 0;
    for (float v : probs_) above += v > kth;
    int32_t ties_left = p_.top_k - above;
    for (auto& v : probs_) {
      if (v > kth) continue;
      if (v == kth && ties_left > 0) { --ties_left; continue; }
      v = 0.0f;
    }
    filtered = true;
  }
  if (p_.min_p > 0.0f) {
    float pmax = *std::max_element(probs_.begin(), probs_.end());
    for (auto& v : probs_)
      if (v < p_.min_p * pmax) v = 0.0f;
    filtered = true;
  }
  if (filtered) {
    float s = 0;
    for (float v : probs_) s += v;
    for (auto& v : probs_) v /= s;
  }

  float coin = random_f32();
  if (p_.top_p > 0.0f && p_.top_p < 1.0f) {
    // nucleus: candidates that could be in the top-p set (p >= (1-top_p)/(n-1)),
    // sorted by descending probability (stable, so ties keep index order),
    // cut where the cumulative mass first exceeds top_p
    const float cutoff = (1.0f - p_.top_p) / float(n - 1);
    cand_.clear();
    for (int32_t i = 0; i < n; ++i)
      if (probs_[size_t(i)] >= cutoff && probs_[size_t(i)] > 0) cand_.emplace_back(probs_[size_t(i)], i);
    std::stable_sort(cand_.begin(), cand_.end(), [](auto& a, auto& b) { return a.first > b.first; });
    float cum = 0;
    size_t last = cand_.size() - 1;
    for (size_t i = 0; i < cand_.size(); ++i) {
      cum += cand_[i].first;
      if (cum > p_.top_p) {
        last = i;
        break;
      }
    }
    float r = coin * cum, cdf = 0;
    for (size_t i = 0; i <= last; ++i) {
      cdf += cand_[i].first;
      if (r < cdf) return cand_[i].second;
    }
    return cand_[last].second;
  }
  float cdf = 0;
  for (int32_t i = 0; i < n; ++i) {
    cdf += probs_[size_t(i)];
    if (coin < cdf) return i;
  }
  for (int32_t i = n - 1; i >= 0; --i)
    if (probs_[size_t(i)] > 0) return i;  // rounding left coin >= total mass
  return n - 1;
}

}  // namespace nb
