// The format table: one row per weight/activation format, like ggml's
// type_traits. Adding a format means adding a row and its reference functions.
// The table is the oracle every SIMD kernel is tested against.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/status.h"
#include "core/tensor.h"

namespace nb::formats {

// How a block's scale field is stored, for the load-time check of file data.
enum class ScaleType : uint8_t { None, F16, E8M0, E4M3 };
struct ScaleField {
  ScaleType type = ScaleType::None;
  uint8_t offset = 0;  // byte offset within the block
};

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
  // Exact integer dot of a ternary row with I8_ROW codes (the I8_ROW row, scale
  // included); nullptr for other formats. matmul then applies
  // y = float(acc) * (a_scale * w_scale), the product of scales taken once.
  int32_t (*dot_i32)(const void* w, const void* a, int64_t n) = nullptr;
  // Rows whose length is not a multiple of block_size are padded with zero
  // weights to whole blocks (row_bytes rounds up). Only for nibble's formats.
  bool pads_rows = false;
  // One fp32 scale per tensor (TensorView::scale), outside the rows.
  bool tensor_scale = false;
  // A load-time layout (never in files): the same codes and scales as the
  // file format `rearranges`, placed within each row for SIMD loads.
  // rearrange converts one row of n elements of that format into this one,
  // exactly; for such formats every function above takes whole rows.
  FormatId rearranges = FormatId::kCount;
  void (*rearrange)(const void* src, void* dst, int64_t n) = nullptr;
  // The byte of a row of n elements that SIMD loads want on a 64-byte
  // boundary (kernels::with_kernel_layout places rows so); nullptr: byte 0.
  int64_t (*aligned_at)(int64_t n) = nullptr;
  // A file format's per-block scale fields (up to two). No encoder writes a
  // NaN or infinite one for finite weights, so one in a file is corruption:
  // first_bad_scale finds it at load.
  std::array<ScaleField, 2> scales{};
};

// GGUF type ids of nibble's own formats (T2, T1_6) come from a private range
// that llama.cpp does not use; `nibble inspect` lists them.
constexpr int32_t kPrivateGgufTypeBase = 1024;

const FormatTraits& traits(FormatId id);
const FormatTraits* find_by_gguf_type(uint32_t gguf_type);  // nullptr if unknown
const FormatTraits* find_by_name(std::string_view name);     // case-insensitive

// Bytes of one row of n elements; n must be a multiple of block_size unless
// the format pads rows.
size_t row_bytes(FormatId id, int64_t n);
// Elements of a row of n once padded to whole blocks (n if the format does not pad).
int64_t padded_cols(FormatId id, int64_t n);
// Index of the first of nblocks blocks of `id` at data whose scale field is
// NaN or infinite (E8M0 0xFF, E4M3 0x7F / 0xFF, fp16 exponent all ones), or
// -1 when there is none (or the format has no scale fields).
int64_t first_bad_scale(FormatId id, const void* data, int64_t nblocks);
// Error naming `what` if n is not a whole number of blocks of `id`.
Status check_row(FormatId id, int64_t n, const char* what);
// A 2-D weight view over rows×cols of format `id` stored row after row
// (row_bytes apart, or `row_stride` bytes when given); `scale` is the
// tensor scale of the formats that have one.
TensorView matrix_view(FormatId id, int64_t rows, int64_t cols, const void* data, float scale = 1.0f,
                       int64_t row_stride = 0);

}  // namespace nb::formats
