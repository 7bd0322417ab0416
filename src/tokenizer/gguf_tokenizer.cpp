// The vocabulary embedded in a GGUF file (tokenizer.ggml.* keys, as written
// by llama.cpp's converters), with llama.cpp's defaults for missing keys.
#include "io/model_file.h"
#include "tokenizer/vocab_data.h"

namespace nb {
namespace {

class MetaReader {
 public:
  explicit MetaReader(const io::ModelFile& mf) : mf_(mf) {}
  const io::MetaValue* get(const std::string& key) const {
    auto it = mf_.meta.find(key);
    return it == mf_.meta.end() ? nullptr : &it->second;
  }
  Status error(const std::string& key, const std::string& what) const {
    return Status::Error("'" + file() + "': " + key + ": " + what);
  }
  const std::string& file() const { return mf_.meta_file.empty() ? mf_.path : mf_.meta_file;
  }
  Result<std::string> string(const std::string& key) const {
    const io::MetaValue* v = get(key);
    if (!v) return error(key, "missing");
    if (v->type != io::MetaType::String) return error(key, std::string("expected a string, found ") + io::meta_type_name(v->type));
    return v->s;
  }
  // An id key: absent -> def; an out-of-range value (converters write
  // 0xFFFFFFFF for "unset") -> -1.
  Result<int32_t> id(const std::string& key, int32_t def, size_t n) const {
    const io::MetaValue* v = get(key);
    if (!v) return def >= 0 && size_t(def) < n ? def : -1;
    if (!v->is_int()) return error(key, std::string("expected an integer, found ") + io::meta_type_name(v->type));
    return v->i >= 0 && uint64_t(v->i) < n ? int32_t(v->i) : -1;
  }
  Result<bool> flag(const std::string& key, bool def) const {
    const io::MetaValue* v = get(key);
    if (!v) return def;
    if (v->type != io::MetaType::Bool) return error(key, std::string("expected a bool, found ") + io::meta_type_name(v->type));
    return v->i != 0;
  }
  Result<const io::MetaValue*> array(const std::string& key, bool required) const {
    const io::MetaValue* v = get(key);
    if (!v) {
      if (required) return error(key, "missing");
      return static_cast<const io::MetaValue*>(nullptr);
    }
    if (v->type != io::MetaType::Array) return error(key, std::string("expected an array, found ") + io::meta_type_name(v->type));
    return v;
  }

 private:
  const io::ModelFile& mf_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> tokenizer_from_gguf(const io::ModelFile& mf) {
  MetaReader m(mf);
  if (!m.get("tokenizer.ggml.model"))
    return Status::Error("'" + mf.path + "' has no embedded vocabulary (no tokenizer.ggml.model); pass --tokenizer");
  NB_ASSIGN_OR_RETURN(std::string model, m.string("tokenizer.ggml.model"));
  const bool spm = model == "llama", bpe = model == "gpt2";
  if (!spm && !bpe)
    return m.error("tokenizer.ggml.model", "'" + model + "' is not supported (nibble reads 'llama' and 'gpt2')");

  VocabData v;
  v.name = m.file();
  v.model = model;
  NB_ASSIGN_OR_RETURN(const io::MetaValue* tokens, m.array("tokenizer.ggml.tokens", true));
  if (tokens->elem_type != io::MetaType::String || tokens->strings.size() != tokens->array_size())
    return m.error("tokenizer.ggml.tokens", "expected an array of strings");
  v.tokens = tokens->strings;
  const size_t n = v.tokens.size();

  NB_ASSIGN_OR_RETURN(const io::MetaValue* scores, m.array("tokenizer.ggml.scores", false));
  if (scores) {
    if (scores->floats.size() != scores->array_size() || scores->floats.size() != n)
      return m.error("tokenizer.ggml.scores", strfmt("expected %zu floats, found %zu %s values", n,
                                                     scores->array_size(), io::meta_type_name(scores->elem_type)));
    v.scores.assign(scores->floats.begin(), scores->floats.end());
  }
  NB_ASSIGN_OR_RETURN(const io::MetaValue* types, m.array("tokenizer.ggml.token_type", false));
  if (types) {
    if (types->ints.size() != types->array_size() || types->ints.size() != n)
      return m.error("tokenizer.ggml.token_type", strfmt("expected %zu integers, found %zu %s values", n,
                                                         types->array_size(), io::meta_type_name(types->elem_type)));
    for (int64_t t : types->ints) {
      if (t < 0 || t > 6) return m.error("tokenizer.ggml.token_type", strfmt("type %lld is not 0..6", (long long)t));
      v.types.push_back(int32_t(t));
    }
  }

  // llama.cpp's defaults: SPM has bos 1, eos 2, unk 0, adds BOS and a dummy
  // prefix; GPT-2 BPE adds neither.
  NB_ASSIGN_OR_RETURN(v.bos, m.id("tokenizer.ggml.bos_token_id", spm ? 1 : -1, n));
  NB_ASSIGN_OR_RETURN(v.eos, m.id("tokenizer.ggml.eos_token_id", spm ? 2 : -1, n));
  NB_ASSIGN_OR_RETURN(v.unk, m.id("tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n));
  NB_ASSIGN_OR_RETURN(v.add_bos, m.flag("tokenizer.ggml.add_bos_token", spm));
  if (spm) {
    NB_ASSIGN_OR_RETURN(v.add_space_prefix, m.flag("tokenizer.ggml.add_space_prefix", true));
    return make_llama_spm_tokenizer(std::move(v));
  }

  // Byte-level BPE: only pre-tokenizers that are exactly GPT-2's regex.
  const io::MetaValue* pre = m.get("tokenizer.ggml.pre");
  std::string pre_name = pre && pre->type == io::MetaType::String ? pre->s : "(missing)";
  static const char* kGpt2Like[] = {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat"};
  bool known = false;
  for (const char* k : kGpt2Like) known |= pre_name == k;
  if (!known)
    return m.error("tokenizer.ggml.pre", "pre-tokenizer '" + pre_name +
                                             "' is not supported (nibble implements GPT-2's: 'gpt-2', 'phi-2', "
                                             "'jina-es', 'jina-de', 'gigachat')");
  NB_ASSIGN_OR_RETURN(const io::MetaValue* merges, m.array("tokenizer.ggml.merges", true));
  if (merges->elem_type != io::MetaType::String || merges->strings.size() != merges->array_size())
    return m.error("tokenizer.ggml.merges", "expected an array of strings");
  v.merges = merges->strings;
  v.pre = pre_name;
  return make_byte_bpe_tokenizer(std::move(v));
}

}  // namespace nb
