#pragma GCC optimize("fp-contract=off")  // FP-Quant's fp32 operation order, no FMA
#include "quant/fpq_gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "quant/gptq_loop.h"
#include "quant/layer_error.h"
#include "quant/prepared_hessian.h"

namespace nb::quant {

Result<FpqQuantized> fpq_quantize(const float* w, int64_t rows, int64_t cols, const float* h,
                                  const FpqGptqOptions& opt, ThreadPool& pool, const PreparedHessian* prepared) {
  if (rows <= 0 || cols <= 0 || opt.block_size <= 0) return Status::Error("fp-quant gptq: bad shape or block size");
  FpqQuantized out;
  out.rows = rows;
  out.cols = cols;
  NB_ASSIGN_OR_RETURN(out.scales,
                      fpq_group_scales(w, rows, cols, opt.format, opt.observer, opt.nvfp4_global_scale, pool));
  const GroupScales& S = out.scales;
  const bool int4 = fpq_is_int4(opt.format);
  const int64_t G = S.group_size, n = cols;
  out.codes.resize(size_t(rows * cols));
  out.deq.resize(size_t(rows * cols));
  out.perm.resize(size_t(cols));
  std::iota(out.perm.begin(), out.perm.end(), 0);

  if (!h) {  // round-to-nearest with the frozen scales
    pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          const QuantizedValue v = fpq_quantize_value(int4, w[r * cols + c], S.scale[size_t(r * S.n_groups + c / G)]);
          out.codes[size_t(r * cols + c)] = v.code;
          out.deq[size_t(r * cols + c)] = v.deq;
        }
    });
    return out;
  }

  // Dead columns: all-zero columns of the unpermuted W. FP-Quant zeroes those
  // rows/columns of the already-permuted H at the unpermuted indices (see the
  // header); then the Hessian depends on W and is prepared here, not shared.
  std::vector<int64_t> dead;
  for (int64_t c = 0; c < cols; ++c) {
    bool all_zero = true;
    for (int64_t r = 0; r < rows && all_zero; ++r) all_zero = w[r * cols + c] == 0.0f;
    if (all_zero) dead.push_back(c);
  }
  PreparedHessian own;
  const PreparedHessian* P = prepared;
  if (!P || !dead.empty() || P->n != n || P->act_order != opt.act_order || P->percdamp != opt.rel_damp) {
    if (dead.empty()) {
      own = prepare_hessian(h, n, opt.act_order, opt.rel_damp, pool);
    } else {
      own.n = n;
      own.act_order = opt.act_order;
      own.percdamp = opt.rel_damp;
      own.perm = opt.act_order ? descending_diagonal_order(h, n) : out.perm;
      own.damped.resize(size_t(n * n));
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) own.damped[size_t(i * n + j)] = h[own.perm[size_t(i)] * n + own.perm[size_t(j)]];
      for (int64_t c : dead) {
        for (int64_t j = 0; j < n; ++j) own.damped[size_t(c * n + j)] = own.damped[size_t(j * n + c)] = 0.0f;
        own.damped[size_t(c * n + c)] = 1.0f;
      }
      factor_prepared(own, pool);
    }
    P = &own;
  }
  out.perm = P->perm;
  out.cholesky_failed = P->cholesky_failed;
  const std::vector<int32_t>& perm = out.perm;
  std::vector<float> Wp(static_cast<size_t>(rows * cols));
  pool.parallel_for(rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < cols; ++c) Wp[size_t(r * cols + c)] = w[r * cols + perm[size_t(c)]];
  });
  const std::vector<float>& U = P->upper;

  std::vector<uint8_t> codes_p(static_cast<size_t>(rows * cols));
  auto quantize = [&](int64_t c, int64_t r0, int64_t r1, const float* wc, int64_t stride, float* q) {
    const int64_t t = perm[size_t(c)] / G;
    for (int64_t r = r0; r < r1; ++r) {
      const QuantizedValue v = fpq_quantize_value(int4, wc[(r - r0) * stride], S.scale[size_t(r * S.n_groups + t)]);
      codes_p[size_t(r * cols + c)] = v.code;
      q[r - r0] = v.deq;
    }
  };
  GptqLoopOptions lo;
  lo.block_size = opt.block_size;
  lo.lazy = LazyUpdate::SubtractEach;
  std::vector<float> deq_p = Wp;  // the loop leaves the dequantized columns in it
  std::vector<double> row_loss;  // Σ_c e²/2 per row
  run_gptq_loop(deq_p.data(), rows, cols, U.data(), lo, quantize, &row_loss, pool);

  // The error in processing order (a permutation of rows and columns of both
  // sides leaves it unchanged), with the damped, masked H as FP-Quant uses it.
  if (opt.compute_rel_error) {
    if (out.cholesky_failed) {
      out.rel_error = relative_error_direct(Wp.data(), deq_p.data(), rows, cols, P->damped.data(), pool);
    } else {
      double sum_e2 = 0;
      for (double v : row_loss) sum_e2 += 2 * v;
      out.rel_error = relative_error(sum_e2, weight_energy(Wp.data(), rows, cols, P->lower.data(), pool), rows * cols);
    }
  }

  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      out.codes[size_t(r * cols + perm[size_t(c)])] = codes_p[size_t(r * cols + c)];
      out.deq[size_t(r * cols + perm[size_t(c)])] = deq_p[size_t(r * cols + c)];
    }
  return out;
}

}  // namespace nb::quant
