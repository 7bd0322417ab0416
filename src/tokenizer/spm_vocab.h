// The vocabulary and flags of a SentencePiece `tokenizer.model`, read
// directly from its protobuf (ModelProto) without libsentencepiece, so that
// `nibble convert` can embed it into GGUF as tokenizer.ggml.* keys the way
// llama.cpp's converter does, and so that hostile files are rejected with a
// clear message before the library sees them.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace nb {

struct SpmVocab {
  std::vector<std::string> pieces;  // as stored, U+2581 for a space
  std::vector<float> scores;
  // tok::TokenType numbers (piece_text.h): 1 normal, 2 unknown, 3 control,
  // 4 user-defined, 5 unused, 6 byte; SentencePiece and llama.cpp agree.
  std::vector<int32_t> types;

  // TrainerSpec
  int32_t model_type = 1;  // 1 unigram, 2 BPE, 3 word, 4 char
  bool byte_fallback = false;
  int32_t unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;  // -1: none

  // NormalizerSpec (defaults as SentencePiece's)
  std::string normalizer_name;
  bool add_dummy_prefix = true;          // GGUF tokenizer.ggml.add_space_prefix
  bool remove_extra_whitespaces = true;  // GGUF tokenizer.ggml.remove_extra_whitespaces
  bool escape_whitespaces = true;
};

// Parse a serialized ModelProto; `name` is used in error messages. Checks
// the wire format, the piece types and the special ids.
Result<SpmVocab> parse_spm_vocab(std::string_view bytes, const std::string& name);
// Read and parse a `tokenizer.model` file.
Result<SpmVocab> read_spm_vocab(const std::string& path);

}  // namespace nb
