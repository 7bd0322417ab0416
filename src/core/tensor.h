// Non-owning tensor views. Shapes are written outermost first, like numpy:
// a weight matrix with `rows` outputs of `cols` inputs has shape {rows, cols}.
// (GGUF lists dimensions innermost first; io/ reverses them on load.)
// Strides are in bytes. Quantized formats are addressed by rows: a row of
// `cols` elements takes formats::row_bytes(format, cols) bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace nb {

// Identifier of a weight/activation format. The meaning of each id (block
// size, bytes, reference codecs) lives only in the formats/ table.
enum class FormatId : uint16_t {
  F32 = 0,
  F16,
  BF16,
  Q8_0,
  Q4_0,
  Q4_K,
  Q5_K,
  Q6_K,
  Q8_K,    // activation format for K-quant dots (llama.cpp's block_q8_K)
  I8_ROW,  // int8 values with one fp32 scale per row (per-token activations)
  TQ1_0,   // llama.cpp ternary, 1.6875 bits per weight, fp16 scale per 256
  TQ2_0,   // llama.cpp ternary, 2.0625 bits per weight, fp16 scale per 256
  T2,      // nibble ternary, 2 bits per weight, one fp32 scale per tensor
  T1_6,    // nibble ternary, 1.6 bits per weight (5 trits per byte), one fp32 scale per tensor
  MXFP4,      // OCP MXFP4 (E2M1 x E8M0 per 32), llama.cpp's GGUF type 39 layout, 4.25 bits per weight
  MXFP4_FPQ,  // MXFP4 with FP-Quant's scale rule: the E8M0 scale means 2^E / 3, 4.25 bits per weight
  NVFP4,      // E2M1 x E4M3 per 16, one fp32 scale per tensor, 4.5 bits per weight
  INT4_G32,   // symmetric int4, fp16 scale per 32, 4.5 bits per weight
  INT4_G64,   // symmetric int4, fp16 scale per 64, 4.25 bits per weight
  INT4_G128,  // symmetric int4, fp16 scale per 128, 4.125 bits per weight
  Q8_0R,      // Q8_0 rearranged at load for the AVX-512 kernels (formats/q8_0.cpp), never in files
  TQ2_0R,     // TQ2_0 rearranged at load for the AVX-512 kernels (formats/ternary.cpp), never in files
  MXFP4R,      // the 4-bit formats rearranged at load for the AVX-512 kernels (formats/w4r.cpp), never in files
  MXFP4_FPQR,
  NVFP4R,
  INT4_G32R,
  INT4_G64R,
  Q4_KR,  // the K-quants rearranged at load for the AVX-512 kernels (formats/kquants.cpp), never in files
  Q5_KR,
  Q6_KR,
  kCount
};

constexpr int kMaxDims = 4;

struct TensorView {
  FormatId format = FormatId::F32;
  int ndim = 0;
  int64_t shape[kMaxDims] = {0, 0, 0, 0};
  int64_t stride[kMaxDims] = {0, 0, 0, 0};  // bytes; stride[ndim-1] unused for blocked formats
  void* data = nullptr;
  // Per-tensor dequantization factor of formats that have one (T2, T1_6, NVFP4): the
  // stored codes times `scale` are the weights. 1 for every other format.
  float scale = 1.0f;

  int64_t rows() const { return ndim <= 1 ? 1 : shape[0]; }  // for 2-D weights
  int64_t cols() const { return ndim == 0 ? 1 : shape[ndim - 1]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  template <class T = void>
  T* row(int64_t r) const { return reinterpret_cast<T*>(static_cast<char*>(data) + r * stride[0]); }
};

std::string shape_string(const TensorView& t);  // "[rows, cols]"

}  // namespace nb
