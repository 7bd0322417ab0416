#include "eval/kld_report.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/status.h"

namespace nb::kld {
namespace {

using Json = nlohmann::ordered_json;

// "p99.9", "p99", "p0.1": a percentile's JSON key.
std::string percentile_key(float fraction) {
  std::string s = strfmt("p%.1f", 100.0 * fraction);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

// The label llama.cpp prints for a percentile line: "99.9%", " 5.0%".
std::string percentile_label(float fraction) { return strfmt("%4.1f%%", 100.0 * fraction); }

Json value_unc(const ValueUnc& v) { return Json{{"value", v.value}, {"unc", v.unc}}; }

Json number_or_null(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

}  // namespace

std::string chunk_table_header() {
  return "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              \xce\x94p RMS"
         "            Same top p\n";
}

std::string chunk_line(int64_t chunk_number, const KldRunning& r) {
  return strfmt("%4lld", (long long)chunk_number) + strfmt("    %9.4lf ± %9.4lf", r.ppl_q.value, r.ppl_q.unc) +
         strfmt("    %10.5lf ± %10.5lf", r.ln_ppl_ratio.value, r.ln_ppl_ratio.unc) +
         strfmt("    %10.5lf ± %10.5lf", r.kld.value, r.kld.unc) +
         strfmt("    %6.3lf ± %6.3lf %%", 100 * r.p_diff_rms.value, 100 * r.p_diff_rms.unc) +
         strfmt("    %6.3lf ± %6.3lf %%", 100 * r.same_top.value, 100 * r.same_top.unc) + "\n";
}

std::string format_summary(const KldSummary& s) {
  std::string o = "====== Perplexity statistics ======\n";
  o += strfmt("Mean PPL(Q)                   : %10.6lf ± %10.6lf\n", s.ppl_q.value, s.ppl_q.unc);
  o += strfmt("Mean PPL(base)                : %10.6lf ± %10.6lf\n", s.ppl_base.value, s.ppl_base.unc);
  o += strfmt("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2lf%%\n", 100 * s.cor_ln_ppl);
  o += strfmt("Mean ln(PPL(Q)/PPL(base))     : %10.6lf ± %10.6lf\n", s.ln_ppl_ratio.value, s.ln_ppl_ratio.unc);
  o += strfmt("Mean PPL(Q)/PPL(base)         : %10.6lf ± %10.6lf\n", s.ppl_ratio.value, s.ppl_ratio.unc);
  o += strfmt("Mean PPL(Q)-PPL(base)         : %10.6lf ± %10.6lf\n", s.ppl_diff.value, s.ppl_diff.unc);
  o += "\n====== KL divergence statistics ======\n";
  o += strfmt("Mean    KLD: %10.6lf ± %10.6lf\n", s.kld.value, s.kld.unc);
  o += strfmt("Maximum KLD: %10.6f\n", double(s.kld_max));
  for (size_t i = 0; i < s.kld_percentiles.size(); ++i) {
    if (kKldFractions[i] < 0.5f && (i == 0 || kKldFractions[i - 1] > 0.5f))
      o += strfmt("Median  KLD: %10.6f\n", double(s.kld_median));
    o += strfmt("%s   KLD: %10.6f\n", percentile_label(kKldFractions[i]).c_str(), double(s.kld_percentiles[i]));
  }
  o += strfmt("Minimum KLD: %10.6f\n", double(s.kld_min));
  o += "\n====== Token probability statistics ======\n";
  o += strfmt("Mean    \xce\x94p: %6.3lf ± %5.3lf %%\n", 100 * s.p_diff.value, 100 * s.p_diff.unc);
  o += strfmt("Maximum \xce\x94p: %6.3lf%%\n", 100.0 * s.p_diff_max);
  for (size_t i = 0; i < s.p_diff_percentiles.size(); ++i) {
    if (kPDiffFractions[i] < 0.5f && (i == 0 || kPDiffFractions[i - 1] > 0.5f))
      o += strfmt("Median  \xce\x94p: %6.3lf%%\n", 100.0 * s.p_diff_median);
    o += strfmt("%s   \xce\x94p: %6.3lf%%\n", percentile_label(kPDiffFractions[i]).c_str(),
                100.0 * s.p_diff_percentiles[i]);
  }
  o += strfmt("Minimum \xce\x94p: %6.3lf%%\n", 100.0 * s.p_diff_min);
  o += strfmt("RMS \xce\x94p    : %6.3lf ± %5.3lf %%\n", 100 * s.p_diff_rms.value, 100 * s.p_diff_rms.unc);
  o += strfmt("Same top p: %6.3lf ± %5.3lf %%\n", 100 * s.same_top.value, 100 * s.same_top.unc);
  return o;
}

std::string summary_json(const KldSummary& s, const RunInfo& info) {
  Json kld{{"mean", s.kld.value}, {"unc", s.kld.unc}, {"max", s.kld_max}};
  for (size_t i = 0; i < s.kld_percentiles.size(); ++i) {
    if (kKldFractions[i] < 0.5f && (i == 0 || kKldFractions[i - 1] > 0.5f)) kld["median"] = s.kld_median;
    kld[percentile_key(kKldFractions[i])] = s.kld_percentiles[i];
  }
  kld["min"] = s.kld_min;
  Json dp{{"mean", s.p_diff.value}, {"unc", s.p_diff.unc}, {"max", s.p_diff_max}};
  for (size_t i = 0; i < s.p_diff_percentiles.size(); ++i) {
    if (kPDiffFractions[i] < 0.5f && (i == 0 || kPDiffFractions[i - 1] > 0.5f)) dp["median"] = s.p_diff_median;
    dp[percentile_key(kPDiffFractions[i])] = s.p_diff_percentiles[i];
  }
  dp["min"] = s.p_diff_min;
  dp["rms"] = s.p_diff_rms.value;
  dp["rms_unc"] = s.p_diff_rms.unc;
  Json j{{"model", info.model},
         {"base_file", info.base_file},
         {"n_ctx", info.n_ctx},
         {"n_vocab", info.n_vocab},
         {"n_chunks", info.n_chunks},
         {"scoring", info.score_all ? "all" : "half"},
         {"tokens_scored", s.count},
         {"ppl_q", value_unc(s.ppl_q)},
         {"ppl_base", value_unc(s.ppl_base)},
         {"cor_ln_ppl", number_or_null(s.cor_ln_ppl)},
         {"ln_ppl_ratio", value_unc(s.ln_ppl_ratio)},
         {"ppl_ratio", value_unc(s.ppl_ratio)},
         {"ppl_diff", value_unc(s.ppl_diff)},
         {"kld", kld},
         {"delta_p", dp},
         {"same_top", value_unc(s.same_top)}};
  return j.dump(2) + "\n";
}

}  // namespace nb::kld
