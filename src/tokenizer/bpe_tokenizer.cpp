// Byte-level BPE (GPT-2): pre-tokenize, map each pre-token's bytes to the
// byte-level alphabet, then merge adjacent symbols lowest merge rank first
// (leftmost on ties) and look the results up in the vocabulary.
#include <unordered_map>

#include "tokenizer/byte_level.h"
#include "tokenizer/gpt2_pretokenizer.h"
#include "tokenizer/pair_merge.h"
#include "tokenizer/piece_text.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_data.h"

namespace nb {
namespace {

// Unambiguous key for a merge pair, whatever bytes the halves hold.
std::string pair_key(std::string_view l, std::string_view r) {
  std::string k = std::to_string(l.size());
  k += ':';
  k.append(l).append(r);
  return k;
}

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(VocabData v, std::unordered_map<std::string, int32_t> ranks)
      : v_(std::move(v)), ranks_(std::move(ranks)) {
    for (int32_t i = 0; i < n_vocab(); ++i) index_[v_.tokens[i]] = i;  // later duplicates win
  }

  std::string kind() const override { return "bpe"; }
  int32_t n_vocab() const override { return int32_t(v_.tokens.size()); }
  int32_t bos() const override { return v_.bos; }
  int32_t eos() const override { return v_.eos; }
  bool add_bos_default() const override { return v_.add_bos && v_.bos >= 0; }

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override {
    std::vector<int32_t> out;
    if (add_bos && v_.bos >= 0) out.push_back(v_.bos);
    std::string prefixed;
    if (v_.add_space_prefix && !text.empty() && text[0] != ' ') {
      prefixed.reserve(text.size() + 1);
      prefixed += ' ';
      prefixed.append(text);
      text = prefixed;
    }
    for (std::string_view word : tok::gpt2_pretokenize(text)) encode_word(word, out);
    return out;
  }

  std::string decode(int32_t prev, int32_t id) const override {
    if (id < 0 || id >= n_vocab()) return std::string();
    if (v_.types[id] == tok::kTypeControl || v_.types[id] == tok::kTypeUnused) return std::string();
    // No dummy prefix in byte-level BPE: a leading space after BOS is text.
    return tok::printable(tok::chars_to_bytes(v_.tokens[id]));
  }

  std::string piece(int32_t id) const override {
    return id >= 0 && id < n_vocab() ? v_.tokens[id] : std::string();
  }

  Status export_vocab(VocabData* out) const override {
    *out = v_;
    return Status::Ok();
  }

 private:
  int32_t find(const std::string& s) const {
    auto it = index_.find(s);
    return it == index_.end() ? -1 : it->second;
  }

  void encode_word(std::string_view word, std::vector<int32_t>& out) const {
    std::string mapped = tok::bytes_to_chars(word);
    if (v_.ignore_merges) {
      int32_t id = find(mapped);
      if (id >= 0) { out.push_back(id); return; }
    }
    std::vector<tok::Symbol> syms;
    for (size_t i = 0; i < mapped.size();) {
      uint32_t cp;
      size_t len = utf8::decode(mapped, i, &cp);
      syms.push_back({mapped.substr(i, len), -1});
      i += len;
    }
    auto merged = tok::merge_pairs(std::move(syms), [this](std::string_view l, std::string_view r, double* score,
                                                           int32_t* id) {
      auto it = ranks_.find(pair_key(l, r));
      if (it == ranks_.end()) return false;
      *score = -double(it->second);
      *id = -1;  // looked up after merging
      return true;
    });
    for (auto& sym : merged) {
      int32_t id = find(sym.text);
      if (id >= 0) { out.push_back(id); continue; }
      // Not in the vocabulary (a broken merge list): fall back to the
      // pieces of its single bytes, skipping those that have none.
      for (char c : sym.text) {
        int32_t b = find(std::string(1, c));
        if (b >= 0) out.push_back(b);
      }
    }
  }

  VocabData v_;
  std::unordered_map<std::string, int32_t> ranks_;
  std::unordered_map<std::string, int32_t> index_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> make_byte_bpe_tokenizer(VocabData v) {
  NB_TRY(validate_vocab(v));
  std::unordered_map<std::string, int32_t> ranks;
  for (size_t i = 0; i < v.merges.size(); ++i) {
    const std::string& m = v.merges[i];
    // Split at the first space after the first character, so a left half
    // may itself start with a space.
    size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (sp == std::string::npos)
      return Status::Error(strfmt("vocabulary '%s': merge %zu ('%s') is not \"left right\"", v.name.c_str(), i,
                                  m.c_str()));
    ranks.emplace(pair_key(std::string_view(m).substr(0, sp), std::string_view(m).substr(sp + 1)), int32_t(i));
  }
  return std::unique_ptr<Tokenizer>(new BpeTokenizer(std::move(v), std::move(ranks)));
}

}  // namespace nb
