// Llama models with random weights, for benchmarks of shapes we have no file for.
#include <algorithm>
#include <cmath>
#include <random>

#include "formats/blocks.h"
#include "formats/format.h"
#include "models/llama.h"
#include "models/llama_export.h"
#include "models/llama_weights.h"

namespace nb {

Result<LlamaConfig> llama_shape(const std::string& name) {
  LlamaConfig c;
  auto set = [&](int64_t dim, int64_t hidden, int64_t layers, int64_t heads, int64_t kv, int64_t vocab, int64_t ctx) {
    c.dim = dim, c.hidden_dim = hidden, c.n_layers = layers, c.n_heads = heads, c.n_kv_heads = kv;
    c.vocab_size = vocab, c.n_ctx_train = ctx, c.head_dim = dim / heads, c.rot_dim = dim / heads;
  };
  if (name == "tinyllama-1.1b") set(2048, 5632, 22, 32, 4, 32000, 2048);
  else if (name == "llama-7b") set(4096, 11008, 32, 32, 32, 32000, 4096);
  else if (name == "stories260k") set(64, 172, 5, 8, 4, 512, 512);
  else return Status::Error("unknown --random shape '" + name + "' (known: tinyllama-1.1b, llama-7b, stories260k)");
  return c;
}

namespace {

// Row r of a random matrix: N(0, 0.02) values from the row's own seed, so the
// result does not depend on how rows are split over threads.
void random_row(uint64_t seed, int64_t r, std::vector<float>& row) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(r));
  std::normal_distribution<float> nd(0.0f, 0.02f);
  for (auto& v : row) v = nd(rng);
}

// NVFP4's tensor scale as its quantizer picks it: s_T = amax / (6 * 448), so
// that every block scale amax_block / 6 / s_T fits E4M3. The rows are made
// twice (here and when encoding) rather than kept: a 1.1B model in fp32
// would not fit next to itself.
float nvfp4_tensor_scale(int64_t rows, int64_t cols, uint64_t seed, ThreadPool& pool) {
  std::vector<float> row_amax(static_cast<size_t>(rows), 0.0f);
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      random_row(seed, r, row);
      for (float v : row) row_amax[size_t(r)] = std::max(row_amax[size_t(r)], std::fabs(v));
    }
  });
  const float amax = *std::max_element(row_amax.begin(), row_amax.end());
  return amax > 0.0f ? amax / formats::kNVFP4TensorDivisor : 1.0f;
}

// One random matrix in `format`; tensor-scale formats (NVFP4) get their
// scale in TensorView::scale and store the values divided by it.
TensorView random_matrix(int64_t rows, int64_t cols, FormatId format, uint64_t seed, ThreadPool& pool,
                         std::vector<Buffer>& owned) {
  const auto& tr = formats::traits(format);
  const size_t rb = formats::row_bytes(format, cols);
  const float scale = tr.tensor_scale ? nvfp4_tensor_scale(rows, cols, seed, pool) : 1.0f;
  Buffer buf(rb * size_t(rows));
  char* base = buf.as<char>();
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      random_row(seed, r, row);
      if (scale != 1.0f)
        for (auto& v : row) v /= scale;
      tr.from_float(row.data(), base + size_t(r) * rb, cols);
    }
  });
  TensorView t = formats::matrix_view(format, rows, cols, buf.data(), scale, int64_t(rb));
  owned.push_back(std::move(buf));
  return t;
}

const float* ones(int64_t n, std::vector<Buffer>& owned) {
  Buffer b(size_t(n) * sizeof(float));
  for (int64_t i = 0; i < n; ++i) b.as<float>()[i] = 1.0f;
  const float* p = b.as<float>();
  owned.push_back(std::move(b));
  return p;
}

}  // namespace

Result<LlamaWeights> random_llama_weights(const LlamaConfig& cfg, FormatId format, uint64_t seed, ThreadPool& pool) {
  const auto& tr = formats::traits(format);
  // Of the tensor-scale formats only NVFP4 has a rule for its scale here; the
  // ternary ones belong to the MatMul-free models.
  if (!tr.from_float || !tr.dot || (tr.tensor_scale && format != FormatId::NVFP4))
    return Status::Error(std::string("random weights cannot be made in format ") + tr.name);
  NB_TRY(formats::check_row(format, cfg.dim, "model width"));
  NB_TRY(formats::check_row(format, cfg.hidden_dim, "FFN width"));
  LlamaWeights w;
  w.cfg = cfg;
  const int64_t q = cfg.n_heads * cfg.head_dim, kv = cfg.n_kv_heads * cfg.head_dim;
  uint64_t s = seed;
  // The embedding and output head in the formats a converted file would have.
  const HeadFormats head = default_head_formats(format, cfg.dim, /*tied=*/false);
  w.tok_embd = random_matrix(cfg.vocab_size, cfg.dim, head.embd, ++s, pool, w.owned);
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    LlamaLayer L;
    L.attn_norm = ones(cfg.dim, w.owned);
    L.ffn_norm = ones(cfg.dim, w.owned);
    L.wq = random_matrix(q, cfg.dim, format, ++s, pool, w.owned);
    L.wk = random_matrix(kv, cfg.dim, format, ++s, pool, w.owned);
    L.wv = random_matrix(kv, cfg.dim, format, ++s, pool, w.owned);
    L.wo = random_matrix(cfg.dim, q, format, ++s, pool, w.owned);
    L.w_gate = random_matrix(cfg.hidden_dim, cfg.dim, format, ++s, pool, w.owned);
    L.w_up = random_matrix(cfg.hidden_dim, cfg.dim, format, ++s, pool, w.owned);
    L.w_down = random_matrix(cfg.dim, cfg.hidden_dim, format, ++s, pool, w.owned);
    w.layers.push_back(L);
  }
  w.out_norm = ones(cfg.dim, w.owned);
  w.output = random_matrix(cfg.vocab_size, cfg.dim, head.output, ++s, pool, w.owned);
  return w;
}

Result<std::unique_ptr<Model>> make_random_llama(const LlamaConfig& cfg, FormatId format, uint64_t seed,
                                                 ThreadPool& pool, const LoadOptions& opts) {
  NB_ASSIGN_OR_RETURN(LlamaWeights w, random_llama_weights(cfg, format, seed, pool));
  return make_llama(std::move(w), nullptr, opts);
}

}  // namespace nb
