#pragma GCC optimize("fp-contract=off")  // the reference's fp32 operation order, no FMA
#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/half.h"
#include "quant/gptq_loop.h"
#include "quant/layer_error.h"

namespace nb::quant {
namespace {

struct RowParams {
  float scale, zero;
};

// quant.py Quantizer.find_params(x, weight=True) with perchannel, sym, no MSE
// grid, for one row of a group: n values at x. fp16: the scale is rounded to
// fp16 (after clamping to the largest finite fp16) before it is used.
RowParams fit_row(const float* x, int64_t n, float maxq, bool fp16) {
  float mn = x[0], mx = x[0];
  for (int64_t j = 1; j < n; ++j) {
    mn = std::min(mn, x[j]);
    mx = std::max(mx, x[j]);
  }
  float xmin = std::min(mn, 0.0f), xmax = std::max(mx, 0.0f);
  xmax = std::max(std::fabs(xmin), xmax);
  if (xmin < 0.0f) xmin = -xmax;  // quirk: a row without negatives keeps xmin = 0
  if (xmin == 0.0f && xmax == 0.0f) {
    xmin = -1.0f;
    xmax = 1.0f;
  }
  float scale = (xmax - xmin) / maxq;
  if (fp16) scale = fp16_to_f32(f32_to_fp16(std::min(scale, 65504.0f)));
  return {scale, (maxq + 1.0f) / 2.0f};  // symmetric zero: (maxq+1)/2
}

// quant.py quantize(): clamp(round(x/scale) + zero, 0, maxq), torch.round = half
// to even. A zero scale (an fp16 scale that underflowed) gives code `zero` (0).
inline uint8_t quantize_code(float x, RowParams p, float maxq) {
  if (p.scale == 0.0f) return uint8_t(p.zero);
  float q = std::nearbyint(x / p.scale) + p.zero;  // default rounding mode: to nearest even
  q = std::min(std::max(q, 0.0f), maxq);
  return uint8_t(q);
}

inline float dequantize(uint8_t code, RowParams p) { return p.scale * (float(code) - p.zero); }

QuantizedInt make_result(int64_t rows, int64_t cols, int64_t n_groups) {
  QuantizedInt q;
  q.rows = rows;
  q.cols = cols;
  q.n_groups = n_groups;
  q.codes.assign(size_t(rows * cols), 0);
  q.deq.assign(size_t(rows * cols), 0.0f);
  q.scales.assign(size_t(rows * n_groups), 0.0f);
  q.zeros.assign(size_t(rows * n_groups), 0.0f);
  q.perm.resize(size_t(cols));
  std::iota(q.perm.begin(), q.perm.end(), 0);
  q.g_idx.assign(size_t(cols), 0);
  return q;
}

}  // namespace

QuantizedInt rtn_quantize(const float* w, int64_t rows, int64_t cols, int64_t group_size, int bits, bool fp16_scales) {
  const int64_t g = group_size > 0 ? group_size : cols;
  const float maxq = float((1 << bits) - 1);
  QuantizedInt q = make_result(rows, cols, (cols + g - 1) / g);
  for (int64_t t = 0; t < q.n_groups; ++t) {
    const int64_t c0 = t * g, n = std::min(g, cols - c0);
    for (int64_t r = 0; r < rows; ++r) {
      const RowParams p = fit_row(w + r * cols + c0, n, maxq, fp16_scales);
      q.scales[size_t(r * q.n_groups + t)] = p.scale;
      q.zeros[size_t(r * q.n_groups + t)] = p.zero;
      for (int64_t c = c0; c < c0 + n; ++c) {
        const uint8_t code = quantize_code(w[r * cols + c], p, maxq);
        q.codes[size_t(r * cols + c)] = code;
        q.deq[size_t(r * cols + c)] = dequantize(code, p);
      }
    }
    for (int64_t c = c0; c < c0 + n; ++c) q.g_idx[size_t(c)] = int32_t(t);
  }
  return q;
}

Result<QuantizedInt> gptq_quantize(const float* w_in, int64_t rows, int64_t cols, const float* h_in,
                                   const GptqOptions& opt, ThreadPool& pool, const PreparedHessian* prepared) {
  if (rows <= 0 || cols <= 0 || opt.block_size <= 0 || opt.bits < 1 || opt.bits > 8)
    return Status::Error("gptq: bad shape or options");
  const float maxq = float((1 << opt.bits) - 1);
  const bool grouped = opt.group_size > 0;
  const int64_t g = grouped ? opt.group_size : cols;
  const int64_t n = cols;
  QuantizedInt out = make_result(rows, cols, (cols + g - 1) / g);
  auto set_params = [&](int64_t r, int64_t group, RowParams p) {
    out.scales[size_t(r * out.n_groups + group)] = p.scale;
    out.zeros[size_t(r * out.n_groups + group)] = p.zero;
  };

  // Step 1: fp32 copy; without groups the per-row params come from all of W.
  std::vector<float> W(w_in, w_in + rows * cols);
  std::vector<RowParams> current(static_cast<size_t>(rows));  // the params in use, per row
  if (!grouped)
    for (int64_t r = 0; r < rows; ++r) {
      current[size_t(r)] = fit_row(W.data() + r * cols, cols, maxq, opt.fp16_scales);
      set_params(r, 0, current[size_t(r)]);
    }

  // Step 2: dead inputs (H_jj == 0): H_jj = 1, W[:, j] = 0.
  std::vector<int64_t> dead;
  for (int64_t j = 0; j < n; ++j)
    if (h_in[j * n + j] == 0.0f) dead.push_back(j);
  for (int64_t j : dead)
    for (int64_t r = 0; r < rows; ++r) W[size_t(r * cols + j)] = 0.0f;

  // Step 3: static groups, fitted on the initial (dead-zeroed) W in original column order.
  if (grouped && opt.static_groups)
    for (int64_t t = 0; t < out.n_groups; ++t)
      for (int64_t r = 0; r < rows; ++r)
        set_params(r, t, fit_row(W.data() + r * cols + t * g, std::min(g, cols - t * g), maxq, opt.fp16_scales));

  // Steps 4-6: act-order permutation of H (argsort of diag H descending, stable),
  // damping, U = upper Cholesky of the inverse (prepared_hessian.h).
  PreparedHessian own;
  const PreparedHessian* P = prepared;
  if (!P || !dead.empty() || P->n != n || P->act_order != opt.act_order || P->percdamp != opt.percdamp) {
    std::vector<float> H(h_in, h_in + n * n);
    for (int64_t j : dead) H[size_t(j * n + j)] = 1.0f;
    own = prepare_hessian(H.data(), n, opt.act_order, opt.percdamp, pool);
    P = &own;
  }
  if (P->cholesky_failed && !opt.fallback_to_rounding)
    return Status::Error("gptq: the damped Hessian is not positive definite (Cholesky failed)");
  out.cholesky_failed = P->cholesky_failed;  // then P->upper = I: plain rounding
  out.perm = P->perm;
  const std::vector<int32_t>& perm = out.perm;
  if (opt.act_order) {
    std::vector<float> Wp(W.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) Wp[size_t(r * cols + c)] = W[size_t(r * cols + perm[size_t(c)])];
    W.swap(Wp);
  }
  const std::vector<float>& U = P->upper;
  if (opt.compute_energy && !P->cholesky_failed) out.weight_energy = weight_energy(W.data(), rows, cols, P->lower.data(), pool);

  // Step 7: the column loop; codes are recorded by the quantizer callback.
  std::vector<uint8_t> codes_p(static_cast<size_t>(rows * cols));  // permuted column order
  auto quantize = [&](int64_t c, int64_t r0, int64_t r1, const float* w, int64_t stride, float* q) {
    for (int64_t r = r0; r < r1; ++r) {
      RowParams& p = current[size_t(r)];
      if (grouped && !opt.static_groups && c % g == 0) {
        // Dynamic: fitted from the OUTER W (updates of earlier blocks, not of
        // this one). Columns >= c of W are not yet overwritten by the loop.
        p = fit_row(W.data() + r * cols + c, std::min(g, cols - c), maxq, opt.fp16_scales);
        set_params(r, c / g, p);
      } else if (grouped && opt.static_groups) {
        const int64_t t = perm[size_t(c)] / g;
        p = {out.scales[size_t(r * out.n_groups + t)], out.zeros[size_t(r * out.n_groups + t)]};
      }
      const uint8_t code = quantize_code(w[(r - r0) * stride], p, maxq);
      codes_p[size_t(r * cols + c)] = code;
      q[r - r0] = dequantize(code, p);
    }
  };
  std::vector<double> row_loss;
  GptqLoopOptions lo;
  lo.block_size = opt.block_size;
  lo.lazy = LazyUpdate::SubtractSum;
  run_gptq_loop(W.data(), rows, cols, U.data(), lo, quantize, &row_loss, pool);

  // Step 8: back to the original column order.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      out.codes[size_t(r * cols + perm[size_t(c)])] = codes_p[size_t(r * cols + c)];
      out.deq[size_t(r * cols + perm[size_t(c)])] = W[size_t(r * cols + c)];
    }
  for (int64_t c = 0; c < cols; ++c) {
    // Dynamic groups are consecutive in processing order; static ones in original order.
    out.g_idx[size_t(perm[size_t(c)])] = int32_t(opt.static_groups ? perm[size_t(c)] / g : c / g);
  }
  out.error = std::accumulate(row_loss.begin(), row_loss.end(), 0.0);
  return out;
}

}  // namespace nb::quant
