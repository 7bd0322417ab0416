// Which AVX-512 operations issue beside which: throughput of 12 independent
// instances of an instruction alone and mixed with 12 of another (registers
// only, no dependences between iterations beyond one accumulator per slot).
// docs/performance.md quotes its output for the Zen 5 guest. Not part of the
// build (it needs AVX-512 BF16 and VBMI); run it by hand:
//   g++ -O2 -march=sapphirerapids -o /tmp/simd_pipes bench/simd_pipes.cpp && /tmp/simd_pipes
// Cycles are estimated by assuming 4 VPADDD per cycle (true on Zen 4/5); on
// Intel P-cores 512-bit VPADDD issues 2 per cycle (ports 0 and 5), so there
// the "cycles" column is half the true count (the 2-core Intel guest: 12
// VFMADD231PS in 2.96 "cycles", i.e. 2 per true cycle, as Intel documents).
// Ratios between rows do not depend on that assumption.
#include <chrono>
#include <cstdio>

namespace {

constexpr long kIters = 50'000'000;
double g_cycle_s = 0;

template <class F>
double seconds(F f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// 12 instances of `op src, src, dst` into dst = zmm0..11 (group A) or zmm12..23 (group B).
#define OP_A(op)                                                                                         \
  op " %%zmm30,%%zmm31,%%zmm0\n" op " %%zmm30,%%zmm31,%%zmm1\n" op " %%zmm30,%%zmm31,%%zmm2\n" op      \
     " %%zmm30,%%zmm31,%%zmm3\n" op " %%zmm30,%%zmm31,%%zmm4\n" op " %%zmm30,%%zmm31,%%zmm5\n" op       \
     " %%zmm30,%%zmm31,%%zmm6\n" op " %%zmm30,%%zmm31,%%zmm7\n" op " %%zmm30,%%zmm31,%%zmm8\n" op       \
     " %%zmm30,%%zmm31,%%zmm9\n" op " %%zmm30,%%zmm31,%%zmm10\n" op " %%zmm30,%%zmm31,%%zmm11\n"
#define OP_B(op)                                                                                         \
  op " %%zmm30,%%zmm31,%%zmm12\n" op " %%zmm30,%%zmm31,%%zmm13\n" op " %%zmm30,%%zmm31,%%zmm14\n" op   \
     " %%zmm30,%%zmm31,%%zmm15\n" op " %%zmm30,%%zmm31,%%zmm16\n" op " %%zmm30,%%zmm31,%%zmm17\n" op    \
     " %%zmm30,%%zmm31,%%zmm18\n" op " %%zmm30,%%zmm31,%%zmm19\n" op " %%zmm30,%%zmm31,%%zmm20\n" op    \
     " %%zmm30,%%zmm31,%%zmm21\n" op " %%zmm30,%%zmm31,%%zmm22\n" op " %%zmm30,%%zmm31,%%zmm23\n"
// Two-operand form (`op $imm, src, dst` or `op src, dst`) into zmm12..23.
#define OP2_B(op) \
  op " %%zmm30,%%zmm12\n" op " %%zmm30,%%zmm13\n" op " %%zmm30,%%zmm14\n"                              \
  op " %%zmm30,%%zmm15\n" op " %%zmm30,%%zmm16\n" op " %%zmm30,%%zmm17\n"                              \
  op " %%zmm30,%%zmm18\n" op " %%zmm30,%%zmm19\n" op " %%zmm30,%%zmm20\n"                              \
  op " %%zmm30,%%zmm21\n" op " %%zmm30,%%zmm22\n" op " %%zmm30,%%zmm23\n"
#define CLOBBERS                                                                                          \
  "zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", "zmm11", "zmm12", \
      "zmm13", "zmm14", "zmm15", "zmm16", "zmm17", "zmm18", "zmm19", "zmm20", "zmm21", "zmm22", "zmm23"
#define ROW(name, ops, n_ops)                                                                           \
  do {                                                                                                  \
    const double s = seconds([] {                                                                       \
      for (long i = 0; i < kIters; ++i) __asm__ volatile(ops ::: CLOBBERS);                             \
    });                                                                                                 \
    const double c = s / kIters / g_cycle_s;                                                            \
    std::printf("| %-28s | %5.2f | %4.2f |\n", name, c, (n_ops) / c);                                   \
  } while (0)

}  // namespace

int main() {
  __asm__ volatile("vpxord %%zmm30,%%zmm30,%%zmm30\n vpxord %%zmm31,%%zmm31,%%zmm31" ::: "zmm30", "zmm31");
  const double s = seconds([] {
    for (long i = 0; i < kIters; ++i) __asm__ volatile(OP_A("vpaddd") OP_B("vpaddd") OP_A("vpaddd") OP_B("vpaddd") ::: CLOBBERS);
  });
  g_cycle_s = s / kIters / 12.0;  // 48 VPADDD at 4 per cycle
  std::printf("cycle %.3f ns (%.2f GHz if VPADDD issues 4 per cycle)\n\n", g_cycle_s * 1e9, 1e-9 / g_cycle_s);
  std::printf("| 12 + 12 instructions | cycles | per cycle |\n| --- | ---: | ---: |\n");
  ROW("vdpbf16ps", OP_A("vdpbf16ps"), 12);
  ROW("vfmadd231ps", OP_A("vfmadd231ps"), 12);
  ROW("vpermw", OP_B("vpermw"), 12);
  ROW("vpsrlvw", OP_B("vpsrlvw"), 12);
  ROW("vpternlogd", OP_B("vpternlogd $0xca,"), 12);
  ROW("vdpbf16ps + vfmadd231ps", OP_A("vdpbf16ps") OP_B("vfmadd231ps"), 24);
  ROW("vdpbf16ps + vpermw", OP_A("vdpbf16ps") OP_B("vpermw"), 24);
  ROW("vfmadd231ps + vpermps", OP_A("vfmadd231ps") OP_B("vpermps"), 24);
  ROW("vpdpbusd + vpermb", OP_A("vpdpbusd") OP_B("vpermb"), 24);
  ROW("vdpbf16ps + vpshufb", OP_A("vdpbf16ps") OP_B("vpshufb"), 24);
  ROW("vdpbf16ps + vpermt2w", OP_A("vdpbf16ps") OP_B("vpermt2w"), 24);
  ROW("vdpbf16ps + vpsrlvw", OP_A("vdpbf16ps") OP_B("vpsrlvw"), 24);
  ROW("vfmadd231ps + vpsrlvd", OP_A("vfmadd231ps") OP_B("vpsrlvd"), 24);
  ROW("vpermw + vpsrlvw", OP_A("vpermw") OP_B("vpsrlvw"), 24);
  ROW("vdpbf16ps + vpternlogd", OP_A("vdpbf16ps") OP_B("vpternlogd $0xca,"), 24);
  ROW("vpdpbusd + vmulps", OP_A("vpdpbusd") OP_B("vmulps"), 24);
  ROW("vpdpbusd + vpermilps $imm", OP_A("vpdpbusd") OP2_B("vpermilps $0x55,"), 24);
  ROW("vpdpbusd + vcvtdq2ps", OP_A("vpdpbusd") OP2_B("vcvtdq2ps"), 24);
  ROW("vpdpbusd + vblendmps", OP_A("vpdpbusd") OP_B("vblendmps"), 24);
  return 0;
}
