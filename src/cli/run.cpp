// nibble run: stream generated text to stdout, timings to stderr.
#include <chrono>
#include <cstdio>
#include <random>

#include "cli/common.h"
#include "io/npy.h"
#include "runtime/session.h"

namespace nb::cli {
namespace {

struct RunFlags {
  ModelFlags mf;
  std::string prompt, prompt_file, prompt_ids, logits_out, ids_out;
  int64_t n_predict = -1;
  int64_t n_ctx = 0;
  SamplerParams sp;
  int64_t seed = -1;
  bool ignore_eos = false;
};

int run(const RunFlags& f) {
  if (!f.prompt_ids.empty() && (!f.prompt.empty() || !f.prompt_file.empty()))
    return fail("run", Status::Error("--prompt-ids cannot be combined with -p/--prompt or -f/--file"));
  auto loaded = load(f.mf, f.prompt_ids.empty());
  if (!loaded.ok()) return fail("run", loaded.status());
  Model& model = *loaded->model;
  const Tokenizer* tok = loaded->tokenizer.get();

  // prompt -> ids
  std::vector<int32_t> prompt;
  if (!f.prompt_ids.empty()) {
    auto ids = read_ids_file(f.prompt_ids);
    if (!ids.ok()) return fail("run", ids.status());
    prompt = std::move(ids).value();
  } else {
    std::string text = f.prompt;
    if (!f.prompt_file.empty()) {
      auto t = read_text_file(f.prompt_file);
      if (!t.ok()) return fail("run", t.status());
      text = std::move(t).value();
    }
    Status u = check_utf8(text, "prompt");
    if (!u.ok()) return fail("run", u);
    prompt = tok->encode(text, tok->add_bos_default());
  }
  if (prompt.empty()) return fail("run", Status::Error("empty prompt and the tokenizer adds no BOS: nothing to start from"));

  // context: what the run needs unless -c says otherwise
  int64_t n_ctx = f.n_ctx;
  const int64_t n_train = model.info().n_ctx_train;
  if (n_ctx <= 0) n_ctx = f.n_predict >= 0 ? int64_t(prompt.size()) + f.n_predict : (n_train > 0 ? n_train : 4096);
  if (int64_t(prompt.size()) > n_ctx)
    return fail("run", Status::Error(strfmt("the prompt has %zu tokens, more than the context size %lld (-c)",
                                            prompt.size(), (long long)n_ctx)));
  if (n_train > 0 && n_ctx > n_train)
    std::fprintf(stderr, "nibble run: warning: context %lld is longer than the model was trained for (%lld)\n",
                 (long long)n_ctx, (long long)n_train);

  SamplerParams sp = f.sp;
  sp.seed = f.seed >= 0 ? uint64_t(f.seed) : std::random_device{}();
  if (f.seed < 0 && sp.temp > 0) std::fprintf(stderr, "nibble run: seed %llu\n", (unsigned long long)sp.seed);
  Sampler sampler(sp);

  ThreadPool pool(f.mf.thread_count());
  Session session(model, pool, n_ctx);
  GenerateOptions go;
  go.n_predict = f.n_predict;
  if (tok && !f.ignore_eos) {
    if (tok->eos() >= 0) go.stop_tokens.push_back(tok->eos());
    if (tok->kind() == "llama2c" && tok->bos() >= 0) go.stop_tokens.push_back(tok->bos());  // run.c's convention
  }
  std::vector<float> logits;
  if (!f.logits_out.empty()) go.logits_out = &logits;

  // echo the prompt as llama2.c and llama.cpp do, then stream
  std::vector<int32_t> all = prompt;
  int32_t prev = -1;
  if (tok) {
    for (int32_t id : prompt) {
      std::string s = tok->decode(prev, id);
      std::fwrite(s.data(), 1, s.size(), stdout);
      prev = id;
    }
    std::fflush(stdout);
  }
  GenerateStats stats;
  Status st = session.generate(prompt, go, sampler, [&](int32_t id) {
    all.push_back(id);
    if (tok) {
      std::string s = tok->decode(prev, id);
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
    }
    prev = id;
    return true;
  }, &stats);
  if (tok) std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!st.ok()) return fail("run", st);

  if (!f.logits_out.empty()) {
    io::NpyWriter w;
    const int64_t V = model.info().n_vocab, rows = int64_t(logits.size()) / V;
    Status s = w.open(f.logits_out, rows, V);
    if (s.ok()) s = w.append(logits.data(), rows);
    if (s.ok()) s = w.finish();
    if (!s.ok()) return fail("run", s);
  }
  if (!f.ids_out.empty()) {
    Status s = write_ids_file(f.ids_out, all);
    if (!s.ok()) return fail("run", s);
  }
  double pp = stats.prompt_seconds > 0 ? double(stats.n_prompt) / stats.prompt_seconds : 0;
  double tg = stats.gen_seconds > 0 ? double(stats.n_gen) / stats.gen_seconds : 0;
  std::fprintf(stderr, "\nnibble run: prompt %lld tokens in %.3f s (%.2f tokens/s), generated %lld tokens in %.3f s (%.2f tokens/s), %d threads\n",
               (long long)stats.n_prompt, stats.prompt_seconds, pp, (long long)stats.n_gen, stats.gen_seconds, tg,
               pool.size());
  return 0;
}

}  // namespace

void add_run(CLI::App& app) {
  auto f = std::make_shared<RunFlags>();
  CLI::App* c = app.add_subcommand("run", "generate text from a prompt, streamed to stdout");
  f->mf.add(*c);
  c->add_option("-p,--prompt", f->prompt, "prompt text (default: empty, i.e. BOS only)");
  c->add_option("-f,--file", f->prompt_file, "read the prompt from a file");
  c->add_option("--prompt-ids", f->prompt_ids, "file of whitespace-separated token ids (bypasses the tokenizer)");
  c->add_option("-n,--n-predict", f->n_predict, "tokens to generate (-1: until end of text or full context)");
  c->add_option("-c,--ctx-size", f->n_ctx, "context size (default: prompt + n, or the model's)");
  c->add_option("--temp", f->sp.temp, "temperature (0: greedy)")->check(CLI::Range(0.0, 100.0));
  c->add_option("--top-k", f->sp.top_k, "top-k sampling (0: off)")->check(CLI::Range(0, 1 << 30));
  c->add_option("--top-p", f->sp.top_p, "top-p (nucleus) sampling (1: off)")->check(CLI::Range(0.0, 1.0));
  c->add_option("--min-p", f->sp.min_p, "min-p sampling (0: off)")->check(CLI::Range(0.0, 1.0));
  c->add_option("--repeat-penalty", f->sp.repeat_penalty, "penalty for repeated tokens (1: off)")->check(CLI::Range(0.0, 100.0));
  c->add_option("--repeat-last-n", f->sp.repeat_last_n, "tokens the penalty looks back over")->check(CLI::Range(0, 1 << 30));
  c->add_option("-s,--seed", f->seed, "random seed (default: random)")->check(CLI::Range(int64_t(0), INT64_MAX));
  c->add_flag("--ignore-eos", f->ignore_eos, "do not stop at the end-of-text token");
  c->add_option("--logits-out", f->logits_out, "write fp32 logits of every evaluated position to a .npy file");
  c->add_option("--ids-out", f->ids_out, "write all token ids (prompt + generated) to a file");
  c->callback([f] {
    int rc = run(*f);
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace nb::cli
