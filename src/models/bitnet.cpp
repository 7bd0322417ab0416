// BitNet b1.58 forward pass, exactly as bitllama2.c's runbit.c computes it
// (../shared/data/models/bitnet-small/FORMAT.md §3), one screen per layer.
// The activations are rounded to int8 before every matrix, so a one-ulp
// difference anywhere upstream of a rounding can change the generated ids:
// the norm, the quantizer and the SwiGLU below keep runbit.c's operation order
// in plain scalar code, and the matrices go through the exact integer path.
#include "models/bitnet.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/buffer.h"
#include "formats/format.h"
#include "io/bitnet_c.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace nb {

void bitnet_rmsnorm(float* out, const float* a, int64_t n) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += a[i] * a[i];
  ss = ss / float(n);
  ss = 1.0f / std::sqrt(ss);
  ss = ss / float(n);
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * ss;
}

void bitnet_quantize_act(const float* a, int64_t n, int64_t n_codes, void* row) {
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(a[i]));
  const float s = float(double(amax) / 127.0);
  std::memcpy(row, &s, sizeof s);
  int8_t* q = static_cast<int8_t*>(row) + sizeof(float);
  const float inv = s > 0.0f ? float(1.0 / double(s)) : 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const double r = std::round(double(a[i] * inv));  // the product in float, as runbit.c
    // |r| <= 127 by construction; the guards keep NaN (from a NaN input) and
    // out-of-range values from being undefined conversions.
    q[i] = int8_t(r >= 127.0 ? 127 : r <= -127.0 ? -127 : r == r ? int(r) : 0);
  }
  std::memset(q + n, 0, size_t(n_codes - n));
}

namespace {

using kernels::matmul_quantized;

struct BitnetConfig {
  int64_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, vocab_size = 0,
          seq_len = 0;
};

struct BitnetLayer {
  TensorView wq, wk, wv, wo, w1, w2, w3;  // T2, TensorView::scale = the file's per-tensor scale
};

struct BitnetWeights {
  BitnetConfig cfg;
  TensorView tok_embd;        // f32 [vocab, dim], mapped; also the classifier
  const float* rms_final = nullptr;
  std::vector<BitnetLayer> layers;
  std::vector<Buffer> owned;  // the repacked T2 matrices
};

constexpr float kRopeTheta = 10000.0f;  // runbit.c's constant, as run.c's
constexpr float kFinalNormEps = 1e-5f;  // run.c's rmsnorm, used only for the final norm

// The file's 2-bit records repacked once into T2 rows (64-byte aligned).
Result<TensorView> repack(const io::ModelFile& mf, const std::string& name, int64_t out, int64_t in,
                          BitnetWeights& w) {
  NB_ASSIGN_OR_RETURN(TensorView raw, mf.require(name, {out * in / 4}, {FormatId::I8_ROW}));
  (void)raw;
  const io::TensorInfo& rec = *mf.find(name);
  const float s = io::bitnet_c_scale(rec);
  if (!std::isfinite(s) || !(s > 0.0f))
    return Status::Error(strfmt("%s: tensor '%s': scale %g is not a positive finite number", rec.file.c_str(),
                                name.c_str(), double(s)));
  const formats::FormatTraits& t2 = formats::traits(FormatId::T2);
  const size_t rb = formats::row_bytes(FormatId::T2, in);
  Buffer buf(rb * size_t(out));
  std::vector<float> row(static_cast<size_t>(in));
  for (int64_t r = 0; r < out; ++r) {
    NB_TRY(io::bitnet_c_unpack_row(rec, r, in, row.data()));
    t2.from_float(row.data(), buf.as<uint8_t>() + size_t(r) * rb, in);
  }
  TensorView v = formats::matrix_view(FormatId::T2, out, in, buf.data(), s, int64_t(rb));
  w.owned.push_back(std::move(buf));
  return v;
}

Result<BitnetWeights> load_weights(const io::ModelFile& mf) {
  if (mf.container != io::kBitnetCContainer)
    return Status::Error(mf.path + ": cannot load a " + kBitnetArch + " model from a '" + mf.container +
                         "' container (only bitllama2.c checkpoints)");
  BitnetWeights w;
  BitnetConfig& c = w.cfg;
  NB_ASSIGN_OR_RETURN(c.dim, mf.get_int("bitnet.dim"));
  NB_ASSIGN_OR_RETURN(c.hidden_dim, mf.get_int("bitnet.hidden_dim"));
  NB_ASSIGN_OR_RETURN(c.n_layers, mf.get_int("bitnet.n_layers"));
  NB_ASSIGN_OR_RETURN(c.n_heads, mf.get_int("bitnet.n_heads"));
  NB_ASSIGN_OR_RETURN(c.n_kv_heads, mf.get_int("bitnet.n_kv_heads"));
  NB_ASSIGN_OR_RETURN(c.vocab_size, mf.get_int("bitnet.vocab_size"));
  NB_ASSIGN_OR_RETURN(c.seq_len, mf.get_int("bitnet.seq_len"));
  auto bad = [&](const char* what) { return Status::Error(strfmt("%s: invalid BitNet config: %s", mf.path.c_str(), what)); };
  if (c.dim <= 0 || c.hidden_dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 || c.vocab_size <= 0 ||
      c.seq_len <= 0)
    return bad("sizes must be positive");
  if (c.dim > (1 << 20) || c.hidden_dim > (1 << 22) || c.n_layers > 4096 || c.vocab_size > (1 << 24))
    return bad("sizes are absurdly large");
  if (c.dim % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0) return bad("head counts do not divide");
  c.head_dim = c.dim / c.n_heads;
  if (c.head_dim % 2 != 0) return bad("head dimension must be even");
  if (!mf.get_bool_or("bitnet.shared_classifier", true)) return bad("only the shared (tied) classifier is supported");

  const int64_t D = c.dim, H = c.hidden_dim, KV = c.n_kv_heads * c.head_dim;
  NB_ASSIGN_OR_RETURN(w.tok_embd, mf.require("tok_embeddings", {c.vocab_size, D}, {FormatId::F32}));
  NB_ASSIGN_OR_RETURN(TensorView fin, mf.require("rms_final", {D}, {FormatId::F32}));
  w.rms_final = static_cast<const float*>(fin.data);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    auto name = [&](const char* m) { return io::bitnet_c_tensor_name(l, m); };
    BitnetLayer L;
    NB_ASSIGN_OR_RETURN(L.wq, repack(mf, name("wq"), D, D, w));
    NB_ASSIGN_OR_RETURN(L.wk, repack(mf, name("wk"), KV, D, w));
    NB_ASSIGN_OR_RETURN(L.wv, repack(mf, name("wv"), KV, D, w));
    NB_ASSIGN_OR_RETURN(L.wo, repack(mf, name("wo"), D, D, w));
    NB_ASSIGN_OR_RETURN(L.w1, repack(mf, name("w1"), H, D, w));
    NB_ASSIGN_OR_RETURN(L.w2, repack(mf, name("w2"), D, H, w));
    NB_ASSIGN_OR_RETURN(L.w3, repack(mf, name("w3"), H, D, w));
    w.layers.push_back(L);
  }
  return w;
}

class BitnetState : public State {
 public:
  std::vector<float> k_cache, v_cache;  // [n_layers][n_ctx][kv_dim]
};

class Bitnet : public Model {
 public:
  Bitnet(std::shared_ptr<const io::ModelFile> file, BitnetWeights w) : file_(std::move(file)), w_(std::move(w)) {
    const BitnetConfig& c = w_.cfg;
    info_.arch = kBitnetArch;
    info_.n_vocab = c.vocab_size;
    info_.n_ctx_train = c.seq_len;
    info_.n_embd = c.dim;
    info_.n_layer = c.n_layers;
    for (const BitnetLayer& L : w_.layers)
      for (const TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w1, &L.w2, &L.w3}) {
        info_.n_params += t->numel();
        info_.weight_bytes += int64_t(formats::row_bytes(t->format, t->cols()) * size_t(t->rows()));
      }
    info_.n_params += w_.tok_embd.numel() + c.dim;
    info_.weight_bytes += w_.tok_embd.numel() * int64_t(sizeof(float));  // the classifier, streamed every token
    info_.weight_format = formats::traits(FormatId::T2).name;
    auto hp = [&](const char* k, int64_t v) { info_.hparams.emplace_back(k, std::to_string(v)); };
    hp("dim", c.dim);
    hp("hidden_dim", c.hidden_dim);
    hp("n_layers", c.n_layers);
    hp("n_heads", c.n_heads);
    hp("n_kv_heads", c.n_kv_heads);
    hp("head_dim", c.head_dim);
    hp("vocab_size", c.vocab_size);
    hp("n_ctx_train", c.seq_len);
    info_.hparams.emplace_back("activations", "int8 per token (absmax), after a weightless RMSNorm");
    info_.hparams.emplace_back("classifier", "token embedding (f32)");
  }

  const ModelInfo& info() const override { return info_; }

  std::unique_ptr<State> new_state(int64_t n_ctx) const override {
    auto st = std::make_unique<BitnetState>();
    const BitnetConfig& c = w_.cfg;
    st->n_ctx = n_ctx;
    const size_t n = size_t(c.n_layers) * size_t(n_ctx) * size_t(c.n_kv_heads * c.head_dim);
    st->k_cache.assign(n, 0.0f);
    st->v_cache.assign(n, 0.0f);
    return st;
  }

  Status forward(std::span<const int32_t> ids, State& base, float* logits, bool all_logits,
                 ThreadPool& pool) override {
    auto& st = static_cast<BitnetState&>(base);
    const int64_t T = int64_t(ids.size());
    if (T == 0) return Status::Ok();
    NB_TRY(check_forward_input(ids, st, w_.cfg.vocab_size));
    // Chunks keep the scratch bounded for long prompts; every token is
    // computed the same way in any chunk, so prefill equals decode exactly.
    for (int64_t t0 = 0; t0 < T; t0 += kChunk) {
      const int64_t n = std::min(kChunk, T - t0);
      const bool last = t0 + n == T;
      float* out = all_logits ? logits + t0 * w_.cfg.vocab_size : (last ? logits : nullptr);
      forward_chunk(ids.subspan(size_t(t0), size_t(n)), st, out, all_logits, pool);
    }
    return Status::Ok();
  }

 private:
  static constexpr int64_t kChunk = 512;

  // bit_rmsnorm + act_scale + act_quantize of T rows of width n (row stride
  // n floats) into xq_, one I8_ROW row of padded_cols(T2, n) codes per token.
  size_t quantize_rows(const float* a, int64_t T, int64_t n) {
    const int64_t n_codes = formats::padded_cols(FormatId::T2, n);
    const size_t row_bytes = formats::row_bytes(FormatId::I8_ROW, n_codes);
    xq_.resize(row_bytes * size_t(T));
    normed_.resize(size_t(n));
    for (int64_t t = 0; t < T; ++t) {
      bitnet_rmsnorm(normed_.data(), a + t * n, n);
      bitnet_quantize_act(normed_.data(), n, n_codes, xq_.data() + size_t(t) * row_bytes);
    }
    return row_bytes;
  }

  // runbit.c's attention for one query position over n_ctx cached positions:
  // scores q·k / sqrtf(head_size), softmax, then the weighted sum of v, each a
  // plain float loop in index order (the reference kernels). The output is
  // re-quantized to int8 right after, so the SIMD kernels' other summation
  // order and approximate exp would change the generated ids.
  void attention(float* out, const float* q, const float* kc, const float* vc, int64_t n_ctx, int64_t kv_dim,
                 ThreadPool& pool) {
    const BitnetConfig& c = w_.cfg;
    const kernels::KernelTable& ref = kernels::reference_table();
    const int64_t hs = c.head_dim, kv_mul = c.n_heads / c.n_kv_heads;
    const float scale = std::sqrt(float(hs));
    pool.parallel_for(c.n_heads, [&](int64_t h0, int64_t h1, int thread) {
      float* att = scratch_.data() + int64_t(thread) * n_ctx;  // thread i owns scratch row i
      for (int64_t h = h0; h < h1; ++h) {
        const float* qh = q + h * hs;
        const int64_t kv_off = (h / kv_mul) * hs;
        for (int64_t t = 0; t < n_ctx; ++t) att[t] = ref.dot_f32(qh, kc + t * kv_dim + kv_off, hs) / scale;
        ref.softmax(att, n_ctx);
        float* oh = out + h * hs;
        std::fill(oh, oh + hs, 0.0f);
        for (int64_t t = 0; t < n_ctx; ++t) ref.axpy_f32(oh, att[t], vc + t * kv_dim + kv_off, hs);
      }
    });
  }

  // T tokens at positions st.n_past.. : activations are [T, width] row-major.
  void forward_chunk(std::span<const int32_t> ids, BitnetState& st, float* logits, bool all_logits,
                     ThreadPool& pool) {
    const BitnetConfig& c = w_.cfg;
    const int64_t T = int64_t(ids.size()), D = c.dim, H = c.hidden_dim, hs = c.head_dim;
    const int64_t kv_dim = c.n_kv_heads * hs;
    const int64_t pos0 = st.n_past;
    x_.resize(size_t(T * D));
    xb_.resize(size_t(T * D));
    q_.resize(size_t(T * D));
    att_.resize(size_t(T * D));
    hb_.resize(size_t(T * H));
    hb2_.resize(size_t(T * H));
    scratch_.resize(size_t(pool.size()) * size_t(st.n_ctx));

    for (int64_t t = 0; t < T; ++t) kernels::embedding(w_.tok_embd, ids[size_t(t)], &x_[size_t(t * D)]);

    for (int64_t l = 0; l < c.n_layers; ++l) {
      const BitnetLayer& L = w_.layers[size_t(l)];
      float* kc = &st.k_cache[size_t(l * st.n_ctx * kv_dim)];
      float* vc = &st.v_cache[size_t(l * st.n_ctx * kv_dim)];

      // attention: q, k, v of the quantized normed input; k and v go straight into the cache
      size_t rb = quantize_rows(x_.data(), T, D);
      const kernels::QuantizedProduct qkv[] = {{&L.wq, xq_.data(), rb, q_.data(), D},
                                               {&L.wk, xq_.data(), rb, kc + pos0 * kv_dim, kv_dim},
                                               {&L.wv, xq_.data(), rb, vc + pos0 * kv_dim, kv_dim}};
      kernels::matmul_quantized_group(qkv, T, pool);
      for (int64_t t = 0; t < T; ++t) {
        kernels::rope(&q_[size_t(t * D)], c.n_heads, hs, hs, pos0 + t, kRopeTheta, kernels::RopeStyle::Interleaved);
        kernels::rope(kc + (pos0 + t) * kv_dim, c.n_kv_heads, hs, hs, pos0 + t, kRopeTheta,
                      kernels::RopeStyle::Interleaved);
      }
      // causal: token t attends to positions 0..pos0+t
      for (int64_t t = 0; t < T; ++t)
        attention(&att_[size_t(t * D)], &q_[size_t(t * D)], kc, vc, pos0 + t + 1, kv_dim, pool);
      rb = quantize_rows(att_.data(), T, D);
      matmul_quantized(L.wo, xq_.data(), rb, T, xb_.data(), D, pool);
      for (int64_t i = 0; i < T * D; ++i) x_[size_t(i)] += xb_[size_t(i)];  // residual

      // feed-forward: w2(bitnorm(silu(w1 x) * w3 x))
      rb = quantize_rows(x_.data(), T, D);
      const kernels::QuantizedProduct w1_w3[] = {{&L.w1, xq_.data(), rb, hb_.data(), H},
                                                 {&L.w3, xq_.data(), rb, hb2_.data(), H}};
      kernels::matmul_quantized_group(w1_w3, T, pool);
      // runbit.c's expression and libm's expf, not kernels::swiglu: its SIMD
      // exp and its g / (1 + e) round differently, and hb is re-quantized next.
      for (int64_t i = 0; i < T * H; ++i) {
        const float g = hb_[size_t(i)];
        hb_[size_t(i)] = g * (1.0f / (1.0f + std::exp(-g))) * hb2_[size_t(i)];
      }
      // runbit.c passes dim, not hidden_dim, to act_scale and act_quantize
      // here. With dim == hidden_dim (every shipped checkpoint that works) the
      // two agree; otherwise runbit.c would take the scale from and quantize
      // only the first dim entries, leaving the rest of its int8 buffer stale
      // (or reading past hb when dim > hidden_dim). The full hidden_dim is
      // what the PyTorch model computes, so that is what is used.
      rb = quantize_rows(hb_.data(), T, H);
      matmul_quantized(L.w2, xq_.data(), rb, T, xb_.data(), D, pool);
      for (int64_t i = 0; i < T * D; ++i) x_[size_t(i)] += xb_[size_t(i)];  // residual
    }
    st.n_past += T;
    if (!logits) return;

    // head: run.c's RMSNorm with weight and eps (the reference kernel: runbit.c's
    // order), then the fp32 embedding as classifier
    const int64_t first = all_logits ? 0 : T - 1, n_out = T - first;
    for (int64_t t = first; t < T; ++t)
      kernels::reference_table().rmsnorm(&xb_[size_t((t - first) * D)], &x_[size_t(t * D)], w_.rms_final, D, kFinalNormEps);
    kernels::matmul(w_.tok_embd, xb_.data(), D, n_out, logits, c.vocab_size, pool);
  }

  std::shared_ptr<const io::ModelFile> file_;  // keeps the mapped embedding alive
  BitnetWeights w_;
  ModelInfo info_;
  std::vector<float> x_, xb_, q_, att_, hb_, hb2_, normed_, scratch_;
  std::vector<uint8_t> xq_;  // I8_ROW activation rows
};

}  // namespace

Result<std::unique_ptr<Model>> load_bitnet(std::shared_ptr<const io::ModelFile> file, const LoadOptions& opts) {
  NB_ASSIGN_OR_RETURN(BitnetWeights w, load_weights(*file));
  return std::unique_ptr<Model>(new Bitnet(std::move(file), std::move(w)));
}

}  // namespace nb
