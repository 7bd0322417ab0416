// The error FP-Quant's MSE observer scores for a candidate scale c of one group
// (design/fp4-and-gptq.md §7.3): Σ_j |x_j − c·Q(x_j / c)|^2.4 with Q FP4's E2M1
// rounding or INT4's clamp(RNE(·), −8, 7) (fpq_quantize_value), in fp32. The
// search scores 100 candidates for every group of a layer, so this is the
// observer's hot loop; an AVX-512 version computes 16 elements at a time and
// is bit-identical to the scalar one below (same operations per element).
//
// Fixed here (the reference's torch reduction order is its own): each term
// |d|^2.4 is evaluated in fp64 (pow24) and rounded to fp32; each run of 16
// terms is summed as a tree (lane j + lane j+8, then j + j+4, j + j+2, j + j+1),
// and the runs' sums are added in order to a running fp32 total from 0.
#pragma once
#include <cstdint>

namespace nb::quant {

// |a|^2.4 for a finite a that is an fp32 value, with basic operations and two
// 16-entry tables only (so a vector version reproduces it bit for bit): log2
// from a table of 1/m_i (10-bit, so m·(1/m_i) is exact) and log1p (degree 10)
// on |r| < 0.034; 2.4·e split exactly into an integer and a fifth;
// exp2 from a table of 2^(j/16) and e^t on |t| < 0.022. Relative error below
// 2e-15 (tests/unit/quant/fpq_scales_test.cpp): rounded to fp32 it is the
// correctly rounded |a|^2.4 except within ~2e-15 of a rounding boundary.
double pow24(double a);

// The 16-entry tables pow24 uses (shared with the vector version).
struct Pow24Tables {
  alignas(64) double inv_m[16];     // 1/(1 + (i + ½)/16) rounded to 10 significant bits
  alignas(64) double neg_ln_inv[16];  // −ln(inv_m[i])
  alignas(64) double exp2_j16[16];  // 2^(j/16)
};
const Pow24Tables& pow24_tables();

// Errors of `count` candidate scales for one group of n values (n a multiple of 16).
void fpq_group_errors_ref(bool int4, const float* x, int64_t n, const float* cands, int count, float* errs);
using GroupErrorsFn = void (*)(bool int4, const float* x, int64_t n, const float* cands, int count, float* errs);
GroupErrorsFn fpq_group_errors_fn();  // the best version for this CPU (active_table())

}  // namespace nb::quant
