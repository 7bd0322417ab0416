#include "eval/kld_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "eval/kld_codec.h"

namespace nb::kld {

// Float where llama.cpp uses float, so results match its own on equal logits.
TokenKld token_kld(const float* logits, int64_t n_vocab, const uint16_t* base_record, int32_t target) {
  float max_logit = logits[0];
  int64_t imax = 0;
  for (int64_t i = 1; i < n_vocab; ++i)
    if (logits[i] > max_logit) max_logit = logits[i], imax = i;
  double sum_exp = 0;
  for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
  const float log_sum_exp = float(std::log(sum_exp));
  const float log_norm = max_logit + log_sum_exp;  // log p_Q,i = logit_i - log_norm

  const RecordHeader h = record_header(base_record);
  const uint16_t* codes = record_codes(base_record);
  TokenKld t;
  t.nll = log_norm - logits[target];
  t.nll_base = -decode_log_prob(h, codes[target]);

  double sum = 0;
  int64_t imax_base = 0;
  float log_p_base_max = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    const float log_p_base = decode_log_prob(h, codes[i]);
    if (i == 0 || log_p_base > log_p_base_max) log_p_base_max = log_p_base, imax_base = i;
    if (log_p_base > -kLogProbRange) sum += std::exp(log_p_base) * (log_p_base - logits[i] + log_norm);
  }
  t.kld = sum;
  t.same_top = imax == imax_base;
  t.p_diff = std::exp(-t.nll) - std::exp(-t.nll_base);
  return t;
}

// Squares and products of the float NLLs in float, as llama.cpp sums them.
void KldSums::add(const TokenKld& t) {
  nll += t.nll;
  nll2 += t.nll * t.nll;
  nll_base += t.nll_base;
  nll_base2 += t.nll_base * t.nll_base;
  nll_nll_base += t.nll * t.nll_base;
  kld += t.kld;
  kld2 += t.kld * t.kld;
  const double d2 = t.p_diff * t.p_diff;
  p_diff += t.p_diff;
  p_diff2 += d2;
  p_diff4 += d2 * d2;
  n_same_top += t.same_top;
  ++count;
}

ValueUnc mean_and_uncertainty(double sum, double sum2, int64_t n) {
  if (n < 1) return {};
  const double mean = sum / double(n);
  const double var = sum2 / double(n) - mean * mean;
  return {mean, var > 0 && n > 10 ? std::sqrt(var / double(n - 1)) : 0.0};
}

double mean_covariance(double sum_a, double sum_b, double sum_ab, int64_t n) {
  if (n < 10) return 0;
  const double c = sum_ab / double(n) - (sum_a / double(n)) * (sum_b / double(n));
  return c / double(n - 1);
}

float percentile(const std::vector<float>& sorted, float fraction) {
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  float p = fraction * float(sorted.size() - 1);
  const size_t ip = size_t(p);
  p -= float(ip);
  return (1 - p) * sorted[ip] + p * sorted[std::min(ip + 1, sorted.size() - 1)];
}

float median(const std::vector<float>& v) {
  const size_t n = v.size();
  return n % 2 == 0 ? 0.5f * (v[n / 2] + v[n / 2 - 1]) : v[n / 2];
}

namespace {

ValueUnc same_top_fraction(const KldSums& s) {
  if (s.count < 1) return {};
  const double p = double(s.n_same_top) / double(s.count);
  return {p, s.count > 1 ? std::sqrt(p * (1 - p) / double(s.count - 1)) : 0.0};
}

ValueUnc rms_p_diff(const KldSums& s) {
  const ValueUnc mse = mean_and_uncertainty(s.p_diff2, s.p_diff4, s.count);
  const double rms = std::sqrt(mse.value);
  return {rms, rms > 0 ? 0.5 / rms * mse.unc : 0.0};  // d sqrt(x) = dx / (2 sqrt(x))
}

ValueUnc ln_ratio(const KldSums& s, double* cov_out = nullptr) {
  const ValueUnc q = mean_and_uncertainty(s.nll, s.nll2, s.count);
  const ValueUnc b = mean_and_uncertainty(s.nll_base, s.nll_base2, s.count);
  const double cov = mean_covariance(s.nll, s.nll_base, s.nll_nll_base, s.count);
  if (cov_out) *cov_out = cov;
  const double var = q.unc * q.unc + b.unc * b.unc - 2 * cov;
  return {q.value - b.value, std::sqrt(std::max(var, 0.0))};
}

}  // namespace

KldRunning running(const KldSums& s) {
  KldRunning r;
  const ValueUnc ln_q = mean_and_uncertainty(s.nll, s.nll2, s.count);
  r.ppl_q = {std::exp(ln_q.value), std::exp(ln_q.value) * ln_q.unc};
  r.ln_ppl_ratio = ln_ratio(s);
  r.kld = mean_and_uncertainty(s.kld, s.kld2, s.count);
  r.p_diff_rms = rms_p_diff(s);
  r.same_top = same_top_fraction(s);
  return r;
}

KldSummary summarize(const KldSums& s, std::vector<float> kld_values, std::vector<float> p_diff_values) {
  KldSummary r;
  r.count = s.count;
  const ValueUnc ln_q = mean_and_uncertainty(s.nll, s.nll2, s.count);
  const ValueUnc ln_b = mean_and_uncertainty(s.nll_base, s.nll_base2, s.count);
  r.ppl_q = {std::exp(ln_q.value), std::exp(ln_q.value) * ln_q.unc};  // d exp(x) = exp(x) dx
  r.ppl_base = {std::exp(ln_b.value), std::exp(ln_b.value) * ln_b.unc};
  double cov = 0;
  r.ln_ppl_ratio = ln_ratio(s, &cov);
  const double denom = ln_q.unc * ln_b.unc;
  r.cor_ln_ppl = denom > 0 ? cov / denom : std::numeric_limits<double>::quiet_NaN();
  r.ppl_ratio = {std::exp(r.ln_ppl_ratio.value), std::exp(r.ln_ppl_ratio.value) * r.ln_ppl_ratio.unc};
  const double ppl_cov = r.ppl_q.value * r.ppl_base.value * cov;
  const double diff_var = r.ppl_q.unc * r.ppl_q.unc + r.ppl_base.unc * r.ppl_base.unc - 2 * ppl_cov;
  r.ppl_diff = {r.ppl_q.value - r.ppl_base.value, std::sqrt(std::max(diff_var, 0.0))};

  r.kld = mean_and_uncertainty(s.kld, s.kld2, s.count);
  if (!kld_values.empty()) {
    std::sort(kld_values.begin(), kld_values.end());
    r.kld_max = kld_values.back();
    r.kld_min = kld_values.front();
    r.kld_median = median(kld_values);
    for (float f : kKldFractions) r.kld_percentiles.push_back(percentile(kld_values, f));
  }
  r.p_diff = mean_and_uncertainty(s.p_diff, s.p_diff2, s.count);
  if (!p_diff_values.empty()) {
    std::sort(p_diff_values.begin(), p_diff_values.end());
    r.p_diff_max = p_diff_values.back();
    r.p_diff_min = p_diff_values.front();
    r.p_diff_median = median(p_diff_values);
    for (float f : kPDiffFractions) r.p_diff_percentiles.push_back(percentile(p_diff_values, f));
  }
  r.p_diff_rms = rms_p_diff(s);
  r.same_top = same_top_fraction(s);
  return r;
}

}  // namespace nb::kld
