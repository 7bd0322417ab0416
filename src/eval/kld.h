// KL divergence of a model against a base file (llama.cpp's
// `llama-perplexity --kl-divergence`): evaluate the model on the file's
// tokens, chunk by chunk as the base run did (same n_ctx, the same first
// token -> BOS replacement), and compare each scored position with the base
// log-probabilities (kld_stats.h).
#pragma once
#include <functional>
#include <vector>

#include "core/thread_pool.h"
#include "eval/kld_file.h"
#include "eval/kld_stats.h"
#include "models/model.h"

namespace nb::kld {

struct KldOptions {
  int64_t n_chunks = -1;  // -1: every chunk of the file
  int32_t bos = -1;       // half-chunk scoring: replaces each chunk's first token (-1: keep), as the base run did
};

struct KldResult {
  KldSums sums;
  std::vector<float> kld_values, p_diff_values;  // per scored token, in order
  int64_t n_chunks = 0;
};

// on_chunk(i, sums so far) after each chunk (progress, the per-chunk table).
Result<KldResult> kl_divergence(Model& model, ThreadPool& pool, const BaseView& base, const KldOptions& opt,
                                const std::function<void(int64_t, const KldSums&)>& on_chunk = {});

}  // namespace nb::kld
