// One Llama decoder block, split at the four points where a linear layer's
// input is formed (attention input, attention output, FFN input, FFN hidden).
// The model runs the stages in order; the quantizer (quant/llama_quantizer)
// runs them stage by stage over all calibration windows, so each group of
// linears is quantized from inputs made by the already-quantized ones.
//
// At each of those points the input goes through the same transform the
// quantized weights expect: the online block Hadamard rotation of MR-GPTQ
// (weights stored as W·H_k), then the emulated activation quantization of W4A4.
#pragma once
#include <vector>

#include "core/thread_pool.h"
#include "models/llama_weights.h"

namespace nb {

// What happens to every linear layer's input before the matmul.
struct LinearInputTransform {
  int64_t hadamard_k = 0;             // 0: none; else x <- x·H_k per k-block
  FormatId act_type = FormatId::F32;  // F32: none; else fake-quantized (kernels/act_quant.h)
  bool bf16 = false;                  // then rounded to bf16 (the quantizer's bf16 calibration)
  void apply(float* x, int64_t T, int64_t width) const;
};

// Scratch of one block evaluation of T tokens; grown on demand.
struct LlamaScratch {
  std::vector<float> xb, q, att, hb, hb2, scores;
  void reserve(const LlamaConfig& c, int64_t T, int64_t n_ctx, int threads);
};

// The stages, over T tokens at positions pos0.. of one sequence. x is the
// residual stream [T, dim]; kc/vc this layer's cache rows (kv_dim per position).
// attn_input:  s.xb  = transform(rmsnorm(x))                         -> wq, wk, wv
// attn_core:   s.att = transform(attention(rope(wq·xb), rope(wk·xb), wv·xb)) -> wo
// attn_output: x    += wo·att
// ffn_input:   s.xb  = transform(rmsnorm(x))                         -> w_gate, w_up
// ffn_core:    s.hb  = transform(silu(w_gate·xb) * (w_up·xb))        -> w_down
// ffn_output:  x    += w_down·hb
void attn_input(const LlamaConfig& c, const LlamaLayer& L, const LinearInputTransform& tf, const float* x, int64_t T,
                LlamaScratch& s);
void attn_core(const LlamaConfig& c, const LlamaLayer& L, const LinearInputTransform& tf, int64_t T, int64_t pos0,
               float* kc, float* vc, LlamaScratch& s, ThreadPool& pool);
void attn_output(const LlamaConfig& c, const LlamaLayer& L, float* x, int64_t T, LlamaScratch& s, ThreadPool& pool);
void ffn_input(const LlamaConfig& c, const LlamaLayer& L, const LinearInputTransform& tf, const float* x, int64_t T,
               LlamaScratch& s);
void ffn_core(const LlamaConfig& c, const LlamaLayer& L, const LinearInputTransform& tf, int64_t T, LlamaScratch& s,
              ThreadPool& pool);
void ffn_output(const LlamaConfig& c, const LlamaLayer& L, float* x, int64_t T, LlamaScratch& s, ThreadPool& pool);

}  // namespace nb
