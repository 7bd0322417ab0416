// llama2.c `tokenizer.bin`: int32 max_token_length, then per id a float32
// score, an int32 byte length and that many bytes (no NUL). The vocabulary
// size is not stored; it is however many records the file holds. Encoding
// follows run.c's encode(); decoding follows its decode() + safe_printf().
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "tokenizer/from_bytes.h"
#include "tokenizer/pair_merge.h"
#include "tokenizer/piece_text.h"
#include "tokenizer/vocab_data.h"

namespace nb {
namespace {

// run.c starts its best-score search at -1e10 with a strict '>', so a pair
// whose token scores -1e10 or less never merges.
constexpr double kMinMergeScore = -1e10;
constexpr int32_t kBos = 1, kEos = 2;    // fixed in run.c
constexpr int32_t kFirstByteToken = 3;  // byte b is id b + 3 in run.c

class Llama2cTokenizer final : public Tokenizer {
 public:
  Llama2cTokenizer(std::vector<std::string> pieces, std::vector<float> scores)
      : pieces_(std::move(pieces)), scores_(std::move(scores)) {
    // Pieces are unique in real files; if not, keep the first, like a
    // lookup table built in id order.
    for (int32_t i = 0; i < n_vocab(); ++i) index_.emplace(pieces_[i], i);
  }

  // As llama.cpp's llama2.c converter maps it: <unk>, <s>, </s> for ids 0-2,
  // <0xHH> pieces as byte tokens, and ' ' back to U+2581 elsewhere.
  Status export_vocab(VocabData* out) const override {
    VocabData v;
    v.model = "llama";
    v.bos = kBos;
    v.eos = kEos;
    v.unk = 0;
    v.add_bos = true;
    v.add_space_prefix = true;
    v.scores = scores_;
    for (int32_t i = 0; i < n_vocab(); ++i) {
      if (i == 0 || i == kBos || i == kEos) {
        v.tokens.push_back(i == 0 ? "<unk>" : i == kBos ? "<s>" : "</s>");
        v.types.push_back(i == 0 ? tok::kTypeUnknown : tok::kTypeControl);
      } else if (tok::parse_byte_piece(pieces_[size_t(i)]) >= 0) {
        v.tokens.push_back(pieces_[size_t(i)]);
        v.types.push_back(tok::kTypeByte);
      } else {
        v.tokens.push_back(tok::markers_from_spaces(pieces_[size_t(i)]));
        v.types.push_back(tok::kTypeNormal);
      }
    }
    *out = std::move(v);
    return Status::Ok();
  }

  std::string kind() const override { return "llama2c"; }
  int32_t n_vocab() const override { return static_cast<int32_t>(pieces_.size()); }
  int32_t bos() const override { return kBos; }
  int32_t eos() const override { return kEos; }

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override {
    std::vector<int32_t> out;
    if (add_bos) out.push_back(kBos);
    std::vector<tok::Symbol> syms;
    // run.c adds the id of " " as a dummy prefix to any non-empty text.
    if (!text.empty()) push_symbol(syms, " ");
    // Group one lead byte with at most three continuation bytes (run.c's
    // rule, applied to any bytes, valid UTF-8 or not); look the group up,
    // else emit its bytes as byte tokens.
    size_t i = 0;
    while (i < text.size()) {
      size_t j = i + 1;
      while (j < text.size() && j - i < 4 && (uint8_t(text[j]) & 0xC0) == 0x80) ++j;
      push_symbol(syms, text.substr(i, j - i));
      i = j;
    }
    auto merged = tok::merge_pairs(std::move(syms), [this](std::string_view l, std::string_view r, double* score,
                                                           int32_t* id) {
      std::string joined;
      joined.reserve(l.size() + r.size());
      joined.append(l).append(r);
      auto it = index_.find(joined);
      if (it == index_.end() || scores_[it->second] <= kMinMergeScore) return false;
      *score = scores_[it->second];
      *id = it->second;
      return true;
    });
    for (auto& s : merged) out.push_back(s.id);
    return out;
  }

  std::string decode(int32_t prev, int32_t id) const override {
    if (id < 0 || id >= n_vocab() || id == kBos || id == kEos) return std::string();
    return tok::print_piece(pieces_[id], prev == kBos);
  }

  std::string piece(int32_t id) const override {
    return id >= 0 && id < n_vocab() ? pieces_[id] : std::string();
  }

 private:
  // A known piece becomes its token; anything else its byte tokens, whose
  // text is their stored piece ("<0xHH>") as in run.c's merge loop.
  void push_symbol(std::vector<tok::Symbol>& syms, std::string_view s) const {
    auto it = index_.find(std::string(s));
    if (it != index_.end()) {
      syms.push_back({it->first, it->second});
      return;
    }
    for (char c : s) {
      int32_t id = kFirstByteToken + uint8_t(c);
      syms.push_back({pieces_[id], id});
    }
  }

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> index_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> llama2c_tokenizer_from_bytes(std::string_view bytes, const std::string& name) {
  auto fail = [&](const std::string& what) {
    return Status::Error("llama2.c tokenizer '" + name + "': " + what);
  };
  auto read_i32 = [&](size_t off) {
    int32_t v;
    std::memcpy(&v, bytes.data() + off, 4);
    return v;
  };
  if (bytes.size() < 4)
    return fail(strfmt("file is %zu bytes, too short for the 4-byte max_token_length header", bytes.size()));
  const int32_t max_len = read_i32(0);
  if (max_len <= 0) return fail(strfmt("max_token_length is %d, expected > 0", max_len));

  std::vector<std::string> pieces;
  std::vector<float> scores;
  size_t off = 4;
  while (off < bytes.size()) {
    const size_t id = pieces.size();
    if (bytes.size() - off < 8)
      return fail(strfmt("truncated: record of id %zu starts at byte %zu but only %zu bytes remain (need 8 for "
                         "score and length)", id, off, bytes.size() - off));
    float score;
    std::memcpy(&score, bytes.data() + off, 4);
    const int32_t len = read_i32(off + 4);
    off += 8;
    if (!std::isfinite(score)) return fail(strfmt("id %zu has a non-finite score", id));
    if (len < 0 || len > max_len)
      return fail(strfmt("id %zu has length %d, expected 0..max_token_length (%d)", id, len, max_len));
    if (bytes.size() - off < size_t(len))
      return fail(strfmt("truncated: id %zu needs %d bytes at offset %zu, file has %zu", id, len, off,
                         bytes.size()));
    pieces.emplace_back(bytes.substr(off, size_t(len)));
    scores.push_back(score);
    off += size_t(len);
  }
  // run.c's encoder turns unknown bytes into ids 3..258 unconditionally, so
  // a usable file must hold <unk>, BOS, EOS and the 256 byte pieces there.
  if (pieces.size() < size_t(kFirstByteToken) + 256)
    return fail(strfmt("holds %zu tokens; expected at least 259 (<unk>, BOS, EOS, 256 byte tokens)",
                       pieces.size()));
  for (int b = 0; b < 256; ++b) {
    if (tok::parse_byte_piece(pieces[kFirstByteToken + b]) != b)
      return fail(strfmt("id %d is '%s', expected the byte token <0x%02X>", kFirstByteToken + b,
                         pieces[kFirstByteToken + b].c_str(), b));
  }
  return std::unique_ptr<Tokenizer>(new Llama2cTokenizer(std::move(pieces), std::move(scores)));
}

}  // namespace nb
