// A vocabulary as llama.cpp's GGUF keys describe it (tokenizer.ggml.*), and
// the tokenizers built from one. tokenizer_from_gguf() and the tokenizer.json
// reader fill it; tests build small ones by hand.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/model_file.h"
#include "tokenizer/tokenizer.h"

namespace nb {

struct VocabData {
  std::string name;                 // file name, for messages
  std::string model;                // tokenizer.ggml.model: "llama" (SentencePiece-style) or "gpt2"
  std::string pre;                  // tokenizer.ggml.pre (gpt2 pre-tokenizer name)
  std::vector<std::string> tokens;  // pieces as stored (U+2581 / byte-level chars)
  std::vector<float> scores;        // empty: all 0
  std::vector<int32_t> types;       // tok::TokenType numbers; empty: all normal
  std::vector<std::string> merges;  // BPE merges "left right", rank = index
  int32_t bos = -1, eos = -1, unk = -1;  // -1: none
  bool add_bos = false;
  bool add_space_prefix = false;  // SPM dummy prefix; ByteLevel add_prefix_space
  bool ignore_merges = false;     // BPE: a whole pre-token in the vocab is one token
};

// llama.cpp's SentencePiece-style tokenizer (tokenizer.ggml.model "llama").
Result<std::unique_ptr<Tokenizer>> make_llama_spm_tokenizer(VocabData v);
// Byte-level BPE with the GPT-2 pre-tokenizer (tokenizer.ggml.model "gpt2",
// tokenizer.json BPE + ByteLevel).
Result<std::unique_ptr<Tokenizer>> make_byte_bpe_tokenizer(VocabData v);

// Shared checks: array lengths agree, special ids in range, types valid.
Status validate_vocab(VocabData& v);

// The tokenizer.ggml.* keys llama.cpp reads, for a GGUF writer.
std::vector<std::pair<std::string, io::MetaValue>> gguf_vocab_keys(const VocabData& v);

}  // namespace nb
