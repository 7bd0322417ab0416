// nibble perplexity: llama.cpp's definition by default, --score all for the
// every-token definition of the reference READMEs.
#include <cstdio>

#include "cli/common.h"
#include "core/progress.h"
#include "eval/perplexity.h"

namespace nb::cli {
namespace {

struct PplFlags {
  ModelFlags mf;
  std::string text_file, prompt_ids, score = "half", logits_out, ids_out;
  int64_t n_ctx = 512;
  int64_t chunks = -1;
};

int run(const PplFlags& f) {
  if (f.text_file.empty() == f.prompt_ids.empty())
    return fail("perplexity", Status::Error("give exactly one of -f/--file (text) or --prompt-ids (token ids)"));
  auto loaded = load(f.mf, f.prompt_ids.empty());
  if (!loaded.ok()) return fail("perplexity", loaded.status());
  Model& model = *loaded->model;
  const Tokenizer* tok = loaded->tokenizer.get();

  std::vector<int32_t> tokens;
  if (!f.prompt_ids.empty()) {
    auto ids = read_ids_file(f.prompt_ids);
    if (!ids.ok()) return fail("perplexity", ids.status());
    tokens = std::move(ids).value();
  } else {
    auto text = read_text_file(f.text_file);
    if (!text.ok()) return fail("perplexity", text.status());
    Status u = check_utf8(*text, f.text_file.c_str());
    if (!u.ok()) return fail("perplexity", u);
    tokens = tok->encode(*text, tok->add_bos_default());
  }
  if (!f.ids_out.empty()) {
    Status s = write_ids_file(f.ids_out, tokens);
    if (!s.ok()) return fail("perplexity", s);
  }

  PerplexityOptions opt;
  opt.n_ctx = f.n_ctx;
  opt.n_chunks = f.chunks;
  opt.score_all = f.score == "all";
  opt.bos = (tok && tok->add_bos_default()) ? tok->bos() : -1;
  const int64_t n_chunks = perplexity_chunks(int64_t(tokens.size()), opt);
  std::fprintf(stderr, "nibble perplexity: %zu tokens, %lld chunks of %lld, scoring %s\n", tokens.size(),
               (long long)n_chunks, (long long)f.n_ctx,
               opt.score_all ? "every predicted token" : "the second half of each chunk (llama.cpp)");
  io::NpyWriter npy;
  if (!f.logits_out.empty()) {
    Status s = npy.open(f.logits_out, n_chunks * f.n_ctx, model.info().n_vocab);
    if (!s.ok()) return fail("perplexity", s);
    opt.logits_out = &npy;
  }
  ThreadPool pool(f.mf.thread_count());
  Progress bar("perplexity", n_chunks);
  auto r = perplexity(model, pool, tokens, opt, [&](int64_t i, double ppl) { bar.update(i + 1); });
  bar.finish();
  if (!r.ok()) return fail("perplexity", r.status());
  if (opt.logits_out) {
    Status s = npy.finish();
    if (!s.ok()) return fail("perplexity", s);
  }
  std::printf("tokens scored: %lld in %lld chunks of %lld (mean NLL %.6f)\n", (long long)r->n_scored,
              (long long)r->n_chunks, (long long)f.n_ctx, r->nll_mean);
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_err);
  return 0;
}

}  // namespace

void add_perplexity(CLI::App& app) {
  auto f = std::make_shared<PplFlags>();
  CLI::App* c = app.add_subcommand("perplexity", "perplexity of a model on a text or a token-id file");
  f->mf.add(*c);
  c->add_option("-f,--file", f->text_file, "text file to score");
  c->add_option("--prompt-ids", f->prompt_ids, "file of whitespace-separated token ids to score (no tokenizer)");
  c->add_option("-c,--ctx-size", f->n_ctx, "tokens per chunk")->check(CLI::Range(int64_t(2), int64_t(1) << 20));
  c->add_option("--chunks", f->chunks, "score at most this many chunks (default: all)");
  c->add_option("--score", f->score,
                "'half': llama.cpp's definition (first token -> BOS, second half of each chunk scored); "
                "'all': every predicted token of each non-overlapping window")
      ->check(CLI::IsMember({"half", "all"}));
  c->add_option("--logits-out", f->logits_out, "write fp32 logits of every evaluated position to a .npy file");
  c->add_option("--ids-out", f->ids_out, "write the token ids scored to a file");
  c->callback([f] {
    int rc = run(*f);
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace nb::cli
