// nibble perplexity: llama.cpp's definition by default, --score all for the
// every-token definition of the reference READMEs; llama.cpp's KL-divergence
// mode (--kl-divergence-base to save the base model's log-probs, then
// --kl-divergence to compare another model against them).
#include <cstdio>
#include <fstream>

#include "cli/common.h"
#include "core/progress.h"
#include "eval/kld.h"
#include "eval/kld_report.h"
#include "eval/perplexity.h"

namespace nb::cli {
namespace {

struct PplFlags {
  ModelFlags mf;
  std::string text_file, prompt_ids, score = "half", logits_out, ids_out;
  std::string kld_base, kl_json;
  bool kl_divergence = false;
  int64_t n_ctx = 512;
  int64_t chunks = -1;
  // Whether -c / --score were given (the KL run takes them from the base file).
  const CLI::Option* ctx_opt = nullptr;
  const CLI::Option* score_opt = nullptr;
};

// The tokens of -f (tokenized) or --prompt-ids; empty when neither is given.
Result<std::vector<int32_t>> input_tokens(const PplFlags& f, const Tokenizer* tok) {
  if (!f.prompt_ids.empty()) return read_ids_file(f.prompt_ids);
  if (f.text_file.empty()) return std::vector<int32_t>{};
  NB_ASSIGN_OR_RETURN(std::string text, read_text_file(f.text_file));
  NB_TRY(check_utf8(text, f.text_file.c_str()));
  return tok->encode(text, tok->add_bos_default());
}

int32_t bos_of(const Tokenizer* tok) { return (tok && tok->add_bos_default()) ? tok->bos() : -1; }

int run_perplexity(const PplFlags& f) {
  if (f.text_file.empty() == f.prompt_ids.empty())
    return fail("perplexity", Status::Error("give exactly one of -f/--file (text) or --prompt-ids (token ids)"));
  auto loaded = load(f.mf, f.prompt_ids.empty());
  if (!loaded.ok()) return fail("perplexity", loaded.status());
  Model& model = *loaded->model;
  const Tokenizer* tok = loaded->tokenizer.get();

  auto toks = input_tokens(f, tok);
  if (!toks.ok()) return fail("perplexity", toks.status());
  const std::vector<int32_t>& tokens = *toks;
  if (!f.ids_out.empty()) {
    Status s = write_ids_file(f.ids_out, tokens);
    if (!s.ok()) return fail("perplexity", s);
  }

  PerplexityOptions opt;
  opt.n_ctx = f.n_ctx;
  opt.n_chunks = f.chunks;
  opt.score_all = f.score == "all";
  opt.bos = bos_of(tok);
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
  kld::BaseWriter base;
  if (!f.kld_base.empty() && n_chunks > 0) {
    Status s = base.open(f.kld_base, f.n_ctx, model.info().n_vocab, n_chunks, opt.score_all, tokens);
    if (!s.ok()) return fail("perplexity", s);
    opt.kld_base_out = &base;
    std::fprintf(stderr, "saving the log-probs of %lld scored tokens to %s%s\n",
                 (long long)(n_chunks * kld::scored_per_chunk(f.n_ctx, opt.score_all)), f.kld_base.c_str(),
                 opt.score_all ? " (--score all: a nibble-only file, llama.cpp reads half-chunk files only)" : "");
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
  if (opt.kld_base_out) {
    Status s = base.finish();
    if (!s.ok()) return fail("perplexity", s);
  }
  std::printf("tokens scored: %lld in %lld chunks of %lld (mean NLL %.6f)\n", (long long)r->n_scored,
              (long long)r->n_chunks, (long long)f.n_ctx, r->nll_mean);
  std::printf("Final estimate: PPL = %.4f +/- %.5f\n", r->ppl, r->ppl_err);
  return 0;
}

// The text given with a KL run must tokenize to the base file's tokens
// (same text, same tokenizer); the file's tokens are what is evaluated.
Status check_same_tokens(const std::vector<int32_t>& given, const std::vector<int32_t>& base, const PplFlags& f) {
  const std::string& src = f.prompt_ids.empty() ? f.text_file : f.prompt_ids;
  if (given.size() < base.size())
    return Status::Error(strfmt("%s gives %zu tokens, fewer than the %zu of %s: not the text of the base run",
                                src.c_str(), given.size(), base.size(), f.kld_base.c_str()));
  for (size_t i = 0; i < base.size(); ++i)
    if (given[i] != base[i])
      return Status::Error(strfmt("token %zu of %s is %d but %s holds %d: another text or tokenizer than the base run",
                                  i, src.c_str(), given[i], f.kld_base.c_str(), base[i]));
  return Status::Ok();
}

int run_kl_divergence(const PplFlags& f) {
  if (f.kld_base.empty())
    return fail("perplexity", Status::Error("--kl-divergence needs --kl-divergence-base FILE (the saved base run)"));
  if (!f.text_file.empty() && !f.prompt_ids.empty())
    return fail("perplexity", Status::Error("give at most one of -f/--file or --prompt-ids"));
  if (!f.logits_out.empty() || !f.ids_out.empty())
    return fail("perplexity", Status::Error("--logits-out and --ids-out apply to perplexity runs, not --kl-divergence"));
  auto file = kld::BaseFile::open(f.kld_base);
  if (!file.ok()) return fail("perplexity", file.status());
  const kld::BaseView& base = file->view();
  if (f.ctx_opt->count() > 0 && f.n_ctx != base.n_ctx)
    return fail("perplexity", Status::Error(strfmt("%s was computed with a context of %lld tokens but -c is %lld: "
                                                   "use -c %lld or leave -c out",
                                                   f.kld_base.c_str(), (long long)base.n_ctx, (long long)f.n_ctx,
                                                   (long long)base.n_ctx)));
  if (f.score_opt->count() > 0 && (f.score == "all") != base.score_all)
    return fail("perplexity", Status::Error(strfmt("%s holds %s records but --score is %s", f.kld_base.c_str(),
                                                   base.score_all ? "--score all" : "half-chunk (llama.cpp)",
                                                   f.score.c_str())));
  auto loaded = load(f.mf, !f.text_file.empty());
  if (!loaded.ok()) return fail("perplexity", loaded.status());
  Model& model = *loaded->model;
  const Tokenizer* tok = loaded->tokenizer.get();
  auto given = input_tokens(f, tok);
  if (!given.ok()) return fail("perplexity", given.status());
  if (!given->empty()) {
    Status s = check_same_tokens(*given, base.tokens(), f);
    if (!s.ok()) return fail("perplexity", s);
  }

  kld::KldOptions opt;
  opt.n_chunks = f.chunks;
  opt.bos = bos_of(tok);
  if (!base.score_all && !tok)
    std::fprintf(stderr, "note: no tokenizer, so chunks keep their first token (the base run must have done so too)\n");
  std::fprintf(stderr, "nibble perplexity --kl-divergence: %s: %lld chunks of %lld, n_vocab %lld, scoring %s\n",
               f.kld_base.c_str(), (long long)base.n_chunk, (long long)base.n_ctx, (long long)base.n_vocab,
               base.score_all ? "every predicted token" : "the second half of each chunk (llama.cpp)");
  ThreadPool pool(f.mf.thread_count());
  std::printf("%s", kld::chunk_table_header().c_str());
  auto r = kld::kl_divergence(model, pool, base, opt, [&](int64_t i, const kld::KldSums& s) {
    std::printf("%s", kld::chunk_line(i + 1, kld::running(s)).c_str());
    std::fflush(stdout);
  });
  if (!r.ok()) return fail("perplexity", r.status());
  const kld::KldSummary sum = kld::summarize(r->sums, std::move(r->kld_values), std::move(r->p_diff_values));
  if (sum.count < 100)
    std::fprintf(stderr, "note: only %lld tokens scored; llama.cpp prints no statistics below 100\n",
                 (long long)sum.count);
  std::printf("\n%s", kld::format_summary(sum).c_str());
  if (!f.kl_json.empty()) {
    kld::RunInfo info{f.mf.model, f.kld_base, base.n_ctx, base.n_vocab, r->n_chunks, base.score_all};
    std::ofstream out(f.kl_json, std::ios::binary | std::ios::trunc);
    out << kld::summary_json(sum, info);
    if (!out) return fail("perplexity", Status::Error(f.kl_json + ": cannot write"));
  }
  return 0;
}

int run(const PplFlags& f) {
  if (!f.kl_json.empty() && !f.kl_divergence)
    return fail("perplexity", Status::Error("--kl-json goes with --kl-divergence"));
  return f.kl_divergence ? run_kl_divergence(f) : run_perplexity(f);
}

}  // namespace

void add_perplexity(CLI::App& app) {
  auto f = std::make_shared<PplFlags>();
  CLI::App* c = app.add_subcommand("perplexity", "perplexity of a model on a text or a token-id file");
  f->mf.add(*c);
  c->add_option("-f,--file", f->text_file, "text file to score (optional with --kl-divergence: checked against the base file)");
  c->add_option("--prompt-ids", f->prompt_ids, "file of whitespace-separated token ids to score (no tokenizer)");
  f->ctx_opt = c->add_option("-c,--ctx-size", f->n_ctx, "tokens per chunk (with --kl-divergence: the base file's)")
                   ->check(CLI::Range(int64_t(2), int64_t(1) << 20));
  c->add_option("--chunks", f->chunks, "score at most this many chunks (default: all)");
  f->score_opt = c->add_option("--score", f->score,
                               "'half': llama.cpp's definition (first token -> BOS, second half of each chunk scored); "
                               "'all': every predicted token of each non-overlapping window")
                     ->check(CLI::IsMember({"half", "all"}));
  c->add_option("--logits-out", f->logits_out, "write fp32 logits of every evaluated position to a .npy file");
  c->add_option("--ids-out", f->ids_out, "write the token ids scored to a file");
  c->add_option("--kl-divergence-base,--save-all-logits", f->kld_base,
                "llama.cpp's KL-divergence base file: written by a perplexity run (log-probs of every scored token), "
                "read by --kl-divergence");
  c->add_flag("--kl-divergence", f->kl_divergence,
              "compare this model with the base file's log-probs on its tokens (KLD, dPPL, same top, dp; "
              "llama.cpp's report)");
  c->add_option("--kl-json", f->kl_json, "with --kl-divergence: also write the statistics as JSON to this file");
  c->callback([f] {
    int rc = run(*f);
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace nb::cli
