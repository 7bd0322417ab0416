// llama.cpp's KL-divergence base file (`llama-perplexity --kl-divergence-base`,
// alias --save-all-logits), byte for byte, little-endian:
//
//   char     magic[8]   "_logits_"
//   uint32   n_ctx
//   int32    n_vocab
//   int32    n_chunk
//   int32    tokens[n_chunk * n_ctx]     the token stream, first tokens NOT replaced by BOS
//   uint16   records[n_chunk][S][record_words(n_vocab)]   (kld_codec.h)
//
// S is the number of scored positions per chunk: n_ctx - 1 - n_ctx/2 in
// llama.cpp's definition (positions n_ctx/2 .. n_ctx-2, each predicting its
// successor). nibble's `--score all` writes S = n_ctx - 1 (positions 0 ..
// n_ctx-2) in the same layout; llama.cpp cannot read those files (it would
// assume the half-chunk S), and nibble tells the two apart by the file size,
// which must match one of them exactly.
//
// The reader is a parser of untrusted input: every field is checked before
// use and errors name the file and the field.
#pragma once
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"

namespace nb::kld {

inline constexpr char kMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};
inline constexpr size_t kHeaderBytes = 8 + 3 * 4;

// First scored position of a chunk and the number scored.
inline int64_t first_scored(int64_t n_ctx, bool score_all) { return score_all ? 0 : n_ctx / 2; }
inline int64_t scored_per_chunk(int64_t n_ctx, bool score_all) { return n_ctx - 1 - first_scored(n_ctx, score_all); }

// A checked base file: views into bytes it does not own.
struct BaseView {
  std::string name;
  int64_t n_ctx = 0, n_vocab = 0, n_chunk = 0;
  bool score_all = false;  // records cover every position (nibble --score all)
  const uint8_t* token_bytes = nullptr;
  const uint8_t* record_bytes = nullptr;

  int64_t first() const { return first_scored(n_ctx, score_all); }
  int64_t per_chunk() const { return scored_per_chunk(n_ctx, score_all); }
  std::vector<int32_t> tokens() const;  // n_chunk * n_ctx
  // Copies chunk c's records (per_chunk() × record_words) into out and checks
  // that each header holds finite numbers (scale >= 0, min_log_prob <= 0).
  Status chunk_records(int64_t c, std::vector<uint16_t>& out) const;
};

// Checks header, sizes (overflow-safe) and every token id against n_vocab.
Result<BaseView> parse_base(const uint8_t* data, size_t size, const std::string& name);

// A base file mapped from disk.
class BaseFile {
 public:
  static Result<BaseFile> open(const std::string& path);
  const BaseView& view() const { return view_; }

 private:
  std::shared_ptr<MappedFile> map_;
  BaseView view_;
};

// Streams a base file: header and tokens at open, then the records of each
// chunk in order. Writes "<path>.tmp" and renames it in finish().
class BaseWriter {
 public:
  BaseWriter() = default;
  BaseWriter(const BaseWriter&) = delete;
  BaseWriter& operator=(const BaseWriter&) = delete;
  ~BaseWriter();
  // tokens: the first n_chunk * n_ctx tokens of the stream (at least that many).
  Status open(const std::string& path, int64_t n_ctx, int64_t n_vocab, int64_t n_chunk, bool score_all,
              const std::vector<int32_t>& tokens);
  // One chunk: per_chunk × record_words(n_vocab) words.
  Status append_chunk(const std::vector<uint16_t>& records);
  Status finish();
  bool score_all() const { return score_all_; }
  int64_t n_vocab() const { return n_vocab_; }

 private:
  Status write(const void* p, size_t bytes);
  std::string path_;
  std::FILE* f_ = nullptr;
  int64_t n_ctx_ = 0, n_vocab_ = 0, n_chunk_ = 0, written_ = 0;
  bool score_all_ = false;
};

}  // namespace nb::kld
