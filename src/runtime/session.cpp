#include "runtime/session.h"

#include <algorithm>
#include <chrono>

namespace nb {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Session::Session(Model& model, ThreadPool& pool, int64_t n_ctx)
    : model_(model), pool_(pool), state_(model.new_state(n_ctx)) {}

Status Session::generate(const std::vector<int32_t>& prompt, const GenerateOptions& opt, Sampler& sampler,
                         const std::function<bool(int32_t)>& on_token, GenerateStats* stats) {
  if (prompt.empty()) return Status::Error("the prompt has no tokens (give a prompt, or a model that adds BOS)");
  const int64_t V = model_.info().n_vocab;
  GenerateStats s;
  s.n_prompt = int64_t(prompt.size());
  for (int32_t t : prompt) sampler.accept(t);

  std::vector<float> logits(size_t(opt.logits_out ? s.n_prompt * V : V));
  auto t0 = std::chrono::steady_clock::now();
  NB_TRY(model_.forward(prompt, *state_, logits.data(), opt.logits_out != nullptr, pool_));
  s.prompt_seconds = seconds_since(t0);
  if (opt.logits_out) {
    opt.logits_out->insert(opt.logits_out->end(), logits.begin(), logits.end());
    std::copy(logits.end() - V, logits.end(), logits.begin());  // the last row samples the first token
  }

  auto t1 = std::chrono::steady_clock::now();
  for (int64_t i = 0; opt.n_predict < 0 || i < opt.n_predict; ++i) {
    int32_t next = sampler.sample(logits.data(), int32_t(V));
    if (std::find(opt.stop_tokens.begin(), opt.stop_tokens.end(), next) != opt.stop_tokens.end()) break;
    sampler.accept(next);
    ++s.n_gen;
    if (!on_token(next)) break;
    if (opt.n_predict >= 0 && i + 1 == opt.n_predict) break;  // the last token needs no forward pass
    if (state_->n_past >= state_->n_ctx) break;                 // context full
    int32_t tok[1] = {next};
    NB_TRY(model_.forward(tok, *state_, logits.data(), false, pool_));
    if (opt.logits_out) opt.logits_out->insert(opt.logits_out->end(), logits.begin(), logits.begin() + V);
  }
  s.gen_seconds = seconds_since(t1);
  if (stats) *stats = s;
  return Status::Ok();
}

}  // namespace nb
