// The SentencePiece-style tokenizer llama.cpp runs on a GGUF "llama" vocab:
// spaces become U+2581, a dummy-prefix space is added to non-empty text,
// the text is split into UTF-8 characters, adjacent pairs whose
// concatenation is a token merge best-score-first (leftmost on ties), and a
// leftover symbol that is no token becomes its byte tokens <0xHH>. No
// normalization (so "has  two" keeps both spaces, unlike libsentencepiece
// with remove_extra_whitespaces).
#include <unordered_map>

#include "tokenizer/pair_merge.h"
#include "tokenizer/piece_text.h"
#include "tokenizer/utf8.h"
#include "tokenizer/vocab_data.h"

namespace nb {
namespace {

class LlamaSpmTokenizer final : public Tokenizer {
 public:
  explicit LlamaSpmTokenizer(VocabData v) : v_(std::move(v)) {
    // Later duplicates win, as in llama.cpp's token_to_id table.
    for (int32_t i = 0; i < n_vocab(); ++i) index_[v_.tokens[i]] = i;
    for (int b = 0; b < 256; ++b) byte_ids_[b] = byte_token(uint8_t(b));
  }

  std::string kind() const override { return "gguf-llama"; }
  int32_t n_vocab() const override { return int32_t(v_.tokens.size()); }
  int32_t bos() const override { return v_.bos; }
  int32_t eos() const override { return v_.eos; }
  bool add_bos_default() const override { return v_.add_bos && v_.bos >= 0; }

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override {
    std::vector<int32_t> out;
    if (add_bos && v_.bos >= 0) out.push_back(v_.bos);
    if (text.empty()) return out;
    std::string raw;
    raw.reserve(text.size() + 1);
    if (v_.add_space_prefix) raw += ' ';
    raw.append(text);
    std::string s = tok::markers_from_spaces(raw);

    std::vector<tok::Symbol> syms;
    for (size_t i = 0; i < s.size();) {
      size_t len = std::min(s.size() - i, utf8::lead_len(uint8_t(s[i])));
      syms.push_back({s.substr(i, len), -1});
      i += len;
    }
    auto merged = tok::merge_pairs(std::move(syms), [this](std::string_view l, std::string_view r, double* score,
                                                           int32_t* id) {
      int32_t t = find(std::string(l) + std::string(r));
      if (t < 0) return false;
      *score = v_.scores[t];
      *id = t;
      return true;
    });
    for (auto& sym : merged) {
      int32_t id = sym.id >= 0 ? sym.id : find(sym.text);
      if (id >= 0) {
        out.push_back(id);
        continue;
      }
      for (char c : sym.text) {
        int32_t b = byte_ids_[uint8_t(c)];
        if (b >= 0) out.push_back(b);
      }
    }
    return out;
  }

  std::string decode(int32_t prev, int32_t id) const override {
    if (id < 0 || id >= n_vocab()) return std::string();
    const std::string& p = v_.tokens[id];
    switch (v_.types[id]) {
      case tok::kTypeControl:
      case tok::kTypeUnused:
        return std::string();
      case tok::kTypeByte: {
        int b = tok::parse_byte_piece(p);
        return b >= 0 ? tok::printable(std::string(1, char(b))) : std::string();
      }
      default: {
        bool after_bos = v_.add_space_prefix && prev >= 0 && prev == v_.bos;
        return tok::print_piece(tok::spaces_from_markers(p), after_bos);
      }
    }
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
  // The byte token for b: "<0xHH>", else the one-byte piece, else <unk>.
  int32_t byte_token(uint8_t b) const {
    int32_t id = find(strfmt("<0x%02X>", b));
    if (id < 0) id = find(std::string(1, char(b)));
    return id >= 0 ? id : v_.unk;
  }

  VocabData v_;
  std::unordered_map<std::string, int32_t> index_;
  int32_t byte_ids_[256];
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> make_llama_spm_tokenizer(VocabData v) {
  NB_TRY(validate_vocab(v));
  return std::unique_ptr<Tokenizer>(new LlamaSpmTokenizer(std::move(v)));
}

}  // namespace nb
