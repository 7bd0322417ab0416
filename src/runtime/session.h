// A Session is one sequence being generated: model + state + sampler.
// `generate` evaluates the prompt in one batch, then samples token by token,
// handing each to a callback (which streams it, or stops generation).
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "models/model.h"
#include "runtime/sampler.h"

namespace nb {

struct GenerateStats {
  int64_t n_prompt = 0, n_gen = 0;
  double prompt_seconds = 0, gen_seconds = 0;  // gen: time of the forward passes that produced sampled tokens
};

struct GenerateOptions {
  int64_t n_predict = -1;            // tokens to sample; -1: until a stop token or the context is full
  std::vector<int32_t> stop_tokens;  // sampling one of these ends generation (it is not emitted)
  std::vector<float>* logits_out = nullptr;  // if set: logits of every evaluated position, appended
};

class Session {
 public:
  Session(Model& model, ThreadPool& pool, int64_t n_ctx);
  // on_token returns false to stop. Returns an error for bad ids or a full context.
  Status generate(const std::vector<int32_t>& prompt, const GenerateOptions& opt, Sampler& sampler,
                  const std::function<bool(int32_t)>& on_token, GenerateStats* stats);
  State& state() { return *state_; }

 private:
  Model& model_;
  ThreadPool& pool_;
  std::unique_ptr<State> state_;
};

}  // namespace nb
