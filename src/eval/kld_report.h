// The KL-divergence report: llama.cpp's lines and labels (so numbers can be
// compared side by side with llama-perplexity --kl-divergence), and the same
// figures as JSON for scripts.
#pragma once
#include <cstdint>
#include <string>

#include "eval/kld_stats.h"

namespace nb::kld {

// The per-chunk table: a header, then one line per chunk with the running
// PPL(Q), ln(PPL(Q)/PPL(base)), KLD, RMS dp and same-top figures.
std::string chunk_table_header();
std::string chunk_line(int64_t chunk_number, const KldRunning& r);  // chunk_number from 1

// "====== Perplexity statistics ======" ... "Same top p: ..."
std::string format_summary(const KldSummary& s);

// What the JSON records besides the statistics.
struct RunInfo {
  std::string model, base_file;
  int64_t n_ctx = 0, n_vocab = 0, n_chunks = 0;
  bool score_all = false;
};

// Probabilities as fractions (not percent); uncertainties are standard
// errors; a NaN (an undefined correlation) is written as null.
std::string summary_json(const KldSummary& s, const RunInfo& info);

}  // namespace nb::kld
