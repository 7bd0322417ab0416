// Loading the MatMul-free LM (hgrn_bit): Hugging Face folders with latent
// weights (ternarized once here, spec §5.5) and nibble's GGUF files with the
// trits already packed (used as they are, never re-ternarized); and writing
// such GGUF files. Spec: ../shared/design/matmulfree-lm.md.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/log.h"
#include "formats/format.h"
#include "models/hgrn_bit.h"

namespace nb {
namespace {

// ---- Tensor names: the one place they are written down.
//
// Hugging Face (upstream save_pretrained)     GGUF (nibble, llama.cpp style)
//   model.embeddings.weight          [V, H]     token_embd.weight        (float format as stored)
//   model.lower_bounds               [L, H]     lower_bounds             (F32, the RAW softmax logits)
//   model.layers.l.attn_norm.weight  [H]        blk.l.attn_norm.weight
//   model.layers.l.attn.i_proj       [D, H]     blk.l.attn_i             BitLinear (below)
//   model.layers.l.attn.f_proj       [D, H]     blk.l.attn_f             BitLinear
//   model.layers.l.attn.g_proj       [D, H]     blk.l.attn_g             BitLinear
//   model.layers.l.attn.g_norm.weight [D]       blk.l.attn_gate_norm.weight
//   model.layers.l.attn.o_proj       [H, D]     blk.l.attn_output        BitLinear
//   model.layers.l.mlp_norm.weight   [H]        blk.l.ffn_norm.weight
//   model.layers.l.mlp.gate_proj     [2I, H]    blk.l.ffn_gate_up        BitLinear (gate rows first)
//   model.layers.l.mlp.down_proj     [H, I]     blk.l.ffn_down           BitLinear
//   model.norm.weight                [H]        output_norm.weight
//   lm_head                          [V, H]     output                   BitLinear
// A BitLinear `<base>` is `<base>.weight` (HF: latent F32/F16/BF16; GGUF: T2 or
// T1_6 trits) and `<base>.norm.weight` (its inner RMSNorm, [in]); GGUF adds
// `<base>.scale`, F32 [1], the per-tensor dequantization factor d.
// Norm vectors are F32 in GGUF.
struct Names {
  std::string embed, lower_bounds, final_norm, lm_head;
  std::string attn_norm, i, f, g, g_norm, o, mlp_norm, gate_up, down;  // of one layer
};

Names hf_names(int64_t l) {
  const std::string p = "model.layers." + std::to_string(l) + ".";
  return {"model.embeddings.weight", "model.lower_bounds", "model.norm.weight", "lm_head",
          p + "attn_norm.weight", p + "attn.i_proj", p + "attn.f_proj", p + "attn.g_proj", p + "attn.g_norm.weight",
          p + "attn.o_proj", p + "mlp_norm.weight", p + "mlp.gate_proj", p + "mlp.down_proj"};
}

Names gguf_names(int64_t l) {
  const std::string p = "blk." + std::to_string(l) + ".";
  return {"token_embd.weight", "lower_bounds", "output_norm.weight", "output",
          p + "attn_norm.weight", p + "attn_i", p + "attn_f", p + "attn_g", p + "attn_gate_norm.weight",
          p + "attn_output", p + "ffn_norm.weight", p + "ffn_gate_up", p + "ffn_down"};
}

// ---- helpers

// A vector (or small matrix) as fp32, whatever float format the file stores.
Result<const float*> to_f32(const io::ModelFile& mf, const std::string& name, std::initializer_list<int64_t> shape,
                            HgrnBitWeights& w) {
  NB_ASSIGN_OR_RETURN(TensorView t, mf.require(name, shape));
  const auto& tr = formats::traits(t.format);
  const int64_t n = t.numel(), cols = t.cols();
  if (!tr.to_float || tr.tensor_scale || cols % tr.block_size != 0)
    return Status::Error(strfmt("%s: tensor '%s': cannot convert format %s to f32", mf.path.c_str(), name.c_str(), tr.name));
  Buffer b(size_t(n) * sizeof(float));
  for (int64_t r = 0; r < t.rows(); ++r) tr.to_float(t.row<const char>(r), b.as<float>() + r * cols, cols);
  for (int64_t k = 0; k < n; ++k)
    if (!std::isfinite(b.as<float>()[k]))
      return Status::Error(strfmt("%s: tensor '%s': element %lld is not finite", mf.path.c_str(), name.c_str(), (long long)k));
  const float* p = b.as<float>();
  w.owned.push_back(std::move(b));
  return p;
}


bool is_latent_float(FormatId f) { return f == FormatId::F32 || f == FormatId::F16 || f == FormatId::BF16; }

// A latent BitLinear of a Hugging Face folder: ternarized here into T2.
Result<BitLinear> hf_bitlinear(const io::ModelFile& mf, const std::string& base, const TensorView* tied, int64_t rows,
                               int64_t cols, HgrnBitWeights& w) {
  const std::string name = tied ? "model.embeddings.weight" : base + ".weight";
  TensorView latent;
  if (tied) {
    latent = *tied;
  } else {
    NB_ASSIGN_OR_RETURN(latent, mf.require(name, {rows, cols}));
  }
  if (!is_latent_float(latent.format))
    return Status::Error(strfmt("%s: tensor '%s': dtype %s cannot be ternarized (latent BitLinear weights must be "
                                "F32, F16 or BF16)",
                                mf.find(name) ? mf.find(name)->file.c_str() : mf.path.c_str(), name.c_str(),
                                formats::traits(latent.format).name));
  BitLinear b;
  Buffer trits(formats::row_bytes(FormatId::T2, cols) * size_t(rows));
  auto ternary = ternarize(latent, FormatId::T2, trits.data());
  if (!ternary.ok()) return ternary.status().with_context(mf.path + ": tensor '" + name + "'");
  const TernaryResult tr = *ternary;
  if (tr.was_ternary)
    NB_LOG_WARN("%s: tensor '%s' already holds ternary values {-c, 0, +c}: taking them as trits with scale c = %g "
                "(not re-ternarized)",
                mf.path.c_str(), name.c_str(), double(tr.scale));
  NB_LOG_DEBUG("%s: mean|W| scale %.9g, density %.4f", name.c_str(), double(tr.scale), tr.density);
  b.W = formats::matrix_view(FormatId::T2, rows, cols, trits.data(), tr.scale);
  b.density = tr.density;
  w.owned.push_back(std::move(trits));
  NB_ASSIGN_OR_RETURN(b.norm, to_f32(mf, base + ".norm.weight", {cols}, w));
  return b;
}

// A packed BitLinear of a GGUF file: trits and scale used as stored.
Result<BitLinear> gguf_bitlinear(const io::ModelFile& mf, const std::string& base, int64_t rows, int64_t cols,
                                 HgrnBitWeights& w) {
  const std::string name = base + ".weight";
  NB_ASSIGN_OR_RETURN(TensorView t, mf.require(name, {rows, cols}));
  if (t.format != FormatId::T2 && t.format != FormatId::T1_6)
    return Status::Error(strfmt("%s: tensor '%s': format %s is not a packed ternary format nibble runs hgrn_bit with "
                                "(t2, t1_6)",
                                mf.path.c_str(), name.c_str(), formats::traits(t.format).name));
  if (t.format == FormatId::T2) {  // code 3 is not a trit
    const auto* p = static_cast<const uint8_t*>(t.data);
    const size_t n = size_t(t.stride[0]) * size_t(rows);
    for (size_t k = 0; k < n; ++k)
      if (p[k] & (p[k] >> 1) & 0x55)
        return Status::Error(strfmt("%s: tensor '%s': byte %zu holds the invalid 2-bit code 3", mf.path.c_str(),
                                    name.c_str(), k));
  }
  NB_ASSIGN_OR_RETURN(TensorView s, mf.require(base + ".scale", {1}, {FormatId::F32}));
  float scale;
  std::memcpy(&scale, s.data, sizeof scale);
  if (!std::isfinite(scale) || scale < 0)
    return Status::Error(strfmt("%s: tensor '%s.scale': %g is not a valid ternary scale", mf.path.c_str(), base.c_str(),
                                double(scale)));
  BitLinear b;
  b.W = t;
  b.W.scale = scale;
  NB_ASSIGN_OR_RETURN(b.norm, to_f32(mf, base + ".norm.weight", {cols}, w));
  return b;
}

Status check_config(const io::ModelFile& mf, const HgrnBitConfig& c) {
  auto bad = [&](const char* what) { return Status::Error(strfmt("%s: invalid hgrn_bit config: %s", mf.path.c_str(), what)); };
  if (c.hidden <= 0 || c.n_layers <= 0 || c.intermediate <= 0 || c.vocab <= 0) return bad("sizes must be positive");
  if (c.hidden > (1 << 20) || c.intermediate > (1 << 22) || c.n_layers > 4096 || c.vocab > (1 << 24))
    return bad("sizes are absurdly large");
  if (c.num_heads <= 0 || c.hidden % c.num_heads != 0) return bad("num_heads must divide hidden_size");
  if (!(c.norm_eps > 0) || !std::isfinite(c.norm_eps)) return bad("rms_norm_eps must be positive");
  return Status::Ok();
}

// A boolean config key: absent -> def; present but not a boolean -> error.
Result<bool> config_bool(const io::ModelFile& mf, const std::string& key, bool def) {
  const io::MetaValue* v = mf.get(key);
  if (!v) return def;
  if (v->type != io::MetaType::Bool && !v->is_int())
    return Status::Error(strfmt("%s: config.json: '%s' must be true or false", mf.path.c_str(), key.c_str() + 3));
  return v->i != 0;
}

Result<HgrnBitConfig> hf_config(const io::ModelFile& mf) {
  HgrnBitConfig c;
  auto unsupported = [&](const std::string& what) {
    return Status::Error(mf.path + ": config.json: " + what);
  };
  NB_ASSIGN_OR_RETURN(c.hidden, mf.get_int("hf.hidden_size"));
  NB_ASSIGN_OR_RETURN(c.n_layers, mf.get_int("hf.num_hidden_layers"));
  NB_ASSIGN_OR_RETURN(c.vocab, mf.get_int("hf.vocab_size"));
  // Options nibble does not implement are refused by name (spec §8 S5-S7).
  const std::string mode = mf.get_string_or("hf.attn_mode", "fused_recurrent");
  if (mode != "fused_recurrent")
    return unsupported("attn_mode '" + mode + "' is not supported; nibble implements only 'fused_recurrent'");
  NB_ASSIGN_OR_RETURN(bool short_conv, config_bool(mf, "hf.use_short_conv", false));
  if (short_conv)
    return unsupported("use_short_conv: true is not supported (upstream's short-convolution path is broken and no "
                       "released model uses it); only use_short_conv: false");
  const double expand = mf.get_float_or("hf.expand_ratio", 1.0);
  if (expand != 1.0)
    return unsupported(strfmt("expand_ratio %g is not supported (upstream's lower bounds break with it); only 1", expand));
  c.num_heads = mf.get_int_or("hf.num_heads", 1);
  if (mf.get("hf.intermediate_size")) {
    NB_ASSIGN_OR_RETURN(c.intermediate, mf.get_int("hf.intermediate_size"));
  } else {
    // upstream: int(H * hidden_ratio * 2 / 3) rounded UP to a multiple of 256 (spec §2, S4)
    const double ratio = mf.get_float_or("hf.hidden_ratio", 4.0);
    const double t = std::trunc(double(c.hidden) * ratio * 2.0 / 3.0);
    if (!(t > 0) || t > double(1 << 22)) return unsupported(strfmt("hidden_ratio %g gives no valid intermediate size", ratio));
    c.intermediate = 256 * ((int64_t(t) + 255) / 256);
  }
  c.norm_eps = float(mf.get_float_or("hf.rms_norm_eps", 1e-6));
  NB_ASSIGN_OR_RETURN(c.use_lower_bound, config_bool(mf, "hf.use_lower_bound", true));
  c.n_ctx_train = mf.get_int_or("hf.max_position_embeddings", 2048);
  NB_TRY(check_config(mf, c));
  return c;
}

Result<HgrnBitConfig> gguf_config(const io::ModelFile& mf) {
  HgrnBitConfig c;
  NB_ASSIGN_OR_RETURN(c.hidden, mf.get_int("hgrn_bit.embedding_length"));
  NB_ASSIGN_OR_RETURN(c.n_layers, mf.get_int("hgrn_bit.block_count"));
  NB_ASSIGN_OR_RETURN(c.intermediate, mf.get_int("hgrn_bit.feed_forward_length"));
  const io::TensorInfo* emb = mf.find("token_embd.weight");
  if (!emb) return Status::Error(mf.path + ": missing tensor 'token_embd.weight'");
  c.vocab = mf.get_int_or("hgrn_bit.vocab_size", emb->view.rows());
  c.num_heads = mf.get_int_or("hgrn_bit.attention.head_count", 1);
  c.norm_eps = float(mf.get_float_or("hgrn_bit.attention.layer_norm_rms_epsilon", 1e-6));
  c.n_ctx_train = mf.get_int_or("hgrn_bit.context_length", 0);
  c.use_lower_bound = mf.get_bool_or("hgrn_bit.use_lower_bound", mf.find("lower_bounds") != nullptr);
  NB_TRY(check_config(mf, c));
  return c;
}

Result<TensorView> embedding_table(const io::ModelFile& mf, const std::string& name, const HgrnBitConfig& c) {
  NB_ASSIGN_OR_RETURN(TensorView t, mf.require(name, {c.vocab, c.hidden}));
  const auto& tr = formats::traits(t.format);
  if (!tr.to_float || tr.tensor_scale || t.format == FormatId::I8_ROW || t.format == FormatId::Q8_K)
    return Status::Error(strfmt("%s: tensor '%s': format %s cannot be used as an embedding table", mf.path.c_str(),
                                name.c_str(), tr.name));
  return t;
}

Result<HgrnBitWeights> load(const io::ModelFile& mf, bool hf) {
  HgrnBitWeights w;
  HgrnBitConfig& c = w.cfg;
  if (hf) {
    NB_ASSIGN_OR_RETURN(c, hf_config(mf));
  } else {
    NB_ASSIGN_OR_RETURN(c, gguf_config(mf));
  }
  w.packed_file = !hf;
  const int64_t H = c.hidden, D = c.hidden, I = c.intermediate, L = c.n_layers;
  auto names = hf ? hf_names : gguf_names;
  const Names top = names(0);
  NB_ASSIGN_OR_RETURN(w.embed, embedding_table(mf, top.embed, c));
  if (c.use_lower_bound) {
    NB_ASSIGN_OR_RETURN(w.lower_bounds_raw, to_f32(mf, top.lower_bounds, {L, H}, w));
    w.lb = hgrn_bit_lower_bounds(w.lower_bounds_raw, L, H);
  }
  auto bitlinear = [&](const std::string& base, int64_t rows, int64_t cols) -> Result<BitLinear> {
    return hf ? hf_bitlinear(mf, base, nullptr, rows, cols, w) : gguf_bitlinear(mf, base, rows, cols, w);
  };
  for (int64_t l = 0; l < L; ++l) {
    const Names n = names(l);
    HgrnBitLayer y;
    NB_ASSIGN_OR_RETURN(y.attn_norm, to_f32(mf, n.attn_norm, {H}, w));
    NB_ASSIGN_OR_RETURN(y.i, bitlinear(n.i, D, H));
    NB_ASSIGN_OR_RETURN(y.f, bitlinear(n.f, D, H));
    NB_ASSIGN_OR_RETURN(y.g, bitlinear(n.g, D, H));
    NB_ASSIGN_OR_RETURN(y.g_norm, to_f32(mf, n.g_norm, {D}, w));
    NB_ASSIGN_OR_RETURN(y.o, bitlinear(n.o, H, D));
    NB_ASSIGN_OR_RETURN(y.mlp_norm, to_f32(mf, n.mlp_norm, {H}, w));
    NB_ASSIGN_OR_RETURN(y.gate_up, bitlinear(n.gate_up, 2 * I, H));
    NB_ASSIGN_OR_RETURN(y.down, bitlinear(n.down, H, I));
    w.layers.push_back(y);
  }
  NB_ASSIGN_OR_RETURN(w.final_norm, to_f32(mf, top.final_norm, {H}, w));
  if (hf) {
    NB_ASSIGN_OR_RETURN(bool tie, config_bool(mf, "hf.tie_word_embeddings", false));
    // Tied: lm_head's weight is the embedding matrix, still ternarized; its norm stays its own (spec §2).
    NB_ASSIGN_OR_RETURN(w.lm_head, hf_bitlinear(mf, top.lm_head, tie ? &w.embed : nullptr, c.vocab, H, w));
  } else {
    NB_ASSIGN_OR_RETURN(w.lm_head, gguf_bitlinear(mf, top.lm_head, c.vocab, H, w));
  }
  return w;
}

// Trits of a packed matrix in another packed format (lossless).
void repack(const TensorView& src, FormatId to, uint8_t* out) {
  const int64_t rows = src.rows(), cols = src.cols();
  const size_t rb = formats::row_bytes(to, cols);
  if (src.format == to) {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(out + size_t(r) * rb, src.row<const char>(r), rb);
    return;
  }
  std::vector<float> t(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    formats::traits(src.format).to_float(src.row<const char>(r), t.data(), cols);
    formats::traits(to).from_float(t.data(), out + size_t(r) * rb, cols);
  }
}

}  // namespace

std::vector<float> hgrn_bit_lower_bounds(const float* raw, int64_t L, int64_t H) {
  std::vector<float> lb(static_cast<size_t>(L * H)), p(static_cast<size_t>(L));
  for (int64_t k = 0; k < H; ++k) {
    // softmax over layers (dim 0), per channel
    float mx = raw[k];
    for (int64_t l = 1; l < L; ++l) mx = std::max(mx, raw[l * H + k]);
    float sum = 0.0f;
    for (int64_t l = 0; l < L; ++l) sum += (p[size_t(l)] = std::exp(raw[l * H + k] - mx));
    for (int64_t l = 0; l < L; ++l) p[size_t(l)] /= sum;
    // cumulative sum over layers minus the first row: lb[0] = 0 exactly
    float cum = 0.0f;
    for (int64_t l = 0; l < L; ++l) {
      cum += p[size_t(l)];
      lb[size_t(l * H + k)] = cum - p[0];
    }
  }
  return lb;
}

Result<TernaryResult> ternarize(const TensorView& W, FormatId out_format, void* out) {
  const auto& in = formats::traits(W.format);
  const auto& ot = formats::traits(out_format);
  const int64_t rows = W.rows(), cols = W.cols();
  std::vector<float> row(static_cast<size_t>(cols)), trits(static_cast<size_t>(cols));
  // Pass 1: mean|W| in double, rows in order; and whether W is already {-c, 0, +c}.
  double sum = 0;
  float c = 0;
  bool ternary_valued = true;
  for (int64_t r = 0; r < rows; ++r) {
    in.to_float(W.row<const char>(r), row.data(), cols);
    for (int64_t k = 0; k < cols; ++k) {
      const float a = std::fabs(row[size_t(k)]);
      if (!std::isfinite(a))
        return Status::Error(strfmt("element [%lld, %lld] is not finite", (long long)r, (long long)k));
      sum += double(a);
      if (a != 0.0f) {
        if (c == 0.0f) c = a;
        else if (a != c) ternary_valued = false;
      }
    }
  }
  TernaryResult res;
  res.was_ternary = ternary_valued && c > 0.0f;
  float s_w;
  if (res.was_ternary) {
    res.scale = c;  // T = W / c: the signs; never the mean of an already ternary tensor (spec §5.5)
    s_w = 0.0f;
  } else {
    const float m = std::max(float(sum / double(rows * cols)), 1e-5f);
    s_w = 1.0f / m;
    res.scale = 1.0f / s_w;
  }
  // Pass 2: trits, packed row by row.
  const size_t rb = formats::row_bytes(out_format, cols);
  int64_t nonzero = 0;
  for (int64_t r = 0; r < rows; ++r) {
    in.to_float(W.row<const char>(r), row.data(), cols);
    for (int64_t k = 0; k < cols; ++k) {
      const float v = row[size_t(k)];
      float t;
      if (res.was_ternary) t = v > 0 ? 1.0f : (v < 0 ? -1.0f : 0.0f);
      else t = std::clamp(std::nearbyint(v * s_w), -1.0f, 1.0f);  // default rounding: ties to even
      trits[size_t(k)] = t;
      nonzero += t != 0.0f;
    }
    ot.from_float(trits.data(), static_cast<uint8_t*>(out) + size_t(r) * rb, cols);
  }
  res.density = double(nonzero) / double(rows * cols);
  return res;
}

Result<HgrnBitWeights> load_hgrn_bit_weights(const io::ModelFile& mf) {
  if (mf.container == "hf") return load(mf, true);
  if (mf.container == "gguf") return load(mf, false);
  return Status::Error(mf.path + ": cannot load an hgrn_bit model from a '" + mf.container + "' container");
}

Status add_hgrn_bit_to_gguf(const io::ModelFile& in, FormatId type, io::GgufWriter& w,
                            std::vector<std::vector<uint8_t>>& keep) {
  if (type != FormatId::T2 && type != FormatId::T1_6)
    return Status::Error(std::string("convert: --type ") + formats::traits(type).name +
                         " is not a format nibble writes hgrn_bit with (t2, t1_6)");
  NB_ASSIGN_OR_RETURN(HgrnBitWeights hw, load_hgrn_bit_weights(in));
  const HgrnBitConfig& c = hw.cfg;
  if (formats::traits(hw.embed.format).gguf_type < 0)
    return Status::Error(std::string("convert: the embedding's format ") + formats::traits(hw.embed.format).name +
                         " has no GGUF type");
  w.add_string("general.architecture", "hgrn_bit");
  w.add_string("general.name", in.get_string_or("general.name", "nibble-converted"));
  w.add_u32("hgrn_bit.vocab_size", uint32_t(c.vocab));
  w.add_u32("hgrn_bit.context_length", uint32_t(c.n_ctx_train > 0 ? c.n_ctx_train : 2048));
  w.add_u32("hgrn_bit.embedding_length", uint32_t(c.hidden));
  w.add_u32("hgrn_bit.block_count", uint32_t(c.n_layers));
  w.add_u32("hgrn_bit.feed_forward_length", uint32_t(c.intermediate));
  w.add_u32("hgrn_bit.attention.head_count", uint32_t(c.num_heads));
  w.add_f32("hgrn_bit.attention.layer_norm_rms_epsilon", c.norm_eps);
  w.add_bool("hgrn_bit.use_lower_bound", c.use_lower_bound);

  auto add_f32 = [&](const std::string& name, const float* v, std::vector<int64_t> shape) {
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    keep.emplace_back(n * sizeof(float));
    std::memcpy(keep.back().data(), v, n * sizeof(float));
    return w.add_tensor(name, FormatId::F32, shape, keep.back().data(), n * sizeof(float));
  };
  auto add_bitlinear = [&](const std::string& base, const BitLinear& b) -> Status {
    const int64_t rows = b.W.rows(), cols = b.W.cols();
    const size_t bytes = formats::row_bytes(type, cols) * size_t(rows);
    keep.emplace_back(bytes);
    repack(b.W, type, keep.back().data());
    NB_TRY(w.add_tensor(base + ".weight", type, {rows, cols}, keep.back().data(), bytes));
    NB_TRY(add_f32(base + ".scale", &b.W.scale, {1}));
    return add_f32(base + ".norm.weight", b.norm, {cols});
  };

  const Names top = gguf_names(0);
  {
    const size_t rb = formats::row_bytes(hw.embed.format, c.hidden);
    keep.emplace_back(rb * size_t(c.vocab));
    for (int64_t r = 0; r < c.vocab; ++r) std::memcpy(keep.back().data() + size_t(r) * rb, hw.embed.row<const char>(r), rb);
    NB_TRY(w.add_tensor(top.embed, hw.embed.format, {c.vocab, c.hidden}, keep.back().data(), rb * size_t(c.vocab)));
  }
  if (c.use_lower_bound) NB_TRY(add_f32(top.lower_bounds, hw.lower_bounds_raw, {c.n_layers, c.hidden}));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const Names n = gguf_names(l);
    const HgrnBitLayer& y = hw.layers[size_t(l)];
    NB_TRY(add_f32(n.attn_norm, y.attn_norm, {c.hidden}));
    NB_TRY(add_bitlinear(n.i, y.i));
    NB_TRY(add_bitlinear(n.f, y.f));
    NB_TRY(add_bitlinear(n.g, y.g));
    NB_TRY(add_f32(n.g_norm, y.g_norm, {c.hidden}));
    NB_TRY(add_bitlinear(n.o, y.o));
    NB_TRY(add_f32(n.mlp_norm, y.mlp_norm, {c.hidden}));
    NB_TRY(add_bitlinear(n.gate_up, y.gate_up));
    NB_TRY(add_bitlinear(n.down, y.down));
  }
  NB_TRY(add_f32(top.final_norm, hw.final_norm, {c.hidden}));
  return add_bitlinear(top.lm_head, hw.lm_head);
}

}  // namespace nb
