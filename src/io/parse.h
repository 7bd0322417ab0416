// Parsers over bytes already in memory. The open_* functions map a file and
// call these; tests and fuzzers call them directly on buffers. Tensor views
// in the result point into `data`, so the caller keeps it alive (open_* keep
// the MappedFile in ModelFile::maps). `name` is the file name used in messages.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "io/model_file.h"

namespace nb::io {

Result<ModelFile> parse_gguf(const uint8_t* data, size_t size, const std::string& name);
Result<ModelFile> parse_safetensors(const uint8_t* data, size_t size, const std::string& name);
Result<ModelFile> parse_llama2c(const uint8_t* data, size_t size, const std::string& name);
// bitllama2.c ternary checkpoints (see io/bitnet_c.h). parse_llama2c hands
// version-1 files over when their size is the ternary one.
Result<ModelFile> parse_bitnet_c(const uint8_t* data, size_t size, const std::string& name);
// The exact size of a bitllama2.c ternary checkpoint with the 256-byte
// header at `data`; 0 when `size` cannot hold that header or it is invalid.
uint64_t bitnet_c_expected_size(const uint8_t* data, size_t size);

using ParseFn = Result<ModelFile> (*)(const uint8_t* data, size_t size, const std::string& name);
// Run `parse` over a mapped file and keep the map alive in the result.
Result<ModelFile> parse_mapped(std::shared_ptr<MappedFile> map, ParseFn parse);

// Hugging Face config.json text -> "hf.*" metadata (see model_file.h).
Status flatten_hf_config(std::string_view json, const std::string& name, std::map<std::string, MetaValue>* meta);

// model.safetensors.index.json text -> its weight_map, in file order. Shard
// names are checked to be plain file names (no directories, no "..").
struct ShardEntry {
  std::string tensor, shard;
};
Result<std::vector<ShardEntry>> parse_hf_index(std::string_view json, const std::string& name);

}  // namespace nb::io
