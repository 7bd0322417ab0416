#include "eval/kld.h"

#include <algorithm>

#include "eval/kld_codec.h"

namespace nb::kld {

Result<KldResult> kl_divergence(Model& model, ThreadPool& pool, const BaseView& base, const KldOptions& opt,
                                const std::function<void(int64_t, const KldSums&)>& on_chunk) {
  const int64_t C = base.n_ctx, V = model.info().n_vocab;
  if (base.n_vocab != V)
    return Status::Error(strfmt("%s: n_vocab is %lld but the model's vocabulary has %lld tokens: the base file was "
                                "made with another vocabulary",
                                base.name.c_str(), (long long)base.n_vocab, (long long)V));
  const int64_t n_chunks = opt.n_chunks >= 0 ? std::min(opt.n_chunks, base.n_chunk) : base.n_chunk;
  const int64_t first = base.first(), n_scored = base.per_chunk(), words = record_words(V);
  const std::vector<int32_t> tokens = base.tokens();

  KldResult r;
  r.n_chunks = n_chunks;
  r.kld_values.reserve(size_t(n_chunks * n_scored));
  r.p_diff_values.reserve(size_t(n_chunks * n_scored));
  std::vector<float> logits(static_cast<size_t>(C * V));
  std::vector<int32_t> chunk(static_cast<size_t>(C));
  std::vector<uint16_t> records;
  std::vector<TokenKld> per_token(static_cast<size_t>(n_scored));
  auto state = model.new_state(C);
  for (int64_t c = 0; c < n_chunks; ++c) {
    std::copy(tokens.begin() + c * C, tokens.begin() + (c + 1) * C, chunk.begin());
    if (!base.score_all && opt.bos >= 0) chunk[0] = opt.bos;
    state->reset();
    NB_TRY(model.forward(chunk, *state, logits.data(), true, pool));
    NB_TRY(base.chunk_records(c, records));
    // Tokens are independent; each is computed by one thread and summed below
    // in order, so the result does not depend on the thread count.
    pool.parallel_for(n_scored, [&](int64_t b, int64_t e, int) {
      for (int64_t j = b; j < e; ++j) {
        const int64_t p = first + j;  // position p predicts the original token p+1
        per_token[size_t(j)] = token_kld(&logits[size_t(p * V)], V, &records[size_t(j * words)],
                                         tokens[size_t(c * C + p + 1)]);
      }
    });
    for (const TokenKld& t : per_token) {
      r.sums.add(t);
      r.kld_values.push_back(float(t.kld));
      r.p_diff_values.push_back(t.p_diff);
    }
    if (on_chunk) on_chunk(c, r.sums);
  }
  return r;
}

}  // namespace nb::kld
