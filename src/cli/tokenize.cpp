// nibble tokenize: the ids (and pieces) a tokenizer produces, like llama-tokenize.
#include <cstdio>

#include "cli/common.h"

namespace nb::cli {
namespace {

struct TokFlags {
  std::string model, tokenizer, prompt, file;
  bool ids_only = false, no_bos = false;
};

int run(const TokFlags& f) {
  if (f.model.empty() == f.tokenizer.empty())
    return fail("tokenize", Status::Error("give exactly one of -m/--model or --tokenizer"));
  Result<std::unique_ptr<Tokenizer>> tok = Status::Error("");
  if (!f.tokenizer.empty()) {
    tok = load_tokenizer(f.tokenizer);
  } else {
    auto mf = io::open_model(f.model);  // the tokenizer only: no weights are loaded
    if (!mf.ok()) return fail("tokenize", mf.status());
    tok = tokenizer_for_model(*mf);
  }
  if (!tok.ok()) return fail("tokenize", tok.status());
  std::string text = f.prompt;
  if (!f.file.empty()) {
    auto t = read_text_file(f.file);
    if (!t.ok()) return fail("tokenize", t.status());
    text = std::move(t).value();
  }
  Status u = check_utf8(text, f.file.empty() ? "prompt" : f.file.c_str());
  if (!u.ok()) return fail("tokenize", u);
  const Tokenizer& t = **tok;
  std::vector<int32_t> ids = t.encode(text, !f.no_bos && t.add_bos_default());
  if (f.ids_only) {
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
  } else {
    for (int32_t id : ids) std::printf("%6d -> '%s'\n", id, t.piece(id).c_str());
    std::printf("%zu tokens\n", ids.size());
  }
  return 0;
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto f = std::make_shared<TokFlags>();
  CLI::App* c = app.add_subcommand("tokenize", "print the token ids (and pieces) of a text");
  c->add_option("-m,--model", f->model, "model whose tokenizer to use (GGUF, Hugging Face folder)");
  c->add_option("--tokenizer", f->tokenizer, "tokenizer file");
  c->add_option("-p,--prompt", f->prompt, "text to tokenize");
  c->add_option("-f,--file", f->file, "read the text from a file");
  c->add_flag("--ids-only", f->ids_only, "print only the ids, space-separated (the format --prompt-ids reads)");
  c->add_flag("--no-bos", f->no_bos, "do not add the BOS token");
  c->callback([f] {
    int rc = run(*f);
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace nb::cli
