#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "quant/cholesky.h"

namespace nb::quant {
namespace {

// Parameters of one group, one entry per row (reference Quantizer.scale / .zero).
struct GroupParams {
  std::vector<float> scale, zero;
};

// quant.py Quantizer.find_params(x, weight=True) with perchannel, sym, no MSE grid,
// on columns [c0, c0+n) of the row-major matrix w (row stride ld).
GroupParams fit_group_params(const float* w, int64_t rows, int64_t ld, int64_t c0, int64_t n, float maxq) {
  GroupParams p{std::vector<float>(size_t(rows)), std::vector<float>(size_t(rows))};
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = w + r * ld + c0;
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
    p.scale[r] = (xmax - xmin) / maxq;
    p.zero[r] = (maxq + 1.0f) / 2.0f;  // symmetric: (maxq+1)/2
  }
  return p;
}

// quant.py quantize(): clamp(round(x/scale) + zero, 0, maxq), torch.round = half to even.
inline uint8_t quantize_code(float x, float scale, float zero, float maxq) {
  float q = std::nearbyint(x / scale) + zero;  // default rounding mode: to nearest even
  q = std::min(std::max(q, 0.0f), maxq);
  return uint8_t(q);
}

inline float dequantize(uint8_t code, float scale, float zero) { return scale * (float(code) - zero); }

// Act-order (§6.2 step 4): argsort(diag H) descending; ties broken by index so the
// order is deterministic (torch's argsort is not guaranteed stable; the golden H has no ties).
std::vector<int32_t> act_order_permutation(const std::vector<float>& h, int64_t n) {
  std::vector<int32_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) { return h[a * n + a] > h[b * n + b]; });
  return perm;
}

// Step 5: H_jj += percdamp·mean(diag H), the damping computed in fp32.
void dampen(std::vector<float>& h, int64_t n, float percdamp) {
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += h[j * n + j];
  const float mean = float(sum / double(n));
  const float damp = percdamp * mean;
  for (int64_t j = 0; j < n; ++j) h[j * n + j] = h[j * n + j] + damp;
}

// Step 6: U = upper Cholesky factor of (chol(H)·chol(H)ᵀ)⁻¹.
bool upper_cholesky_of_inverse(std::vector<float>& h, int64_t n) {
  if (!cholesky_lower(h, n)) return false;
  h = cholesky_inverse(h, n);
  return cholesky_upper(h, n);
}

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

void store_group(QuantizedInt& q, int64_t group, const GroupParams& p) {
  for (int64_t r = 0; r < q.rows; ++r) {
    q.scales[r * q.n_groups + group] = p.scale[r];
    q.zeros[r * q.n_groups + group] = p.zero[r];
  }
}

}  // namespace

QuantizedInt rtn_quantize(const float* w, int64_t rows, int64_t cols, int64_t group_size, int bits) {
  const int64_t g = group_size > 0 ? group_size : cols;
  const float maxq = float((1 << bits) - 1);
  QuantizedInt q = make_result(rows, cols, (cols + g - 1) / g);
  for (int64_t t = 0; t < q.n_groups; ++t) {
    const int64_t c0 = t * g, n = std::min(g, cols - c0);
    GroupParams p = fit_group_params(w, rows, cols, c0, n, maxq);
    store_group(q, t, p);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = c0; c < c0 + n; ++c) {
        const uint8_t code = quantize_code(w[r * cols + c], p.scale[r], p.zero[r], maxq);
        q.codes[r * cols + c] = code;
        q.deq[r * cols + c] = dequantize(code, p.scale[r], p.zero[r]);
      }
    for (int64_t c = c0; c < c0 + n; ++c) q.g_idx[c] = int32_t(t);
  }
  return q;
}

Result<QuantizedInt> gptq_quantize(const float* w_in, int64_t rows, int64_t cols, const float* h_in,
                                   const GptqOptions& opt) {
  if (rows <= 0 || cols <= 0 || opt.block_size <= 0 || opt.bits < 1 || opt.bits > 8)
    return Status::Error("gptq: bad shape or options");
  const float maxq = float((1 << opt.bits) - 1);
  const bool grouped = opt.group_size > 0;
  const int64_t g = grouped ? opt.group_size : cols;
  const int64_t n = cols;
  QuantizedInt out = make_result(rows, cols, (cols + g - 1) / g);

  // Step 1: fp32 copies; without groups the per-row params come from all of W.
  std::vector<float> W(w_in, w_in + rows * cols), H(h_in, h_in + n * n);
  GroupParams params;
  if (!grouped) params = fit_group_params(W.data(), rows, cols, 0, cols, maxq);

  // Step 2: dead inputs (H_jj == 0): H_jj = 1, W[:, j] = 0.
  for (int64_t j = 0; j < n; ++j)
    if (H[j * n + j] == 0.0f) {
      H[j * n + j] = 1.0f;
      for (int64_t r = 0; r < rows; ++r) W[r * cols + j] = 0.0f;
    }

  // Step 3: static groups, fitted on the initial (dead-zeroed) W in original column order.
  std::vector<GroupParams> static_params;
  if (grouped && opt.static_groups)
    for (int64_t t = 0; t < out.n_groups; ++t) {
      const int64_t c0 = t * g;
      static_params.push_back(fit_group_params(W.data(), rows, cols, c0, std::min(g, cols - c0), maxq));
      store_group(out, t, static_params.back());
    }

  // Step 4: act-order permutation of W's columns and of H.
  if (opt.act_order) {
    out.perm = act_order_permutation(H, n);
    std::vector<float> Wp(W.size()), Hp(H.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) Wp[r * cols + c] = W[r * cols + out.perm[c]];
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) Hp[i * n + j] = H[out.perm[i] * n + out.perm[j]];
    W.swap(Wp);
    H.swap(Hp);
  }
  const std::vector<int32_t>& perm = out.perm;

  // Steps 5-6: damping, then U = upper Cholesky of the inverse.
  dampen(H, n, opt.percdamp);
  if (!upper_cholesky_of_inverse(H, n))
    return Status::Error("gptq: the damped Hessian is not positive definite (Cholesky failed)");
  const std::vector<float>& U = H;

  // Step 7: lazy batches of B columns, in processing (permuted) order.
  std::vector<uint8_t> codes_p(size_t(rows * cols));  // permuted column order
  std::vector<float> deq_p(size_t(rows * cols));
  double error = 0;
  const GroupParams* cur = grouped ? nullptr : &params;
  for (int64_t i1 = 0; i1 < cols; i1 += opt.block_size) {
    const int64_t i2 = std::min(i1 + opt.block_size, cols), count = i2 - i1;
    std::vector<float> W1(size_t(rows * count)), Err1(size_t(rows * count));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < count; ++i) W1[r * count + i] = W[r * cols + i1 + i];

    for (int64_t i = 0; i < count; ++i) {
      const int64_t c = i1 + i;
      // 7.1 group parameters.
      if (grouped && !opt.static_groups && c % g == 0) {
        // Dynamic: fitted from the OUTER W (updates of earlier blocks, not of this one).
        params = fit_group_params(W.data(), rows, cols, c, std::min(g, cols - c), maxq);
        store_group(out, c / g, params);
        cur = &params;
      } else if (grouped && opt.static_groups) {
        cur = &static_params[size_t(perm[c] / g)];
      }
      const float d = U[c * n + c];
      for (int64_t r = 0; r < rows; ++r) {
        // 7.2 quantize; 7.3 scaled error; 7.5 loss.
        const float wv = W1[r * count + i];
        const uint8_t code = quantize_code(wv, cur->scale[r], cur->zero[r], maxq);
        const float q = dequantize(code, cur->scale[r], cur->zero[r]);
        codes_p[r * cols + c] = code;
        deq_p[r * cols + c] = q;
        const float diff = wv - q;
        const float loss = (diff * diff) / (d * d);
        error += double(loss / 2.0f);
        const float e = diff / d;
        Err1[r * count + i] = e;
        // 7.4 rank-1 update of the rest of the block: W1[:, i:] -= e·U[c, c:i2].
        float* w1 = W1.data() + r * count;
        const float* u = U.data() + c * n + i1;
        for (int64_t j = i; j < count; ++j) {
          const float p = e * u[j];
          w1[j] = w1[j] - p;
        }
      }
    }

    // Lazy batch update: W[:, i2:] -= Err1 · U[i1:i2, i2:], each dot summed sequentially
    // over the block (netlib sgemm order), then subtracted.
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = i2; c < cols; ++c) {
        float acc = 0.0f;
        for (int64_t l = 0; l < count; ++l) {
          const float p = Err1[r * count + l] * U[(i1 + l) * n + c];
          acc = acc + p;
        }
        W[r * cols + c] = W[r * cols + c] - acc;
      }
  }

  // Step 8: back to the original column order.
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      out.codes[r * cols + perm[c]] = codes_p[r * cols + c];
      out.deq[r * cols + perm[c]] = deq_p[r * cols + c];
    }
  for (int64_t c = 0; c < cols; ++c) {
    // Dynamic groups are consecutive in processing order; static ones in original order.
    out.g_idx[perm[c]] = int32_t(opt.static_groups ? perm[c] / g : c / g);
  }
  out.error = error;
  return out;
}

}  // namespace nb::quant
