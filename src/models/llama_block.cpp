#include "models/llama_block.h"

#include <algorithm>

#include "kernels/act_quant.h"
#include "kernels/bf16_gemm.h"
#include "kernels/hadamard.h"
#include "kernels/ops.h"

namespace nb {

using kernels::matmul;

// Llama models are held to fp32 accuracy against their references, not to
// prefill equal to decode bit for bit: prefill may take the tile unit.
constexpr kernels::FloatSums kAnyOrder = kernels::FloatSums::AnyOrder;

void LinearInputTransform::apply(float* x, int64_t T, int64_t width) const {
  if (hadamard_k > 0) kernels::hadamard_rows(x, T, width, hadamard_k);
  kernels::fake_quantize_rows(act_type, x, T, width);
  if (bf16) kernels::round_bf16_rows(x, T * width);
}

void LlamaScratch::reserve(const LlamaConfig& c, int64_t T, int64_t n_ctx, int threads) {
  const int64_t q_dim = c.n_heads * c.head_dim;
  auto grow = [](std::vector<float>& v, int64_t n) {
    if (int64_t(v.size()) < n) v.resize(size_t(n));
  };
  grow(xb, T * std::max(c.dim, q_dim));
  grow(q, T * q_dim);
  grow(att, T * q_dim);
  grow(hb, T * c.hidden_dim);
  grow(hb2, T * c.hidden_dim);
  grow(scores, int64_t(threads) * n_ctx);
}

void attn_input(const LlamaConfig& c, const LlamaLayer& L, const LinearInputTransform& tf, const float* x, int64_t T,
                LlamaScratch& s) {
  const int64_t D = c.dim;
  for (int64_t t = 0; t < T; ++t) kernels::rmsnorm(&s.xb[size_t(t * D)], &x[t * D], L.attn_norm, D, c.norm_eps);
  tf.apply(s.xb.data(), T, D);
}

void attn_core(const LlamaConfig& c, const LlamaLayer& L, const LinearInputTransform& tf, int64_t T, int64_t pos0,
               float* kc, float* vc, LlamaScratch& s, ThreadPool& pool) {
  const int64_t D = c.dim, q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  // k and v go straight into the cache
  const kernels::MatmulOut qkv[] = {
      {&L.wq, s.q.data(), q_dim}, {&L.wk, kc + pos0 * kv_dim, kv_dim}, {&L.wv, vc + pos0 * kv_dim, kv_dim}};
  kernels::matmul_group(qkv, s.xb.data(), D, T, pool, kAnyOrder);
  for (int64_t t = 0; t < T; ++t) {
    kernels::rope(&s.q[size_t(t * q_dim)], c.n_heads, c.head_dim, c.rot_dim, pos0 + t, c.rope_theta, c.rope_style);
    kernels::rope(kc + (pos0 + t) * kv_dim, c.n_kv_heads, c.head_dim, c.rot_dim, pos0 + t, c.rope_theta, c.rope_style);
  }
  // causal: token t attends to positions 0..pos0+t
  kernels::attention_causal(s.att.data(), s.q.data(), q_dim, kc, vc, c.n_heads, c.n_kv_heads, c.head_dim, pos0, T,
                            kv_dim, s.scores.data(), pool);
  tf.apply(s.att.data(), T, q_dim);
}

void attn_output(const LlamaConfig& c, const LlamaLayer& L, float* x, int64_t T, LlamaScratch& s, ThreadPool& pool) {
  const int64_t D = c.dim;
  matmul(L.wo, s.att.data(), c.n_heads * c.head_dim, T, s.xb.data(), D, pool, kAnyOrder);
  for (int64_t i = 0; i < T * D; ++i) x[i] += s.xb[size_t(i)];  // residual
}

void ffn_input(const LlamaConfig& c, const LlamaLayer& L, const LinearInputTransform& tf, const float* x, int64_t T,
               LlamaScratch& s) {
  const int64_t D = c.dim;
  for (int64_t t = 0; t < T; ++t) kernels::rmsnorm(&s.xb[size_t(t * D)], &x[t * D], L.ffn_norm, D, c.norm_eps);
  tf.apply(s.xb.data(), T, D);
}

void ffn_core(const LlamaConfig& c, const LlamaLayer& L, const LinearInputTransform& tf, int64_t T, LlamaScratch& s,
              ThreadPool& pool) {
  const int64_t D = c.dim, H = c.hidden_dim;
  const kernels::MatmulOut gate_up[] = {{&L.w_gate, s.hb.data(), H}, {&L.w_up, s.hb2.data(), H}};
  kernels::matmul_group(gate_up, s.xb.data(), D, T, pool, kAnyOrder);
  kernels::swiglu(s.hb.data(), s.hb.data(), s.hb2.data(), T * H);
  tf.apply(s.hb.data(), T, H);
}

void ffn_output(const LlamaConfig& c, const LlamaLayer& L, float* x, int64_t T, LlamaScratch& s, ThreadPool& pool) {
  const int64_t D = c.dim;
  matmul(L.w_down, s.hb.data(), c.hidden_dim, T, s.xb.data(), D, pool, kAnyOrder);
  for (int64_t i = 0; i < T * D; ++i) x[i] += s.xb[size_t(i)];  // residual
}

}  // namespace nb
