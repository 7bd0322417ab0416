// Llama forward pass, one screen per layer, in the spirit of llama2.c's
// forward(): every step is a call into kernels/, no SIMD here.
#include "models/llama.h"

#include <cmath>
#include <cstring>

#include "formats/format.h"
#include "kernels/ops.h"
#include "models/llama_weights.h"

namespace nb {
namespace {

using kernels::matmul;

class LlamaState : public State {
 public:
  std::vector<float> k_cache, v_cache;  // [n_layers][n_ctx][kv_dim]
};

class Llama : public Model {
 public:
  Llama(std::shared_ptr<const io::ModelFile> file, LlamaWeights w) : file_(std::move(file)), w_(std::move(w)) {
    const LlamaConfig& c = w_.cfg;
    info_.arch = "llama";
    info_.n_vocab = c.vocab_size;
    info_.n_ctx_train = c.n_ctx_train;
    info_.n_embd = c.dim;
    info_.n_layer = c.n_layers;
    auto add = [&](const TensorView& t) {
      info_.n_params += t.numel();
      info_.weight_bytes += int64_t(formats::row_bytes(t.format, t.cols()) * size_t(t.rows()));
    };
    for (const LlamaLayer& L : w_.layers)
      for (const TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) add(*t);
    add(w_.output);  // streamed every token
    if (!w_.tied) info_.n_params += w_.tok_embd.numel();
    info_.n_params += c.dim * (2 * c.n_layers + 1);
    info_.weight_format = formats::traits(w_.layers.empty() ? w_.output.format : w_.layers[0].wq.format).name;
    auto hp = [&](const char* k, double v) { info_.hparams.emplace_back(k, strfmt("%g", v)); };
    hp("dim", double(c.dim));
    hp("hidden_dim", double(c.hidden_dim));
    hp("n_layers", double(c.n_layers));
    hp("n_heads", double(c.n_heads));
    hp("n_kv_heads", double(c.n_kv_heads));
    hp("head_dim", double(c.head_dim));
    hp("rope_dim", double(c.rot_dim));
    hp("vocab_size", double(c.vocab_size));
    hp("n_ctx_train", double(c.n_ctx_train));
    hp("norm_eps", double(c.norm_eps));
    hp("rope_theta", double(c.rope_theta));
    info_.hparams.emplace_back("rope_style", c.rope_style == kernels::RopeStyle::Interleaved ? "interleaved" : "half-split");
    info_.hparams.emplace_back("tied_output", w_.tied ? "yes" : "no");
  }

  const ModelInfo& info() const override { return info_; }

  std::unique_ptr<State> new_state(int64_t n_ctx) const override {
    auto st = std::make_unique<LlamaState>();
    const LlamaConfig& c = w_.cfg;
    st->n_ctx = n_ctx;
    size_t n = size_t(c.n_layers) * size_t(n_ctx) * size_t(c.n_kv_heads * c.head_dim);
    st->k_cache.assign(n, 0.0f);
    st->v_cache.assign(n, 0.0f);
    return st;
  }

  Status forward(std::span<const int32_t> ids, State& base, float* logits, bool all_logits,
                 ThreadPool& pool) override {
    auto& st = static_cast<LlamaState&>(base);
    const int64_t T = int64_t(ids.size());
    if (T == 0) return Status::Ok();
    NB_TRY(check_forward_input(ids, st, w_.cfg.vocab_size));
    // Evaluate in chunks so scratch memory stays bounded for long prompts.
    for (int64_t t0 = 0; t0 < T; t0 += kChunk) {
      int64_t n = std::min(kChunk, T - t0);
      bool last = t0 + n == T;
      float* out = all_logits ? logits + t0 * w_.cfg.vocab_size : (last ? logits : nullptr);
      forward_chunk(ids.subspan(size_t(t0), size_t(n)), st, out, all_logits, pool);
    }
    return Status::Ok();
  }

 private:
  static constexpr int64_t kChunk = 512;

  // T tokens at positions st.n_past.. : activations are [T, width] row-major.
  void forward_chunk(std::span<const int32_t> ids, LlamaState& st, float* logits, bool all_logits, ThreadPool& pool) {
    const LlamaConfig& c = w_.cfg;
    const int64_t T = int64_t(ids.size()), D = c.dim, H = c.hidden_dim;
    const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
    const int64_t pos0 = st.n_past;
    x_.resize(size_t(T * D));
    xb_.resize(size_t(T * std::max(D, q_dim)));
    q_.resize(size_t(T * q_dim));
    att_.resize(size_t(T * q_dim));
    hb_.resize(size_t(T * H));
    hb2_.resize(size_t(T * H));
    scratch_.resize(size_t(pool.size()) * size_t(st.n_ctx));

    for (int64_t t = 0; t < T; ++t) kernels::embedding(w_.tok_embd, ids[size_t(t)], &x_[size_t(t * D)]);

    for (int64_t l = 0; l < c.n_layers; ++l) {
      const LlamaLayer& L = w_.layers[size_t(l)];
      float* kc = &st.k_cache[size_t(l * st.n_ctx * kv_dim)];
      float* vc = &st.v_cache[size_t(l * st.n_ctx * kv_dim)];

      // attention: q, k, v projections of the normed input; k and v go straight into the cache
      for (int64_t t = 0; t < T; ++t) kernels::rmsnorm(&xb_[size_t(t * D)], &x_[size_t(t * D)], L.attn_norm, D, c.norm_eps);
      matmul(L.wq, xb_.data(), D, T, q_.data(), q_dim, pool);
      matmul(L.wk, xb_.data(), D, T, kc + pos0 * kv_dim, kv_dim, pool);
      matmul(L.wv, xb_.data(), D, T, vc + pos0 * kv_dim, kv_dim, pool);
      for (int64_t t = 0; t < T; ++t) {
        kernels::rope(&q_[size_t(t * q_dim)], c.n_heads, c.head_dim, c.rot_dim, pos0 + t, c.rope_theta, c.rope_style);
        kernels::rope(kc + (pos0 + t) * kv_dim, c.n_kv_heads, c.head_dim, c.rot_dim, pos0 + t, c.rope_theta, c.rope_style);
      }
      // causal: token t attends to positions 0..pos0+t
      for (int64_t t = 0; t < T; ++t)
        kernels::attention(&att_[size_t(t * q_dim)], &q_[size_t(t * q_dim)], kc, vc, c.n_heads, c.n_kv_heads,
                           c.head_dim, pos0 + t + 1, kv_dim, scratch_.data(), pool);
      matmul(L.wo, att_.data(), q_dim, T, xb_.data(), D, pool);
      for (int64_t i = 0; i < T * D; ++i) x_[size_t(i)] += xb_[size_t(i)];  // residual

      // feed-forward: w_down(silu(w_gate x) * w_up x)
      for (int64_t t = 0; t < T; ++t) kernels::rmsnorm(&xb_[size_t(t * D)], &x_[size_t(t * D)], L.ffn_norm, D, c.norm_eps);
      matmul(L.w_gate, xb_.data(), D, T, hb_.data(), H, pool);
      matmul(L.w_up, xb_.data(), D, T, hb2_.data(), H, pool);
      kernels::swiglu(hb_.data(), hb_.data(), hb2_.data(), T * H);
      matmul(L.w_down, hb_.data(), H, T, xb_.data(), D, pool);
      for (int64_t i = 0; i < T * D; ++i) x_[size_t(i)] += xb_[size_t(i)];  // residual
    }
    st.n_past += T;
    if (!logits) return;

    // head: final norm, then the classifier for the rows the caller wants
    const int64_t first = all_logits ? 0 : T - 1, n_out = T - first;
    for (int64_t t = first; t < T; ++t)
      kernels::rmsnorm(&xb_[size_t((t - first) * D)], &x_[size_t(t * D)], w_.out_norm, D, c.norm_eps);
    matmul(w_.output, xb_.data(), D, n_out, logits, c.vocab_size, pool);
  }

  std::shared_ptr<const io::ModelFile> file_;  // keeps the mapped weights alive
  LlamaWeights w_;
  ModelInfo info_;
  std::vector<float> x_, xb_, q_, att_, hb_, hb2_, scratch_;
};

}  // namespace

Result<std::unique_ptr<Model>> load_llama(std::shared_ptr<const io::ModelFile> file, const LoadOptions& opts) {
  NB_ASSIGN_OR_RETURN(LlamaWeights w, load_llama_weights(*file));
  return make_llama(std::move(w), std::move(file));
}

std::unique_ptr<Model> make_llama(LlamaWeights w, std::shared_ptr<const io::ModelFile> keepalive) {
  return std::unique_ptr<Model>(new Llama(std::move(keepalive), std::move(w)));
}

}  // namespace nb
