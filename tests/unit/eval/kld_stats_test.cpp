// KL divergence per token and the statistics of the report, on cases small
// enough to work out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "eval/kld_codec.h"
#include "eval/kld_report.h"
#include "eval/kld_stats.h"

namespace nb::kld {
namespace {

std::vector<uint16_t> record_of(const std::vector<float>& base_logits) {
  std::vector<uint16_t> rec(static_cast<size_t>(record_words(int64_t(base_logits.size()))));
  encode_log_probs(base_logits.data(), int64_t(base_logits.size()), rec.data());
  return rec;
}

// The implementation works in float like llama.cpp: 1e-6 is a few float
// ulps of the O(1) quantities compared here.
constexpr double kFloatTol = 1e-6;

// base p = (1/2, 1/2) (stored exactly: scale 0), Q p = (3/4, 1/4):
// KLD = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3).
TEST(KldToken, HandCaseTwoTokens) {
  const auto rec = record_of({0.0f, 0.0f});
  const float q[2] = {float(std::log(3.0)), 0.0f};
  TokenKld t = token_kld(q, 2, rec.data(), 1);
  EXPECT_NEAR(t.kld, 0.5 * std::log(4.0 / 3.0), kFloatTol);
  EXPECT_NEAR(t.nll, std::log(4.0), kFloatTol);
  EXPECT_NEAR(t.nll_base, std::log(2.0), kFloatTol);
  EXPECT_NEAR(t.p_diff, 0.25 - 0.5, kFloatTol);
  EXPECT_TRUE(t.same_top);  // Q's top is 0; the base ties, and the first index wins
  t = token_kld(q, 2, rec.data(), 0);
  EXPECT_NEAR(t.p_diff, 0.75 - 0.5, kFloatTol);
}

// base logits (0, 1), Q logits (1, 0): p_base = (a, b) with b = e/(1+e),
// Q reversed, KLD = a ln(a/b) + b ln(b/a) = (b - a) · 1; tops differ.
TEST(KldToken, HandCaseSwappedTop) {
  const auto rec = record_of({0.0f, 1.0f});
  const float q[2] = {1.0f, 0.0f};
  const TokenKld t = token_kld(q, 2, rec.data(), 0);
  const double b = std::exp(1.0) / (1 + std::exp(1.0)), a = 1 - b;
  // base log-probs carry the codes' rounding: scale/2 = 1/131070 at most.
  EXPECT_NEAR(t.kld, b - a, 1.0 / 131070 + kFloatTol);
  EXPECT_FALSE(t.same_top);
  EXPECT_NEAR(t.p_diff, b - a, 1.0 / 131070 + kFloatTol);
}

// Entries more than 16 nats below the base's top are left out of the sum:
// base (0, -30) ~ (1, e^-30), Q uniform: KLD = log 2 (the dropped term is 1e-12).
TEST(KldToken, FloorEntriesAreLeftOut) {
  const auto rec = record_of({0.0f, -30.0f});
  const float q[2] = {0.0f, 0.0f};
  EXPECT_NEAR(token_kld(q, 2, rec.data(), 0).kld, std::log(2.0), kFloatTol);
}

// A model against its own record: only the codes' rounding remains, so
// |KLD| <= scale/2 · e^(scale/2) (sum of p_base·err with |err| <= scale/2).
TEST(KldToken, SameLogitsGiveKldAtTheCompressionFloor) {
  std::vector<float> l;
  for (int i = 0; i < 300; ++i) l.push_back(float(std::sin(i * 0.37) * 6.0));
  const auto rec = record_of(l);
  const TokenKld t = token_kld(l.data(), 300, rec.data(), 17);
  const double half_scale = record_header(rec.data()).scale / 2;
  EXPECT_LE(std::fabs(t.kld), half_scale * std::exp(half_scale) + kFloatTol);
  EXPECT_TRUE(t.same_top);
  EXPECT_LE(std::fabs(t.nll - t.nll_base), half_scale + kFloatTol);
}

TEST(KldStats, MeanAndUncertainty) {
  double s = 0, s2 = 0;
  for (int i = 1; i <= 12; ++i) s += i, s2 += i * i;
  const ValueUnc m = mean_and_uncertainty(s, s2, 12);
  EXPECT_DOUBLE_EQ(m.value, 6.5);
  // population variance of 1..12 = (12^2 - 1)/12; standard error sqrt(var/(n-1))
  EXPECT_NEAR(m.unc, std::sqrt(143.0 / 12 / 11), 1e-12);
  EXPECT_EQ(mean_and_uncertainty(s, s2, 10).unc, 0.0);  // llama.cpp: no uncertainty for n <= 10
  EXPECT_EQ(mean_and_uncertainty(0, 0, 0).value, 0.0);
  // b = 2a: covariance of the means = 2 var(a) / (n-1)
  double sb = 2 * s, sab = 2 * s2;
  EXPECT_NEAR(mean_covariance(s, sb, sab, 12), 2 * 143.0 / 12 / 11, 1e-12);
  EXPECT_EQ(mean_covariance(s, sb, sab, 9), 0.0);
}

TEST(KldStats, PercentilesInterpolate) {
  const std::vector<float> v = {0, 1, 2, 3, 4};
  EXPECT_FLOAT_EQ(percentile(v, 0.9f), 3.6f);
  EXPECT_FLOAT_EQ(percentile(v, 0.5f), 2.0f);
  EXPECT_FLOAT_EQ(percentile(v, 0.0f), 0.0f);
  EXPECT_FLOAT_EQ(percentile(v, 1.0f), 4.0f);
  EXPECT_NEAR(percentile(v, 0.001f), 0.004f, 1e-6);
  EXPECT_FLOAT_EQ(median(v), 2.0f);
  EXPECT_FLOAT_EQ(median({1, 2, 3, 4}), 2.5f);
}

// 20 tokens: KLD 0..19 (shuffled), NLL_Q = NLL_base = 1 + i/10, 15 same tops.
TEST(KldStats, SummaryOfKnownTokens) {
  KldSums s;
  std::vector<float> klds, dps;
  for (int i = 0; i < 20; ++i) {
    TokenKld t;
    t.kld = double((i * 7) % 20);
    t.nll = t.nll_base = 1.0f + 0.1f * float(i);
    t.p_diff = i % 2 ? 0.1f : -0.1f;
    t.same_top = i < 15;
    s.add(t);
    klds.push_back(float(t.kld));
    dps.push_back(t.p_diff);
  }
  const KldSummary r = summarize(s, klds, dps);
  EXPECT_EQ(r.count, 20);
  EXPECT_NEAR(r.kld.value, 9.5, 1e-12);
  EXPECT_FLOAT_EQ(r.kld_max, 19);
  EXPECT_FLOAT_EQ(r.kld_min, 0);
  EXPECT_FLOAT_EQ(r.kld_median, 9.5f);
  EXPECT_NEAR(r.kld_percentiles[3], 0.9 * 19, 1e-5);   // 90%
  EXPECT_NEAR(r.kld_percentiles[4], 0.1 * 19, 1e-5);   // 10%
  EXPECT_NEAR(r.ln_ppl_ratio.value, 0, 1e-7);
  EXPECT_NEAR(r.ppl_diff.value, 0, 1e-6);
  EXPECT_NEAR(r.ppl_ratio.value, 1, 1e-7);
  EXPECT_NEAR(r.cor_ln_ppl, 1, 1e-5);                  // identical NLLs
  EXPECT_NEAR(r.ln_ppl_ratio.unc, 0, 1e-3);            // their difference has no spread
  EXPECT_NEAR(r.p_diff.value, 0, 1e-8);
  EXPECT_NEAR(r.p_diff_rms.value, 0.1, 1e-7);
  EXPECT_DOUBLE_EQ(r.same_top.value, 0.75);
  EXPECT_NEAR(r.same_top.unc, std::sqrt(0.75 * 0.25 / 19), 1e-12);
  const double mean_nll = 1.95;  // mean of 1 + i/10, i = 0..19
  EXPECT_NEAR(r.ppl_q.value, std::exp(mean_nll), 1e-5);
  EXPECT_NEAR(r.ppl_base.value, std::exp(mean_nll), 1e-5);
}

TEST(KldReport, LabelsMatchLlamaCpp) {
  KldSums s;
  std::vector<float> v;
  for (int i = 0; i < 200; ++i) {
    TokenKld t;
    t.kld = 0.01 * i, t.nll = 2, t.nll_base = 2.0f + 0.001f * float(i % 3), t.same_top = true;
    s.add(t);
    v.push_back(float(t.kld));
  }
  const std::string o = format_summary(summarize(s, v, std::vector<float>(200, 0.0f)));
  for (const char* label :
       {"Mean PPL(Q)                   : ", "Mean PPL(base)                : ", "Cor(ln(PPL(Q)), ln(PPL(base))): ",
        "Mean ln(PPL(Q)/PPL(base))     : ", "Mean PPL(Q)/PPL(base)         : ", "Mean PPL(Q)-PPL(base)         : ",
        "Mean    KLD: ", "Maximum KLD: ", "99.9%   KLD: ", "99.0%   KLD: ", "95.0%   KLD: ", "90.0%   KLD: ",
        "Median  KLD: ", "10.0%   KLD: ", " 5.0%   KLD: ", " 1.0%   KLD: ", " 0.1%   KLD: ", "Minimum KLD: ",
        "Mean    \xce\x94p: ", "75.0%   \xce\x94p: ", "25.0%   \xce\x94p: ", "RMS \xce\x94p    : ", "Same top p: "})
    EXPECT_NE(o.find(label), std::string::npos) << label << "\n" << o;
  EXPECT_NE(o.find("Median  KLD:   0.995000"), std::string::npos) << o;
  EXPECT_LT(o.find("90.0%   KLD"), o.find("Median  KLD"));
  EXPECT_LT(o.find("Median  KLD"), o.find("10.0%   KLD"));
  EXPECT_NE(o.find("Same top p: 100.000 ± 0.000 %"), std::string::npos) << o;
  const std::string j = summary_json(summarize(s, v, std::vector<float>(200, 0.0f)), RunInfo{"m", "b", 8, 2, 25, false});
  EXPECT_NE(j.find("\"p99.9\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"p0.1\""), std::string::npos) << j;
  EXPECT_NE(j.find("\"scoring\": \"half\""), std::string::npos) << j;
}

}  // namespace
}  // namespace nb::kld
