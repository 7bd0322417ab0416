#include "quant/llama_quantizer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/buffer.h"
#include "core/mapped_file.h"
#include "core/log.h"
#include "formats/format.h"
#include "kernels/bf16_gemm.h"
#include "models/llama_block.h"
#include "quant/hessian.h"
#include "quant/linear_quantizer.h"

namespace nb::quant {
namespace {

// One linear matrix of the model, dequantized to fp32 rows (rotated when the
// model is), ready for the quantizer.
Result<std::vector<float>> to_f32_matrix(const TensorView& t, int64_t hadamard_k, ThreadPool& pool) {
  const int64_t rows = t.rows(), cols = t.cols();
  const auto& tr = formats::traits(t.format);
  const float s = tr.tensor_scale ? t.scale : 1.0f;
  std::vector<float> w(static_cast<size_t>(rows * cols));
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      float* row = &w[size_t(r * cols)];
      tr.to_float(static_cast<const char*>(t.data) + r * t.stride[0], row, cols);
      if (s != 1.0f)
        for (int64_t j = 0; j < cols; ++j) row[j] *= s;
    }
  });
  if (hadamard_k > 0) NB_TRY(rotate_weights(w.data(), rows, cols, hadamard_k, pool));
  return w;
}

// Drops a source matrix's pages from the resident set once it has been read
// (each is read once): keeps peak memory near the working set instead of the
// whole mapped model. Only for data inside the model file's own mappings.
void release_source(const io::ModelFile& mf, const TensorView& t) {
  const auto* p = static_cast<const uint8_t*>(t.data);
  const size_t n = size_t(t.stride[0]) * size_t(t.rows());
  for (const auto& m : mf.maps)
    if (p >= m->data() && p + n <= m->data() + m->size()) release_mapped_pages(p, n);
}

uint16_t bf16_bits(float x) {
  const float r = kernels::round_bf16(x);
  uint32_t u;
  std::memcpy(&u, &r, 4);
  return uint16_t(u >> 16);
}


// The quantized matrices of one block and their fp32 decodings: the decoded
// copies are what the calibration pass multiplies by (exactly the values the
// file will hold), the packed rows what the GGUF file gets.
struct BlockWork {
  LlamaLayer quantized;  // packed views (into out.owned)
  LlamaLayer decoded;    // F32 views (into `f32`) or BF16 views (into `bf16`)
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<uint16_t>> bf16;
};

class Quantizer {
 public:
  Quantizer(const io::ModelFile& mf, const LlamaWeights& src, const LlamaQuantizeOptions& opt, ThreadPool& pool,
            const std::function<void(const LayerReport&)>& on_layer, LlamaWeights& out)
      : mf_(mf), src_(src), c_(src.cfg), opt_(opt), pool_(pool), on_layer_(on_layer), out_(out) {
    lq_.format = opt.type;
    lq_.method = opt.method;
    lq_.act_order = opt.act_order < 0 ? opt.method == Method::MrGptq : opt.act_order != 0;
    lq_.mse_scales = opt.scale_search < 0 ? opt.method == Method::MrGptq : opt.scale_search != 0;
    tf_.hadamard_k = c_.hadamard_k;
    tf_.bf16 = opt.calib_bf16;
    hp_ = opt.calib_bf16 ? HessianPrecision::Bf16 : HessianPrecision::Exact;
  }

  // Quantizes block l, then advances every window's residual stream through it.
  Status block(int64_t l, std::vector<std::vector<float>>& xs, const std::vector<std::vector<int32_t>>& windows) {
    const LlamaLayer& S = src_.layers[size_t(l)];
    BlockWork b;
    b.quantized = S;  // norms stay; matrices are replaced below
    b.decoded = S;
    const std::string p = "blk." + std::to_string(l) + ".";
    const int64_t D = c_.dim, q_dim = c_.n_heads * c_.head_dim, kv_dim = c_.n_kv_heads * c_.head_dim, F = c_.hidden_dim;
    const int64_t C = opt_.calib_ctx;
    std::vector<float> kc(static_cast<size_t>(C * kv_dim)), vc(static_cast<size_t>(C * kv_dim));
    const size_t n_win = windows.size();

    // [q, k, v] from the attention input
    HessianAccumulator h_attn(D, hp_);
    for (size_t w = 0; w < n_win; ++w) {
      attn_input(c_, b.decoded, tf_, xs[w].data(), C, s_);
      h_attn.add_batch(s_.xb.data(), C, 1, pool_);
    }
    NB_TRY(quantize_group(b, {{&S.wq, &b.quantized.wq, &b.decoded.wq, p + "attn_q.weight"},
                              {&S.wk, &b.quantized.wk, &b.decoded.wk, p + "attn_k.weight"},
                              {&S.wv, &b.quantized.wv, &b.decoded.wv, p + "attn_v.weight"}},
                          h_attn));

    // [o] from the attention output, made with the quantized q, k, v
    HessianAccumulator h_o(q_dim, hp_);
    stash_.resize(n_win);
    for (size_t w = 0; w < n_win; ++w) {
      attn_input(c_, b.decoded, tf_, xs[w].data(), C, s_);
      attn_core(c_, b.decoded, tf_, C, 0, kc.data(), vc.data(), s_, pool_);
      h_o.add_batch(s_.att.data(), C, 1, pool_);
      stash_[w].resize(size_t(C * std::max(q_dim, F)));  // one size for both uses: allocated once
      std::copy(s_.att.begin(), s_.att.begin() + C * q_dim, stash_[w].begin());
    }
    NB_TRY(quantize_group(b, {{&S.wo, &b.quantized.wo, &b.decoded.wo, p + "attn_output.weight"}}, h_o));

    // [gate, up] from the FFN input, after the quantized attention's residual
    HessianAccumulator h_ffn(D, hp_);
    for (size_t w = 0; w < n_win; ++w) {
      std::copy(stash_[w].begin(), stash_[w].begin() + C * q_dim, s_.att.begin());
      attn_output(c_, b.decoded, xs[w].data(), C, s_, pool_);
      ffn_input(c_, b.decoded, tf_, xs[w].data(), C, s_);
      h_ffn.add_batch(s_.xb.data(), C, 1, pool_);
    }
    NB_TRY(quantize_group(b, {{&S.w_gate, &b.quantized.w_gate, &b.decoded.w_gate, p + "ffn_gate.weight"},
                              {&S.w_up, &b.quantized.w_up, &b.decoded.w_up, p + "ffn_up.weight"}},
                          h_ffn));

    // [down] from the FFN hidden state, made with the quantized gate and up
    HessianAccumulator h_down(F, hp_);
    for (size_t w = 0; w < n_win; ++w) {
      ffn_input(c_, b.decoded, tf_, xs[w].data(), C, s_);
      ffn_core(c_, b.decoded, tf_, C, s_, pool_);
      h_down.add_batch(s_.hb.data(), C, 1, pool_);
      std::copy(s_.hb.begin(), s_.hb.begin() + C * F, stash_[w].begin());
    }
    NB_TRY(quantize_group(b, {{&S.w_down, &b.quantized.w_down, &b.decoded.w_down, p + "ffn_down.weight"}}, h_down));
    for (size_t w = 0; w < n_win; ++w) {
      std::copy(stash_[w].begin(), stash_[w].begin() + C * F, s_.hb.begin());
      ffn_output(c_, b.decoded, xs[w].data(), C, s_, pool_);
    }
    out_.layers[size_t(l)] = b.quantized;
    return Status::Ok();
  }

  void reserve(int64_t C) { s_.reserve(c_, C, C, pool_.size()); }

 private:
  struct Target {
    const TensorView* src;
    TensorView* quantized;
    TensorView* decoded;
    std::string name;
  };

  // Linears sharing one input share its Hessian and, for NVFP4, one global
  // scale (FP-Quant's --fuse_global_scale: the minimum over the group).
  Status quantize_group(BlockWork& b, std::vector<Target> group, const HessianAccumulator& h) {
    std::vector<std::vector<float>> ws;
    float global = 0.0f;
    for (const Target& t : group) {
      auto wr = to_f32_matrix(*t.src, c_.hadamard_k, pool_);
      if (!wr.ok()) return wr.status().with_context(mf_.path + ": " + t.name);
      std::vector<float> w = std::move(*wr);
      ws.push_back(std::move(w));
      release_source(mf_, *t.src);
      if (opt_.type == FormatId::NVFP4) {
        const float g = nvfp4_global_scale(ws.back().data(), int64_t(ws.back().size()));
        global = global == 0.0f ? g : std::min(global, g);
      }
    }
    for (size_t i = 0; i < group.size(); ++i) {
      const Target& t = group[i];
      const int64_t rows = t.src->rows(), cols = t.src->cols();
      const auto t0 = std::chrono::steady_clock::now();
      LinearQuantizeOptions o = lq_;
      o.nvfp4_global_scale = global;
      auto qr = quantize_linear(ws[i].data(), rows, cols, opt_.method == Method::Rtn ? nullptr : &h, o, pool_);
      if (!qr.ok()) return qr.status().with_context(mf_.path + ": " + t.name);
      QuantizedLinear q = std::move(*qr);
      std::vector<float>().swap(ws[i]);
      Buffer packed(q.packed.size());
      std::memcpy(packed.data(), q.packed.data(), q.packed.size());
      *t.quantized = formats::matrix_view(opt_.type, rows, cols, packed.data(), q.tensor_scale);
      out_.owned.push_back(std::move(packed));
      if (opt_.calib_bf16) {
        // bf16 bits of the decoded weights: the calibration's matmuls then run on the tile unit
        std::vector<uint16_t> h(q.deq.size());
        pool_.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
          for (int64_t i = r0 * cols; i < r1 * cols; ++i) h[size_t(i)] = bf16_bits(q.deq[size_t(i)]);
        });
        std::vector<float>().swap(q.deq);
        b.bf16.push_back(std::move(h));
        *t.decoded = formats::matrix_view(FormatId::BF16, rows, cols, b.bf16.back().data(), 1.0f);
      } else {
        b.f32.push_back(std::move(q.deq));
        *t.decoded = formats::matrix_view(FormatId::F32, rows, cols, b.f32.back().data(), 1.0f);
      }
      LayerReport r;
      r.name = t.name;
      r.rows = rows;
      r.cols = cols;
      r.rel_error = q.rel_error;
      r.cholesky_failed = q.cholesky_failed;
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (on_layer_) on_layer_(r);
    }
    return Status::Ok();
  }

  const io::ModelFile& mf_;
  const LlamaWeights& src_;
  const LlamaConfig& c_;
  const LlamaQuantizeOptions& opt_;
  ThreadPool& pool_;
  const std::function<void(const LayerReport&)>& on_layer_;
  LlamaWeights& out_;
  LinearQuantizeOptions lq_;
  // Per window, what a later stage of the block needs again: the attention
  // output (until [gate, up]), then the FFN hidden state (until the end).
  // Kept across blocks, so its pages are faulted in once.
  std::vector<std::vector<float>> stash_;
  LinearInputTransform tf_;  // rotation (+ bf16 rounding): calibration inputs are not activation-quantized
  HessianPrecision hp_;
  LlamaScratch s_;
};

}  // namespace

std::vector<std::vector<int32_t>> calibration_windows(const std::vector<int32_t>& tokens, int64_t n, int64_t ctx,
                                                      uint64_t seed) {
  std::vector<std::vector<int32_t>> out;
  const int64_t total = int64_t(tokens.size());
  if (ctx <= 0 || n <= 0 || total < ctx) return out;
  const int64_t n_disjoint = total / ctx;
  if (n >= n_disjoint) {  // not enough text for n random windows to be distinct: take every window
    for (int64_t w = 0; w < n_disjoint; ++w) out.emplace_back(tokens.begin() + w * ctx, tokens.begin() + (w + 1) * ctx);
    return out;
  }
  // splitmix64: the same offsets on every platform and standard library
  uint64_t state = seed;
  auto next = [&state] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  for (int64_t w = 0; w < n; ++w) {
    const int64_t start = int64_t(next() % uint64_t(total - ctx + 1));
    out.emplace_back(tokens.begin() + start, tokens.begin() + start + ctx);
  }
  return out;
}

Result<LlamaWeights> quantize_llama(const io::ModelFile& in, const std::vector<std::vector<int32_t>>& windows,
                                    const LlamaQuantizeOptions& opt, ThreadPool& pool,
                                    const std::function<void(const LayerReport&)>& on_layer) {
  NB_ASSIGN_OR_RETURN(LlamaWeights src, load_llama_weights(in));
  LlamaConfig& c = src.cfg;
  if (c.hadamard_k != 0)
    return Status::Error(in.path + ": the model is already rotated (nibble.hadamard_block_size); quantize its original");
  const auto& tr = formats::traits(opt.type);
  int64_t k = opt.hadamard_k;
  if (k < 0) k = opt.method == Method::MrGptq ? tr.block_size : 0;
  if (k > 0) {
    if ((k & (k - 1)) != 0 || k < 2) return Status::Error(strfmt("--hadamard %lld: not a power of two", (long long)k));
    for (int64_t n : {c.dim, c.n_heads * c.head_dim, c.hidden_dim})
      if (n % k)
        return Status::Error(strfmt("--hadamard %lld does not divide the linear input width %lld", (long long)k,
                                    (long long)n));
  }
  for (const auto& [n, what] : {std::pair{c.dim, "model width"}, std::pair{c.n_heads * c.head_dim, "attention width"},
                                std::pair{c.hidden_dim, "FFN width"}})
    NB_TRY(formats::check_row(opt.type, n, what));
  if (windows.empty()) return Status::Error("quantize: no calibration windows");
  const int64_t C = int64_t(windows[0].size());
  for (const auto& w : windows)
    for (int32_t id : w)
      if (id < 0 || id >= c.vocab_size)
        return Status::Error(strfmt("quantize: calibration token id %d is outside the vocabulary", id));

  c.hadamard_k = k;
  LlamaQuantizeOptions o = opt;
  o.calib_ctx = C;
  LlamaWeights out;
  out.cfg = c;
  out.tok_embd = src.tok_embd;
  out.out_norm = src.out_norm;
  out.output = src.output;
  out.tied = src.tied;
  out.layers = src.layers;

  // Every window's residual stream, advanced block by block.
  std::vector<std::vector<float>> xs(windows.size());
  for (size_t w = 0; w < windows.size(); ++w) {
    xs[w].resize(size_t(C * c.dim));
    for (int64_t t = 0; t < C; ++t) kernels::embedding(src.tok_embd, windows[w][size_t(t)], &xs[w][size_t(t * c.dim)]);
  }
  Quantizer q(in, src, o, pool, on_layer, out);
  q.reserve(C);
  for (int64_t l = 0; l < c.n_layers; ++l) NB_TRY(q.block(l, xs, windows));
  for (Buffer& b : src.owned) out.owned.push_back(std::move(b));  // the norms
  return out;
}

}  // namespace nb::quant
