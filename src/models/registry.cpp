// Architecture name -> loader.
#include <functional>
#include <map>

#include "models/hgrn_bit.h"
#include "models/bitnet.h"
#include "models/llama.h"
#include "models/llama_export.h"
#include "models/model.h"

namespace nb {
namespace {

using Loader = std::function<Result<std::unique_ptr<Model>>(std::shared_ptr<const io::ModelFile>, const LoadOptions&)>;

const std::map<std::string, Loader>& registry() {
  static const std::map<std::string, Loader> r = {
      {"llama", load_llama},
      {kBitnetArch, load_bitnet},
      {"hgrn_bit", load_hgrn_bit},
  };
  return r;
}

}  // namespace

// The architecture a file declares, in each container's own words.
std::string architecture_of(const io::ModelFile& mf) {
  if (mf.container == "gguf") return mf.get_string_or("general.architecture", "");
  if (mf.container == "hf") return mf.get_string_or("hf.model_type", "");
  if (mf.container == "llama2c") return "llama";
  if (mf.container == "bitnet-c") return kBitnetArch;  // bitllama2.c checkpoints
  return "";
}

Status export_gguf(const io::ModelFile& file, FormatId type, io::GgufWriter& w,
                   std::vector<std::vector<uint8_t>>& keep) {
  std::string arch = architecture_of(file);
  if (arch == "llama") {
    LlamaExportOptions opt;
    opt.type = type;
    return add_llama_to_gguf(file, opt, w, keep);
  }
  if (arch == "hgrn_bit") return add_hgrn_bit_to_gguf(file, type, w, keep);
  return Status::Error(file.path + ": cannot convert architecture '" + arch + "' to GGUF");
}

std::vector<std::string> registered_architectures() {
  std::vector<std::string> v;
  for (auto& [k, _] : registry()) v.push_back(k);
  return v;
}

Status check_forward_input(std::span<const int32_t> ids, const State& st, int64_t n_vocab) {
  const int64_t T = int64_t(ids.size());
  if (st.n_past + T > st.n_ctx)
    return Status::Error(strfmt("context is full: %lld positions used + %lld new > context size %lld",
                                (long long)st.n_past, (long long)T, (long long)st.n_ctx));
  for (int32_t id : ids)
    if (id < 0 || id >= n_vocab)
      return Status::Error(strfmt("token id %d is out of range [0, %lld)", id, (long long)n_vocab));
  return Status::Ok();
}

Result<std::unique_ptr<Model>> load_model(std::shared_ptr<const io::ModelFile> file, const LoadOptions& opts) {
  std::string arch = architecture_of(*file);
  if (arch.empty())
    return Status::Error(file->path + ": cannot tell the model architecture (no general.architecture / model_type)");
  auto it = registry().find(arch);
  if (it == registry().end()) {
    std::string known;
    for (auto& a : registered_architectures()) known += (known.empty() ? "" : ", ") + a;
    return Status::Error(file->path + ": architecture '" + arch + "' is not supported (supported: " + known + ")");
  }
  if (opts.act_type != FormatId::F32 && arch != "llama")
    return Status::Error(file->path + ": --act-type (emulated W4A4) is available for Llama models only, not '" + arch + "'");
  return it->second(std::move(file), opts);
}

}  // namespace nb
