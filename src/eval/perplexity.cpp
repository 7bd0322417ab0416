#include "eval/perplexity.h"

#include <algorithm>
#include <cmath>

#include "eval/kld_codec.h"
#include "eval/kld_file.h"

namespace nb {

double log_prob(const float* logits, int64_t n, int32_t target) {
  float mx = logits[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, logits[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - double(mx));
  return double(logits[target]) - double(mx) - std::log(sum);
}

int64_t perplexity_chunks(int64_t n_tokens, const PerplexityOptions& opt) {
  int64_t n = opt.n_ctx > 1 ? n_tokens / opt.n_ctx : 0;
  return opt.n_chunks >= 0 ? std::min(n, opt.n_chunks) : n;
}

Result<PerplexityResult> perplexity(Model& model, ThreadPool& pool, const std::vector<int32_t>& tokens,
                                    const PerplexityOptions& opt, const std::function<void(int64_t, double)>& on_chunk) {
  const int64_t C = opt.n_ctx, V = model.info().n_vocab;
  if (C < 2) return Status::Error("perplexity needs a context of at least 2 tokens (-c)");
  const int64_t n_chunks = perplexity_chunks(int64_t(tokens.size()), opt);
  if (n_chunks < 1)
    return Status::Error(strfmt("perplexity: %lld tokens is less than one context of %lld tokens (-c)",
                                (long long)tokens.size(), (long long)C));
  for (int32_t t : tokens)
    if (t < 0 || t >= V) return Status::Error(strfmt("perplexity: token id %d is out of range [0, %lld)", t, (long long)V));

  const int64_t first = kld::first_scored(C, opt.score_all);  // first position whose prediction is scored
  if (opt.kld_base_out && (opt.kld_base_out->score_all() != opt.score_all || opt.kld_base_out->n_vocab() != V))
    return Status::Error("perplexity: the KL-divergence base writer was opened for another scoring or vocabulary");
  const int64_t words = kld::record_words(V);
  std::vector<uint16_t> records;
  std::vector<float> logits(static_cast<size_t>(C * V));
  std::vector<int32_t> chunk(static_cast<size_t>(C));
  auto state = model.new_state(C);
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  PerplexityResult r;
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy(tokens.begin() + c * C, tokens.begin() + (c + 1) * C, chunk.begin());
    if (!opt.score_all && opt.bos >= 0) chunk[0] = opt.bos;
    state->reset();
    NB_TRY(model.forward(chunk, *state, logits.data(), true, pool));
    if (opt.logits_out) NB_TRY(opt.logits_out->append(logits.data(), C));
    if (opt.kld_base_out) {
      records.resize(static_cast<size_t>((C - 1 - first) * words));
      pool.parallel_for(C - 1 - first, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j)
          kld::encode_log_probs(&logits[size_t((first + j) * V)], V, &records[size_t(j * words)]);
      });
      NB_TRY(opt.kld_base_out->append_chunk(records));
    }
    // position p predicts the ORIGINAL token p+1 of the stream
    for (int64_t p = first; p < C - 1; ++p) {
      double lp = log_prob(&logits[size_t(p * V)], V, tokens[size_t(c * C + p + 1)]);
      nll -= lp;
      nll2 += lp * lp;
      ++count;
    }
    if (on_chunk) on_chunk(c, std::exp(nll / double(count)));
  }
  r.n_chunks = n_chunks;
  r.n_scored = count;
  r.nll_mean = nll / double(count);
  r.ppl = std::exp(r.nll_mean);
  double var = nll2 / double(count) - r.nll_mean * r.nll_mean;
  r.ppl_err = (var > 0 && count > 1) ? r.ppl * std::sqrt(var / double(count - 1)) : 0;
  return r;
}

}  // namespace nb
