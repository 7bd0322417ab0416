#include "models/llama_export.h"

#include <cmath>
#include <cstring>

#include "core/progress.h"
#include "formats/format.h"
#include "models/llama_weights.h"

namespace nb {
namespace {

// llama.cpp's general.file_type for a matrix format (its LLAMA_FTYPE numbers).
int32_t file_type(FormatId t) {
  switch (t) {
    case FormatId::F32: return 0;
    case FormatId::F16: return 1;
    case FormatId::Q4_0: return 2;
    case FormatId::Q8_0: return 7;
    case FormatId::BF16: return 32;
    case FormatId::TQ1_0: return 36;
    case FormatId::TQ2_0: return 37;
    case FormatId::MXFP4: return 38;
    default: return -1;
  }
}

// Row r of a matrix stored with Hugging Face's half-split RoPE layout, as it
// sits in the interleaved layout: within each head, output 2i+j comes from
// input j*half + i. (This is the permutation llama.cpp's converter applies.)
int64_t interleaved_source_row(int64_t r, int64_t head_dim) {
  int64_t h = r / head_dim, k = r % head_dim, half = head_dim / 2;
  return h * head_dim + (k % 2) * half + k / 2;
}

// Converts a matrix to `to`, optionally permuting rows; bytes are copied
// unchanged when nothing needs converting (lossless). Formats with a tensor
// scale (NVFP4) get a companion F32 [1] tensor `<name>.scale`; converting into
// one picks s_T = amax / 2688 (6 * 448: the largest block value maps to the
// E2M1 x E4M3 maximum, design/fp4-and-gptq.md §3.2).
Status convert_matrix(const TensorView& src, FormatId to, int64_t permute_head_dim, const std::string& name,
                      io::GgufWriter& w, std::vector<std::vector<uint8_t>>& keep) {
  const int64_t rows = src.rows(), cols = src.cols();
  const auto& from_tr = formats::traits(src.format);
  const auto& to_tr = formats::traits(to);
  NB_TRY(formats::check_row(to, cols, name.c_str()));
  if (!to_tr.from_float && to != src.format)
    return Status::Error(std::string("cannot write format ") + to_tr.name + " (tensor '" + name + "')");
  const size_t rb = formats::row_bytes(to, cols), src_rb = formats::row_bytes(src.format, cols);
  const float src_scale = from_tr.tensor_scale ? src.scale : 1.0f;
  auto src_row = [&](int64_t r) {
    int64_t s = permute_head_dim ? interleaved_source_row(r, permute_head_dim) : r;
    return static_cast<const uint8_t*>(src.data) + s * src.stride[0];
  };
  std::vector<float> row(static_cast<size_t>(cols));
  float dst_scale = 1.0f;
  if (src.format == to) {
    dst_scale = src_scale;
  } else if (to_tr.tensor_scale) {
    float amax = 0.0f;
    for (int64_t r = 0; r < rows; ++r) {
      from_tr.to_float(src_row(r), row.data(), cols);
      for (float v : row) amax = std::fmax(amax, std::fabs(v * src_scale));
    }
    if (amax > 0.0f) dst_scale = amax / 2688.0f;
  }
  keep.emplace_back(rb * size_t(rows));
  uint8_t* out = keep.back().data();
  for (int64_t r = 0; r < rows; ++r) {
    if (src.format == to) {
      std::memcpy(out + size_t(r) * rb, src_row(r), src_rb);
    } else {
      from_tr.to_float(src_row(r), row.data(), cols);
      if (src_scale != dst_scale)
        for (float& v : row) v = v * src_scale / dst_scale;
      to_tr.from_float(row.data(), out + size_t(r) * rb, cols);
    }
  }
  NB_TRY(w.add_tensor(name, to, {rows, cols}, out, rb * size_t(rows)));
  if (!to_tr.tensor_scale) return Status::Ok();
  keep.emplace_back(sizeof(float));
  std::memcpy(keep.back().data(), &dst_scale, sizeof dst_scale);
  return w.add_tensor(name + ".scale", FormatId::F32, {1}, keep.back().data(), sizeof dst_scale);
}

Status add_norm(const float* v, int64_t n, const std::string& name, io::GgufWriter& w,
                std::vector<std::vector<uint8_t>>& keep) {
  keep.emplace_back(size_t(n) * sizeof(float));
  std::memcpy(keep.back().data(), v, size_t(n) * sizeof(float));
  return w.add_tensor(name, FormatId::F32, {n}, keep.back().data(), size_t(n) * sizeof(float));
}

}  // namespace

HeadFormats default_head_formats(FormatId t, int64_t width, bool tied) {
  if (t == FormatId::TQ1_0 || t == FormatId::TQ2_0) {
    auto fits = [&](FormatId f) { return width % formats::traits(f).block_size == 0 ? f : FormatId::Q8_0; };
    const FormatId output = fits(FormatId::Q6_K);
    return {tied ? output : fits(FormatId::Q4_K), output};
  }
  const auto& tr = formats::traits(t);
  const bool below_8_bits = tr.block_bytes * 8 < size_t(8 * tr.block_size);
  const FormatId f = below_8_bits ? FormatId::Q8_0 : t;
  return {f, f};
}

Status add_llama_to_gguf(const io::ModelFile& in, const LlamaExportOptions& opt, io::GgufWriter& w,
                         std::vector<std::vector<uint8_t>>& keep) {
  NB_ASSIGN_OR_RETURN(LlamaWeights lw, load_llama_weights(in));
  return add_llama_weights_to_gguf(in, lw, opt, w, keep);
}

Status add_llama_weights_to_gguf(const io::ModelFile& in, const LlamaWeights& lw, const LlamaExportOptions& opt,
                                 io::GgufWriter& w, std::vector<std::vector<uint8_t>>& keep) {
  const LlamaConfig& c = lw.cfg;
  const HeadFormats head = opt.head_formats(lw.cfg.dim, lw.tied);
  for (FormatId t : {opt.type, head.embd, head.output}) {
    const auto& tr = formats::traits(t);
    if (!tr.from_float || !tr.dot || tr.dot_i32)
      return Status::Error(std::string("convert: a Llama model cannot be written as ") + tr.name +
                           " (f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, tq1_0, tq2_0, mxfp4, mxfp4_fpq, nvfp4, "
                           "int4_g32/64/128)");
  }
  w.add_string("general.architecture", "llama");
  w.add_string("general.name", in.get_string_or("general.name", "nibble-converted"));
  if (file_type(opt.type) >= 0) w.add_u32("general.file_type", uint32_t(file_type(opt.type)));
  if (formats::traits(opt.type).block_size > 1) w.add_u32("general.quantization_version", 2);
  if (c.hadamard_k) w.add_u32("nibble.hadamard_block_size", uint32_t(c.hadamard_k));
  w.add_u32("llama.vocab_size", uint32_t(c.vocab_size));
  w.add_u32("llama.context_length", uint32_t(c.n_ctx_train > 0 ? c.n_ctx_train : 2048));
  w.add_u32("llama.embedding_length", uint32_t(c.dim));
  w.add_u32("llama.block_count", uint32_t(c.n_layers));
  w.add_u32("llama.feed_forward_length", uint32_t(c.hidden_dim));
  w.add_u32("llama.rope.dimension_count", uint32_t(c.rot_dim));
  w.add_u32("llama.attention.head_count", uint32_t(c.n_heads));
  w.add_u32("llama.attention.head_count_kv", uint32_t(c.n_kv_heads));
  if (c.head_dim != c.dim / c.n_heads) {
    w.add_u32("llama.attention.key_length", uint32_t(c.head_dim));
    w.add_u32("llama.attention.value_length", uint32_t(c.head_dim));
  }
  w.add_f32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
  w.add_f32("llama.rope.freq_base", c.rope_theta);

  // GGUF `llama` uses interleaved RoPE: Hugging Face's half-split Q/K rows are permuted.
  const int64_t perm = c.rope_style == kernels::RopeStyle::HalfSplit ? c.head_dim : 0;
  if (perm && c.rot_dim != c.head_dim) return Status::Error("convert: partial RoPE of half-split models is not supported");
  Progress bar("convert", int64_t(lw.layers.size()) + 2);
  NB_TRY(convert_matrix(lw.tok_embd, head.embd, 0, "token_embd.weight", w, keep));
  bar.add();
  for (size_t l = 0; l < lw.layers.size(); ++l) {
    const LlamaLayer& L = lw.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    NB_TRY(add_norm(L.attn_norm, c.dim, p + "attn_norm.weight", w, keep));
    NB_TRY(convert_matrix(L.wq, opt.type, perm, p + "attn_q.weight", w, keep));
    NB_TRY(convert_matrix(L.wk, opt.type, perm, p + "attn_k.weight", w, keep));
    NB_TRY(convert_matrix(L.wv, opt.type, 0, p + "attn_v.weight", w, keep));
    NB_TRY(convert_matrix(L.wo, opt.type, 0, p + "attn_output.weight", w, keep));
    NB_TRY(add_norm(L.ffn_norm, c.dim, p + "ffn_norm.weight", w, keep));
    NB_TRY(convert_matrix(L.w_gate, opt.type, 0, p + "ffn_gate.weight", w, keep));
    NB_TRY(convert_matrix(L.w_up, opt.type, 0, p + "ffn_up.weight", w, keep));
    NB_TRY(convert_matrix(L.w_down, opt.type, 0, p + "ffn_down.weight", w, keep));
    bar.add();
  }
  NB_TRY(add_norm(lw.out_norm, c.dim, "output_norm.weight", w, keep));
  if (!lw.tied) NB_TRY(convert_matrix(lw.output, head.output, 0, "output.weight", w, keep));
  bar.add();
  bar.finish();
  return Status::Ok();
}

}  // namespace nb
