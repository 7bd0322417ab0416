// KL divergence of a model against saved base log-probabilities, per token
// and summed, with the statistics llama.cpp's perplexity tool reports
// (design/fp4-and-gptq.md §9.7). Definitions follow llama.cpp exactly:
//  - KLD_t = sum over i with log p_base,i > -16 of p_base,i (log p_base,i - log p_Q,i);
//  - same top: argmax of the logits == argmax of the base codes (first index wins ties);
//  - dp_t = p_Q(target) - p_base(target);
//  - uncertainties are standard errors sqrt(var/(n-1)), reported as 0 for n <= 10;
//  - percentiles interpolate linearly between sorted values at fraction·(n-1).
#pragma once
#include <cstdint>
#include <vector>

namespace nb::kld {

struct TokenKld {
  double kld = 0;
  float p_diff = 0;            // p_Q(target) - p_base(target)
  float nll = 0, nll_base = 0; // -log p(target) for Q and base
  bool same_top = false;
};

// One scored position: Q's logits, the base record (kld_codec.h), the target.
TokenKld token_kld(const float* logits, int64_t n_vocab, const uint16_t* base_record, int32_t target);

// Running sums over tokens, enough for every mean, uncertainty and covariance.
struct KldSums {
  double nll = 0, nll2 = 0, nll_base = 0, nll_base2 = 0, nll_nll_base = 0;
  double kld = 0, kld2 = 0;
  double p_diff = 0, p_diff2 = 0, p_diff4 = 0;
  int64_t n_same_top = 0, count = 0;
  void add(const TokenKld& t);
};

struct ValueUnc {
  double value = 0, unc = 0;
};

// Mean of values with sum `sum` and sum of squares `sum2`, and its standard error.
ValueUnc mean_and_uncertainty(double sum, double sum2, int64_t n);
// Covariance of the two means (0 for n < 10, as llama.cpp).
double mean_covariance(double sum_a, double sum_b, double sum_ab, int64_t n);
// Value at `fraction` of ascending `sorted` (non-empty), interpolated.
float percentile(const std::vector<float>& sorted, float fraction);
float median(const std::vector<float>& sorted);

// The fractions whose percentiles llama.cpp prints, top down (median separate).
inline constexpr float kKldFractions[] = {0.999f, 0.99f, 0.95f, 0.90f, 0.10f, 0.05f, 0.01f, 0.001f};
inline constexpr float kPDiffFractions[] = {0.999f, 0.99f, 0.95f, 0.90f, 0.75f, 0.25f, 0.10f, 0.05f, 0.01f, 0.001f};

// Everything the report prints. Probabilities are fractions (llama.cpp prints
// them ×100 as percent).
struct KldSummary {
  int64_t count = 0;
  ValueUnc ppl_q, ppl_base;
  double cor_ln_ppl = 0;  // correlation of the per-token NLLs; NaN if either is constant
  ValueUnc ln_ppl_ratio, ppl_ratio, ppl_diff;
  ValueUnc kld;
  float kld_max = 0, kld_median = 0, kld_min = 0;
  std::vector<float> kld_percentiles;  // at kKldFractions
  ValueUnc p_diff;
  float p_diff_max = 0, p_diff_median = 0, p_diff_min = 0;
  std::vector<float> p_diff_percentiles;  // at kPDiffFractions
  ValueUnc p_diff_rms;
  ValueUnc same_top;
};

// Running figures for the per-chunk line: PPL(Q), ln ratio, KLD, RMS dp, same top.
struct KldRunning {
  ValueUnc ppl_q, ln_ppl_ratio, kld, p_diff_rms, same_top;
};
KldRunning running(const KldSums& s);

// kld_values and p_diff_values: one per token, any order (sorted here).
KldSummary summarize(const KldSums& s, std::vector<float> kld_values, std::vector<float> p_diff_values);

}  // namespace nb::kld
