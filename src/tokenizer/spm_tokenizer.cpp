// SentencePiece `tokenizer.model` through Debian's libsentencepiece. The
// library does the encoding (normalizer included); our own protobuf reader
// (spm_vocab.cpp) validates the file first and gives the piece types that
// decode() needs.
#include <sentencepiece_processor.h>

#include "tokenizer/from_bytes.h"
#include "tokenizer/piece_text.h"
#include "tokenizer/spm_vocab.h"
#include "tokenizer/vocab_data.h"
#include "core/log.h"

namespace nb {
namespace {

class SpmTokenizer final : public Tokenizer {
 public:
  SpmTokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp, SpmVocab vocab, std::string name)
      : sp_(std::move(sp)), v_(std::move(vocab)), name_(std::move(name)) {}

  std::string kind() const override { return "spm"; }
  int32_t n_vocab() const override { return int32_t(v_.pieces.size()); }
  int32_t bos() const override { return v_.bos_id; }
  int32_t eos() const override { return v_.eos_id; }

  std::vector<int32_t> encode(std::string_view text, bool add_bos) const override {
    std::vector<int32_t> out;
    if (add_bos && v_.bos_id >= 0) out.push_back(v_.bos_id);
    std::vector<int> ids;
    auto st = sp_->Encode(text, &ids);
    if (!st.ok()) {
      // Encode fails only on internal errors (a loaded model encodes any
      // bytes); the interface has no error channel, so say so and give none.
      NB_LOG_WARN("SentencePiece '%s': encode failed: %s", name_.c_str(), st.ToString().c_str());
      return out;
    }
    out.insert(out.end(), ids.begin(), ids.end());
    return out;
  }

  std::string decode(int32_t prev, int32_t id) const override {
    if (id < 0 || id >= n_vocab()) return std::string();
    if (v_.types[id] == tok::kTypeControl || v_.types[id] == tok::kTypeUnused) return std::string();
    // The leading space after BOS is the dummy prefix; only drop it when the
    // model adds one.
    bool after_bos = v_.add_dummy_prefix && prev >= 0 && prev == v_.bos_id;
    return tok::print_piece(tok::spaces_from_markers(v_.pieces[id]), after_bos);
  }

  Status export_vocab(VocabData* out) const override {
    VocabData v;
    v.name = name_;
    v.model = "llama";  // llama.cpp's SentencePiece-style tokenizer
    v.tokens = v_.pieces;
    v.scores = v_.scores;
    v.types = v_.types;
    v.bos = v_.bos_id;
    v.eos = v_.eos_id;
    v.unk = v_.unk_id;
    v.add_bos = v_.bos_id >= 0;
    v.add_space_prefix = v_.add_dummy_prefix;
    *out = std::move(v);
    return Status::Ok();
  }

  std::string piece(int32_t id) const override {
    return id >= 0 && id < n_vocab() ? v_.pieces[id] : std::string();
  }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  SpmVocab v_;
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> spm_tokenizer_from_bytes(std::string_view bytes, const std::string& name) {
  NB_ASSIGN_OR_RETURN(SpmVocab vocab, parse_spm_vocab(bytes, name));
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  // The library reports most problems as a status but throws from its trie
  // builder; either way the file is refused, never a crash.
  sentencepiece::util::Status st;
  try {
    st = sp->LoadFromSerializedProto(bytes);
  } catch (const std::exception& e) {
    return Status::Error("SentencePiece model '" + name + "': rejected by libsentencepiece: " + e.what());
  }
  if (!st.ok()) return Status::Error("SentencePiece model '" + name + "': " + st.ToString());
  if (sp->GetPieceSize() != int(vocab.pieces.size()))
    return Status::Error(strfmt("SentencePiece model '%s': library reports %d pieces, file holds %zu", name.c_str(),
                                sp->GetPieceSize(), vocab.pieces.size()));
  return std::unique_ptr<Tokenizer>(new SpmTokenizer(std::move(sp), std::move(vocab), name));
}

}  // namespace nb
