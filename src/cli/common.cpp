#include "cli/common.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/progress.h"
#include "kernels/act_quant.h"

namespace nb::cli {

const char* const kNoRepackHelp =
    "keep the weights in the file's layout; by default the kernels that read another layout faster get a copy "
    "rearranged at load (AVX-512: Q8_0, the K-quants, TQ2_0, MXFP4, NVFP4, INT4-g32/g64), as llama.cpp repacks "
    "(its --no-repack); "
    "outputs are the same either way";

void ModelFlags::add(CLI::App& app, bool model_required) {
  // Required-ness is checked in load(), after parsing, so that an unknown flag
  // is reported as such rather than as a missing --model.
  app.add_option("-m,--model", model, std::string("model: GGUF file, llama2.c .bin, or Hugging Face folder") +
                                          (model_required ? " (required)" : ""));
  app.add_option("--tokenizer", tokenizer,
                 "tokenizer file (llama2.c tokenizer.bin, tokenizer.model, tokenizer.json, GGUF); "
                 "default: the one in or next to the model");
  app.add_option("-t,--threads", threads, "threads (default: physical cores)")->check(CLI::Range(1, 1024));
  app.add_option("--act-type", act_type,
                 "emulate W4A4: round every linear layer's input through none (default), mxfp4 (FP-Quant's "
                 "abs_max rule, as the MR-GPTQ paper), mxfp4_ocp or nvfp4 (per-token tensor scale); Llama only, "
                 "a quality measurement, not a speed-up")
      ->check(CLI::IsMember({"none", "mxfp4", "mxfp4_ocp", "nvfp4"}));
  app.add_flag("--no-repack", no_repack, kNoRepackHelp);
}

Result<Loaded> load(const ModelFlags& f, bool need_tokenizer) {
  if (f.model.empty()) return Status::Error("no model given (-m/--model)");
  Loaded out;
  Progress bar("loading", 3);
  NB_ASSIGN_OR_RETURN(io::ModelFile mf, io::open_model(f.model));
  bar.update(1);
  out.file = std::make_shared<const io::ModelFile>(std::move(mf));
  LoadOptions lo;
  NB_ASSIGN_OR_RETURN(lo.act_type, kernels::parse_act_type(f.act_type));
  lo.repack = !f.no_repack;
  NB_ASSIGN_OR_RETURN(out.model, load_model(out.file, lo));
  bar.update(2);
  Result<std::unique_ptr<Tokenizer>> tok =
      f.tokenizer.empty() ? tokenizer_for_model(*out.file) : load_tokenizer(f.tokenizer);
  bar.update(3);
  bar.finish();
  if (tok.ok()) {
    out.tokenizer = std::move(tok).value();
    if (out.tokenizer->n_vocab() > out.model->info().n_vocab)
      return Status::Error(strfmt("tokenizer has %d tokens but the model's vocabulary has only %lld",
                                  out.tokenizer->n_vocab(), (long long)out.model->info().n_vocab));
  } else if (need_tokenizer) {
    return tok.status();
  }
  return out;
}

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::vector<int32_t>> read_ids_file(const std::string& path) {
  NB_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
  std::vector<int32_t> ids;
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    char* end = nullptr;
    long long v = std::strtoll(word.c_str(), &end, 10);
    if (*end != '\0' || v < 0 || v > INT32_MAX)
      return Status::Error(strfmt("%s: token id %zu: '%s' is not a non-negative integer", path.c_str(), ids.size() + 1,
                                  word.substr(0, 32).c_str()));
    ids.push_back(int32_t(v));
  }
  return ids;
}

Status write_ids_file(const std::string& path, const std::vector<int32_t>& ids) {
  std::ofstream out(path);
  if (!out) return Status::Error(path + ": cannot write");
  for (size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << ids[i];
  out << "\n";
  return out ? Status::Ok() : Status::Error(path + ": write failed");
}

int fail(const char* cmd, const Status& st) {
  std::fflush(stdout);
  std::fprintf(stderr, "nibble %s: error: %s\n", cmd, st.message().c_str());
  return 1;
}

}  // namespace nb::cli
