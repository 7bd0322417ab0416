// nibble quantize: RTN / GPTQ / MR-GPTQ of a Llama model's linear layers into
// a 4- or 8-bit format, written as GGUF with the tokenizer embedded.
#include <cstdio>

#include "cli/common.h"
#include "core/progress.h"
#include "formats/format.h"
#include "models/llama_export.h"
#include "quant/llama_quantizer.h"
#include "tokenizer/vocab_data.h"

namespace nb::cli {
namespace {

struct QuantizeFlags {
  ModelFlags mf;
  std::string out, type, method = "gptq", calib, head_type, report, calib_dtype = "bf16";
  int64_t calib_tokens = 128 * 512, calib_ctx = 512, hadamard = -1;
  bool act_order = false, act_order_set = false, scale_search = false, scale_search_set = false;
  uint64_t seed = 0;
};

// Accepts the spelling (int4-g128) and the format table's (int4_g128).
std::string format_name(std::string s) {
  for (char& ch : s)
    if (ch == '-') ch = '_';
  return s;
}

int run(const QuantizeFlags& f) {
  if (f.mf.model.empty() || f.out.empty() || f.type.empty())
    return fail("quantize", Status::Error("give -m/--model IN, -o/--outfile OUT.gguf and --type"));
  const formats::FormatTraits* tr = formats::find_by_name(format_name(f.type));
  if (!tr) return fail("quantize", Status::Error("--type '" + f.type + "' is not a format nibble knows"));
  auto method = quant::parse_method(f.method);
  if (!method.ok()) return fail("quantize", method.status());
  if (*method != quant::Method::Rtn && f.calib.empty())
    return fail("quantize", Status::Error(std::string("--method ") + f.method + " needs calibration text (--calib FILE)"));

  auto mf = io::open_model(f.mf.model);
  if (!mf.ok()) return fail("quantize", mf.status());
  if (architecture_of(*mf) != "llama")
    return fail("quantize", Status::Error(f.mf.model + ": quantize supports Llama models (this one is '" +
                                          architecture_of(*mf) + "')"));
  auto tok = f.mf.tokenizer.empty() ? tokenizer_for_model(*mf) : load_tokenizer(f.mf.tokenizer);
  if (!tok.ok()) return fail("quantize", tok.status().with_context("the GGUF file needs a tokenizer (pass --tokenizer)"));

  quant::LlamaQuantizeOptions opt;
  opt.type = tr->id;
  opt.method = *method;
  opt.hadamard_k = f.hadamard;
  opt.act_order = f.act_order_set ? int(f.act_order) : -1;
  opt.scale_search = f.scale_search_set ? int(f.scale_search) : -1;
  opt.seed = f.seed;
  opt.calib_bf16 = f.calib_dtype == "bf16";
  std::vector<std::vector<int32_t>> windows;
  if (!f.calib.empty()) {
    if (f.calib_ctx > 0 && f.calib_tokens < f.calib_ctx)
      return fail("quantize", Status::Error(strfmt("--calib-tokens %lld is less than one window of --calib-ctx %lld",
                                                   (long long)f.calib_tokens, (long long)f.calib_ctx)));
    auto text = read_text_file(f.calib);
    if (!text.ok()) return fail("quantize", text.status());
    Status u = check_utf8(*text, f.calib.c_str());
    if (!u.ok()) return fail("quantize", u);
    if (text->find_first_not_of(" \t\r\n") == std::string::npos)
      return fail("quantize", Status::Error(f.calib + ": the calibration text is empty"));
    const std::vector<int32_t> ids = (*tok)->encode(*text, false);
    const int64_t want = f.calib_tokens / f.calib_ctx;
    windows = quant::calibration_windows(ids, want, f.calib_ctx, f.seed);
    if (windows.empty())
      return fail("quantize", Status::Error(strfmt("%s: %zu tokens, fewer than one window of --calib-ctx %lld",
                                                   f.calib.c_str(), ids.size(), (long long)f.calib_ctx)));
    if (int64_t(windows.size()) < want)
      std::fprintf(stderr, "nibble quantize: %s has %zu tokens: using all %zu windows of %lld (fewer than %lld asked)\n",
                   f.calib.c_str(), ids.size(), windows.size(), (long long)f.calib_ctx, (long long)want);
  } else {
    windows.push_back({0});  // RTN without calibration: one dummy token, no Hessian is used
    opt.calib_ctx = 1;
  }

  ThreadPool pool(f.mf.thread_count());
  const int64_t n_layers = mf->get_int_or("llama.block_count", mf->get_int_or("hf.num_hidden_layers", 0));
  std::fprintf(stderr, "nibble quantize: %s -> %s, %s %s, %zu calibration windows of %lld tokens, %d threads\n",
               f.mf.model.c_str(), f.out.c_str(), quant::method_name(opt.method), tr->name, windows.size(),
               (long long)windows[0].size(), pool.size());
  FILE* report = nullptr;
  if (!f.report.empty() && !(report = std::fopen(f.report.c_str(), "w")))
    return fail("quantize", Status::Error(f.report + ": cannot write"));
  if (report) std::fprintf(report, "tensor\trows\tcols\trel_error\tseconds\n");
  Progress bar("quantize", 7 * n_layers);
  auto lw = quant::quantize_llama(*mf, windows, opt, pool, [&](const quant::LayerReport& r) {
    std::fprintf(stderr, "%-24s %5lld x %-5lld rel. error %.6f  %.1fs%s\n", r.name.c_str(), (long long)r.rows, (long long)r.cols,
                r.rel_error, r.seconds, r.cholesky_failed ? "  (Cholesky failed: plain rounding)" : "");
    if (report)
      std::fprintf(report, "%s\t%lld\t%lld\t%.9g\t%.3f\n", r.name.c_str(), (long long)r.rows, (long long)r.cols,
                   r.rel_error, r.seconds);
    bar.add();
  });
  bar.finish();
  if (report) std::fclose(report);
  if (!lw.ok()) return fail("quantize", lw.status());

  VocabData vocab;
  Status st = (*tok)->export_vocab(&vocab);
  if (!st.ok()) return fail("quantize", st);
  io::GgufWriter w;
  std::vector<std::vector<uint8_t>> keep;
  LlamaExportOptions eo;
  eo.type = tr->id;
  if (!f.head_type.empty()) {
    const formats::FormatTraits* ht = formats::find_by_name(format_name(f.head_type));
    if (!ht) return fail("quantize", Status::Error("--head-type '" + f.head_type + "' is not a format nibble knows"));
    eo.head = ht->id;
  }
  st = add_llama_weights_to_gguf(*mf, *lw, eo, w, keep);
  if (!st.ok()) return fail("quantize", st);
  w.add_string("nibble.quantize.method", quant::method_name(opt.method));
  if (!f.calib.empty()) w.add_u32("nibble.quantize.calib_tokens", uint32_t(windows.size() * windows[0].size()));
  for (auto& [k, v] : gguf_vocab_keys(vocab)) w.add(k, std::move(v));
  st = w.write(f.out);
  if (!st.ok()) return fail("quantize", st);
  const HeadFormats head = eo.head_formats(lw->cfg.dim, lw->tied);
  std::fprintf(stderr, "nibble quantize: wrote %s (%s, embedding %s, output %s)\n", f.out.c_str(), tr->name,
               formats::traits(head.embd).name, formats::traits(head.output).name);
  return 0;
}

}  // namespace

void add_quantize(CLI::App& app) {
  auto f = std::make_shared<QuantizeFlags>();
  CLI::App* c = app.add_subcommand("quantize", "quantize a Llama model's linear layers (RTN, GPTQ, MR-GPTQ) to GGUF");
  f->mf.add(*c);
  c->add_option("-o,--outfile", f->out, "output .gguf file (required)");
  c->add_option("--type", f->type,
                "format of the linear layers (required): mxfp4_fpq (FP-Quant's scale 2^E/3, the MR-GPTQ paper's MXFP4), "
                "mxfp4 (OCP scale rule, llama.cpp's type), nvfp4, int4-g32, int4-g64, int4-g128, q4_0, q8_0");
  c->add_option("--method", f->method, "rtn, gptq (default) or mr-gptq")->check(CLI::IsMember({"rtn", "gptq", "mr-gptq"}));
  c->add_option("--calib", f->calib, "calibration text (required for gptq and mr-gptq)");
  c->add_option("--calib-tokens", f->calib_tokens, "calibration tokens in all (default 65536)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  c->add_option("--calib-ctx", f->calib_ctx, "tokens per calibration window (default 512)")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  c->add_option("--calib-dtype", f->calib_dtype,
                "precision of the calibration pass: bf16 (default; weights and linear inputs rounded to bf16, fp32 "
                "sums, AMX where available) or f32 (fp32 throughout, the reference GPTQ's Hessian order; slower)")
      ->check(CLI::IsMember({"bf16", "f32"}));
  c->add_option("--seed", f->seed, "seed that picks the calibration windows (default 0)");
  c->add_option("--hadamard", f->hadamard,
                "block size k of the online Hadamard rotation (16, 32, 64, 128; 0: none); default: the format's "
                "block size for mr-gptq, none otherwise");
  c->add_flag("--act-order,!--no-act-order", f->act_order, "static activation order (default: on for mr-gptq)")
      ->each([f](const std::string&) { f->act_order_set = true; });
  c->add_flag("--scale-search,!--no-scale-search", f->scale_search,
              "MSE shrink search of the block scales (default: on for mr-gptq)")
      ->each([f](const std::string&) { f->scale_search_set = true; });
  c->add_option("--head-type", f->head_type, "format of the embedding and output head (default: q8_0 below 8 bits)");
  c->add_option("--report", f->report, "write the per-layer relative errors as TSV");
  c->callback([f] {
    int rc = run(*f);
    if (rc) throw CLI::RuntimeError(rc);
  });
}

}  // namespace nb::cli
