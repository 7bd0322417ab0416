// nibble convert: rewrite a model as a GGUF file llama.cpp can load, with the
// tokenizer embedded. The output appears whole or not at all.
#include <cstdio>

#include "cli/common.h"
#include "formats/format.h"
#include "models/llama.h"
#include "models/llama_export.h"
#include "models/llama_weights.h"
#include "tokenizer/vocab_data.h"

namespace nb::cli {
namespace {

struct ConvertFlags {
  std::string model, tokenizer, out, type;  // type empty: the architecture's default
  std::string random;                       // a named Llama shape with random weights instead of -m
  int threads = 0;
};

// A Llama of a named shape with N(0, 0.02) weights, written as GGUF: a file of
// real size for timing `nibble quantize` where no checkpoint of that shape exists.
int write_random(const ConvertFlags& f) {
  if (f.tokenizer.empty()) return fail("convert", Status::Error("--random needs --tokenizer (a vocabulary to embed)"));
  auto cfg = llama_shape(f.random);
  if (!cfg.ok()) return fail("convert", cfg.status());
  const formats::FormatTraits* tr = formats::find_by_name(f.type.empty() ? "f16" : f.type);
  if (!tr) return fail("convert", Status::Error("--type '" + f.type + "' is not a format nibble knows"));
  auto tok = load_tokenizer(f.tokenizer);
  if (!tok.ok()) return fail("convert", tok.status());
  if ((*tok)->n_vocab() != cfg->vocab_size)
    return fail("convert", Status::Error(strfmt("--random %s has %lld tokens, the tokenizer %d", f.random.c_str(),
                                                (long long)cfg->vocab_size, (*tok)->n_vocab())));
  ThreadPool pool(f.threads > 0 ? f.threads : physical_cores());
  auto lw = random_llama_weights(*cfg, tr->id, 1, pool);
  if (!lw.ok()) return fail("convert", lw.status());
  VocabData vocab;
  Status st = (*tok)->export_vocab(&vocab);
  if (!st.ok()) return fail("convert", st);
  io::ModelFile meta;
  meta.path = "random:" + f.random;
  meta.meta["general.name"] = io::MetaValue::Str("random-" + f.random);
  io::GgufWriter w;
  std::vector<std::vector<uint8_t>> keep;
  LlamaExportOptions eo;
  eo.type = tr->id;
  st = add_llama_weights_to_gguf(meta, *lw, eo, w, keep);
  if (!st.ok()) return fail("convert", st);
  for (auto& [k, v] : gguf_vocab_keys(vocab)) w.add(k, std::move(v));
  st = w.write(f.out);
  if (!st.ok()) return fail("convert", st);
  std::fprintf(stderr, "nibble convert: wrote %s (random %s, %s)\n", f.out.c_str(), f.random.c_str(), tr->name);
  return 0;
}

int run(const ConvertFlags& f) {
  if (!f.random.empty() && !f.out.empty() && f.model.empty()) return write_random(f);
  if (f.model.empty() || f.out.empty()) return fail("convert", Status::Error("give -m/--model IN and -o/--outfile OUT.gguf"));
  // Which types an architecture can be written in is the exporter's to say.
  // Without --type: f16, or t2 for the ternary hgrn_bit (MatMul-free) models.
  if (!f.type.empty() && !formats::find_by_name(f.type))
    return fail("convert", Status::Error("--type '" + f.type + "' is not a format nibble knows"));
  if (const formats::FormatTraits* t = formats::find_by_name(f.type); t && t->rearranges != FormatId::kCount)
    return fail("convert", Status::Error("--type '" + f.type + "' is a layout nibble makes in memory at load time, not a "
                                         "file format; write " + formats::traits(t->rearranges).name));
  auto mf = io::open_model(f.model);
  if (!mf.ok()) return fail("convert", mf.status());
  const std::string type = !f.type.empty() ? f.type : architecture_of(*mf) == "hgrn_bit" ? "t2" : "f16";
  const formats::FormatTraits* tr = formats::find_by_name(type);
  auto tok = f.tokenizer.empty() ? tokenizer_for_model(*mf) : load_tokenizer(f.tokenizer);
  if (!tok.ok())
    return fail("convert", tok.status().with_context("the GGUF file needs a tokenizer (pass --tokenizer)"));
  VocabData vocab;
  Status st = (*tok)->export_vocab(&vocab);
  if (!st.ok()) return fail("convert", st);

  io::GgufWriter w;
  std::vector<std::vector<uint8_t>> keep;
  st = export_gguf(*mf, tr->id, w, keep);
  if (!st.ok()) return fail("convert", st);
  for (auto& [k, v] : gguf_vocab_keys(vocab)) w.add(k, std::move(v));
  st = w.write(f.out);
  if (!st.ok()) return fail("convert", st);
  std::fprintf(stderr, "nibble convert: wrote %s (%s)\n", f.out.c_str(), tr->name);
  return 0;
}

}  // namespace

void add_convert(CLI::App& app) {
  auto f = std::make_shared<ConvertFlags>();
  CLI::App* c = app.add_subcommand("convert", "write a model as GGUF (llama.cpp's conventions, tokenizer embedded)");
  c->add_option("-m,--model", f->model, "input model: GGUF, llama2.c .bin, or Hugging Face folder (required)");
  c->add_option("-o,--outfile", f->out, "output .gguf file (required)");
  c->add_option("--type", f->type, "format of the weight matrices: f32, f16 (default), bf16, q8_0, q4_0, q4_k, q5_k, q6_k, mxfp4, mxfp4_fpq, "
                "nvfp4, int4_g32, int4_g64, int4_g128, tq1_0, tq2_0 (Llama; RTN, as `nibble quantize --method rtn`; "
                "the K-quants with a least-squares grid per sub-block); "
                "t2 (default) or t1_6 (hgrn_bit: ternary, 2 or 1.6 bits per weight)");
  c->add_option("--tokenizer", f->tokenizer, "tokenizer to embed (default: the model's own)");
  c->add_option("--random", f->random,
                "instead of -m: a Llama of this shape (tinyllama-1.1b, llama-7b, stories260k) with random weights");
  c->add_option("-t,--threads", f->threads, "threads for --random (default: physical cores)");
  c->callback([f] {
    int rc = run(*f);
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace nb::cli
