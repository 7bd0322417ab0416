// One interface for every tokenizer nibble reads.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace nb::io { class ModelFile; }

namespace nb {

struct VocabData;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string kind() const = 0;  // "llama2c", "spm", "gguf-llama", "bpe"
  virtual int32_t n_vocab() const = 0;
  virtual int32_t bos() const = 0;  // -1 if none
  virtual int32_t eos() const = 0;  // -1 if none
  // Whether a BOS is added to prompts by default (llama.cpp's add_bos_token).
  virtual bool add_bos_default() const { return bos() >= 0; }

  // Text (valid UTF-8) -> ids. With add_bos, BOS is prepended. Special-token
  // text such as "<s>" is not parsed (llama.cpp's parse_special = false).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_bos) const = 0;

  // The bytes to print for `id` following `prev` (-1 at the start): byte pieces
  // become raw bytes, the space marker becomes ' ', the leading space of the
  // first piece after BOS is dropped, control tokens print nothing.
  virtual std::string decode(int32_t prev, int32_t id) const = 0;

  // The stored piece of `id`, for display (`nibble tokenize`).
  virtual std::string piece(int32_t id) const = 0;

  // The vocabulary as GGUF's tokenizer.ggml.* keys describe it, for writing
  // GGUF files (`nibble convert`). Error where a kind cannot be expressed.
  virtual Status export_vocab(VocabData* out) const;
};

// Load from a file: llama2.c `tokenizer.bin`, SentencePiece `tokenizer.model`,
// Hugging Face `tokenizer.json`, or a GGUF file's embedded vocabulary.
Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::string& path);
// The vocabulary embedded in a GGUF ModelFile (tokenizer.ggml.*).
Result<std::unique_ptr<Tokenizer>> tokenizer_from_gguf(const io::ModelFile& mf);
// The tokenizer next to a model: GGUF-embedded, or tokenizer.model /
// tokenizer.json in a Hugging Face folder. Error if none is found.
Result<std::unique_ptr<Tokenizer>> tokenizer_for_model(const io::ModelFile& mf);

// Validate UTF-8; the error says the byte offset of the first bad sequence.
Status check_utf8(std::string_view text, const char* what);

}  // namespace nb
