// Hugging Face `tokenizer.json`, the GPT-2 family only: model.type "BPE"
// with a ByteLevel pre-tokenizer (GPT-2 regex). Anything else is an error
// that names the unsupported part.
#include <nlohmann/json.hpp>

#include "tokenizer/from_bytes.h"
#include "tokenizer/piece_text.h"
#include "tokenizer/vocab_data.h"

namespace nb {
namespace {

using json = nlohmann::json;

const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string type_of(const json* node) {
  const json* t = node ? member(*node, "type") : nullptr;
  return t && t->is_string() ? t->get<std::string>() : std::string();
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> hf_tokenizer_from_json(std::string_view bytes, const std::string& name) {
  auto fail = [&](const std::string& what) { return Status::Error("tokenizer.json '" + name + "': " + what); };
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail("not valid JSON");
  if (!doc.is_object()) return fail("top level is not an object");

  const json* model = member(doc, "model");
  if (!model || !model->is_object()) return fail("no \"model\" object");
  std::string mtype = type_of(model);
  if (mtype != "BPE")
    return fail("model.type '" + (mtype.empty() ? std::string("(missing)") : mtype) +
                "' is not supported (only BPE with a ByteLevel pre-tokenizer)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json* s = member(*model, key);
    if (s && !(s->is_string() && s->get<std::string>().empty()))
      return fail(std::string("model.") + key + " is not supported");
  }
  if (const json* bf = member(*model, "byte_fallback"); bf && bf->is_boolean() && bf->get<bool>())
    return fail("model.byte_fallback = true is not supported (that is a SentencePiece-style BPE)");

  const json* pre = member(doc, "pre_tokenizer");
  std::string ptype = type_of(pre);
  if (ptype != "ByteLevel")
    return fail("pre_tokenizer.type '" + (ptype.empty() ? std::string("(missing)") : ptype) +
                "' is not supported (only ByteLevel, GPT-2's regex)");
  if (const json* ur = member(*pre, "use_regex"); ur && ur->is_boolean() && !ur->get<bool>())
    return fail("pre_tokenizer ByteLevel with use_regex = false is not supported");
  if (const json* norm = member(doc, "normalizer"))
    return fail("normalizer '" + type_of(norm) + "' is not supported (expected null)");

  VocabData v;
  v.name = name;
  v.model = "gpt2";
  v.pre = "gpt-2";
  if (const json* ap = member(*pre, "add_prefix_space"); ap && ap->is_boolean()) v.add_space_prefix = ap->get<bool>();
  if (const json* im = member(*model, "ignore_merges"); im && im->is_boolean()) v.ignore_merges = im->get<bool>();

  // vocab: {"piece": id}; ids must cover 0..n-1 exactly once.
  const json* vocab = member(*model, "vocab");
  if (!vocab || !vocab->is_object() || vocab->empty()) return fail("model.vocab is missing or not a non-empty object");
  const size_t n = vocab->size();
  v.tokens.assign(n, std::string());
  std::vector<bool> seen(n, false);
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer()) return fail("model.vocab['" + it.key() + "'] is not an integer id");
    int64_t id = it.value().get<int64_t>();
    if (id < 0 || uint64_t(id) >= n || seen[size_t(id)])
      return fail(strfmt("model.vocab id %lld for '%s' is out of range 0..%zu or repeated", (long long)id,
                         it.key().c_str(), n - 1));
    seen[size_t(id)] = true;
    v.tokens[size_t(id)] = it.key();
  }
  v.types.assign(n, tok::kTypeNormal);

  // merges: ["a b", ...] (older files) or [["a", "b"], ...] (newer ones).
  const json* merges = member(*model, "merges");
  if (!merges || !merges->is_array()) return fail("model.merges is missing or not an array");
  for (size_t i = 0; i < merges->size(); ++i) {
    const json& m = (*merges)[i];
    if (m.is_string()) {
      v.merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      return fail(strfmt("model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", i));
    }
  }

  // added_tokens: special ones are control tokens (never produced from text
  // here, as parse_special is off) and may extend the vocabulary.
  if (const json* added = member(doc, "added_tokens")) {
    if (!added->is_array()) return fail("added_tokens is not an array");
    for (const json& t : *added) {
      const json* id = member(t, "id");
      const json* content = member(t, "content");
      if (!id || !id->is_number_integer() || !content || !content->is_string())
        return fail("an added_tokens entry lacks an integer id or a string content");
      int64_t i = id->get<int64_t>();
      if (i < 0 || i > int64_t(n) + 100000) return fail(strfmt("added token id %lld out of range", (long long)i));
      if (size_t(i) >= v.tokens.size()) {
        v.tokens.resize(size_t(i) + 1);
        v.types.resize(size_t(i) + 1, tok::kTypeUnused);
      }
      v.tokens[size_t(i)] = content->get<std::string>();
      const json* special = member(t, "special");
      v.types[size_t(i)] = special && special->is_boolean() && special->get<bool>() ? tok::kTypeControl
                                                                                     : tok::kTypeUserDefined;
    }
  }
  // BOS/EOS by the usual names (tokenizer.json does not say which is which).
  for (int32_t i = 0; i < int32_t(v.tokens.size()); ++i) {
    const std::string& t = v.tokens[size_t(i)];
    if (v.bos < 0 && (t == "<|endoftext|>" || t == "<s>" || t == "<|begin_of_text|>")) v.bos = i;
    if (v.eos < 0 && (t == "<|endoftext|>" || t == "</s>" || t == "<|end_of_text|>")) v.eos = i;
  }
  return make_byte_bpe_tokenizer(std::move(v));
}

}  // namespace nb
