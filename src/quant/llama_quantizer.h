// `nibble quantize` for Llama models: sequential, layer-by-layer GPTQ /
// MR-GPTQ / RTN (design/fp4-and-gptq.md §6.4, §7.6).
//
// Calibration windows go through the model one decoder block at a time. Inside
// a block the linears are quantized in the order their inputs appear
// (GPTQ's --true-sequential groups [q, k, v] -> [o] -> [gate, up] -> [down]):
// each group's Hessian comes from inputs computed with the already-quantized
// weights before it, in this block and all earlier ones, so one pass over the
// calibration data per block suffices. (FP-Quant instead gathers all seven
// Hessians of a block from one full-precision pass; the true-sequential order
// sees the errors of the earlier groups and costs no second pass.)
// With MR-GPTQ every linear's weights are rotated (W·H_k) and its inputs are
// rotated online, before the Hessian is taken, exactly as at inference.
//
// Calibration precision: `bf16` (the default) runs the calibration pass as a
// bf16 PyTorch model does — weights and every linear's input rounded to bf16,
// products summed in fp32 (on the AMX tile unit where the CPU has one) — and
// the Hessians from those bf16 inputs. `f32` keeps everything in fp32 with the
// reference's own Hessian summation order (hessian.h), several times slower.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "io/model_file.h"
#include "models/llama_weights.h"
#include "quant/linear_quantizer.h"

namespace nb::quant {


struct LlamaQuantizeOptions {
  FormatId type = FormatId::INT4_G128;
  Method method = Method::Gptq;
  int64_t hadamard_k = -1;    // -1: MR-GPTQ's default (the format's block size), else none; 0: none
  int act_order = -1;         // -1: on for MR-GPTQ only; 0/1 forced
  int scale_search = -1;      // MSE shrink search of the frozen scales; -1: on for MR-GPTQ only
  int64_t calib_ctx = 512;    // tokens per calibration window
  int64_t calib_windows = 128;
  uint64_t seed = 0;          // picks the calibration windows
  bool calib_bf16 = true;     // calibration precision (above)
};

struct LayerReport {
  std::string name;        // GGUF-style tensor name, e.g. blk.3.attn_q.weight
  int64_t rows = 0, cols = 0;
  double rel_error = 0;    // FP-Quant's ε = Σ ΔHΔᵀ / Σ WHWᵀ (0 for RTN without a Hessian)
  bool cholesky_failed = false;
  double seconds = 0;
};

// The calibration windows: `n` windows of `ctx` tokens at deterministic
// pseudo-random offsets (seeded) of `tokens`; all non-overlapping windows,
// in order, when the stream is too short for n random ones to make sense.
std::vector<std::vector<int32_t>> calibration_windows(const std::vector<int32_t>& tokens, int64_t n, int64_t ctx,
                                                      uint64_t seed);

// Quantizes every linear of every decoder block of the model in `in`; the
// embedding, output head and norms are returned unchanged (the GGUF writer
// converts the head to its type). `out.owned` holds all new buffers.
// on_layer is called once per quantized matrix.
Result<LlamaWeights> quantize_llama(const io::ModelFile& in, const std::vector<std::vector<int32_t>>& windows,
                                    const LlamaQuantizeOptions& opt, ThreadPool& pool,
                                    const std::function<void(const LayerReport&)>& on_layer);

}  // namespace nb::quant
