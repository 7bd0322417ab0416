// MatMul-free LM (hgrn_bit) forward pass, one screen per layer in the spirit
// of llama2.c's forward(). Spec: ../shared/design/matmulfree-lm.md §1, §4-§6.
// Every projection is a BitLinear: own RMSNorm -> per-token int8 codes ->
// exact integer product with ternary weights -> x (1/s_a) x d.
// The only state is h[L][D] in fp32: no KV cache, nothing grows with context.
#include "models/hgrn_bit.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "formats/format.h"
#include "kernels/ops.h"

namespace nb {
namespace {

class HgrnBitState : public State {
 public:
  std::vector<float> h;  // [L][D] recurrent state, fp32 across calls (spec N8)
  void reset() override {
    State::reset();
    std::fill(h.begin(), h.end(), 0.0f);
  }
};

class HgrnBit : public Model {
 public:
  HgrnBit(std::shared_ptr<const io::ModelFile> file, HgrnBitWeights w) : file_(std::move(file)), w_(std::move(w)) {
    const HgrnBitConfig& c = w_.cfg;
    info_.arch = "hgrn_bit";
    info_.n_vocab = c.vocab;
    info_.n_ctx_train = c.n_ctx_train;
    info_.n_embd = c.hidden;
    info_.n_layer = c.n_layers;
    double nonzero = 0, trits = 0;
    auto add = [&](const BitLinear& b) {
      info_.n_params += b.W.numel() + b.W.cols();  // trits + inner norm
      info_.weight_bytes += int64_t(size_t(b.W.stride[0]) * size_t(b.W.rows())) + int64_t(sizeof(float));
      nonzero += b.density * double(b.W.numel());
      trits += double(b.W.numel());
    };
    for (const HgrnBitLayer& L : w_.layers) {
      for (const BitLinear* b : {&L.i, &L.f, &L.g, &L.o, &L.gate_up, &L.down}) add(*b);
      info_.n_params += 3 * c.hidden;  // attn_norm, g_norm, mlp_norm
    }
    add(w_.lm_head);
    info_.n_params += w_.embed.numel() + c.hidden + (c.use_lower_bound ? c.n_layers * c.hidden : 0);
    info_.weight_bytes += int64_t(formats::row_bytes(w_.embed.format, c.hidden));  // one embedding row per token
    info_.weight_format = formats::traits(w_.lm_head.W.format).name;
    auto hp = [&](const char* k, double v) { info_.hparams.emplace_back(k, strfmt("%g", v)); };
    hp("hidden_size", double(c.hidden));
    hp("intermediate_size", double(c.intermediate));
    hp("num_hidden_layers", double(c.n_layers));
    hp("vocab_size", double(c.vocab));
    hp("num_heads", double(c.num_heads));
    hp("rms_norm_eps", double(c.norm_eps));
    hp("bitlinear_eps", double(kBitLinearEps));
    hp("max_position_embeddings", double(c.n_ctx_train));
    info_.hparams.emplace_back("use_lower_bound", c.use_lower_bound ? "yes" : "no");
    info_.hparams.emplace_back("ternary_weights", w_.packed_file ? std::string("packed in the file (") +
                                                                       info_.weight_format + ", fp32 scale per tensor)"
                                                                 : "ternarized at load from latent weights (t2)");
    if (!w_.packed_file) info_.hparams.emplace_back("ternary_density", strfmt("%.4f", trits > 0 ? nonzero / trits : 0.0));
    info_.hparams.emplace_back("embedding", formats::traits(w_.embed.format).name);
    info_.hparams.emplace_back("state_bytes", strfmt("%lld per sequence (no KV cache)",
                                                     (long long)(c.n_layers * c.hidden * int64_t(sizeof(float)))));
  }

  const ModelInfo& info() const override { return info_; }

  std::unique_ptr<State> new_state(int64_t n_ctx) const override {
    auto st = std::make_unique<HgrnBitState>();
    st->n_ctx = n_ctx;
    st->h.assign(size_t(w_.cfg.n_layers * w_.cfg.hidden), 0.0f);
    return st;
  }

  // The state has constant size; n_ctx only bounds the positions callers asked for.
  Status forward(std::span<const int32_t> ids, State& base, float* logits, bool all_logits,
                 ThreadPool& pool) override {
    auto& st = static_cast<HgrnBitState&>(base);
    const int64_t T = int64_t(ids.size()), V = w_.cfg.vocab;
    if (T == 0) return Status::Ok();
    NB_TRY(check_forward_input(ids, st, V));
    // Chunks keep scratch memory bounded; the recurrence carries over in st.h.
    for (int64_t t0 = 0; t0 < T; t0 += kChunk) {
      const int64_t n = std::min(kChunk, T - t0);
      const bool last = t0 + n == T;
      float* out = all_logits ? logits + t0 * V : (last ? logits : nullptr);
      forward_chunk(ids.subspan(size_t(t0), size_t(n)), st, out, all_logits, pool);
    }
    return Status::Ok();
  }

 private:
  static constexpr int64_t kChunk = 512;

  // Y_j[T, rows_j] = BitLinear_j(X[T, cols]) for BitLinears on the same input:
  // per token the RMS statistic once, then each its own codes (its own norm
  // weight, §5.1/§5.4), then one sweep over all their rows. Codes past cols
  // are zero for the padded rows.
  struct Out {
    const BitLinear* b;
    float* Y;
  };
  void bitlinear(std::initializer_list<Out> outs, const float* X, int64_t T, ThreadPool& pool) {
    const TensorView& W0 = outs.begin()->b->W;
    const int64_t K = W0.cols(), Kp = formats::padded_cols(W0.format, K);
    const size_t rb = formats::row_bytes(FormatId::I8_ROW, Kp), n = outs.size();
    xq_.resize(rb * size_t(T) * n);
    uint8_t* xq = xq_.data();
    rms_.resize(size_t(T));
    pool.parallel_for(T, [&](int64_t t0, int64_t t1, int) {
      kernels::bitlinear_rms_rows(X + t0 * K, K, t1 - t0, K, kBitLinearEps, rms_.data() + t0);
      for (int64_t t = t0; t < t1; ++t) {
        size_t j = 0;
        for (const Out& o : outs)
          kernels::bitlinear_codes(X + t * K, rms_[size_t(t)], o.b->norm, K, Kp, xq + (j++ * size_t(T) + size_t(t)) * rb);
      }
    });
    std::array<kernels::QuantizedProduct, 3> products;  // at most i, f, g; no allocation per call
    size_t j = 0;
    for (const Out& o : outs) {
      products.at(j) = {&o.b->W, xq + j * size_t(T) * rb, rb, o.Y, o.b->W.rows()};
      ++j;
    }
    kernels::matmul_quantized_group({products.data(), n}, T, pool);
  }

  // T tokens; activations are [T, width] row-major.
  void forward_chunk(std::span<const int32_t> ids, HgrnBitState& st, float* logits, bool all_logits, ThreadPool& pool) {
    const HgrnBitConfig& c = w_.cfg;
    const int64_t T = int64_t(ids.size()), H = c.hidden, D = c.hidden, I = c.intermediate;
    const float eps = c.norm_eps;
    auto sz = [](int64_t n) { return size_t(n); };
    x_.resize(sz(T * H));
    xn_.resize(sz(T * std::max(H, I)));
    i_.resize(sz(T * D));
    f_.resize(sz(T * D));
    g_.resize(sz(T * D));
    gu_.resize(sz(T * 2 * I));
    out_.resize(sz(T * H));

    // Token-wise steps over a batch run on every thread (one token: inline,
    // no wake-up); each token's values do not depend on which thread ran it.
    auto tokens = [&](auto&& fn) {
      if (T == 1) return fn(int64_t(0));
      pool.parallel_for(T, [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; ++t) fn(t);
      });
    };

    for (int64_t t = 0; t < T; ++t) kernels::embedding(w_.embed, ids[size_t(t)], &x_[sz(t * H)]);

    for (int64_t l = 0; l < c.n_layers; ++l) {
      const HgrnBitLayer& L = w_.layers[sz(l)];
      const float* lb = c.use_lower_bound && l > 0 ? &w_.lb[sz(l * H)] : nullptr;  // layer 0: no lower bound
      float* h = &st.h[sz(l * D)];

      // token mixer (MLGRU): three BitLinears on the same normed input, each quantized on its own (§5.4)
      tokens([&](int64_t t) { kernels::rmsnorm(&xn_[sz(t * H)], &x_[sz(t * H)], L.attn_norm, H, eps); });
      bitlinear({{&L.i, i_.data()}, {&L.f, f_.data()}, {&L.g, g_.data()}}, xn_.data(), T, pool);
      tokens([&](int64_t t) {
        float* f = &f_[sz(t * D)];
        float* cand = &i_[sz(t * D)];
        float* one_minus_f = &xn_[sz(t * D)];
        kernels::sigmoid(f, f, D);
        if (lb)
          for (int64_t k = 0; k < D; ++k) f[k] = lb[k] + (1.0f - lb[k]) * f[k];  // forget gate in (lb, 1)
        for (int64_t k = 0; k < D; ++k) one_minus_f[k] = 1.0f - f[k];
        kernels::swiglu(cand, cand, one_minus_f, D);  // c = SiLU(i) * (1 - f)
      });
      // the recurrence, per channel in order of tokens (channels on every thread for a batch)
      auto recur = [&](int64_t k0, int64_t k1) {
        for (int64_t t = 0; t < T; ++t)
          for (int64_t k = k0; k < k1; ++k) i_[sz(t * D + k)] = h[k] = f_[sz(t * D + k)] * h[k] + i_[sz(t * D + k)];
      };
      if (T == 1) recur(0, D);
      else pool.parallel_for(D, [&](int64_t k0, int64_t k1, int) { recur(k0, k1); }, 64);
      tokens([&](int64_t t) {  // output gate: RMSNorm on g, SiLU on h (§4.3 step 6)
        kernels::rmsnorm(&g_[sz(t * D)], &g_[sz(t * D)], L.g_norm, D, eps);
        kernels::swiglu(&xn_[sz(t * D)], &i_[sz(t * D)], &g_[sz(t * D)], D);
      });
      bitlinear({{&L.o, out_.data()}}, xn_.data(), T, pool);
      tokens([&](int64_t t) {  // residual
        for (int64_t k = t * H; k < (t + 1) * H; ++k) x_[sz(k)] += out_[sz(k)];
      });

      // channel mixer (GLU): one BitLinear for gate and up, gate first
      tokens([&](int64_t t) { kernels::rmsnorm(&xn_[sz(t * H)], &x_[sz(t * H)], L.mlp_norm, H, eps); });
      bitlinear({{&L.gate_up, gu_.data()}}, xn_.data(), T, pool);
      tokens([&](int64_t t) { kernels::swiglu(&xn_[sz(t * I)], &gu_[sz(t * 2 * I)], &gu_[sz(t * 2 * I + I)], I); });
      bitlinear({{&L.down, out_.data()}}, xn_.data(), T, pool);
      tokens([&](int64_t t) {  // residual
        for (int64_t k = t * H; k < (t + 1) * H; ++k) x_[sz(k)] += out_[sz(k)];
      });
    }
    st.n_past += T;
    if (!logits) return;

    // head: final norm, then the ternary lm_head BitLinear for the rows the caller wants
    const int64_t first = all_logits ? 0 : T - 1, n_out = T - first;
    for (int64_t t = first; t < T; ++t) kernels::rmsnorm(&xn_[sz((t - first) * H)], &x_[sz(t * H)], w_.final_norm, H, eps);
    bitlinear({{&w_.lm_head, logits}}, xn_.data(), n_out, pool);
  }

  std::shared_ptr<const io::ModelFile> file_;  // keeps mapped weights alive (packed GGUF trits are used in place)
  HgrnBitWeights w_;
  ModelInfo info_;
  std::vector<float> x_, xn_, i_, f_, g_, gu_, out_;
  std::vector<uint8_t> xq_;
  std::vector<float> rms_;  // per token: the BitLinear RMS statistic of the current input
};

}  // namespace

Result<std::unique_ptr<Model>> load_hgrn_bit(std::shared_ptr<const io::ModelFile> file, const LoadOptions& opts) {
  NB_ASSIGN_OR_RETURN(HgrnBitWeights w, load_hgrn_bit_weights(*file));
  return make_hgrn_bit(std::move(w), std::move(file));
}

std::unique_ptr<Model> make_hgrn_bit(HgrnBitWeights w, std::shared_ptr<const io::ModelFile> keepalive) {
  return std::unique_ptr<Model>(new HgrnBit(std::move(keepalive), std::move(w)));
}

}  // namespace nb
