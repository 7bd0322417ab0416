// nibble bench --kernels: the matmul kernel of each weight format alone, on
// one thread, with its weights in L2 (about 1 MiB), so the number is the
// kernel's own speed with memory out of the way. Decode (one token) is given
// as weight bytes per second, which says whether a format can reach the
// memory roof at all: a kernel slower than the per-core read bandwidth makes
// decode compute-bound. Prefill (64 tokens) is given in multiply-adds per
// second. The weights are random values through the format's reference
// encoder; formats nibble cannot write (the K-quants) are skipped.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <sstream>

#include "cli/bench_kernels.h"
#include "cli/common.h"
#include "core/buffer.h"
#include "core/membw.h"
#include "formats/format.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace nb::cli {
namespace {

constexpr int64_t kCols = 2560;               // a whole number of blocks of every format (32 ... 256, 160)
constexpr size_t kWeightBytes = size_t(1) << 20;  // L2-resident on current x86 cores
constexpr int64_t kPrefillTokens = 64;

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct KernelResult {
  double gemv_s, gemm_s;  // best seconds per call
  int64_t rows;
  size_t weight_bytes;
};

// Best time of `reps` timed runs of fn, each repeated until it lasts >= 20 ms.
template <class Fn>
double best_time(Fn fn, int reps) {
  int inner = 1;
  for (double t0 = now_s(); now_s() - t0 < 0.02; inner *= 2)
    for (int i = 0; i < inner; ++i) fn();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = now_s();
    for (int i = 0; i < inner; ++i) fn();
    best = std::min(best, (now_s() - t0) / inner);
  }
  return best;
}

Result<KernelResult> measure(FormatId f, int reps) {
  const formats::FormatTraits& wt = formats::traits(f);
  const formats::FormatTraits& at = formats::traits(wt.dot_type);
  const kernels::KernelTable& tab = kernels::active_table();
  if (!wt.from_float) return Status::Error(std::string(wt.name) + ": nibble has no encoder for it");
  if (!at.from_float) return Status::Error(std::string(wt.name) + ": no encoder for its activation format");
  if (!tab.matmul_scaled[size_t(f)] && !tab.matmul[size_t(f)])
    return Status::Error(std::string(wt.name) + ": no matmul kernel");
  // A layout made at load time is placed as the model places it
  // (kernels::with_kernel_layout); file layouts row after row, as in files.
  const size_t bytes = formats::row_bytes(f, kCols);
  const kernels::KernelRowPlacement place = wt.rearranges != FormatId::kCount
                                                ? kernels::kernel_row_placement(f, kCols)
                                                : kernels::KernelRowPlacement{bytes, 0};
  const size_t wrb = place.stride, lead = place.lead;
  const int64_t rows = std::max<int64_t>(16, int64_t(kWeightBytes / wrb) / 16 * 16);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(size_t(kCols * std::max<int64_t>(rows, kPrefillTokens)));
  for (float& x : v) x = nd(rng);
  Buffer buf(lead + wrb * size_t(rows));  // 64-byte aligned
  uint8_t* w = buf.as<uint8_t>() + lead;
  for (int64_t r = 0; r < rows; ++r) wt.from_float(&v[size_t(r * kCols)], w + size_t(r) * wrb, kCols);
  const size_t xrb = formats::row_bytes(wt.dot_type, formats::padded_cols(f, kCols));
  std::vector<uint8_t> x(xrb * size_t(kPrefillTokens));
  for (int64_t t = 0; t < kPrefillTokens; ++t) at.from_float(&v[size_t(t * kCols)], &x[size_t(t) * xrb], kCols);
  std::vector<float> y(size_t(rows * kPrefillTokens));
  // Each takes the entry the Llama models take (matmul_prefill and
  // matmul_decode, whose sums may run in another order) where the format has one.
  auto call = [&](int64_t T) {
    if (tab.matmul_scaled[size_t(f)]) {
      tab.matmul_scaled[size_t(f)](w, wrb, 0, rows, kCols, x.data(), xrb, T, y.data(), rows, 1.0f);
      return;
    }
    kernels::MatmulRowsFn fn = T > 1 ? tab.matmul_prefill[size_t(f)] : tab.matmul_decode[size_t(f)];
    (fn ? fn : tab.matmul[size_t(f)])(w, wrb, 0, rows, kCols, x.data(), xrb, T, y.data(), rows);
  };
  return KernelResult{best_time([&] { call(1); }, reps), best_time([&] { call(kPrefillTokens); }, reps), rows,
                      bytes * size_t(rows)};
}

}  // namespace

int run_kernel_bench(const std::string& types, int reps) {
  std::vector<FormatId> list;
  if (types.empty()) {
    for (const char* n : {"f32", "f16", "bf16", "q8_0", "q8_0r", "q4_0", "q4_k", "q4_kr", "q5_k", "q5_kr", "q6_k", "q6_kr",
                          "mxfp4", "mxfp4r", "mxfp4_fpq", "mxfp4_fpqr", "nvfp4", "nvfp4r", "int4_g32", "int4_g32r",
                          "int4_g64", "int4_g64r", "int4_g128", "t2", "t1_6", "tq1_0", "tq2_0", "tq2_0r"})
      list.push_back(formats::find_by_name(n)->id);
  } else {
    std::stringstream ss(types);
    for (std::string item; std::getline(ss, item, ',');) {
      const formats::FormatTraits* t = formats::find_by_name(item);
      if (!t) return fail("bench", Status::Error("--type: unknown format '" + item + "'"));
      list.push_back(t->id);
    }
  }
  std::printf("| format | isa | bits/weight | rows x cols | decode GB/s | decode GMAC/s | prefill (%lld tokens) GMAC/s |\n",
              (long long)kPrefillTokens);
  std::printf("| --- | --- | ---: | --- | ---: | ---: | ---: |\n");
  for (FormatId f : list) {
    auto r = measure(f, reps);
    const formats::FormatTraits& wt = formats::traits(f);
    if (!r.ok()) {
      std::printf("| %s | | | | skipped: %s | | |\n", wt.name, r.status().message().c_str());
      continue;
    }
    const double macs = double(r->rows) * double(kCols);
    std::printf("| %s | %s | %.3f | %lld x %lld | %.1f | %.1f | %.1f |\n", wt.name,
                kernels::active_table().matmul_isa[size_t(f)],
                8.0 * double(r->weight_bytes) / macs, (long long)r->rows, (long long)kCols,
                double(r->weight_bytes) / r->gemv_s / 1e9, macs / r->gemv_s / 1e9,
                macs * double(kPrefillTokens) / r->gemm_s / 1e9);
  }
  std::printf("\none thread, weights in L2 (best of %d), %s\n", reps, cpu_model_name().c_str());
  return 0;
}

}  // namespace nb::cli
