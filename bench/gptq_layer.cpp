// Timing of the quantizer's heavy steps on TinyLlama-1.1B shapes (random data),
// and the whole-model cost they imply (22 layers; per layer 4 Hessians — the
// q/k/v input, the o input, the gate/up input [2048²] and the down input
// [5632²] — 4 factorizations shared through HessianAccumulator::prepared(),
// and 7 linears: q, o [2048×2048], k, v [256×2048], gate, up [5632×2048],
// down [2048×5632]).
//   Hessian: add_batch over `tokens` calibration tokens in windows of 512, as
//            the driver calls it (random inputs; generation time excluded);
//   prepare: act-order permutation, damping, the three factorizations;
//   linear:  quantize_linear with the prepared Hessian (scales, GPTQ loop,
//            packing, relative error), per method.
// Built and run by bench/gptq_layer.sh; not a test (numbers only).
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/dispatch.h"
#include "quant/hessian.h"
#include "quant/linear_quantizer.h"

namespace {

struct Clock {
  double wall0, cpu0;
  static double wall() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  static double cpu() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  }
  Clock() : wall0(wall()), cpu0(cpu()) {}
  double seconds() const { return wall() - wall0; }
  double cpu_seconds() const { return cpu() - cpu0; }
};

// Inputs with correlated neighbours and a few strong channels, like real
// activations (full-rank H; the distribution does not matter for timing).
void fill_batch(std::mt19937& rng, std::vector<float>& x, int64_t tokens, int64_t cols) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (int64_t t = 0; t < tokens; ++t) {
    float prev = 0.0f;
    for (int64_t j = 0; j < cols; ++j) {
      const float v = nd(rng) + 0.3f * prev;
      x[size_t(t * cols + j)] = (j % 97 == 0) ? 4.0f * v : v;
      prev = v;
    }
  }
}

struct HessianTiming {
  nb::quant::HessianAccumulator acc;
  double seconds = 0, cpu = 0;
  double prepare_seconds[2] = {-1, -1};  // by act-order: the accumulator keeps one prepared Hessian
  explicit HessianTiming(int64_t cols) : acc(cols) {}
};

void build_hessian(HessianTiming& h, int64_t tokens, nb::ThreadPool& pool) {
  constexpr int64_t kWindow = 512;
  const int64_t cols = h.acc.cols();
  std::mt19937 rng(1234);
  std::vector<float> x(static_cast<size_t>(kWindow * cols));
  for (int64_t done = 0; done < tokens; done += kWindow) {
    fill_batch(rng, x, kWindow, cols);
    Clock c;
    h.acc.add_batch(x.data(), kWindow, 1, pool);
    h.seconds += c.seconds();
    h.cpu += c.cpu_seconds();
  }
  (void)h.acc.hessian();
  std::printf("Hessian %lld² of %lld tokens: %.2f s (cpu %.2f s), %.1f G products/s\n", (long long)cols,
              (long long)tokens, h.seconds, h.cpu, double(tokens) * double(cols) * double(cols + 64) / 2 / h.seconds / 1e9);
}

struct Method {
  const char* label;
  nb::FormatId format;
  nb::quant::Method method;
  bool act, mse;
};

double prepare(HessianTiming& h, const Method& m, nb::ThreadPool& pool) {
  double& known = h.prepare_seconds[m.act ? 1 : 0];
  Clock c;
  const auto& p = h.acc.prepared(m.act, 0.01f, pool);
  const double t = c.seconds();
  if (known < 0) {
    known = t;
    std::printf("  prepare %lld² (act-order %d): %.2f s (cpu %.2f s)%s\n", (long long)h.acc.cols(), int(m.act), t,
                c.cpu_seconds(), p.cholesky_failed ? " CHOLESKY FAILED" : "");
  }
  return known;
}

double linear(const char* name, int64_t rows, int64_t cols, const HessianTiming& h, const Method& m,
              nb::ThreadPool& pool) {
  std::mt19937 rng(uint32_t(rows * 7 + cols));
  std::normal_distribution<float> wd(0.0f, 0.02f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& v : w) v = wd(rng);
  nb::quant::LinearQuantizeOptions o;
  o.format = m.format;
  o.method = m.method;
  o.act_order = m.act;
  o.mse_scales = m.mse;
  Clock c;
  auto q = nb::quant::quantize_linear(w.data(), rows, cols, &h.acc, o, pool);
  const double t = c.seconds();
  if (!q.ok()) {
    std::printf("  %s: %s\n", name, q.status().message().c_str());
    return 0;
  }
  std::printf("  %-6s [%4lld x %4lld] %6.2f s (cpu %6.2f s)  eps %.5f\n", name, (long long)rows, (long long)cols, t,
              c.cpu_seconds(), q->rel_error);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const int64_t tokens = argc > 2 ? std::atoll(argv[2]) : 65536;
  const int64_t full_tokens = 65536;
  nb::ThreadPool pool(threads);
  std::printf("threads %d, ISA %s, calibration tokens measured %lld (model estimate scaled to %lld)\n", threads,
              nb::kernels::active_table().isa.c_str(), (long long)tokens, (long long)full_tokens);
  HessianTiming h2048(2048), h5632(5632);
  build_hessian(h2048, tokens, pool);
  build_hessian(h5632, tokens, pool);
  const double hess_layer = (3 * h2048.seconds + h5632.seconds) * double(full_tokens) / double(tokens);

  const Method methods[] = {
      {"gptq int4_g128 (classic)", nb::FormatId::INT4_G128, nb::quant::Method::Gptq, false, false},
      {"mr-gptq mxfp4_fpq (mse, act-order)", nb::FormatId::MXFP4_FPQ, nb::quant::Method::MrGptq, true, true},
      {"mr-gptq nvfp4 (mse, act-order)", nb::FormatId::NVFP4, nb::quant::Method::MrGptq, true, true},
  };
  for (const Method& m : methods) {
    std::printf("%s\n", m.label);
    const double prep = 3 * prepare(h2048, m, pool) + prepare(h5632, m, pool);
    const double q = linear("q_proj", 2048, 2048, h2048, m, pool);
    const double k = linear("k_proj", 256, 2048, h2048, m, pool);
    const double g = linear("gate", 5632, 2048, h2048, m, pool);
    const double d = linear("down", 2048, 5632, h5632, m, pool);
    const double per_layer = hess_layer + prep + 2 * q + 2 * k + 2 * g + d;
    std::printf("  model estimate (22 layers, %lld tokens): Hessians %.0f s + factorizations %.0f s + linears %.0f s "
                "= %.0f s\n",
                (long long)full_tokens, 22 * hess_layer, 22 * prep, 22 * (2 * q + 2 * k + 2 * g + d), 22 * per_layer);
  }
  return 0;
}
