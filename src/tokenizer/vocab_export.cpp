// Writing a vocabulary as the tokenizer.ggml.* keys llama.cpp reads. The
// reader of the same keys is gguf_tokenizer.cpp.
#include "tokenizer/vocab_data.h"

namespace nb {

Status Tokenizer::export_vocab(VocabData*) const {
  return Status::Error("a '" + kind() + "' tokenizer cannot be written as a GGUF vocabulary");
}

std::vector<std::pair<std::string, io::MetaValue>> gguf_vocab_keys(const VocabData& v) {
  using io::MetaType;
  using io::MetaValue;
  std::vector<std::pair<std::string, MetaValue>> keys;
  keys.emplace_back("tokenizer.ggml.model", MetaValue::Str(v.model));
  keys.emplace_back("tokenizer.ggml.pre", MetaValue::Str(v.model == "gpt2" ? v.pre : "default"));
  MetaValue tokens;
  tokens.type = MetaType::Array;
  tokens.elem_type = MetaType::String;
  tokens.strings = v.tokens;
  keys.emplace_back("tokenizer.ggml.tokens", tokens);
  if (!v.scores.empty()) {
    MetaValue scores;
    scores.type = MetaType::Array;
    scores.elem_type = MetaType::F32;
    scores.floats.assign(v.scores.begin(), v.scores.end());
    keys.emplace_back("tokenizer.ggml.scores", scores);
  }
  if (!v.types.empty()) {
    MetaValue types;
    types.type = MetaType::Array;
    types.elem_type = MetaType::I32;
    types.ints.assign(v.types.begin(), v.types.end());
    keys.emplace_back("tokenizer.ggml.token_type", types);
  }
  if (!v.merges.empty()) {
    MetaValue merges;
    merges.type = MetaType::Array;
    merges.elem_type = MetaType::String;
    merges.strings = v.merges;
    keys.emplace_back("tokenizer.ggml.merges", merges);
  }
  if (v.bos >= 0) keys.emplace_back("tokenizer.ggml.bos_token_id", MetaValue::Int(v.bos, MetaType::U32));
  if (v.eos >= 0) keys.emplace_back("tokenizer.ggml.eos_token_id", MetaValue::Int(v.eos, MetaType::U32));
  if (v.unk >= 0) keys.emplace_back("tokenizer.ggml.unknown_token_id", MetaValue::Int(v.unk, MetaType::U32));
  keys.emplace_back("tokenizer.ggml.add_bos_token", MetaValue::Bool(v.add_bos));
  keys.emplace_back("tokenizer.ggml.add_eos_token", MetaValue::Bool(false));
  if (v.model == "llama") keys.emplace_back("tokenizer.ggml.add_space_prefix", MetaValue::Bool(v.add_space_prefix));
  return keys;
}

}  // namespace nb
