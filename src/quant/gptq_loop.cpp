#pragma GCC optimize("fp-contract=off")  // each product is rounded before it is subtracted, as in the reference
#include "quant/gptq_loop.h"

#include <algorithm>

#include "kernels/seq_gemm.h"

namespace nb::quant {

void run_gptq_loop(float* W, int64_t rows, int64_t cols, const float* U, const GptqLoopOptions& opt,
                   const QuantizeColumnFn& quantize, std::vector<double>* row_loss, ThreadPool& pool) {
  using kernels::SeqFinish;
  using kernels::SeqGemm;
  using kernels::SeqStart;
  using kernels::SeqStep;
  const int64_t B = std::min(opt.block_size, cols);
  std::vector<float> W1(static_cast<size_t>(rows * B)), Err1(static_cast<size_t>(rows * B));
  if (row_loss) row_loss->assign(static_cast<size_t>(rows), 0.0);
  const SeqGemm rank1{SeqStart::FromC, SeqStep::Sub, SeqFinish::Store};
  const SeqGemm lazy = opt.lazy == LazyUpdate::SubtractSum ? SeqGemm{SeqStart::FromZero, SeqStep::Add, SeqFinish::Sub}
                                                            : SeqGemm{SeqStart::FromC, SeqStep::Sub, SeqFinish::Store};

  for (int64_t i1 = 0; i1 < cols; i1 += B) {
    const int64_t i2 = std::min(i1 + B, cols), count = i2 - i1;
    // The block, row by row: rows never interact, so any split is exact.
    pool.parallel_for(
        rows,
        [&](int64_t r0, int64_t r1, int) {
          std::vector<float> q(static_cast<size_t>(r1 - r0));
          for (int64_t r = r0; r < r1; ++r) std::copy_n(W + r * cols + i1, count, W1.data() + r * count);
          for (int64_t i = 0; i < count; ++i) {
            const int64_t c = i1 + i;
            const float d = U[c * cols + c];
            quantize(c, r0, r1, W1.data() + r0 * count + i, count, q.data());
            for (int64_t r = r0; r < r1; ++r) {
              const float w = W1[size_t(r * count + i)], qv = q[size_t(r - r0)];
              const float diff = w - qv;
              if (row_loss) {
                const float loss = (diff * diff) / (d * d);
                (*row_loss)[size_t(r)] += double(loss / 2.0f);
              }
              Err1[size_t(r * count + i)] = diff / d;
              W[r * cols + c] = qv;
            }
            // W1[:, i+1:] -= e ⊗ U[c, c+1:i2]
            kernels::seq_gemm(rank1, r1 - r0, count - i - 1, 1, Err1.data() + r0 * count + i, count, 1,
                              U + c * cols + c + 1, 0, W1.data() + r0 * count + i + 1, count);
          }
        },
        8);
    if (i2 < cols)
      kernels::seq_gemm_parallel(pool, lazy, rows, cols - i2, count, Err1.data(), count, 1, U + i1 * cols + i2, cols,
                                 W + i2, cols);
  }
}

}  // namespace nb::quant
