// The SIMD kernel harness: for every ISA this CPU runs (available_isas()) and
// every entry its table fills, compare against reference_table() over many
// shapes with fresh random data. Tolerances sit next to each check with their
// reason; u = 2^-24 is fp32's unit roundoff.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/half.h"
#include "formats/blocks.h"
#include "formats/format.h"
#include "kernels/amx.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace nb::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // fp32 unit roundoff

std::vector<std::string> simd_isas() {
  std::vector<std::string> out;
  std::istringstream in(available_isas());
  for (std::string s; in >> s;)
    if (s != "scalar") out.push_back(s);
  return out;
}

// Selects each ISA in turn and restores the best one afterwards.
class Harness : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = active_table().isa; }
  void TearDown() override { select_isa(saved_); }
  const KernelTable& use(const std::string& isa) {
    EXPECT_TRUE(select_isa(isa)) << isa;
    return active_table();
  }
  std::string saved_;
};

const FormatId kMatmulFormats[] = {FormatId::F32,  FormatId::F16,   FormatId::BF16,  FormatId::Q8_0,
                                   FormatId::Q8_0R, FormatId::Q4_0,  FormatId::Q4_K,  FormatId::Q5_K,
                                   FormatId::Q6_K,  FormatId::Q4_KR, FormatId::Q5_KR, FormatId::Q6_KR};

bool is_float(FormatId f) { return f == FormatId::F32 || f == FormatId::F16 || f == FormatId::BF16; }

// A finite random fp16 scale of either sign with magnitude in [lo, hi).
uint16_t random_scale(std::mt19937& rng, float lo, float hi, bool allow_negative = true) {
  std::uniform_real_distribution<float> mag(lo, hi);
  float v = mag(rng);
  if (allow_negative && (rng() & 1)) v = -v;
  return f32_to_fp16(v);
}
// fp16 power of two 2^e, e in [-1, 1], either sign: products and sums of
// small integers times these stay exact in fp32.
uint16_t random_pow2(std::mt19937& rng) {
  const int e = int(rng() % 3) - 1;
  const float v = std::ldexp((rng() & 1) ? -1.0f : 1.0f, e);
  return f32_to_fp16(v);
}

// Random weight rows (rows x k) in format f: floats ~N(0,1); block formats
// get random code bytes (every bit pattern, -128 included) and finite scales.
// pow2 = true: power-of-two scales and, for K-quants, every sub-scale small,
// for the exact-sum test.
std::vector<uint8_t> random_weights(FormatId f, int64_t rows, int64_t k, std::mt19937& rng, bool pow2 = false) {
  const size_t rb = formats::row_bytes(f, k);
  if (const formats::FormatTraits& tr = formats::traits(f); tr.rearrange) {  // the file format's rows, rearranged
    const auto src = random_weights(tr.rearranges, rows, k, rng, pow2);
    const size_t sb = formats::row_bytes(tr.rearranges, k);
    std::vector<uint8_t> w(rb * size_t(rows));
    for (int64_t r = 0; r < rows; ++r) tr.rearrange(src.data() + size_t(r) * sb, w.data() + size_t(r) * rb, k);
    return w;
  }
  std::vector<uint8_t> w(rb * size_t(rows));
  if (is_float(f)) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> row(static_cast<size_t>(k));
    for (int64_t r = 0; r < rows; ++r) {
      for (float& v : row) v = nd(rng);
      formats::traits(f).from_float(row.data(), w.data() + size_t(r) * rb, k);
    }
    return w;
  }
  for (uint8_t& b : w) b = uint8_t(rng());
  auto d = [&]() { return pow2 ? random_pow2(rng) : random_scale(rng, 1e-3f, 1e-1f); };
  const int64_t nblk = k / formats::traits(f).block_size;
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* p = w.data() + size_t(r) * rb;
    for (int64_t i = 0; i < nblk; ++i) {
      switch (f) {
        case FormatId::Q8_0: reinterpret_cast<formats::BlockQ8_0*>(p)[i].d = d(); break;
        case FormatId::Q4_0: reinterpret_cast<formats::BlockQ4_0*>(p)[i].d = d(); break;
        case FormatId::TQ2_0: reinterpret_cast<formats::BlockTQ2_0*>(p)[i].d = d(); break;
        case FormatId::Q4_K: {
          auto& b = reinterpret_cast<formats::BlockQ4_K*>(p)[i];
          b.d = d();
          b.dmin = d();
          if (pow2) for (uint8_t& s : b.scales) s &= 0x33;  // 6-bit scales/mins <= 0x33
          break;
        }
        case FormatId::Q5_K: {
          auto& b = reinterpret_cast<formats::BlockQ5_K*>(p)[i];
          b.d = d();
          b.dmin = d();
          if (pow2) for (uint8_t& s : b.scales) s &= 0x33;
          break;
        }
        case FormatId::Q6_K: {
          auto& b = reinterpret_cast<formats::BlockQ6_K*>(p)[i];
          b.d = d();
          if (pow2) for (int8_t& s : b.scales) s = int8_t(s % 8);
          break;
        }
        default: break;
      }
    }
  }
  return w;
}

std::vector<float> random_floats(size_t n, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> nd(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

// Activations in W's dot format, produced by the reference quantizer.
std::vector<uint8_t> quantize_ref(FormatId dot, const std::vector<float>& x, int64_t T, int64_t k) {
  const size_t xrb = formats::row_bytes(dot, k);
  std::vector<uint8_t> q(xrb * size_t(T));
  for (int64_t t = 0; t < T; ++t) formats::traits(dot).from_float(x.data() + t * k, q.data() + size_t(t) * xrb, k);
  return q;
}

// Activation blocks with small random codes and power-of-two scales (exact test).
std::vector<uint8_t> small_activations(FormatId dot, int64_t T, int64_t k, std::mt19937& rng, int range) {
  const size_t xrb = formats::row_bytes(dot, k);
  std::vector<uint8_t> q(xrb * size_t(T));
  std::uniform_int_distribution<int> code(-range, range);
  for (int64_t t = 0; t < T; ++t) {
    uint8_t* p = q.data() + size_t(t) * xrb;
    if (dot == FormatId::Q8_0) {
      auto* b = reinterpret_cast<formats::BlockQ8_0*>(p);
      for (int64_t i = 0; i < k / 32; ++i) {
        b[i].d = random_pow2(rng);
        for (int8_t& v : b[i].qs) v = int8_t(code(rng));
      }
    } else {  // Q8_K
      auto* b = reinterpret_cast<formats::BlockQ8_K*>(p);
      for (int64_t i = 0; i < k / 256; ++i) {
        b[i].d = fp16_to_f32(random_pow2(rng));
        for (int g = 0; g < 16; ++g) {
          int s = 0;
          for (int j = 0; j < 16; ++j) s += (b[i].qs[16 * g + j] = int8_t(code(rng)));
          b[i].bsums[g] = int16_t(s);
        }
      }
    }
  }
  return q;
}

// The per-output bound A = sum over all fp32 terms the two sides add up of
// |term| (in double), used to scale the tolerance: for float formats the
// terms are w_i * x_i; for block formats they are each block's
// |scale product| * sum |code * activation| (K-quants: also the min part).
double abs_terms(FormatId f, const uint8_t* w, const uint8_t* x, int64_t k) {
  const auto& tr = formats::traits(f);
  if (is_float(f)) {
    std::vector<float> wf(static_cast<size_t>(k));
    tr.to_float(w, wf.data(), k);
    const float* xf = reinterpret_cast<const float*>(x);
    double a = 0;
    for (int64_t i = 0; i < k; ++i) a += std::fabs(double(wf[size_t(i)]) * double(xf[i]));
    return a;
  }
  // Decoded weights times decoded activations bound every term from above
  // up to the min part, which we add separately for Q4_K/Q5_K.
  std::vector<float> wf(static_cast<size_t>(k)), xf(static_cast<size_t>(k));
  tr.to_float(w, wf.data(), k);
  formats::traits(tr.dot_type).to_float(x, xf.data(), k);
  double a = 0;
  for (int64_t i = 0; i < k; ++i) a += std::fabs(double(wf[size_t(i)]) * double(xf[size_t(i)]));
  if (f == FormatId::Q4_K || f == FormatId::Q5_K || f == FormatId::Q4_KR || f == FormatId::Q5_KR) {
    // d*sc*q*a and dmin*m*a separately: |d sc q a| + |dmin m a| >= |w a|.
    const auto* xb = reinterpret_cast<const formats::BlockQ8_K*>(x);
    for (int64_t s = 0; s < k / 256; ++s) {
      // d, dmin and the scales: each block's first 16 bytes (Q4_KR/Q5_KR: of its header).
      const size_t at = size_t(s) * size_t(f == FormatId::Q4_KR   ? formats::kQ4_KRHeader
                                           : f == FormatId::Q5_KR ? formats::kQ5_KRHeader
                                                                  : int64_t(formats::traits(f).block_bytes));
      uint16_t dmin;
      uint8_t sc[12];
      std::memcpy(&dmin, w + at + 2, 2);
      std::memcpy(sc, w + at + 4, 12);
      for (int j = 0; j < 8; ++j) {
        uint8_t scv, m;
        formats::get_scale_min_k4(j, sc, &scv, &m);
        double asum = 0;
        for (int l = 0; l < 32; ++l) asum += std::fabs(double(xb[s].qs[32 * j + l]));
        a += 2.0 * std::fabs(double(fp16_to_f32(dmin)) * m * xb[s].d) * asum;
      }
    }
  }
  return a;
}

// Number of fp32 additions on the longer side's path to one output: the
// reference adds every element (floats) or every block (block formats) in
// order; the SIMD kernels add ~1/8 of them per lane plus a 16-lane tree.
int64_t sum_terms(FormatId f, int64_t k) { return is_float(f) ? k : k / formats::traits(f).block_size; }

struct Case {
  int64_t rows, k, T, r0, r1;
};

std::string describe(const std::string& isa, FormatId f, const Case& c) {
  std::ostringstream s;
  s << isa << " " << formats::traits(f).name << " rows=" << c.rows << " k=" << c.k << " T=" << c.T << " r=[" << c.r0
    << "," << c.r1 << ")";
  return s.str();
}

std::vector<Case> cases_for(FormatId f) {
  std::vector<int64_t> ks;
  if (is_float(f)) ks = {1, 7, 16, 33, 100, 1000};
  else if (formats::traits(f).block_size == 32) ks = {32, 96, 160, 224, 32 * 33};
  else ks = {256, 768, 1280};
  std::vector<Case> out;
  for (int64_t rows : {1, 3, 17, 64, 67})
    for (int64_t k : ks)
      for (int64_t T : {1, 2, 5, 9}) {
        out.push_back({rows, k, T, 0, rows});
        if (rows > 2) out.push_back({rows, k, T, rows / 3, rows - 1});  // r0 > 0 sub-range
      }
  // Several prefill row blocks and k-chunks (the kernels block by L2 size).
  out.push_back({200, is_float(f) ? 1000 : formats::traits(f).block_size == 32 ? 32 * 65 : 256 * 9, 17, 5,
                 199});
  return out;
}

// Y over rows [r0, r1) for T tokens; elements outside stay at a sentinel.
std::vector<float> run_matmul(MatmulRowsFn fn, FormatId f, const std::vector<uint8_t>& w, const std::vector<uint8_t>& xq,
                              const Case& c) {
  const size_t wrb = formats::row_bytes(f, c.k);
  const size_t xrb = formats::row_bytes(formats::traits(f).dot_type, c.k);
  const int64_t ys = c.rows + 3;  // a row stride wider than rows
  std::vector<float> y(size_t(ys * c.T), -12345.0f);
  fn(w.data(), wrb, c.r0, c.r1, c.k, xq.data(), xrb, c.T, y.data(), ys);
  return y;
}

TEST_F(Harness, SomeSimdIsaIsCompiledInOnX86) {
  // Not a failure on other CPUs; this prints what the harness covers.
  std::printf("available ISAs: %s\n", available_isas().c_str());
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    std::printf("  %s:", isa.c_str());
    for (FormatId f : kMatmulFormats)
      if (t.matmul[size_t(f)] != reference_table().matmul[size_t(f)]) std::printf(" %s", formats::traits(f).name);
    std::printf("\n");
  }
}

// Every filled matmul entry against the reference over all shapes.
TEST_F(Harness, MatmulMatchesReference) {
  std::mt19937 rng(1234);
  const KernelTable& ref = reference_table();
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : kMatmulFormats) {
      const MatmulRowsFn fn = t.matmul[size_t(f)];
      if (fn == nullptr || fn == ref.matmul[size_t(f)]) continue;
      const FormatId dot = formats::traits(f).dot_type;
      for (const Case& c : cases_for(f)) {
        const auto w = random_weights(f, c.rows, c.k, rng);
        const auto x = random_floats(size_t(c.T * c.k), rng);
        const auto xq = quantize_ref(dot, x, c.T, c.k);
        const auto y = run_matmul(fn, f, w, xq, c);
        const auto yr = run_matmul(ref.matmul[size_t(f)], f, w, xq, c);
        const size_t wb = formats::row_bytes(f, c.k), xb = formats::row_bytes(dot, c.k);
        const int64_t ys = c.rows + 3;
        int bad = 0;
        for (int64_t t0 = 0; t0 < c.T; ++t0)
          for (int64_t r = 0; r < ys; ++r) {
            const size_t i = size_t(t0 * ys + r);
            if (r < c.r0 || r >= c.r1) {
              ASSERT_EQ(y[i], -12345.0f) << describe(isa, f, c) << " wrote outside its rows at r=" << r;
              continue;
            }
            // Both sides are sums of the same exact terms (products w*x for
            // floats; exact int32 block sums times fp16 scales for block
            // formats), each term with <= 3 roundings (scale product, int ->
            // float for K-quant sums over 2^24, product) and a summation of
            // <= n + 16 terms (sequential on the reference side; per-lane
            // plus a 16-lane tree on the SIMD side). Standard bound per side:
            // (n + 19) u A with A = sum |terms|; the difference is at most twice that.
            const double A = abs_terms(f, w.data() + size_t(r) * wb, xq.data() + size_t(t0) * xb, c.k);
            const double tol = 2.0 * double(sum_terms(f, c.k) + 19) * kU * A + 1e-30;
            const double diff = std::fabs(double(y[i]) - double(yr[i]));
            if (!(diff <= tol) && bad++ < 5)
              ADD_FAILURE() << describe(isa, f, c) << " t=" << t0 << " r=" << r << ": " << y[i] << " vs ref " << yr[i]
                            << " (diff " << diff << " > tol " << tol << ")";
          }
        ASSERT_EQ(bad, 0) << describe(isa, f, c);
      }
    }
  }
}

// Integer formats: with power-of-two scales and small codes every fp32 step
// on either side is exact, so the outputs must be equal - this checks the
// int32 sums themselves (sign handling, nibble/bit unpacking, scales, mins).
TEST_F(Harness, IntegerSumsAreExact) {
  std::mt19937 rng(99);
  const KernelTable& ref = reference_table();
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : kMatmulFormats) {
      if (is_float(f)) continue;
      const MatmulRowsFn fn = t.matmul[size_t(f)];
      if (fn == nullptr || fn == ref.matmul[size_t(f)]) continue;
      const FormatId dot = formats::traits(f).dot_type;
      const bool kq = dot == FormatId::Q8_K;
      // 1..7 blocks: every remainder of the SIMD kernels' 4-block steps, and
      // full steps followed by each remainder.
      for (int64_t nblk : {1, 2, 3, 4, 5, 6, 7}) {
        const int64_t k = nblk * (kq ? 256 : 32);
        // Every value either side forms is a multiple of 2^-2 below 2^22, so
        // exact in fp32: Q8_0 with |a| <= 63: 224 * 128 * 63 < 2^21;
        // K-quants with |a| <= 1 and sub-scales <= 51: 1792 * 51 * 31 < 2^22.
        const int range = kq ? 1 : 63;
        for (int64_t T : {1, 5, 9}) {
          const Case c{17, k, T, 0, 17};
          const auto w = random_weights(f, c.rows, k, rng, /*pow2=*/true);
          const auto xq = small_activations(dot, T, k, rng, range);
          const auto y = run_matmul(fn, f, w, xq, c);
          const auto yr = run_matmul(ref.matmul[size_t(f)], f, w, xq, c);
          for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], yr[i]) << describe(isa, f, c) << " index " << i;
        }
      }
    }
  }
}

// Prefill (T > 1, all tokens in one call) and decode (one call per token)
// must give bit-identical outputs for every format.
// The SIMD kernels (tile unit off: its Q8_0/Q4_0 prefill follows the
// reference's order instead, tested below).
TEST_F(Harness, PrefillEqualsDecodeBitForBit) {
  std::mt19937 rng(7);
  set_amx_enabled(false);
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : kMatmulFormats) {
      const MatmulRowsFn fn = t.matmul[size_t(f)];
      if (fn == nullptr) continue;
      const FormatId dot = formats::traits(f).dot_type;
      const int64_t bs = formats::traits(f).block_size;
      // Block counts 3, 6, 37: a lone partial 4-block step, and full steps
      // followed by partial ones of 2 and 1 blocks.
      for (int64_t k : {bs == 1 ? int64_t(100) : bs * 3, bs == 1 ? int64_t(333) : bs * 6,
                        bs == 1 ? int64_t(1000) : bs * 37}) {
        for (int64_t T : {2, 5, 9, 19}) {
          const int64_t rows = 67;
          const auto w = random_weights(f, rows, k, rng);
          const auto x = random_floats(size_t(T * k), rng);
          const auto xq = quantize_ref(dot, x, T, k);
          const size_t xrb = formats::row_bytes(dot, k);
          const auto all = run_matmul(fn, f, w, xq, Case{rows, k, T, 0, rows});
          for (int64_t tok = 0; tok < T; ++tok) {
            const std::vector<uint8_t> one(xq.begin() + long(size_t(tok) * xrb), xq.begin() + long(size_t(tok + 1) * xrb));
            const auto y1 = run_matmul(fn, f, w, one, Case{rows, k, 1, 0, rows});
            ASSERT_EQ(0, std::memcmp(y1.data(), all.data() + tok * (rows + 3), size_t(rows) * sizeof(float)))
                << describe(isa, f, Case{rows, k, T, 0, rows}) << " token " << tok;
          }
        }
      }
    }
  }
  set_amx_enabled(true);
}

// A layout made at load time (Q8_0R, TQ2_0R, the W4R rows) holds the same
// codes and scales as its file format, and where a table asks for it
// (load_layout) its kernel must give that table's bits for the file format
// exactly, decode and prefill, partial last groups included; the scalar
// reference too (the same dot, block by block, or the file's row restored).
// The random 4-bit scales include NaN and huge ones: a NaN output only has
// to be NaN on both sides.
TEST_F(Harness, RearrangedLayoutsGiveTheSameBits) {
  std::mt19937 rng(31);
  std::vector<std::string> isas = simd_isas();
  isas.insert(isas.begin(), "scalar");
  for (const std::string& isa : isas) {
    const KernelTable& t = use(isa);
    for (size_t i = 0; i < size_t(FormatId::kCount); ++i) {
      const formats::FormatTraits& tr = formats::traits(FormatId(i));
      if (!tr.rearrange || (isa != "scalar" && t.load_layout[size_t(tr.rearranges)] != tr.id)) continue;
      for (int64_t nb : {1, 3, 4, 6, 37, 64}) {
        const int64_t k = nb * tr.block_size, rows = 67;
        const auto w = random_weights(tr.rearranges, rows, k, rng);
        const size_t sb = formats::row_bytes(tr.rearranges, k), rb = formats::row_bytes(tr.id, k);
        std::vector<uint8_t> wr(rb * size_t(rows));
        for (int64_t r = 0; r < rows; ++r) tr.rearrange(w.data() + size_t(r) * sb, wr.data() + size_t(r) * rb, k);
        std::vector<float> back(static_cast<size_t>(k)), want(static_cast<size_t>(k));
        tr.to_float(wr.data() + rb, back.data(), k);
        formats::traits(tr.rearranges).to_float(w.data() + sb, want.data(), k);
        ASSERT_EQ(0, std::memcmp(back.data(), want.data(), back.size() * sizeof(float))) << tr.name << " nb=" << nb;
        for (int64_t T : {1, 5}) {
          const Case c{rows, k, T, 0, rows};
          const auto xq = quantize_ref(tr.dot_type, random_floats(size_t(T * k), rng), T, k);
          const auto y = run_matmul(t.matmul[i], tr.id, wr, xq, c);
          const auto y0 = run_matmul(t.matmul[size_t(tr.rearranges)], tr.rearranges, w, xq, c);
          for (size_t j = 0; j < y.size(); ++j)  // NaN's sign and payload follow operand order, which is the compiler's
            ASSERT_TRUE(std::memcmp(&y[j], &y0[j], sizeof(float)) == 0 || (std::isnan(y[j]) && std::isnan(y0[j])))
                << describe(isa, tr.id, c) << " differs from " << formats::traits(tr.rearranges).name << " at " << j
                << ": " << y[j] << " vs " << y0[j];
        }
      }
    }
  }
}

// Q8_0 / Q4_0 prefill on the AMX-INT8 tile unit: exact int32 block sums and
// the reference's float steps in its order, so the reference's bits, for
// row ranges that are not multiples of the 32-row tile block and token
// counts that are not multiples of 32.
TEST_F(Harness, AmxPrefillEqualsReferenceBitForBit) {
  if (!amx_int8_ready()) GTEST_SKIP() << "no AMX-INT8 on this CPU";
  std::mt19937 rng(17);
  const KernelTable& ref = reference_table();
  int checked = 0;
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : {FormatId::Q8_0, FormatId::Q4_0}) {
      if (std::string(t.matmul_isa[size_t(f)]) != "avx512-vnni") continue;  // only that level has the AMX path
      const FormatId dot = formats::traits(f).dot_type;
      for (int64_t nb : {1, 3, 64})
        for (int64_t T : {2, 31, 33, 70})
          for (const Case& c : {Case{45, nb * 32, T, 0, 45}, Case{100, nb * 32, T, 7, 71}}) {
            const auto w = random_weights(f, c.rows, c.k, rng);
            const auto x = random_floats(size_t(T * c.k), rng);
            const auto xq = quantize_ref(dot, x, T, c.k);
            const auto y = run_matmul(t.matmul[size_t(f)], f, w, xq, c);
            const auto yr = run_matmul(ref.matmul[size_t(f)], f, w, xq, c);
            ASSERT_EQ(0, std::memcmp(y.data(), yr.data(), y.size() * sizeof(float))) << describe(isa, f, c);
            ++checked;
          }
    }
  }
  EXPECT_GT(checked, 0);
}

// Inputs for the quantizers: random scales, zero blocks, constant blocks,
// exact halves (ties), equal +-max, a lone spike.
std::vector<float> quantizer_inputs(int64_t n, std::mt19937& rng, int kind) {
  std::vector<float> x = random_floats(size_t(n), rng, kind == 0 ? 1.0f : 1e-3f);
  switch (kind) {
    case 2: std::fill(x.begin(), x.end(), 0.0f); break;
    case 3: std::fill(x.begin(), x.end(), -0.37f); break;
    case 4:  // ties: the largest magnitude is 127, so the scale is 1 and x*id = k + 0.5 exactly
      for (int64_t i = 0; i < n; ++i) x[size_t(i)] = float(int(rng() % 253) - 126) + 0.5f;
      for (int64_t i = 0; i < n; i += 32) x[size_t(i)] = (rng() & 1) ? 127.0f : -127.0f;
      break;
    case 5:  // +max and -max both present; the first must win (Q8_K)
      for (int64_t i = 0; i < n; i += 16) {
        x[size_t(i)] = (i / 16) % 2 ? 3.0f : -3.0f;
        if (i + 1 < n) x[size_t(i + 1)] = -x[size_t(i)];
      }
      break;
    case 6:
      for (float& v : x) v *= 1e-6f;
      x[size_t(rng() % size_t(n))] = 50.0f;
      break;
    default: break;
  }
  return x;
}

TEST_F(Harness, QuantizersAreBitExact) {
  std::mt19937 rng(5);
  const KernelTable& ref = reference_table();
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : {FormatId::Q8_0, FormatId::Q8_K}) {
      const QuantizeRowFn q = t.quantize[size_t(f)];
      if (q == nullptr || q == ref.quantize[size_t(f)]) continue;
      const int64_t bs = formats::traits(f).block_size;
      for (int64_t nb : {1, 2, 3, 7, 22})
        for (int kind = 0; kind < 7; ++kind)
          for (int rep = 0; rep < 4; ++rep) {
            const int64_t n = nb * bs;
            const auto x = quantizer_inputs(n, rng, kind);
            const size_t bytes = formats::row_bytes(f, n);
            std::vector<uint8_t> a(bytes, 0xAB), b(bytes, 0xAB);
            q(x.data(), a.data(), n);
            ref.quantize[size_t(f)](x.data(), b.data(), n);
            ASSERT_EQ(0, std::memcmp(a.data(), b.data(), bytes))
                << isa << " " << formats::traits(f).name << " n=" << n << " kind=" << kind;
          }
    }
  }
}

// BitLinear steps 2-4: bit-identical codes and row scale for any n (tails
// past the vector width), padded code counts, the quantizer inputs above
// (ties at the scale 1 included: with r = 1 and unit norm weights, kind 4 is
// u * s_a = k + 0.5 exactly) and random norm weights.
TEST_F(Harness, BitLinearCodesAreBitExact) {
  std::mt19937 rng(11);
  const KernelTable& ref = reference_table();
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    if (t.bitlinear_codes == ref.bitlinear_codes) continue;
    for (int64_t n : {1, 5, 16, 17, 33, 100, 1024, 2049})
      for (int kind = 0; kind < 7; ++kind)
        for (int rep = 0; rep < 3; ++rep) {
          const auto v = quantizer_inputs(n, rng, kind);
          std::vector<float> w = random_floats(size_t(n), rng, 2.0f);
          float r = 1.0f;
          if (kind == 4) std::fill(w.begin(), w.end(), 1.0f);
          else r = bitlinear_rms(v.data(), n, 1e-6f);
          const int64_t n_codes = n + rep * 31;
          const size_t bytes = sizeof(float) + size_t(n_codes);
          std::vector<uint8_t> a(bytes, 0xAB), b(bytes, 0xAB);
          t.bitlinear_codes(v.data(), r, w.data(), n, n_codes, a.data());
          ref.bitlinear_codes(v.data(), r, w.data(), n, n_codes, b.data());
          ASSERT_EQ(0, std::memcmp(a.data(), b.data(), bytes)) << isa << " n=" << n << " kind=" << kind;
        }
  }
}

// The rows version of the BitLinear RMS statistic gives each row's scalar
// result bit for bit: row counts below, at and past its 8-row groups, a row
// stride wider than the row, and inputs whose in-order sum rounds (values
// of very different sizes), where another order would differ.
TEST(BitLinearRms, RowsEqualTheScalarChain) {
  std::mt19937 rng(12);
  for (int64_t T : {1, 7, 8, 9, 17, 40})
    for (int64_t n : {1, 31, 1024, 2049}) {
      const int64_t stride = n + 5;
      std::vector<float> x = random_floats(size_t(T * stride), rng, 1.0f);
      for (size_t i = 0; i < x.size(); i += 7) x[i] *= 1e4f;
      std::vector<float> r(size_t(T), -1.0f);
      bitlinear_rms_rows(x.data(), stride, T, n, 1e-6f, r.data());
      for (int64_t t = 0; t < T; ++t) {
        const float want = bitlinear_rms(x.data() + t * stride, n, 1e-6f);
        ASSERT_EQ(0, std::memcmp(&r[size_t(t)], &want, sizeof want)) << "T=" << T << " n=" << n << " row " << t;
      }
    }
}

// matmul_group (a layer's q, k, v or gate, up in one sweep) gives each
// weight exactly what its own matmul gives: formats with different dot types
// (converted X shared only between weights of the same dot type and width),
// a tensor scale on a float dot (NVFP4), row counts that are not multiples
// of the 16-row unit, a strided X, decode and prefill, 2 threads.
TEST_F(Harness, MatmulGroupEqualsOneMatmulPerWeight) {
  std::mt19937 rng(41);
  ThreadPool pool(2);
  const int64_t k = 512, x_stride = k + 7;
  struct Weight {
    FormatId f;
    int64_t rows;
    float scale;
  };
  const Weight weights[] = {{FormatId::Q4_0, 67, 1.0f}, {FormatId::Q8_0, 16, 1.0f}, {FormatId::Q6_K, 33, 1.0f},
                            {FormatId::F16, 5, 1.0f},   {FormatId::NVFP4, 40, 0.37f}, {FormatId::Q4_0, 17, 1.0f}};
  std::vector<std::vector<uint8_t>> data;
  std::vector<TensorView> views;
  for (const Weight& w : weights) {
    data.push_back(random_weights(w.f, w.rows, k, rng));
    views.push_back(formats::matrix_view(w.f, w.rows, k, data.back().data(), w.scale));
  }
  for (int64_t T : {1, 5}) {
    const auto x = random_floats(size_t(T * x_stride), rng);
    std::vector<std::vector<float>> y(views.size()), y1(views.size());
    std::vector<MatmulOut> outs;
    for (size_t i = 0; i < views.size(); ++i) {
      const int64_t ys = views[i].rows() + 3;  // output rows apart, with a gap
      y[i].assign(size_t(T * ys), -1.0f);
      y1[i] = y[i];
      outs.push_back({&views[i], y[i].data(), ys});
      matmul(views[i], x.data(), x_stride, T, y1[i].data(), ys, pool);
    }
    matmul_group(outs, x.data(), x_stride, T, pool);
    for (size_t i = 0; i < views.size(); ++i)
      ASSERT_EQ(0, std::memcmp(y[i].data(), y1[i].data(), y[i].size() * sizeof(float)))
          << formats::traits(views[i].format).name << " (weight " << i << "), T = " << T;
  }
}

// fp32 vector ops. Tolerances: sums of n terms differ by at most 2(n+16)u
// times the sum of |terms| (different order); elementwise results by a few
// ulps (the SIMD exp is a polynomial good to ~2 ulp; FMA vs mul+add is 1).
TEST_F(Harness, VectorOpsMatchReference) {
  std::mt19937 rng(11);
  const KernelTable& ref = reference_table();
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (int64_t n : {1, 7, 16, 33, 100, 1000, 4096}) {
      const std::string what = isa + " n=" + std::to_string(n);
      const auto a = random_floats(size_t(n), rng), b = random_floats(size_t(n), rng);
      if (t.dot_f32 != ref.dot_f32) {
        double A = 0;
        for (int64_t i = 0; i < n; ++i) A += std::fabs(double(a[size_t(i)]) * b[size_t(i)]);
        EXPECT_NEAR(t.dot_f32(a.data(), b.data(), n), ref.dot_f32(a.data(), b.data(), n), 2.0 * double(n + 16) * kU * A)
            << what;
      }
      if (t.axpy_f32 != ref.axpy_f32) {
        auto y1 = b, y2 = b;
        t.axpy_f32(y1.data(), 0.7f, a.data(), n);
        ref.axpy_f32(y2.data(), 0.7f, a.data(), n);
        for (int64_t i = 0; i < n; ++i)  // one FMA vs a rounded product then a sum
          EXPECT_NEAR(y1[size_t(i)], y2[size_t(i)], 2.0 * kU * (std::fabs(b[size_t(i)]) + std::fabs(0.7 * a[size_t(i)])))
              << what;
      }
      if (t.rmsnorm != ref.rmsnorm) {
        std::vector<float> o1(static_cast<size_t>(n)), o2(static_cast<size_t>(n));
        t.rmsnorm(o1.data(), a.data(), b.data(), n, 1e-5f);
        ref.rmsnorm(o2.data(), a.data(), b.data(), n, 1e-5f);
        // sum of squares: positive terms, relative error <= (n+16)u per side;
        // 1/sqrt halves it; then 2 products.
        for (int64_t i = 0; i < n; ++i)
          EXPECT_NEAR(o1[size_t(i)], o2[size_t(i)], (double(n) + 40.0) * kU * std::fabs(o2[size_t(i)])) << what;
        auto alias = a;  // out may alias x
        t.rmsnorm(alias.data(), alias.data(), b.data(), n, 1e-5f);
        EXPECT_EQ(0, std::memcmp(alias.data(), o1.data(), size_t(n) * 4)) << what;
      }
      if (t.softmax != ref.softmax) {
        auto s1 = a, s2 = a;
        for (auto* s : {&s1, &s2})
          for (float& v : *s) v *= 8.0f;  // spread: many tiny probabilities
        if (n > 1) s1[0] = s2[0] = -INFINITY;  // a masked position
        t.softmax(s1.data(), n);
        ref.softmax(s2.data(), n);
        // exp: ~2 ulp each; the normalising sum: (n+16)u relative per side.
        for (int64_t i = 0; i < n; ++i)
          EXPECT_NEAR(s1[size_t(i)], s2[size_t(i)], (2.0 * double(n) + 64.0) * kU * std::fabs(s2[size_t(i)]) + 1e-37)
              << what << " i=" << i;
      }
      if (t.swiglu != ref.swiglu) {
        auto g = a;
        for (float& v : g) v *= 6.0f;
        std::vector<float> o1(static_cast<size_t>(n)), o2(static_cast<size_t>(n));
        t.swiglu(o1.data(), g.data(), b.data(), n);
        ref.swiglu(o2.data(), g.data(), b.data(), n);
        // exp ~2 ulp (+ library exp's own error), 1+e, a division, a product.
        for (int64_t i = 0; i < n; ++i)
          EXPECT_NEAR(o1[size_t(i)], o2[size_t(i)], 16.0 * kU * std::fabs(o2[size_t(i)]) + 1e-37) << what;
      }
      if (t.sigmoid != ref.sigmoid) {
        auto x = a;
        for (float& v : x) v *= 30.0f;  // saturation on both sides included
        std::vector<float> o1(static_cast<size_t>(n)), o2(static_cast<size_t>(n));
        t.sigmoid(o1.data(), x.data(), n);
        ref.sigmoid(o2.data(), x.data(), n);
        // exp ~2 ulp (+ library exp's own error), 1+e, a division; past
        // x = -89 the SIMD exp saturates (1/(1+e^89) ~ 2e-39, not 0).
        for (int64_t i = 0; i < n; ++i)
          EXPECT_NEAR(o1[size_t(i)], o2[size_t(i)], 16.0 * kU * std::fabs(o2[size_t(i)]) + 1e-37) << what;
        t.sigmoid(x.data(), x.data(), n);  // in place
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(x[size_t(i)], o1[size_t(i)]) << what;
      }
    }
  }
}

}  // namespace
}  // namespace nb::kernels
