// Llama forward pass, one screen per layer, in the spirit of llama2.c's
// forward(): every step is a call into kernels/, no SIMD here.
#include "models/llama.h"

#include <cmath>
#include <cstring>

#include "formats/format.h"
#include "kernels/act_quant.h"
#include "kernels/ops.h"
#include "models/llama_block.h"
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
  Llama(std::shared_ptr<const io::ModelFile> file, LlamaWeights w, FormatId act_type)
      : file_(std::move(file)), w_(std::move(w)) {
    const LlamaConfig& c = w_.cfg;
    tf_.hadamard_k = c.hadamard_k;
    tf_.act_type = act_type;
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
      for (const TensorView* t : L.matrices()) add(*t);
    add(w_.output);  // streamed every token
    if (!w_.tied) info_.n_params += w_.tok_embd.numel();
    info_.n_params += c.dim * (2 * c.n_layers + 1);
    const formats::FormatTraits& wt = formats::traits(w_.layers.empty() ? w_.output.format : w_.layers[0].wq.format);
    info_.weight_format = formats::traits(wt.rearranges != FormatId::kCount ? wt.rearranges : wt.id).name;
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
    if (c.hadamard_k) hp("hadamard_block_size", double(c.hadamard_k));
    if (act_type != FormatId::F32) info_.hparams.emplace_back("act_type (emulated)", kernels::act_type_name(act_type));
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
    const int64_t T = int64_t(ids.size()), D = c.dim, kv_dim = c.n_kv_heads * c.head_dim;
    const int64_t pos0 = st.n_past;
    x_.resize(size_t(T * D));
    s_.reserve(c, T, st.n_ctx, pool.size());

    for (int64_t t = 0; t < T; ++t) kernels::embedding(w_.tok_embd, ids[size_t(t)], &x_[size_t(t * D)]);

    for (int64_t l = 0; l < c.n_layers; ++l) {
      const LlamaLayer& L = w_.layers[size_t(l)];
      float* kc = &st.k_cache[size_t(l * st.n_ctx * kv_dim)];
      float* vc = &st.v_cache[size_t(l * st.n_ctx * kv_dim)];
      attn_input(c, L, tf_, x_.data(), T, s_);
      attn_core(c, L, tf_, T, pos0, kc, vc, s_, pool);
      attn_output(c, L, x_.data(), T, s_, pool);
      ffn_input(c, L, tf_, x_.data(), T, s_);
      ffn_core(c, L, tf_, T, s_, pool);
      ffn_output(c, L, x_.data(), T, s_, pool);
    }
    st.n_past += T;
    if (!logits) return;

    // head: final norm, then the classifier for the rows the caller wants
    const int64_t first = all_logits ? 0 : T - 1, n_out = T - first;
    for (int64_t t = first; t < T; ++t)
      kernels::rmsnorm(&s_.xb[size_t((t - first) * D)], &x_[size_t(t * D)], w_.out_norm, D, c.norm_eps);
    matmul(w_.output, s_.xb.data(), D, n_out, logits, c.vocab_size, pool, kernels::FloatSums::AnyOrder);
  }

  std::shared_ptr<const io::ModelFile> file_;  // keeps the mapped weights alive
  LlamaWeights w_;
  ModelInfo info_;
  LinearInputTransform tf_;  // the online Hadamard / W4A4 emulation of every linear input
  std::vector<float> x_;
  LlamaScratch s_;
};

}  // namespace

Result<std::unique_ptr<Model>> load_llama(std::shared_ptr<const io::ModelFile> file, const LoadOptions& opts) {
  NB_ASSIGN_OR_RETURN(LlamaWeights w, load_llama_weights(*file));
  return make_llama(std::move(w), std::move(file), opts);
}

Result<std::unique_ptr<Model>> make_llama(LlamaWeights w, std::shared_ptr<const io::ModelFile> keepalive,
                                          const LoadOptions& opts) {
  const LlamaConfig& c = w.cfg;
  // Every linear input width must be a whole number of activation blocks.
  for (int64_t n : {c.dim, c.n_heads * c.head_dim, c.hidden_dim})
    NB_TRY(kernels::check_act_width(opts.act_type, n, "--act-type: a linear layer's input"));
  if (opts.repack) rearrange_for_kernels(w);
  return std::unique_ptr<Model>(new Llama(std::move(keepalive), std::move(w), opts.act_type));
}

}  // namespace nb
