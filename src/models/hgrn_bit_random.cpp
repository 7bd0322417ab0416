// MatMul-free models with random weights in the released shapes, for
// benchmarks (`nibble bench --random mmfree-1.3b --type t1_6`).
#include <random>

#include "formats/format.h"
#include "models/hgrn_bit.h"

namespace nb {

Result<HgrnBitConfig> hgrn_bit_shape(const std::string& name) {
  HgrnBitConfig c;
  c.vocab = 32000;
  c.n_ctx_train = 2048;
  // intermediate sizes as the spec derives them (§2 table)
  if (name == "mmfree-370m") c.hidden = 1024, c.n_layers = 24, c.intermediate = 2816;
  else if (name == "mmfree-1.3b") c.hidden = 2048, c.n_layers = 24, c.intermediate = 5632;
  else if (name == "mmfree-2.7b") c.hidden = 2560, c.n_layers = 32, c.intermediate = 6912;
  else return Status::Error("unknown --random shape '" + name + "' (known: mmfree-370m, mmfree-1.3b, mmfree-2.7b)");
  return c;
}

namespace {

struct Filler {
  FormatId format;
  uint64_t seed;
  ThreadPool& pool;
  std::vector<Buffer>& owned;

  // Trits uniform in {-1, 0, +1}; each row seeded by its index, so the split
  // over threads does not matter.
  BitLinear bitlinear(int64_t rows, int64_t cols) {
    const size_t rb = formats::row_bytes(format, cols);
    Buffer buf(rb * size_t(rows));
    char* base = buf.as<char>();
    const uint64_t s = ++seed;
    pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = r0; r < r1; ++r) {
        std::mt19937_64 rng(s * 0x9E3779B97F4A7C15ull + uint64_t(r));
        for (auto& v : row) v = float(int(rng() % 3) - 1);
        formats::traits(format).from_float(row.data(), base + size_t(r) * rb, cols);
      }
    });
    BitLinear b;
    b.W = formats::matrix_view(format, rows, cols, buf.data(), 0.02f, int64_t(rb));
    b.norm = ones(cols);
    b.density = 2.0 / 3.0;
    owned.push_back(std::move(buf));
    return b;
  }

  const float* ones(int64_t n) {
    Buffer b(size_t(n) * sizeof(float));
    for (int64_t i = 0; i < n; ++i) b.as<float>()[i] = 1.0f;
    const float* p = b.as<float>();
    owned.push_back(std::move(b));
    return p;
  }
};

}  // namespace

Result<std::unique_ptr<Model>> make_random_hgrn_bit(const HgrnBitConfig& cfg, FormatId format, uint64_t seed,
                                                    ThreadPool& pool) {
  if (format != FormatId::T2 && format != FormatId::T1_6)
    return Status::Error(std::string("MatMul-free weights are T2 or T1_6, not ") + formats::traits(format).name);
  HgrnBitWeights w;
  w.cfg = cfg;
  w.packed_file = true;
  Filler f{format, seed, pool, w.owned};
  const int64_t H = cfg.hidden, I = cfg.intermediate;
  {
    Buffer emb(size_t(cfg.vocab * H) * sizeof(float));
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int64_t i = 0; i < cfg.vocab * H; ++i) emb.as<float>()[i] = nd(rng);
    w.embed.format = FormatId::F32;
    w.embed.ndim = 2;
    w.embed.shape[0] = cfg.vocab;
    w.embed.shape[1] = H;
    w.embed.stride[0] = H * int64_t(sizeof(float));
    w.embed.stride[1] = sizeof(float);
    w.embed.data = emb.data();
    w.owned.push_back(std::move(emb));
  }
  std::vector<float> raw(size_t(cfg.n_layers * H), 0.0f);  // equal logits: bounds l/L
  w.lb = hgrn_bit_lower_bounds(raw.data(), cfg.n_layers, H);
  for (int64_t l = 0; l < cfg.n_layers; ++l) {
    HgrnBitLayer L;
    L.attn_norm = f.ones(H);
    L.i = f.bitlinear(H, H);
    L.f = f.bitlinear(H, H);
    L.g = f.bitlinear(H, H);
    L.g_norm = f.ones(H);
    L.o = f.bitlinear(H, H);
    L.mlp_norm = f.ones(H);
    L.gate_up = f.bitlinear(2 * I, H);
    L.down = f.bitlinear(H, I);
    w.layers.push_back(L);
  }
  w.final_norm = f.ones(H);
  w.lm_head = f.bitlinear(cfg.vocab, H);
  return make_hgrn_bit(std::move(w), nullptr);
}

}  // namespace nb
