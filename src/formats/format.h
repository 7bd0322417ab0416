// The format table: one row per weight/activation format, like ggml's
// type_traits. Adding a format means adding a row and its reference functions.
// The table is the oracle every SIMD kernel is tested against.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/status.h"
#include "core/tensor.h"

namespace nb::formats {

struct FormatTraits {
  FormatId id;
  const char* name;        // lower-case, as used on the command line: "q8_0"
  int32_t gguf_type;       // GGUF/ggml type id, or -1 when GGUF has none
  int64_t block_size;      // elements per block
  size_t block_bytes;      // bytes per block
  size_t row_overhead;     // extra bytes per row (I8_ROW's fp32 scale), else 0
  FormatId dot_type;       // the format activations are converted to for dot()
  // Reference decode of n elements (n a multiple of block_size).
  void (*to_float)(const void* src, float* dst, int64_t n);
  // Reference encode of n elements; nullptr where nibble cannot write the format.
  void (*from_float)(const float* src, void* dst, int64_t n);
  // Reference dot of n elements of a weight row with an activation row in dot_type.
  float (*dot)(const void* w, const void* a, int64_t n);
};

const FormatTraits& traits(FormatId id);
const FormatTraits* find_by_gguf_type(uint32_t gguf_type);  // nullptr if unknown
const FormatTraits* find_by_name(std::string_view name);     // case-insensitive

// Bytes of one row of n elements; n must be a multiple of block_size.
size_t row_bytes(FormatId id, int64_t n);
// Error naming `what` if n is not a whole number of blocks of `id`.
Status check_row(FormatId id, int64_t n, const char* what);

}  // namespace nb::formats
