// Tokenizer parsers that work on bytes in memory. load_tokenizer() reads the
// file and calls these; the fuzz targets call them directly. `name` is the
// file name used in error messages.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"

namespace nb {

// llama2.c `tokenizer.bin`.
Result<std::unique_ptr<Tokenizer>> llama2c_tokenizer_from_bytes(std::string_view bytes, const std::string& name);
// SentencePiece `tokenizer.model` (serialized ModelProto), via libsentencepiece.
Result<std::unique_ptr<Tokenizer>> spm_tokenizer_from_bytes(std::string_view bytes, const std::string& name);
// Hugging Face `tokenizer.json` (model.type BPE with a ByteLevel pre-tokenizer).
Result<std::unique_ptr<Tokenizer>> hf_tokenizer_from_json(std::string_view bytes, const std::string& name);

}  // namespace nb
