// Quantizer output -> the rows of a format-table format (layouts in
// formats/blocks.h): MXFP4 / MXFP4_FPQ (E8M0 byte + 16 split-half nibble
// bytes per 32), NVFP4 (E4M3 byte + 8 split-half bytes per 16; the tensor
// scale lives outside the rows), INT4_G32/64/128 (fp16 scale + Q4_0-style
// nibbles per 32). Codes 0x8 (−0) are written as 0x0, as nibble's and GGML's
// encoders do (§1.4): the decoded value is the same zero.
#pragma once
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace nb::quant {

// codes: [rows, cols] 4-bit codes; stored: [rows, cols / block] scale fields
// (E8M0 / E4M3 byte, or fp16 bits). Returns rows × row_bytes(format, cols).
Result<std::vector<uint8_t>> pack_rows(FormatId format, int64_t rows, int64_t cols, const uint8_t* codes,
                                       const uint16_t* stored);

}  // namespace nb::quant
