#include "models/llama_weights.h"

#include <cmath>
#include <cstring>

#include "formats/format.h"
#include "kernels/ops.h"

namespace nb {
namespace {

// Norm vectors are tiny; keep them as fp32 whatever the file stores.
Result<const float*> to_f32(const io::ModelFile& mf, const std::string& name, int64_t n, LlamaWeights& w) {
  NB_ASSIGN_OR_RETURN(TensorView t, mf.require(name, {n}));
  const auto& tr = formats::traits(t.format);
  if (!tr.to_float || n % tr.block_size != 0)
    return Status::Error(strfmt("%s: tensor '%s': cannot convert format %s to f32", mf.path.c_str(), name.c_str(), tr.name));
  Buffer b(size_t(n) * sizeof(float));
  tr.to_float(t.data, b.as<float>(), n);
  const float* p = b.as<float>();
  w.owned.push_back(std::move(b));
  return p;
}

// A weight matrix must be [rows, cols] in a format with a matmul kernel.
Result<TensorView> matrix(const io::ModelFile& mf, const std::string& name, int64_t rows, int64_t cols) {
  NB_ASSIGN_OR_RETURN(TensorView t, mf.require(name, {rows, cols}));
  const auto& tr = formats::traits(t.format);
  if (!tr.dot || tr.dot_i32)  // integer-dot ternary formats belong to BitLinear models
    return Status::Error(strfmt("%s: tensor '%s': format %s cannot be used as a Llama weight matrix", mf.path.c_str(),
                                name.c_str(), tr.name));
  if (tr.tensor_scale) {  // NVFP4: the fp32 tensor scale sits in its own [1] tensor
    const std::string sname = name + ".scale";
    NB_ASSIGN_OR_RETURN(TensorView s, mf.require(sname, {1}, {FormatId::F32}));
    std::memcpy(&t.scale, s.data, sizeof t.scale);
    if (!std::isfinite(t.scale) || !(t.scale > 0))
      return Status::Error(strfmt("%s: tensor '%s': %g is not a valid tensor scale (expected finite and > 0)",
                                  mf.path.c_str(), sname.c_str(), double(t.scale)));
  }
  return t;
}

// Layer `l` of a llama2.c tensor stacked over layers, [L, rows, cols].
Result<TensorView> stacked(const io::ModelFile& mf, const std::string& name, int64_t L, int64_t l, int64_t rows,
                           int64_t cols) {
  NB_ASSIGN_OR_RETURN(TensorView t, mf.require(name, {L, rows, cols}));
  TensorView v = t;
  v.ndim = 2;
  v.shape[0] = rows;
  v.shape[1] = cols;
  v.stride[0] = t.stride[1];
  v.stride[1] = t.stride[2];
  v.data = static_cast<char*>(t.data) + l * t.stride[0];
  return v;
}

Result<const float*> stacked_norm(const io::ModelFile& mf, const std::string& name, int64_t L, int64_t l, int64_t n,
                                  LlamaWeights& w) {
  NB_ASSIGN_OR_RETURN(TensorView t, mf.require(name, {L, n}));
  if (t.format != FormatId::F32)
    return Status::Error(strfmt("%s: tensor '%s': expected f32", mf.path.c_str(), name.c_str()));
  return reinterpret_cast<const float*>(static_cast<const char*>(t.data) + l * t.stride[0]);
}

Status check_config(const io::ModelFile& mf, const LlamaConfig& c) {
  auto bad = [&](const char* what) { return Status::Error(strfmt("%s: invalid Llama config: %s", mf.path.c_str(), what)); };
  if (c.dim <= 0 || c.hidden_dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.vocab_size <= 0)
    return bad("sizes must be positive");
  if (c.dim > (1 << 20) || c.hidden_dim > (1 << 22) || c.n_layers > 4096 || c.vocab_size > (1 << 24))
    return bad("sizes are absurdly large");
  if (c.n_heads % c.n_kv_heads != 0) return bad("head count is not a multiple of the KV head count");
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) return bad("head dimension must be positive and even");
  if (c.rot_dim <= 0 || c.rot_dim > c.head_dim || c.rot_dim % 2 != 0) return bad("RoPE dimension must be even and <= head dimension");
  if (!(c.norm_eps > 0) || !(c.rope_theta > 0)) return bad("eps and rope theta must be positive");
  if (c.hadamard_k != 0) {
    const int64_t k = c.hadamard_k, q_dim = c.n_heads * c.head_dim;
    if (k < 2 || k > 4096 || (k & (k - 1)) != 0) return bad("nibble.hadamard_block_size must be a power of two in [2, 4096]");
    if (c.dim % k || q_dim % k || c.hidden_dim % k)
      return bad("nibble.hadamard_block_size does not divide every linear layer's input width");
  }
  return Status::Ok();
}

Result<LlamaWeights> load_gguf(const io::ModelFile& mf) {
  LlamaWeights w;
  LlamaConfig& c = w.cfg;
  NB_ASSIGN_OR_RETURN(c.dim, mf.get_int("llama.embedding_length"));
  NB_ASSIGN_OR_RETURN(c.hidden_dim, mf.get_int("llama.feed_forward_length"));
  NB_ASSIGN_OR_RETURN(c.n_layers, mf.get_int("llama.block_count"));
  NB_ASSIGN_OR_RETURN(c.n_heads, mf.get_int("llama.attention.head_count"));
  c.n_kv_heads = mf.get_int_or("llama.attention.head_count_kv", c.n_heads);
  c.head_dim = mf.get_int_or("llama.attention.key_length", c.n_heads > 0 ? c.dim / c.n_heads : 0);
  c.rot_dim = mf.get_int_or("llama.rope.dimension_count", c.head_dim);
  c.norm_eps = float(mf.get_float_or("llama.attention.layer_norm_rms_epsilon", 1e-5));
  c.rope_theta = float(mf.get_float_or("llama.rope.freq_base", 10000.0));
  c.n_ctx_train = mf.get_int_or("llama.context_length", 0);
  c.rope_style = kernels::RopeStyle::Interleaved;  // llama.cpp's converter permutes HF Q/K into this order
  c.hadamard_k = mf.get_int_or("nibble.hadamard_block_size", 0);
  const io::TensorInfo* emb = mf.find("token_embd.weight");
  if (!emb) return Status::Error(mf.path + ": missing tensor 'token_embd.weight'");
  c.vocab_size = mf.get_int_or("llama.vocab_size", emb->view.rows());
  NB_TRY(check_config(mf, c));
  if (mf.get_int_or("llama.expert_count", 0) > 0)
    return Status::Error(mf.path + ": mixture-of-experts Llama models (llama.expert_count) are not supported");

  const int64_t q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  NB_ASSIGN_OR_RETURN(w.tok_embd, mf.require("token_embd.weight", {c.vocab_size, c.dim}));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    LlamaLayer L;
    NB_ASSIGN_OR_RETURN(L.attn_norm, to_f32(mf, p + "attn_norm.weight", c.dim, w));
    NB_ASSIGN_OR_RETURN(L.wq, matrix(mf, p + "attn_q.weight", q, c.dim));
    NB_ASSIGN_OR_RETURN(L.wk, matrix(mf, p + "attn_k.weight", kv, c.dim));
    NB_ASSIGN_OR_RETURN(L.wv, matrix(mf, p + "attn_v.weight", kv, c.dim));
    NB_ASSIGN_OR_RETURN(L.wo, matrix(mf, p + "attn_output.weight", c.dim, q));
    NB_ASSIGN_OR_RETURN(L.ffn_norm, to_f32(mf, p + "ffn_norm.weight", c.dim, w));
    NB_ASSIGN_OR_RETURN(L.w_gate, matrix(mf, p + "ffn_gate.weight", c.hidden_dim, c.dim));
    NB_ASSIGN_OR_RETURN(L.w_up, matrix(mf, p + "ffn_up.weight", c.hidden_dim, c.dim));
    NB_ASSIGN_OR_RETURN(L.w_down, matrix(mf, p + "ffn_down.weight", c.dim, c.hidden_dim));
    w.layers.push_back(L);
  }
  NB_ASSIGN_OR_RETURN(w.out_norm, to_f32(mf, "output_norm.weight", c.dim, w));
  if (mf.find("output.weight")) {
    NB_ASSIGN_OR_RETURN(w.output, matrix(mf, "output.weight", c.vocab_size, c.dim));
  } else {
    NB_ASSIGN_OR_RETURN(w.output, matrix(mf, "token_embd.weight", c.vocab_size, c.dim));
    w.tied = true;
  }
  return w;
}

Result<LlamaWeights> load_hf(const io::ModelFile& mf) {
  LlamaWeights w;
  LlamaConfig& c = w.cfg;
  NB_ASSIGN_OR_RETURN(c.dim, mf.get_int("hf.hidden_size"));
  NB_ASSIGN_OR_RETURN(c.hidden_dim, mf.get_int("hf.intermediate_size"));
  NB_ASSIGN_OR_RETURN(c.n_layers, mf.get_int("hf.num_hidden_layers"));
  NB_ASSIGN_OR_RETURN(c.n_heads, mf.get_int("hf.num_attention_heads"));
  NB_ASSIGN_OR_RETURN(c.vocab_size, mf.get_int("hf.vocab_size"));
  c.n_kv_heads = mf.get_int_or("hf.num_key_value_heads", c.n_heads);
  c.head_dim = mf.get_int_or("hf.head_dim", c.n_heads > 0 ? c.dim / c.n_heads : 0);
  c.rot_dim = c.head_dim;
  c.norm_eps = float(mf.get_float_or("hf.rms_norm_eps", 1e-6));
  // transformers 5 keeps RoPE settings in rope_parameters; older versions use rope_theta / rope_scaling.
  c.rope_theta = float(mf.get_float_or("hf.rope_parameters.rope_theta", mf.get_float_or("hf.rope_theta", 10000.0)));
  c.n_ctx_train = mf.get_int_or("hf.max_position_embeddings", 0);
  c.rope_style = kernels::RopeStyle::HalfSplit;  // transformers' rotate_half
  NB_TRY(check_config(mf, c));
  for (const char* key : {"hf.rope_parameters.rope_type", "hf.rope_scaling.rope_type", "hf.rope_scaling.type"}) {
    std::string t = mf.get_string_or(key, "default");
    if (t != "default")
      return Status::Error(strfmt("%s: config.json: RoPE type '%s' (%s) is not supported; only 'default'",
                                  mf.path.c_str(), t.c_str(), key + 3));
  }
  std::string act = mf.get_string_or("hf.hidden_act", "silu");
  if (act != "silu") return Status::Error(mf.path + ": config.json: hidden_act '" + act + "' is not supported; only 'silu'");
  if (mf.get_bool_or("hf.attention_bias", false) || mf.get_bool_or("hf.mlp_bias", false))
    return Status::Error(mf.path + ": config.json: attention_bias / mlp_bias are not supported");

  const int64_t q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  NB_ASSIGN_OR_RETURN(w.tok_embd, mf.require("model.embed_tokens.weight", {c.vocab_size, c.dim}));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    LlamaLayer L;
    NB_ASSIGN_OR_RETURN(L.attn_norm, to_f32(mf, p + "input_layernorm.weight", c.dim, w));
    NB_ASSIGN_OR_RETURN(L.wq, matrix(mf, p + "self_attn.q_proj.weight", q, c.dim));
    NB_ASSIGN_OR_RETURN(L.wk, matrix(mf, p + "self_attn.k_proj.weight", kv, c.dim));
    NB_ASSIGN_OR_RETURN(L.wv, matrix(mf, p + "self_attn.v_proj.weight", kv, c.dim));
    NB_ASSIGN_OR_RETURN(L.wo, matrix(mf, p + "self_attn.o_proj.weight", c.dim, q));
    NB_ASSIGN_OR_RETURN(L.ffn_norm, to_f32(mf, p + "post_attention_layernorm.weight", c.dim, w));
    NB_ASSIGN_OR_RETURN(L.w_gate, matrix(mf, p + "mlp.gate_proj.weight", c.hidden_dim, c.dim));
    NB_ASSIGN_OR_RETURN(L.w_up, matrix(mf, p + "mlp.up_proj.weight", c.hidden_dim, c.dim));
    NB_ASSIGN_OR_RETURN(L.w_down, matrix(mf, p + "mlp.down_proj.weight", c.dim, c.hidden_dim));
    w.layers.push_back(L);
  }
  NB_ASSIGN_OR_RETURN(w.out_norm, to_f32(mf, "model.norm.weight", c.dim, w));
  bool tie = mf.get_bool_or("hf.tie_word_embeddings", false);
  if (!tie && mf.find("lm_head.weight")) {
    NB_ASSIGN_OR_RETURN(w.output, matrix(mf, "lm_head.weight", c.vocab_size, c.dim));
  } else if (tie || !mf.find("lm_head.weight")) {
    if (!tie) return Status::Error(mf.path + ": missing tensor 'lm_head.weight' (and tie_word_embeddings is false)");
    NB_ASSIGN_OR_RETURN(w.output, matrix(mf, "model.embed_tokens.weight", c.vocab_size, c.dim));
    w.tied = true;
  }
  return w;
}

Result<LlamaWeights> load_llama2c(const io::ModelFile& mf) {
  LlamaWeights w;
  LlamaConfig& c = w.cfg;
  NB_ASSIGN_OR_RETURN(c.dim, mf.get_int("llama2c.dim"));
  NB_ASSIGN_OR_RETURN(c.hidden_dim, mf.get_int("llama2c.hidden_dim"));
  NB_ASSIGN_OR_RETURN(c.n_layers, mf.get_int("llama2c.n_layers"));
  NB_ASSIGN_OR_RETURN(c.n_heads, mf.get_int("llama2c.n_heads"));
  NB_ASSIGN_OR_RETURN(c.n_kv_heads, mf.get_int("llama2c.n_kv_heads"));
  NB_ASSIGN_OR_RETURN(c.vocab_size, mf.get_int("llama2c.vocab_size"));
  NB_ASSIGN_OR_RETURN(c.n_ctx_train, mf.get_int("llama2c.seq_len"));
  c.head_dim = c.n_heads > 0 ? c.dim / c.n_heads : 0;
  c.rot_dim = c.head_dim;
  c.norm_eps = 1e-5f;        // run.c's constant
  c.rope_theta = 10000.0f;   // run.c's constant
  c.rope_style = kernels::RopeStyle::Interleaved;
  NB_TRY(check_config(mf, c));
  const int64_t L = c.n_layers, kv = c.n_kv_heads * c.head_dim, D = c.dim, H = c.hidden_dim;
  NB_ASSIGN_OR_RETURN(w.tok_embd, mf.require("tok_embeddings", {c.vocab_size, D}));
  for (int64_t l = 0; l < L; ++l) {
    LlamaLayer ly;
    NB_ASSIGN_OR_RETURN(ly.attn_norm, stacked_norm(mf, "rms_att", L, l, D, w));
    NB_ASSIGN_OR_RETURN(ly.wq, stacked(mf, "wq", L, l, D, D));
    NB_ASSIGN_OR_RETURN(ly.wk, stacked(mf, "wk", L, l, kv, D));
    NB_ASSIGN_OR_RETURN(ly.wv, stacked(mf, "wv", L, l, kv, D));
    NB_ASSIGN_OR_RETURN(ly.wo, stacked(mf, "wo", L, l, D, D));
    NB_ASSIGN_OR_RETURN(ly.ffn_norm, stacked_norm(mf, "rms_ffn", L, l, D, w));
    NB_ASSIGN_OR_RETURN(ly.w_gate, stacked(mf, "w1", L, l, H, D));
    NB_ASSIGN_OR_RETURN(ly.w_down, stacked(mf, "w2", L, l, D, H));
    NB_ASSIGN_OR_RETURN(ly.w_up, stacked(mf, "w3", L, l, H, D));
    w.layers.push_back(ly);
  }
  NB_ASSIGN_OR_RETURN(w.out_norm, to_f32(mf, "rms_final", D, w));
  if (mf.find("wcls")) {
    NB_ASSIGN_OR_RETURN(w.output, matrix(mf, "wcls", c.vocab_size, D));
  } else {
    w.output = w.tok_embd;
    w.tied = true;
  }
  return w;
}

}  // namespace

Result<LlamaWeights> load_llama_weights(const io::ModelFile& mf) {
  if (mf.container == "gguf") return load_gguf(mf);
  if (mf.container == "hf") return load_hf(mf);
  if (mf.container == "llama2c") return load_llama2c(mf);
  return Status::Error(mf.path + ": cannot load a Llama model from a '" + mf.container + "' container");
}

void rearrange_for_kernels(LlamaWeights& w) {
  std::vector<TensorView*> matrices;
  for (LlamaLayer& L : w.layers)
    for (TensorView* t : L.matrices()) matrices.push_back(t);
  matrices.push_back(&w.output);
  bool any = false;
  for (const TensorView* t : matrices) any = any || kernels::wants_kernel_layout(*t);
  if (!any) return;  // e.g. F16 weights: no pool to start
  // Does anything the model keeps still point into [p, p + n)?
  auto in_use = [&](const uint8_t* p, size_t n) {
    auto inside = [&](const void* q) {
      const auto* b = static_cast<const uint8_t*>(q);
      return b >= p && b < p + n;
    };
    if (inside(w.tok_embd.data) || inside(w.out_norm)) return true;
    for (const TensorView* t : matrices)
      if (inside(t->data)) return true;
    for (const LlamaLayer& L : w.layers)
      if (inside(L.attn_norm) || inside(L.ffn_norm)) return true;
    return false;
  };
  ThreadPool pool(physical_cores());
  for (TensorView* t : matrices) {
    const void* before = t->data;
    *t = kernels::with_kernel_layout(*t, w.owned, pool);
    if (t->data == before) continue;
    for (Buffer& b : w.owned)
      if (b.data() == before && !in_use(static_cast<const uint8_t*>(b.data()), b.size())) b = Buffer();
  }
}

}  // namespace nb
