// One linear layer's weights -> a quantized matrix in a format-table layout:
// the per-matrix step of `nibble quantize`, whatever the method. GPTQ formats:
// MXFP4 (OCP rule, llama.cpp's type 39), MXFP4_FPQ, NVFP4, INT4_G32/64/128.
//  - rtn: the format's own reference encoder, byte for byte what `nibble
//    convert` writes (any format with an encoder; NVFP4 with convert's own
//    tensor scale amax/2688, ignoring nvfp4_global_scale; its INT4 codes come
//    from the fp32 scale while the file holds the fp16 one: `deq` is the
//    file's decode).
//    With mse_scales: round-to-nearest with FP-Quant's frozen scales
//    (fpq_scales.h, MSE shrink search), as GPTQ would use them;
//  - gptq: INT4 formats: classic GPTQ (IST-DASLab: groups fitted on the fly,
//    gptq.h; with act_order the groups are fitted up front in the original
//    column order, as the file stores them), scales rounded to fp16 before any
//    code is computed with them. FP4 formats: FP-Quant's GPTQ (fpq_gptq.h);
//  - mr-gptq: FP-Quant's GPTQ for every format, with the options given
//    (MR-GPTQ = MSE scales + static act-order on rotated weights; the rotation
//    is the caller's: rotate_weights below, and rotated calibration inputs).
// Every method gives the same kinds of output: codes, group scales, the packed
// rows, the decoded weights and FP-Quant's relative error ε.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "quant/fpq_scales.h"
#include "quant/fpq_scales.h"  // nvfp4_global_scale
#include "quant/hessian.h"

namespace nb::quant {

enum class Method { Rtn, Gptq, MrGptq };
Result<Method> parse_method(const std::string& name);
const char* method_name(Method m);

struct LinearQuantizeOptions {
  FormatId format = FormatId::INT4_G128;
  Method method = Method::Gptq;
  bool act_order = false;        // static activation order (classic INT4 GPTQ: with static groups)
  bool mse_scales = false;       // FP-Quant's MSE shrink search of the frozen scales (not classic INT4 GPTQ)
  float nvfp4_global_scale = 0;  // g (encode multiplier) for GPTQ / MR-GPTQ; 0: from this matrix alone
  float percdamp = 0.01f;        // GPTQ damping, relative to mean(diag H)
};

struct QuantizedLinear {
  std::vector<uint8_t> packed;   // rows × row_bytes(format, cols)
  float tensor_scale = 1.0f;     // TensorView::scale for NVFP4 (fl(1/g)), else 1
  // What the packed rows decode to (formats' to_float, × tensor_scale): the
  // weights a model loaded from the file computes with.
  std::vector<float> deq;
  double rel_error = 0;          // FP-Quant's ε with the damped Hessian; 0 without one
  bool cholesky_failed = false;  // GPTQ fell back to plain rounding (U = I)
  // Details, for tests and reports:
  // (codes / scales / stored / perm are empty for the encoder RTN.)
  std::vector<uint8_t> codes;    // [rows, cols] 4-bit codes (FP4: 0x8 = −0 kept; packed rows hold 0x0)
  std::vector<float> scales;     // [rows, cols / group] decode scales
  std::vector<uint16_t> stored;  // [rows, cols / group] the file's scale fields (E8M0/E4M3 byte, fp16 bits)
  int64_t group_size = 0;
  std::vector<int32_t> perm;     // processing order
  float global_scale = 0;        // NVFP4's g
  // Entries where the quantizer's own dequantized value (code · scale in fp32,
  // what GPTQ fed back) differs from `deq`: NVFP4 rounds E4M3·fl(1/g) first,
  // the file multiplies by fl(1/g) last; MXFP4_FPQ's fl(2^e/3) vs a final ÷3.
  int64_t deq_rounding_differences = 0;
};

// w: [rows, cols] fp32 (y = x·Wᵀ). h: the layer Hessian [cols, cols] of its
// inputs, or null (RTN). With a HessianAccumulator the ordered, damped and
// factored Hessian is kept in it and reused by the next linear of the same
// input with the same act_order / percdamp (q/k/v, gate/up: one factorization).
Result<QuantizedLinear> quantize_linear(const float* w, int64_t rows, int64_t cols, const float* h,
                                        const LinearQuantizeOptions& opt, ThreadPool& pool);
Result<QuantizedLinear> quantize_linear(const float* w, int64_t rows, int64_t cols, const HessianAccumulator* h,
                                        const LinearQuantizeOptions& opt, ThreadPool& pool);

// MR-GPTQ's weight rotation: each k-chunk of each row times H_k (W·H_k, §7.2),
// in place. k: a power of two dividing cols.
Status rotate_weights(float* w, int64_t rows, int64_t cols, int64_t k, ThreadPool& pool);

}  // namespace nb::quant
