// The MatMul-free LM (architecture `hgrn_bit`, Zhu et al. 2024) as its released
// code computes it: ../shared/design/matmulfree-lm.md is the spec.
// Plain structs of the hyper-parameters and weights, the loaders that fill
// them (Hugging Face folders with latent weights, ternarized here; GGUF files
// with the weights already packed), and the GGUF writer.
#pragma once
#include <memory>
#include <vector>

#include "core/buffer.h"
#include "core/tensor.h"
#include "io/gguf_writer.h"
#include "io/model_file.h"
#include "models/model.h"

namespace nb {

struct HgrnBitConfig {
  int64_t hidden = 0;        // H = D (expand_ratio 1, the only one accepted)
  int64_t n_layers = 0;      // L
  int64_t intermediate = 0;  // I: gate_proj has 2I outputs
  int64_t vocab = 0;
  int64_t num_heads = 1;     // reshape only: no numerical effect (spec §2)
  int64_t n_ctx_train = 0;   // max_position_embeddings: training length only
  float norm_eps = 1e-6f;    // rms_norm_eps: attn_norm, mlp_norm, g_norm, final norm
  bool use_lower_bound = true;
};

// BitLinear's inner RMSNorm always uses this eps, whatever the config says
// (spec §5.1, trap S1: the fused kernel's default, not the module's 1e-8).
constexpr float kBitLinearEps = 1e-6f;

// One BitLinear: its own RMSNorm weight [in], then ternary weights [out, in]
// in T2 or T1_6 with the per-tensor dequantization factor in W.scale.
struct BitLinear {
  TensorView W;
  const float* norm = nullptr;
  double density = 0;  // fraction of nonzero trits (for `inspect`)
};

struct HgrnBitLayer {
  const float* attn_norm = nullptr;  // [H]
  BitLinear i, f, g;                 // [D, H] each
  const float* g_norm = nullptr;     // [D] output-gate RMSNorm (normalizes g)
  BitLinear o;                       // [H, D]
  const float* mlp_norm = nullptr;   // [H]
  BitLinear gate_up;                 // [2I, H]: rows 0..I-1 gate, I..2I-1 up; one scale
  BitLinear down;                    // [H, I]
};

struct HgrnBitWeights {
  HgrnBitConfig cfg;
  TensorView embed;                      // [V, H], any float format; used as-is
  const float* lower_bounds_raw = nullptr;  // [L, H] softmax logits as stored (nullptr without lower bound)
  std::vector<float> lb;                 // [L, H] forget-gate lower bounds, computed at load (§4.2)
  std::vector<HgrnBitLayer> layers;
  const float* final_norm = nullptr;     // [H]
  BitLinear lm_head;                     // [V, H], ternary like the others
  bool packed_file = false;              // trits came from the file (GGUF), not ternarized here
  std::vector<Buffer> owned;             // fp32 vectors and trits made at load
};

Result<HgrnBitWeights> load_hgrn_bit_weights(const io::ModelFile& mf);
Result<std::unique_ptr<Model>> load_hgrn_bit(std::shared_ptr<const io::ModelFile> file, const LoadOptions& opts);

// Adds the model's metadata and weights to `w`: ternary matrices in `type`
// (T2 or T1_6) with one "<name>.scale" F32 tensor each, the embedding in the
// float format it is stored in (lossless). Buffers live in `keep`.
Status add_hgrn_bit_to_gguf(const io::ModelFile& in, FormatId type, io::GgufWriter& w,
                            std::vector<std::vector<uint8_t>>& keep);

// Ternarization of one latent weight matrix (spec §5.5), exposed for tests:
// m = max(fp32(mean|W| in double), 1e-5), s_w = fp32(1/m),
// T = clamp(nearbyint(W * s_w), -1, 1) (ties to even), scale = fp32(1/s_w).
// A matrix whose values are already exactly {-c, 0, +c} gives T = W/c,
// scale = c (never re-ternarized; *was_ternary is set).
// Writes rows of `out_format` (T2 / T1_6) to out (rows * row_bytes bytes).
struct TernaryResult {
  float scale = 0;
  double density = 0;
  bool was_ternary = false;
};
Result<TernaryResult> ternarize(const TensorView& latent, FormatId out_format, void* out);  // error: a non-finite value

// A model over weights already in memory (keepalive holds what they point into).
std::unique_ptr<Model> make_hgrn_bit(HgrnBitWeights w, std::shared_ptr<const io::ModelFile> keepalive);
// Released shapes (spec §7) for `nibble bench --random`: "mmfree-370m",
// "mmfree-1.3b", "mmfree-2.7b".
Result<HgrnBitConfig> hgrn_bit_shape(const std::string& name);
// Random trits (density ~2/3) in T2 or T1_6 and random norms/embedding, built
// without a file; speed depends only on shapes and formats.
Result<std::unique_ptr<Model>> make_random_hgrn_bit(const HgrnBitConfig& cfg, FormatId format, uint64_t seed,
                                                    ThreadPool& pool);

// Forget-gate lower bounds from the raw [L, H] parameter (spec §4.2):
// p = softmax over layers per channel, lb[l] = sum_{j<=l} p[j] - p[0].
std::vector<float> hgrn_bit_lower_bounds(const float* raw, int64_t L, int64_t H);

}  // namespace nb
