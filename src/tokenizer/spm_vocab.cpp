// A minimal protobuf wire-format reader, just enough for SentencePiece's
// ModelProto: field 1 = repeated SentencePiece {1 piece, 2 score, 3 type},
// field 2 = TrainerSpec {3 model_type, 35 byte_fallback, 40 unk_id,
// 41 bos_id, 42 eos_id, 43 pad_id}, field 3 = NormalizerSpec {1 name,
// 3 add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces}.
// Every other field is skipped by wire type.
#include "tokenizer/spm_vocab.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace nb {
namespace {

class Wire {
 public:
  explicit Wire(std::string_view b) : b_(b) {}
  bool done() const { return pos_ >= b_.size(); }
  size_t pos() const { return pos_; }

  bool varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) return false;
      uint8_t c = uint8_t(b_[pos_++]);
      *v |= uint64_t(c & 0x7F) << shift;
      if (!(c & 0x80)) return true;
    }
    return false;  // more than 10 bytes
  }
  bool bytes(std::string_view* out) {
    uint64_t n;
    if (!varint(&n) || n > b_.size() - pos_) return false;
    *out = b_.substr(pos_, size_t(n));
    pos_ += size_t(n);
    return true;
  }
  bool fixed32(uint32_t* v) {
    if (b_.size() - pos_ < 4) return false;
    std::memcpy(v, b_.data() + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool skip(uint32_t wire_type) {
    uint64_t v;
    std::string_view s;
    uint32_t f;
    switch (wire_type) {
      case 0: return varint(&v);
      case 1: if (b_.size() - pos_ < 8) return false; pos_ += 8; return true;
      case 2: return bytes(&s);
      case 5: return fixed32(&f);
      default: return false;  // groups (3, 4) are not used by ModelProto
    }
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

// Calls on_field(field, wire_type, wire) for each field; the callback
// consumes the value (or returns false to skip it generically).
template <class F>
Status walk(std::string_view msg, const std::string& where, F on_field) {
  Wire w(msg);
  while (!w.done()) {
    size_t at = w.pos();
    uint64_t key;
    if (!w.varint(&key)) return Status::Error(strfmt("%s: bad field key at byte %zu", where.c_str(), at));
    uint32_t field = uint32_t(key >> 3), type = uint32_t(key & 7);
    bool consumed = false;
    NB_TRY(on_field(field, type, w, &consumed));
    if (!consumed && !w.skip(type))
      return Status::Error(strfmt("%s: field %u (wire type %u) at byte %zu is truncated or malformed",
                                  where.c_str(), field, type, at));
  }
  return Status::Ok();
}

Status bad(const std::string& where, uint32_t field, const char* what) {
  return Status::Error(strfmt("%s: field %u: %s", where.c_str(), field, what));
}

Status read_piece(std::string_view msg, const std::string& where, SpmVocab& v) {
  std::string piece;
  float score = 0;
  int64_t type = 1;  // NORMAL is the proto default
  NB_TRY(walk(msg, where, [&](uint32_t f, uint32_t t, Wire& w, bool* used) -> Status {
    if (f == 1 && t == 2) {
      std::string_view s;
      if (!w.bytes(&s)) return bad(where, f, "truncated piece string");
      piece.assign(s);
      *used = true;
    } else if (f == 2 && t == 5) {
      uint32_t bits;
      if (!w.fixed32(&bits)) return bad(where, f, "truncated score");
      std::memcpy(&score, &bits, 4);
      *used = true;
    } else if (f == 3 && t == 0) {
      uint64_t x;
      if (!w.varint(&x)) return bad(where, f, "truncated type");
      type = int64_t(x);
      *used = true;
    }
    return Status::Ok();
  }));
  if (type < 1 || type > 6) return Status::Error(strfmt("%s: piece type %lld is not 1..6", where.c_str(), (long long)type));
  if (!std::isfinite(score)) return Status::Error(where + ": non-finite score");
  if (piece.empty()) return Status::Error(where + ": empty piece");
  // libsentencepiece's trie takes NUL-terminated keys and throws on a NUL
  // inside one (found by the spm_model fuzzer); no real vocabulary has one.
  if (piece.find('\0') != std::string::npos) return Status::Error(where + ": contains a NUL byte");
  v.pieces.push_back(std::move(piece));
  v.scores.push_back(score);
  v.types.push_back(int32_t(type));
  return Status::Ok();
}

Status read_trainer(std::string_view msg, const std::string& where, SpmVocab& v) {
  return walk(msg, where, [&](uint32_t f, uint32_t t, Wire& w, bool* used) -> Status {
    if (t != 0) return Status::Ok();
    uint64_t x;
    switch (f) {
      case 3: case 35: case 40: case 41: case 42: case 43: break;
      default: return Status::Ok();
    }
    if (!w.varint(&x)) return bad(where, f, "truncated varint");
    *used = true;
    int32_t i = int32_t(uint32_t(x));  // int32 fields: negative values are sign-extended
    if (f == 3) v.model_type = i;
    if (f == 35) v.byte_fallback = x != 0;
    if (f == 40) v.unk_id = i;
    if (f == 41) v.bos_id = i;
    if (f == 42) v.eos_id = i;
    if (f == 43) v.pad_id = i;
    return Status::Ok();
  });
}

Status read_normalizer(std::string_view msg, const std::string& where, SpmVocab& v) {
  return walk(msg, where, [&](uint32_t f, uint32_t t, Wire& w, bool* used) -> Status {
    if (f == 1 && t == 2) {
      std::string_view s;
      if (!w.bytes(&s)) return bad(where, f, "truncated name");
      v.normalizer_name.assign(s);
      *used = true;
    } else if ((f == 3 || f == 4 || f == 5) && t == 0) {
      uint64_t x;
      if (!w.varint(&x)) return bad(where, f, "truncated flag");
      (f == 3 ? v.add_dummy_prefix : f == 4 ? v.remove_extra_whitespaces : v.escape_whitespaces) = x != 0;
      *used = true;
    }
    return Status::Ok();
  });
}

}  // namespace

Result<SpmVocab> parse_spm_vocab(std::string_view bytes, const std::string& name) {
  const std::string where = "SentencePiece model '" + name + "'";
  SpmVocab v;
  Status st = walk(bytes, where, [&](uint32_t f, uint32_t t, Wire& w, bool* used) -> Status {
    if (t != 2 || f < 1 || f > 3) return Status::Ok();
    std::string_view sub;
    if (!w.bytes(&sub)) return bad(where, f, "truncated sub-message");
    *used = true;
    if (f == 1) return read_piece(sub, where + ": piece " + std::to_string(v.pieces.size()), v);
    if (f == 2) return read_trainer(sub, where + ": trainer_spec", v);
    return read_normalizer(sub, where + ": normalizer_spec", v);
  });
  if (!st.ok()) return st;
  const int32_t n = int32_t(v.pieces.size());
  if (n == 0) return Status::Error(where + ": no pieces (not a SentencePiece model, or an empty one)");
  auto check_id = [&](int32_t id, const char* what, int32_t want_type) -> Status {
    if (id == -1) return Status::Ok();
    if (id < 0 || id >= n) return Status::Error(strfmt("%s: %s %d outside the %d pieces", where.c_str(), what, id, n));
    if (want_type && v.types[id] != want_type)
      return Status::Error(strfmt("%s: %s %d has piece type %d, expected %d", where.c_str(), what, id, v.types[id], want_type));
    return Status::Ok();
  };
  NB_TRY(check_id(v.unk_id, "unk_id", 2));
  if (v.unk_id < 0) return Status::Error(where + ": unk_id must be set");
  NB_TRY(check_id(v.bos_id, "bos_id", 0));
  NB_TRY(check_id(v.eos_id, "eos_id", 0));
  NB_TRY(check_id(v.pad_id, "pad_id", 0));
  return v;
}

Result<SpmVocab> read_spm_vocab(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::Error("cannot open SentencePiece model '" + path + "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_spm_vocab(ss.str(), path);
}

}  // namespace nb
