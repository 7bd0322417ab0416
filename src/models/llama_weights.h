// Plain structs of a Llama model's hyper-parameters and weights, and the
// loaders that fill them from each container (GGUF, Hugging Face, llama2.c).
// Matrices are views into the mapped file (zero-copy); norm vectors are
// converted to fp32 once.
#pragma once
#include <array>
#include <vector>

#include "core/buffer.h"
#include "core/tensor.h"
#include "io/model_file.h"
#include "kernels/ops.h"

namespace nb {

struct LlamaConfig {
  int64_t dim = 0;         // model width
  int64_t hidden_dim = 0;  // FFN width
  int64_t n_layers = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t rot_dim = 0;     // dims of each head that RoPE rotates
  int64_t vocab_size = 0;
  int64_t n_ctx_train = 0;
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  kernels::RopeStyle rope_style = kernels::RopeStyle::Interleaved;
  // MR-GPTQ's online rotation: the linear weights are stored as W·H_k, so every
  // linear input is multiplied by H_k per k-block at run time (0: none).
  // GGUF key nibble.hadamard_block_size.
  int64_t hadamard_k = 0;
};

struct LlamaLayer {
  const float* attn_norm = nullptr;  // [dim]
  TensorView wq, wk, wv, wo;         // [n_heads*head_dim, dim], [kv, dim], [kv, dim], [dim, n_heads*head_dim]
  const float* ffn_norm = nullptr;   // [dim]
  TensorView w_gate, w_up, w_down;   // [hidden, dim], [hidden, dim], [dim, hidden]
  // The seven linear matrices.
  std::array<TensorView*, 7> matrices() { return {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down}; }
  std::array<const TensorView*, 7> matrices() const { return {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down}; }
};

struct LlamaWeights {
  LlamaConfig cfg;
  TensorView tok_embd;               // [vocab, dim]
  std::vector<LlamaLayer> layers;
  const float* out_norm = nullptr;   // [dim]
  TensorView output;                 // [vocab, dim] (== tok_embd when tied)
  bool tied = false;
  std::vector<Buffer> owned;         // fp32 copies of norm vectors
};

Result<LlamaWeights> load_llama_weights(const io::ModelFile& mf);

// The linear matrices and the output head in the layout the active kernels
// would rather read (kernels::with_kernel_layout; the embedding stays as it
// is: it is read one row per token). A matrix that was all one of w.owned's
// buffers held (random weights) gives that buffer back, so the weights are
// held once, not twice.
void rearrange_for_kernels(LlamaWeights& w);

}  // namespace nb
