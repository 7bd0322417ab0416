#include "eval/kld_file.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "eval/kld_codec.h"
#include "io/byte_reader.h"
#include "io/checked.h"

namespace nb::kld {
namespace {

// The magic as printable text for an error message.
std::string shown(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += (p[i] >= 0x20 && p[i] < 0x7f) ? std::string(1, char(p[i])) : strfmt("\\x%02x", p[i]);
  return s;
}

// Bytes of the records of n_chunk chunks with `per_chunk` scored positions
// each; false when the product does not fit in 64 bits.
bool records_bytes(uint64_t n_chunk, uint64_t per_chunk, uint64_t n_vocab, uint64_t* out) {
  uint64_t rec = uint64_t(record_words(int64_t(n_vocab))) * 2, chunk;
  return io::checked_mul(per_chunk, rec, &chunk) && io::checked_mul(n_chunk, chunk, out);
}

}  // namespace

std::vector<int32_t> BaseView::tokens() const {
  std::vector<int32_t> t(static_cast<size_t>(n_chunk * n_ctx));
  std::memcpy(t.data(), token_bytes, t.size() * sizeof(int32_t));
  return t;
}

Status BaseView::chunk_records(int64_t c, std::vector<uint16_t>& out) const {
  if (c < 0 || c >= n_chunk)
    return Status::Error(strfmt("%s: chunk %lld does not exist (the file holds %lld)", name.c_str(), (long long)c,
                                (long long)n_chunk));
  const int64_t words = record_words(n_vocab), n = per_chunk();
  out.resize(static_cast<size_t>(n * words));
  std::memcpy(out.data(), record_bytes + size_t(c) * size_t(n * words) * 2, out.size() * 2);
  for (int64_t j = 0; j < n; ++j) {
    const RecordHeader h = record_header(&out[size_t(j * words)]);
    if (!std::isfinite(h.scale) || h.scale < 0)
      return Status::Error(strfmt("%s: chunk %lld, scored token %lld: scale is %g (expected a finite number >= 0)",
                                  name.c_str(), (long long)c, (long long)j, double(h.scale)));
    if (!std::isfinite(h.min_log_prob) || h.min_log_prob > 0)
      return Status::Error(strfmt("%s: chunk %lld, scored token %lld: min_log_prob is %g (expected a finite log "
                                  "probability <= 0)",
                                  name.c_str(), (long long)c, (long long)j, double(h.min_log_prob)));
  }
  return Status::Ok();
}

Result<BaseView> parse_base(const uint8_t* data, size_t size, const std::string& name) {
  io::ByteReader r(data, size, name);
  BaseView v;
  v.name = name;
  if (size < sizeof kMagic) return r.truncated("the magic", sizeof kMagic);
  if (std::memcmp(data, kMagic, sizeof kMagic) != 0)
    return Status::Error(strfmt("%s: not a KL-divergence base file: magic is \"%s\", expected \"_logits_\"",
                                name.c_str(), shown(data, sizeof kMagic).c_str()));
  r.skip(sizeof kMagic);
  uint32_t n_ctx;
  int32_t n_vocab, n_chunk;
  if (!r.read(&n_ctx)) return r.truncated("n_ctx", 4);
  if (!r.read(&n_vocab)) return r.truncated("n_vocab", 4);
  if (!r.read(&n_chunk)) return r.truncated("n_chunk", 4);
  if (n_ctx < 2 || n_ctx > uint32_t(std::numeric_limits<int32_t>::max()))
    return Status::Error(strfmt("%s: n_ctx is %u, expected a context of 2 .. 2^31-1 tokens", name.c_str(), n_ctx));
  if (n_vocab < 1) return Status::Error(strfmt("%s: n_vocab is %d, expected >= 1", name.c_str(), n_vocab));
  if (n_chunk < 1) return Status::Error(strfmt("%s: n_chunk is %d, expected >= 1", name.c_str(), n_chunk));
  v.n_ctx = n_ctx, v.n_vocab = n_vocab, v.n_chunk = n_chunk;

  uint64_t n_tokens = uint64_t(n_ctx) * uint64_t(n_chunk);  // < 2^62: no overflow
  uint64_t token_bytes = n_tokens * 4;
  if (token_bytes > r.remaining())
    return Status::Error(strfmt("%s: file ends at byte %zu while reading the tokens: n_chunk %d x n_ctx %u tokens "
                                "need %llu bytes, %zu left",
                                name.c_str(), size, n_chunk, n_ctx, (unsigned long long)token_bytes, r.remaining()));
  v.token_bytes = data + r.pos();
  r.skip(token_bytes);
  for (uint64_t i = 0; i < n_tokens; ++i) {
    int32_t t;
    std::memcpy(&t, v.token_bytes + i * 4, 4);
    if (t < 0 || t >= n_vocab)
      return Status::Error(strfmt("%s: tokens[%llu] is %d, outside the vocabulary [0, %d)", name.c_str(),
                                  (unsigned long long)i, t, n_vocab));
  }

  // The records: llama.cpp's half-chunk count, or nibble's --score all count.
  uint64_t half = 0, all = 0;
  const bool half_fits = records_bytes(n_chunk, scored_per_chunk(n_ctx, false), n_vocab, &half);
  const bool all_fits = records_bytes(n_chunk, scored_per_chunk(n_ctx, true), n_vocab, &all);
  const uint64_t rest = r.remaining();
  if (half_fits && rest == half && half > 0) {
    v.score_all = false;
  } else if (all_fits && rest == all) {
    v.score_all = true;
  } else if (!half_fits) {
    return Status::Error(strfmt("%s: n_chunk %d x %lld scored tokens x n_vocab %d log-probabilities is too large for "
                                "any file",
                                name.c_str(), n_chunk, (long long)scored_per_chunk(n_ctx, false), n_vocab));
  } else {
    return Status::Error(strfmt("%s: %llu bytes of log-probabilities follow the tokens, expected %llu (n_chunk %d x "
                                "%lld scored tokens x %lld bytes, llama.cpp's half-chunk scoring)%s%s",
                                name.c_str(), (unsigned long long)rest, (unsigned long long)half, n_chunk,
                                (long long)scored_per_chunk(n_ctx, false), (long long)record_words(n_vocab) * 2,
                                all_fits ? strfmt(" or %llu (nibble --score all)", (unsigned long long)all).c_str() : "",
                                rest < half ? ": the file is truncated" : ""));
  }
  v.record_bytes = data + r.pos();
  return v;
}

Result<BaseFile> BaseFile::open(const std::string& path) {
  BaseFile f;
  NB_ASSIGN_OR_RETURN(f.map_, MappedFile::open(path));
  NB_ASSIGN_OR_RETURN(f.view_, parse_base(f.map_->data(), f.map_->size(), path));
  return f;
}

BaseWriter::~BaseWriter() {
  if (f_) {
    std::fclose(f_);
    std::remove((path_ + ".tmp").c_str());
  }
}

Status BaseWriter::write(const void* p, size_t bytes) {
  if (std::fwrite(p, 1, bytes, f_) != bytes) return Status::Error(path_ + ".tmp: write failed (disk full?)");
  return Status::Ok();
}

Status BaseWriter::open(const std::string& path, int64_t n_ctx, int64_t n_vocab, int64_t n_chunk, bool score_all,
                        const std::vector<int32_t>& tokens) {
  const int64_t i32_max = std::numeric_limits<int32_t>::max();
  if (n_ctx < 2 || n_ctx > i32_max || n_vocab < 1 || n_vocab > i32_max || n_chunk < 1 || n_chunk > i32_max)
    return Status::Error(strfmt("%s: n_ctx %lld, n_vocab %lld, n_chunk %lld do not fit the file's 32-bit fields",
                                path.c_str(), (long long)n_ctx, (long long)n_vocab, (long long)n_chunk));
  if (int64_t(tokens.size()) < n_ctx * n_chunk)
    return Status::Error(strfmt("%s: %zu tokens, fewer than %lld chunks of %lld", path.c_str(), tokens.size(),
                                (long long)n_chunk, (long long)n_ctx));
  path_ = path;
  n_ctx_ = n_ctx, n_vocab_ = n_vocab, n_chunk_ = n_chunk, score_all_ = score_all, written_ = 0;
  f_ = std::fopen((path + ".tmp").c_str(), "wb");
  if (!f_) return Status::Error(path + ".tmp: cannot open for writing");
  const uint32_t ctx32 = uint32_t(n_ctx);
  const int32_t vocab32 = int32_t(n_vocab), chunk32 = int32_t(n_chunk);
  NB_TRY(write(kMagic, sizeof kMagic));
  NB_TRY(write(&ctx32, 4));
  NB_TRY(write(&vocab32, 4));
  NB_TRY(write(&chunk32, 4));
  return write(tokens.data(), size_t(n_ctx * n_chunk) * sizeof(int32_t));
}

Status BaseWriter::append_chunk(const std::vector<uint16_t>& records) {
  const size_t expect = size_t(scored_per_chunk(n_ctx_, score_all_) * record_words(n_vocab_));
  if (!f_) return Status::Error("KL-divergence base writer: append before open");
  if (records.size() != expect || written_ >= n_chunk_)
    return Status::Error(strfmt("%s: chunk %lld has %zu record words, expected %zu (of %lld chunks)", path_.c_str(),
                                (long long)written_, records.size(), expect, (long long)n_chunk_));
  NB_TRY(write(records.data(), records.size() * sizeof(uint16_t)));
  ++written_;
  return Status::Ok();
}

Status BaseWriter::finish() {
  if (!f_) return Status::Error("KL-divergence base writer: finish before open");
  if (written_ != n_chunk_)
    return Status::Error(strfmt("%s: %lld of %lld chunks written", path_.c_str(), (long long)written_,
                                (long long)n_chunk_));
  const bool ok = std::fclose(f_) == 0;
  f_ = nullptr;
  if (!ok) return Status::Error(path_ + ".tmp: write failed (disk full?)");
  if (std::rename((path_ + ".tmp").c_str(), path_.c_str()) != 0)
    return Status::Error(path_ + ": cannot rename from " + path_ + ".tmp");
  return Status::Ok();
}

}  // namespace nb::kld
