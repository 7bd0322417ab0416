#include "quant/linear_quantizer.h"

#include <cmath>
#include <cstring>

#include "core/half.h"
#include "formats/blocks.h"
#include "formats/format.h"
#include "kernels/hadamard.h"
#include "quant/cholesky.h"
#include "quant/fpq_gptq.h"
#include "quant/gptq.h"
#include "quant/layer_error.h"
#include "quant/pack_rows.h"

namespace nb::quant {

Result<Method> parse_method(const std::string& name) {
  if (name == "rtn") return Method::Rtn;
  if (name == "gptq") return Method::Gptq;
  if (name == "mr-gptq" || name == "mrgptq") return Method::MrGptq;
  return Status::Error("--method '" + name + "': expected rtn, gptq or mr-gptq");
}

const char* method_name(Method m) {
  switch (m) {
    case Method::Rtn: return "rtn";
    case Method::Gptq: return "gptq";
    case Method::MrGptq: return "mr-gptq";
  }
  return "?";
}

Status rotate_weights(float* w, int64_t rows, int64_t cols, int64_t k, ThreadPool& pool) {
  if (!kernels::hadamard_block_ok(cols, k))
    return Status::Error(strfmt("rotate_weights: block %lld must be a power of two >= 2 dividing the row length %lld",
                                (long long)k, (long long)cols));
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) { kernels::hadamard_rows(w + r0 * cols, r1 - r0, cols, k); });
  return Status::Ok();
}

namespace {

// Classic IST-DASLab GPTQ for the INT4 formats (groups of the format's size).
Result<QuantizedLinear> classic_int4(const float* w, int64_t rows, int64_t cols, const float* h,
                                     const LinearQuantizeOptions& opt, int64_t group, ThreadPool& pool,
                                     const PreparedHessian* prepared) {
  GptqOptions go;
  go.group_size = group;
  go.percdamp = opt.percdamp;
  go.act_order = opt.act_order;
  go.static_groups = opt.act_order;  // the file stores groups in original column order
  go.fp16_scales = true;
  go.compute_energy = true;
  go.fallback_to_rounding = true;  // as FP-Quant's GPTQ does
  NB_ASSIGN_OR_RETURN(QuantizedInt r, gptq_quantize(w, rows, cols, h, go, pool, prepared));
  QuantizedLinear q;
  q.codes = std::move(r.codes);
  q.scales = std::move(r.scales);
  q.perm = std::move(r.perm);
  q.deq = std::move(r.deq);
  q.cholesky_failed = r.cholesky_failed;
  if (!r.cholesky_failed) q.rel_error = relative_error(2 * r.error, r.weight_energy, rows * cols);
  return q;
}

// RTN with the format's reference encoder, exactly as `nibble convert` writes
// the format. NVFP4: convert's own tensor scale s_T = amax(W)/2688 of this
// matrix (not a fused global scale: that is FP-Quant's GPTQ convention), the
// rows encoded as W / s_T.
QuantizedLinear encoder_rtn(const float* w, int64_t rows, int64_t cols, const LinearQuantizeOptions& opt,
                            ThreadPool& pool) {
  const auto& tr = formats::traits(opt.format);
  QuantizedLinear q;
  q.group_size = tr.block_size;
  const size_t rb = formats::row_bytes(opt.format, cols);
  q.packed.resize(rb * size_t(rows));
  q.deq.resize(size_t(rows * cols));
  if (tr.tensor_scale) {
    float amax = 0.0f;
    for (int64_t i = 0; i < rows * cols; ++i) amax = std::fmax(amax, std::fabs(w[i]));
    if (amax > 0.0f) q.tensor_scale = amax / formats::kNVFP4TensorDivisor;
    q.global_scale = 1.0f / q.tensor_scale;
  }
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t j = 0; j < cols; ++j) row[size_t(j)] = w[r * cols + j] / q.tensor_scale;
      tr.from_float(row.data(), q.packed.data() + size_t(r) * rb, cols);
      float* d = q.deq.data() + r * cols;
      tr.to_float(q.packed.data() + size_t(r) * rb, d, cols);
      if (tr.tensor_scale)
        for (int64_t j = 0; j < cols; ++j) d[j] *= q.tensor_scale;
    }
  });
  return q;
}

// Round-to-nearest has no column loop: the error the direct way, against the
// damped Hessian like every other method, so methods are comparable.
double damped_error(const float* w, const float* deq, int64_t rows, int64_t cols, const float* h, float percdamp,
                    ThreadPool& pool) {
  std::vector<float> hd(h, h + cols * cols);
  dampen_diagonal(hd, cols, percdamp);
  return relative_error_direct(w, deq, rows, cols, hd.data(), pool);
}

}  // namespace

namespace {

Result<QuantizedLinear> quantize(const float* w, int64_t rows, int64_t cols, const float* h,
                                 const LinearQuantizeOptions& opt, ThreadPool& pool, const PreparedHessian* prepared) {
  const auto& tr = formats::traits(opt.format);
  const bool encoder = opt.method == Method::Rtn && !opt.mse_scales;
  if (encoder && !tr.from_float) return Status::Error(std::string("quantize: cannot write format ") + tr.name);
  if (!encoder && !fpq_supported(opt.format))
    return Status::Error(std::string("quantize: ") + method_name(opt.method) + (opt.mse_scales ? " with MSE scales" : "") +
                         " needs one of mxfp4, mxfp4_fpq, nvfp4, int4_g32, int4_g64, int4_g128, not " + tr.name);
  NB_TRY(formats::check_row(opt.format, cols, "quantize: matrix row"));
  for (int64_t i = 0; i < rows * cols; ++i)
    if (!std::isfinite(w[i]))
      return Status::Error(strfmt("quantize: weight [%lld, %lld] is not finite", (long long)(i / cols),
                                  (long long)(i % cols)));
  if (encoder) {
    QuantizedLinear q = encoder_rtn(w, rows, cols, opt, pool);
    if (h) q.rel_error = damped_error(w, q.deq.data(), rows, cols, h, opt.percdamp, pool);
    return q;
  }
  const bool use_h = h && opt.method != Method::Rtn;
  const int64_t group = tr.block_size;

  QuantizedLinear q;
  q.group_size = group;
  std::vector<float> own_deq;  // the quantizer's code · scale
  if (use_h && opt.method == Method::Gptq && fpq_is_int4(opt.format)) {
    NB_ASSIGN_OR_RETURN(q, classic_int4(w, rows, cols, h, opt, group, pool, prepared));
    q.group_size = group;
    q.stored.resize(q.scales.size());
    for (size_t i = 0; i < q.scales.size(); ++i) q.stored[i] = f32_to_fp16(q.scales[i]);  // exact: fp16 values
    own_deq = std::move(q.deq);
  } else {
    FpqGptqOptions fo;
    fo.format = opt.format;
    fo.observer = opt.mse_scales ? Observer::Mse : Observer::MinMax;
    fo.act_order = opt.act_order;
    fo.rel_damp = opt.percdamp;
    fo.nvfp4_global_scale = opt.nvfp4_global_scale;
    NB_ASSIGN_OR_RETURN(FpqQuantized f, fpq_quantize(w, rows, cols, use_h ? h : nullptr, fo, pool, prepared));
    q.codes = std::move(f.codes);
    q.scales = std::move(f.scales.scale);
    q.stored = std::move(f.scales.stored);
    q.perm = std::move(f.perm);
    q.cholesky_failed = f.cholesky_failed;
    q.global_scale = f.scales.global_scale;
    q.rel_error = f.rel_error;
    if (opt.format == FormatId::NVFP4) q.tensor_scale = 1.0f / q.global_scale;
    own_deq = std::move(f.deq);
  }

  NB_ASSIGN_OR_RETURN(q.packed, pack_rows(opt.format, rows, cols, q.codes.data(), q.stored.data()));
  // The file's decode; NVFP4's rows hold E2M1·E4M3 and the tensor scale multiplies once.
  q.deq.resize(size_t(rows * cols));
  const size_t rb = formats::row_bytes(opt.format, cols);
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      float* d = q.deq.data() + r * cols;
      tr.to_float(q.packed.data() + size_t(r) * rb, d, cols);
      if (tr.tensor_scale)
        for (int64_t j = 0; j < cols; ++j) d[j] *= q.tensor_scale;
    }
  });
  for (size_t i = 0; i < own_deq.size(); ++i) {
    // A zero-scale NVFP4 block: FP-Quant computes its codes with scale 1; the
    // file can only say 0. Nonzero codes there cannot be stored.
    if (own_deq[i] != 0.0f && q.deq[i] == 0.0f)
      return Status::Error(strfmt("quantize: weight [%lld, %lld] = %g quantized to %g in a block whose scale rounds "
                                  "to zero in the file",
                                  (long long)(i / size_t(cols)), (long long)(i % size_t(cols)), double(w[i]),
                                  double(own_deq[i])));
    q.deq_rounding_differences += own_deq[i] != q.deq[i];
  }
  // GPTQ reports ε from its own loop; without a loop (rtn), or when the classic
  // path fell back to rounding, it is computed the direct way.
  const bool loop_error = use_h && !(q.cholesky_failed && fpq_is_int4(opt.format) && opt.method == Method::Gptq);
  if (h && !loop_error) q.rel_error = damped_error(w, q.deq.data(), rows, cols, h, opt.percdamp, pool);
  return q;
}

}  // namespace

Result<QuantizedLinear> quantize_linear(const float* w, int64_t rows, int64_t cols, const float* h,
                                        const LinearQuantizeOptions& opt, ThreadPool& pool) {
  return quantize(w, rows, cols, h, opt, pool, nullptr);
}

Result<QuantizedLinear> quantize_linear(const float* w, int64_t rows, int64_t cols, const HessianAccumulator* h,
                                        const LinearQuantizeOptions& opt, ThreadPool& pool) {
  if (h && h->cols() != cols)
    return Status::Error(strfmt("quantize: Hessian is %lld×%lld, the matrix has %lld columns", (long long)h->cols(),
                                (long long)h->cols(), (long long)cols));
  if (!h || opt.method == Method::Rtn) return quantize(w, rows, cols, h ? h->hessian().data() : nullptr, opt, pool, nullptr);
  return quantize(w, rows, cols, h->hessian().data(), opt, pool, &h->prepared(opt.act_order, opt.percdamp, pool));
}

}  // namespace nb::quant
