// Perplexity of a model over a token stream, with two definitions:
//  - llama.cpp's (default): chunks of n_ctx tokens, the first token of each
//    chunk replaced by BOS, only the second half of each chunk scored
//    (positions n_ctx/2 .. n_ctx-2 predict the next token);
//  - "all": non-overlapping windows of n_ctx tokens scored at every predicted
//    position (n_ctx-1 per window), the definition of the model READMEs.
// PPL = exp(mean NLL); the error is llama.cpp's: PPL * sqrt(var(NLL)/(N-1)).
#pragma once
#include <functional>
#include <vector>

#include "core/thread_pool.h"
#include "io/npy.h"
#include "models/model.h"

namespace nb {

namespace kld {
class BaseWriter;
}

struct PerplexityOptions {
  int64_t n_ctx = 512;
  int64_t n_chunks = -1;     // -1: all full chunks
  bool score_all = false;
  int32_t bos = -1;          // llama.cpp definition: replaces each chunk's first token (-1: keep)
  io::NpyWriter* logits_out = nullptr;  // every evaluated position, in order
  // llama.cpp's KL-divergence base file: the compressed log-probs of every
  // scored position (eval/kld_file.h); opened by the caller with the same
  // n_ctx, scoring and chunk count.
  kld::BaseWriter* kld_base_out = nullptr;
};

struct PerplexityResult {
  double ppl = 0, ppl_err = 0, nll_mean = 0;
  int64_t n_scored = 0, n_chunks = 0;
};

// Number of chunks that options select for n_tokens tokens (for sizing outputs).
int64_t perplexity_chunks(int64_t n_tokens, const PerplexityOptions& opt);

// on_chunk(i, running ppl) is called after each chunk (progress, printing).
Result<PerplexityResult> perplexity(Model& model, ThreadPool& pool, const std::vector<int32_t>& tokens,
                                    const PerplexityOptions& opt,
                                    const std::function<void(int64_t, double)>& on_chunk = {});

// log p(target | logits): log-softmax in double precision over fp32 logits.
double log_prob(const float* logits, int64_t n_vocab, int32_t target);

}  // namespace nb
