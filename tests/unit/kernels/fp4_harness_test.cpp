// Harness for the weight-only 4-bit formats (MXFP4, MXFP4_FPQ, NVFP4,
// INT4-g32/g64/g128 x bf16 activations, their dot type): for every SIMD ISA
// this CPU runs, each matmul entry against reference_table() over many
// shapes with fresh random data; exact sums where every fp32 step is exact;
// prefill == decode bit for bit; results independent of the thread count;
// NVFP4's tensor scale applied by kernels::matmul for every ISA, the scalar
// table included; the fp32 -> bf16 activation rows bit-exact.
//
// Tolerance (random data), per format in tolerance() below. The kernels
// multiply exact weights w_i (E2M1 x 2^k and E2M1 x E4M3 fit bf16; INT4's
// code - 8 too, its fp16 scale applied to each block's sum by one FMA) by the
// bf16 activations x_i, every product exact in fp32, so their output is an
// fp32 sum of the k exact products: each add (or FMA) rounds once, and a
// term meets at most k/16 + 6 roundings (k/8 + 3 with AVX2) on its way
// through a lane's chain, its block's sum and the reduction tree, fewer than
// k. So the kernel's error is at most about k u A with A = sum |w_i x_i|
// (Higham, Accuracy and Stability, §4.2, for any summation order), u = 2^-24.
// The reference sums each block in double (error ~ k 2^-53 A, negligible)
// and rounds once to float (u |y| <= u A). MXFP4_FPQ adds the kernel's
// division by 3 (u |y| <= u A; A there uses the weights already divided by
// 3). Hence (k + 1) u A, and (k + 2) u A for MXFP4_FPQ. The bound is
// relative to A, not to |y|, so cancelling sums cannot make it flaky.
//
// The decode entries (KernelTable::matmul_decode: 4-bit weights on integer
// multiply-adds, w4_planes_avx512.cpp) also round each activation that lies
// more than 14 binades below the largest of its group of 8 to a multiple of
// 2^(E-21), E that largest one's exponent: at most 2^(E-22) off. The groups
// lie inside runs of 32 elements, so plane_rounding() bounds that by
// sum |w_i| 2^(E_run - 22) with E_run the exponent of the run's largest.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/membw.h"
#include "core/thread_pool.h"
#include "formats/blocks.h"
#include "formats/format.h"
#include "kernels/cpu/fp4_kernels.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace nb::kernels {
namespace {

constexpr double kU = 1.0 / 16777216.0;  // fp32 unit roundoff 2^-24

const FormatId kW4Formats[] = {FormatId::MXFP4,    FormatId::MXFP4_FPQ, FormatId::NVFP4,
                               FormatId::INT4_G32, FormatId::INT4_G64,  FormatId::INT4_G128};

std::vector<std::string> simd_isas() {
  std::vector<std::string> out;
  std::istringstream in(available_isas());
  for (std::string s; in >> s;)
    if (s != "scalar") out.push_back(s);
  return out;
}

class Fp4Harness : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = active_table().isa; }
  void TearDown() override { select_isa(saved_); }
  const KernelTable& use(const std::string& isa) {
    EXPECT_TRUE(select_isa(isa)) << isa;
    return active_table();
  }
  std::string saved_;
};

// How block scales are drawn. Wide: the whole useful range of each scale
// type. Exact: a few small values, so that every fp32 step is exact (below).
enum class Scales { Wide, Exact };

// A random block scale written into the block's scale bytes.
void set_scale(FormatId f, uint8_t* blk, Scales mode, std::mt19937& rng) {
  switch (f) {
    case FormatId::MXFP4:
    case FormatId::MXFP4_FPQ:
      // E8M0 2^(e-127). Wide: 2^-12 .. 2^12 (0xFF, NaN, is never drawn; the
      // extremes 2^127 x 6 would overflow fp32 in either side's sum).
      blk[0] = mode == Scales::Wide ? uint8_t(115 + rng() % 25) : uint8_t(126 + rng() % 3);
      break;
    case FormatId::NVFP4:
      // E4M3, either sign. Wide: every finite code (zero and subnormals
      // included; 0x7F / 0xFF are NaN). Exact: exponent field 6..8, i.e.
      // magnitudes 0.5 .. 3.75 in steps of 2^-4.
      if (mode == Scales::Wide) {
        do blk[0] = uint8_t(rng());
        while ((blk[0] & 0x7F) == 0x7F);
      } else {
        blk[0] = uint8_t(((rng() & 1) << 7) | ((6 + rng() % 3) << 3) | (rng() % 8));
      }
      break;
    default: {  // INT4-gG: fp16 d first
      float d;
      if (mode == Scales::Wide) d = std::uniform_real_distribution<float>(1e-3f, 1e-1f)(rng);
      else d = std::ldexp(1.0f, int(rng() % 3) - 1);  // 0.5, 1, 2
      if (rng() & 1) d = -d;
      const uint16_t h = f32_to_fp16(d);
      std::memcpy(blk, &h, 2);
    }
  }
}

// Weight rows in format f: every code byte random (all 16 codes of both
// nibbles, -0 included), then a random scale per block.
std::vector<uint8_t> random_weights(FormatId f, int64_t rows, int64_t k, Scales mode, std::mt19937& rng) {
  const auto& tr = formats::traits(f);
  const size_t rb = formats::row_bytes(f, k);
  std::vector<uint8_t> w(rb * size_t(rows));
  for (uint8_t& b : w) b = uint8_t(rng());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < k / tr.block_size; ++i)
      set_scale(f, w.data() + size_t(r) * rb + size_t(i) * tr.block_bytes, mode, rng);
  return w;
}

// Activations already bf16 values (as matmul makes them), held as fp32.
std::vector<float> random_floats(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = bf16_to_f32(f32_to_bf16(nd(rng)));
  return v;
}

// The T rows of x as bf16 activation rows (2 bytes per element).
std::vector<uint16_t> to_bf16(const std::vector<float>& x) {
  std::vector<uint16_t> out(x.size());
  formats::traits(FormatId::BF16).from_float(x.data(), out.data(), int64_t(x.size()));
  return out;
}

// A = sum |w_i x_i| with the reference's decoded weights (FPQ: already / 3).
double abs_terms(FormatId f, const uint8_t* w, const float* x, int64_t k) {
  std::vector<float> wf(static_cast<size_t>(k));
  formats::traits(f).to_float(w, wf.data(), k);
  double a = 0;
  for (int64_t i = 0; i < k; ++i) a += std::fabs(double(wf[size_t(i)]) * double(x[i]));
  return a;
}

// |y - y_ref| allowed for one output of a k-long row (derived above).
double tolerance(FormatId f, int64_t k, double A) {
  const double roundings = double(k) + 1.0 + (f == FormatId::MXFP4_FPQ ? 1.0 : 0.0);
  return roundings * kU * A + 1e-37;  // 1e-37: an all-zero row has A = 0
}

// The decode entries' rounding of small activations (above): sum over the
// row of |w_i| 2^(E_run(i) - 22), w the row's weights as floats.
double plane_rounding(const std::vector<float>& w, const float* x, int64_t k) {
  double bound = 0;
  for (int64_t r = 0; r < k; r += 32) {
    const int64_t end = std::min(k, r + 32);  // an NVFP4 row may end in half a run
    float m = 0;
    for (int64_t i = r; i < end; ++i) m = std::max(m, std::fabs(x[i]));
    if (m == 0) continue;
    const double grain = std::ldexp(1.0, std::ilogb(m) - 22);
    for (int64_t i = r; i < end; ++i) bound += std::fabs(double(w[size_t(i)])) * grain;
  }
  return bound;
}

struct Case {
  int64_t rows, k, T, r0, r1;
};

std::string describe(const std::string& isa, FormatId f, const Case& c) {
  std::ostringstream s;
  s << isa << " " << formats::traits(f).name << " rows=" << c.rows << " k=" << c.k << " T=" << c.T << " r=[" << c.r0
    << "," << c.r1 << ")";
  return s.str();
}

// k is always a whole number of blocks (16, 32, 64 or 128 elements), so it
// is a multiple of both vector widths; the block counts vary instead: one
// block, small odd counts, and a long row.
std::vector<Case> cases_for(FormatId f) {
  const int64_t bs = formats::traits(f).block_size;
  std::vector<Case> out;
  for (int64_t rows : {1, 3, 17, 64, 67})
    for (int64_t nb : {1, 3, 5, 33})
      for (int64_t T : {1, 2, 5, 9}) {
        out.push_back({rows, nb * bs, T, 0, rows});
        if (rows > 2) out.push_back({rows, nb * bs, T, rows / 3, rows - 1});  // r0 > 0 sub-range
      }
  // Several prefill row blocks (the kernels block rows by 256-512 KiB):
  // 600 rows of 4096 weights are 1.2-1.3 MiB in every one of these formats.
  out.push_back({600, 4096, 6, 7, 599});
  return out;
}

// Y over rows [r0, r1) for T tokens; elements outside stay at a sentinel.
// w holds rows of format f; with a layout (a format-table row that
// rearranges f, e.g. W4R) fn gets them rearranged into it.
std::vector<float> run_matmul(MatmulRowsFn fn, FormatId f, const std::vector<uint8_t>& w, const std::vector<float>& x,
                              const Case& c, FormatId layout = FormatId::kCount) {
  size_t wrb = formats::row_bytes(f, c.k);
  std::vector<uint8_t> wr;
  const uint8_t* wp = w.data();
  if (layout != FormatId::kCount) {
    const size_t rb = formats::row_bytes(layout, c.k);
    wr.resize(rb * size_t(c.rows));
    for (int64_t r = 0; r < c.rows; ++r)
      formats::traits(layout).rearrange(w.data() + size_t(r) * wrb, wr.data() + size_t(r) * rb, c.k);
    wp = wr.data();
    wrb = rb;
  }
  const int64_t ys = c.rows + 3;  // a row stride wider than rows
  std::vector<float> y(size_t(ys * c.T), -12345.0f);
  const std::vector<uint16_t> xb = to_bf16(x);
  fn(wp, wrb, c.r0, c.r1, c.k, xb.data(), size_t(c.k) * sizeof(uint16_t), c.T, y.data(), ys);
  return y;
}

// The entries of format f to check against the reference: matmul, prefill
// and decode over f's rows, and the decode entry of the layout the table
// rearranges f into at load (planes: a decode entry, bound by
// plane_rounding() too).
struct Entry {
  MatmulRowsFn fn;
  FormatId layout;
  bool planes;
};
std::vector<Entry> entries(const KernelTable& t, FormatId f) {
  std::vector<Entry> out;
  for (const MatmulRowsFn fn : {t.matmul[size_t(f)], t.matmul_prefill[size_t(f)]})
    if (fn) out.push_back({fn, FormatId::kCount, false});
  if (t.matmul_decode[size_t(f)]) out.push_back({t.matmul_decode[size_t(f)], FormatId::kCount, true});
  const FormatId rf = t.load_layout[size_t(f)];
  if (rf != FormatId::kCount && t.matmul_decode[size_t(rf)]) out.push_back({t.matmul_decode[size_t(rf)], rf, true});
  return out;
}

// The kernels' scaled value tables: E2M1 value x block scale, from the format
// table's conversions, each product exact (checked in double) except where
// it is beyond fp32's range (E8M0 bytes >= 253 times 4 or 6), which gives inf.
TEST_F(Fp4Harness, ScaledTablesMatchTheFormatTable) {
  const cpu::Fp4Tables& t = cpu::fp4_tables();
  for (int b = 0; b < 256; ++b)
    for (int j = 0; j < 16; ++j) {
      const double v = formats::kE2M1Values[j];
      const double mx = v * double(formats::e8m0_to_f32(uint8_t(b))), nv = v * double(formats::e4m3_to_f32(uint8_t(b)));
      EXPECT_TRUE(double(t.mxfp4[b][j]) == mx || (std::isnan(t.mxfp4[b][j]) && std::isnan(mx)) ||
                  (std::isinf(t.mxfp4[b][j]) && std::fabs(mx) > double(FLT_MAX)))
          << b << " " << j;
      EXPECT_TRUE(double(t.nvfp4[b][j]) == nv || (std::isnan(t.nvfp4[b][j]) && std::isnan(nv))) << b << " " << j;
    }
}

// The bf16 copies are the same values, bit for bit (each is exact in bf16);
// MXFP4's and INT4's stored twice over.
TEST_F(Fp4Harness, Bf16TablesHoldTheSameValues) {
  const cpu::Fp4Tables& t = cpu::fp4_tables();
  auto same = [](uint16_t b, float f) { return std::isnan(f) ? std::isnan(bf16_to_f32(b)) : bf16_to_f32(b) == f; };
  for (int b = 0; b < 256; ++b)
    for (int j = 0; j < 16; ++j) {
      EXPECT_TRUE(same(t.mxfp4_bf16[b][j], t.mxfp4[b][j]) && same(t.mxfp4_bf16[b][j + 16], t.mxfp4[b][j])) << b << " " << j;
      EXPECT_TRUE(same(t.nvfp4_bf16[b][j], t.nvfp4[b][j])) << b << " " << j;
    }
  for (int j = 0; j < 32; ++j) EXPECT_EQ(bf16_to_f32(t.int4_bf16[j]), float(j % 16 - 8)) << j;
}

// Every ISA's fp32 -> bf16 row conversion gives the reference's bits: round
// to nearest even (ties both ways), NaN quiet, infinities, subnormals kept,
// signed zeros, for lengths around the vector width.
TEST_F(Fp4Harness, Bf16ActivationRowsAreBitExact) {
  std::mt19937 rng(11);
  const QuantizeRowFn want = reference_table().quantize[size_t(FormatId::BF16)];
  ASSERT_NE(want, nullptr);
  const uint32_t specials[] = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u,
                               0xffbfffffu, 0x00000001u, 0x807fffffu, 0x3f808000u, 0x3f818000u, 0x7f7fffffu,
                               0x7f7f8000u, 0x4040ffffu, 0x00008000u, 0x00018000u};
  for (const std::string& isa : simd_isas()) {
    const QuantizeRowFn got = use(isa).quantize[size_t(FormatId::BF16)];
    for (int64_t n : {1, 15, 16, 17, 33, 100})
      for (int rep = 0; rep < 20; ++rep) {
        std::vector<float> x(static_cast<size_t>(n));
        for (float& v : x) {
          uint32_t bits = rng();
          if (rng() % 3 == 0) bits = specials[rng() % std::size(specials)];
          if (rng() % 4 == 0) bits = (bits & 0xFFFF0000u) | (rng() % 2 ? 0x8000u : 0x7FFFu);  // ties, near-ties
          std::memcpy(&v, &bits, 4);
        }
        std::vector<uint16_t> a(static_cast<size_t>(n), 0xABCD), b(static_cast<size_t>(n), 0xABCD);
        got(x.data(), a.data(), n);
        want(x.data(), b.data(), n);
        ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 2)) << isa << " n=" << n;
      }
  }
}

TEST_F(Fp4Harness, EveryIsaFillsEveryFormat) {
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : kW4Formats) {
      EXPECT_NE(t.matmul[size_t(f)], reference_table().matmul[size_t(f)]) << isa << " " << formats::traits(f).name;
      // The AVX-512 kernels need AVX512_BF16 and VBMI; without them the AVX2 ones stay.
      const bool avx2_kept = isa == "avx512" && !(cpu_features().avx512bf16 && cpu_features().avx512vbmi);
      EXPECT_STREQ(t.matmul_isa[size_t(f)], avx2_kept ? "avx2" : t.isa.c_str())
          << isa << " " << formats::traits(f).name;
    }
  }
}

// Every entry against the reference over all shapes, within tolerance():
// the matmul entries and the prefill entries (KernelTable::matmul_prefill,
// the tile unit's, whose sums run in another order: the bound holds for any).
TEST_F(Fp4Harness, MatmulMatchesReference) {
  std::mt19937 rng(4242);
  const KernelTable& ref = reference_table();
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : kW4Formats)
      for (const Entry& e : entries(t, f)) {
      const bool planes = e.planes;
      for (const Case& c : cases_for(f)) {
        const auto w = random_weights(f, c.rows, c.k, Scales::Wide, rng);
        const auto x = random_floats(size_t(c.T * c.k), rng);
        const auto y = run_matmul(e.fn, f, w, x, c, e.layout);
        const auto yr = run_matmul(ref.matmul[size_t(f)], f, w, x, c);
        const size_t wb = formats::row_bytes(f, c.k);
        const int64_t ys = c.rows + 3;
        int bad = 0;
        for (int64_t t0 = 0; t0 < c.T; ++t0)
          for (int64_t r = 0; r < ys; ++r) {
            const size_t i = size_t(t0 * ys + r);
            if (r < c.r0 || r >= c.r1) {
              ASSERT_EQ(y[i], -12345.0f) << describe(isa, f, c) << " wrote outside its rows at r=" << r;
              continue;
            }
            const double A = abs_terms(f, w.data() + size_t(r) * wb, x.data() + t0 * c.k, c.k);
            double tol = tolerance(f, c.k, A);
            if (planes) {
              std::vector<float> wf(size_t(c.k));
              formats::traits(f).to_float(w.data() + size_t(r) * wb, wf.data(), c.k);
              tol += plane_rounding(wf, x.data() + t0 * c.k, c.k);
            }
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

// Small integer activations and small scales make every value either side
// (and the prefill and decode entries', KernelTable::matmul_prefill/_decode)
// forms exact in fp32, so the outputs must be equal: this checks decoding
// (nibble order, signs, -0, the value tables, scales, the FPQ 1/3) apart from
// any rounding. 1 to 17 blocks: every remainder of the kernels' batches of 8
// blocks, alone and after full batches. Bounds, with |x| <= 4 and <= 17 blocks:
//  MXFP4: weights are multiples of 2^-2 with |w| <= 12: |sum| <= 544 * 48 < 2^15;
//  NVFP4: multiples of 2^-5, |w| <= 22.5: |sum| <= 272 * 90 < 2^15;
//  INT4:  multiples of 2^-1, |w| <= 16: |sum| <= 2176 * 64 < 2^18;
// at most 20 significant bits everywhere. FPQ: both sides round S / 3 once
// (the reference in double first, but S / 3 for an integer-scaled S has a
// repeating 01 pattern, never a float midpoint, so double rounding is harmless).
TEST_F(Fp4Harness, SmallIntegerSumsAreExact) {
  std::mt19937 rng(99);
  const KernelTable& ref = reference_table();
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : kW4Formats) {
      const int64_t bs = formats::traits(f).block_size;
      for (int64_t nb : {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17})
        for (int64_t T : {1, 5, 9}) {
          const Case c{17, nb * bs, T, 0, 17};
          const auto w = random_weights(f, c.rows, c.k, Scales::Exact, rng);
          std::vector<float> x(size_t(T * c.k));
          for (float& v : x) v = float(int(rng() % 9) - 4);
          const auto yr = run_matmul(ref.matmul[size_t(f)], f, w, x, c);
          for (const Entry& e : entries(t, f)) {
            const auto y = run_matmul(e.fn, f, w, x, c, e.layout);
            for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], yr[i]) << describe(isa, f, c) << " index " << i;
          }
        }
    }
  }
}

// Prefill (T > 1 in one call) and decode (one call per token) must give
// bit-identical outputs: the model relies on it.
TEST_F(Fp4Harness, PrefillEqualsDecodeBitForBit) {
  std::mt19937 rng(7);
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : kW4Formats) {
      const MatmulRowsFn fn = t.matmul[size_t(f)];
      const int64_t bs = formats::traits(f).block_size;
      for (int64_t nb : {1, 6, 37})
        for (int64_t T : {2, 5, 9, 19}) {
          const int64_t rows = 67, k = nb * bs;
          const auto w = random_weights(f, rows, k, Scales::Wide, rng);
          const auto x = random_floats(size_t(T * k), rng);
          const Case all{rows, k, T, 0, rows};
          const auto ya = run_matmul(fn, f, w, x, all);
          for (int64_t tok = 0; tok < T; ++tok) {
            const std::vector<float> one(x.begin() + tok * k, x.begin() + (tok + 1) * k);
            const auto y1 = run_matmul(fn, f, w, one, Case{rows, k, 1, 0, rows});
            ASSERT_EQ(0, std::memcmp(y1.data(), ya.data() + tok * (rows + 3), size_t(rows) * sizeof(float)))
                << describe(isa, f, all) << " token " << tok;
          }
        }
    }
  }
}

// A weight tensor over `w` (2-D, contiguous rows).
TensorView view(FormatId f, int64_t rows, int64_t k, std::vector<uint8_t>& w, float scale) {
  return formats::matrix_view(f, rows, k, w.data(), scale);
}

// The prefill entries (KernelTable::matmul_prefill: the AMX tile unit where
// there is one) sum in another order than decode, but in one of their own:
// a token's outputs must be the same bits whether it comes alone or among
// others, whatever the thread count, and from the file's rows or the W4R
// rows the table rearranges them into at load.
TEST_F(Fp4Harness, PrefillEntriesGiveTheSameBitsForAnyBatchThreadsAndLayout) {
  std::mt19937 rng(71);
  ThreadPool p1(1), p2(2), p3(3);
  int checked = 0;
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : kW4Formats) {
      const MatmulRowsFn fn = t.matmul_prefill[size_t(f)];
      if (!fn) continue;
      ++checked;
      const int64_t bs = formats::traits(f).block_size;
      for (int64_t nb : {1, 6, 37}) {
        const int64_t rows = 67, k = nb * bs, T = 19;
        auto w = random_weights(f, rows, k, Scales::Wide, rng);
        const auto x = random_floats(size_t(T * k), rng);
        const auto ya = run_matmul(fn, f, w, x, Case{rows, k, T, 0, rows});
        for (int64_t tok = 0; tok < T; ++tok) {
          const std::vector<float> one(x.begin() + tok * k, x.begin() + (tok + 1) * k);
          const auto y1 = run_matmul(fn, f, w, one, Case{rows, k, 1, 0, rows});
          ASSERT_EQ(0, std::memcmp(y1.data(), ya.data() + tok * (rows + 3), size_t(rows) * sizeof(float)))
              << describe(isa, f, Case{rows, k, T, 0, rows}) << " token " << tok;
        }
        const TensorView W = view(f, rows, k, w, 1.0f);
        std::vector<float> y[3];
        ThreadPool* pools[3] = {&p1, &p2, &p3};
        for (int i = 0; i < 3; ++i) {
          y[i].resize(size_t(T * rows));
          matmul(W, x.data(), k, T, y[i].data(), rows, *pools[i], FloatSums::AnyOrder);
        }
        EXPECT_EQ(0, std::memcmp(y[0].data(), y[1].data(), y[0].size() * sizeof(float))) << isa << " 2 threads";
        EXPECT_EQ(0, std::memcmp(y[0].data(), y[2].data(), y[0].size() * sizeof(float))) << isa << " 3 threads";
        const FormatId rf = t.load_layout[size_t(f)];
        if (rf == FormatId::kCount) continue;
        const formats::FormatTraits& rt = formats::traits(rf);
        const size_t sb = formats::row_bytes(f, k), rb = formats::row_bytes(rf, k);
        std::vector<uint8_t> wr(rb * size_t(rows));
        for (int64_t r = 0; r < rows; ++r) rt.rearrange(w.data() + size_t(r) * sb, wr.data() + size_t(r) * rb, k);
        const std::vector<uint16_t> xb = to_bf16(x);
        std::vector<float> yr(size_t(T * (rows + 3)), -12345.0f);
        t.matmul_prefill[size_t(rf)](wr.data(), rb, 0, rows, k, xb.data(), size_t(k) * 2, T, yr.data(), rows + 3);
        ASSERT_EQ(0, std::memcmp(yr.data(), ya.data(), yr.size() * sizeof(float))) << isa << " " << rt.name;
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no prefill entries on this CPU";
}

// kernels::matmul splits rows over threads; every output must come out the
// same bits for 1, 2 and 3 threads (NVFP4 with its tensor scale applied).
TEST_F(Fp4Harness, ResultsDoNotDependOnThreadCount) {
  std::mt19937 rng(31);
  ThreadPool p1(1), p2(2), p3(3);
  for (const std::string& isa : simd_isas()) {
    use(isa);
    for (FormatId f : kW4Formats) {
      const int64_t rows = 203, k = 8 * 128, T = 5;
      auto w = random_weights(f, rows, k, Scales::Wide, rng);
      const TensorView W = view(f, rows, k, w, f == FormatId::NVFP4 ? 0.0371f : 1.0f);
      const auto x = random_floats(size_t(T * k), rng);
      for (int64_t tt : {int64_t(1), T}) {
        std::vector<float> y1(size_t(tt * rows)), y2(y1.size()), y3(y1.size());
        matmul(W, x.data(), k, tt, y1.data(), rows, p1);
        matmul(W, x.data(), k, tt, y2.data(), rows, p2);
        matmul(W, x.data(), k, tt, y3.data(), rows, p3);
        const std::string what = isa + " " + formats::traits(f).name + " T=" + std::to_string(tt);
        EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float))) << what << ", 2 threads";
        EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * sizeof(float))) << what << ", 3 threads";
        // The same with the entries that may sum in another order (prefill, decode).
        matmul(W, x.data(), k, tt, y1.data(), rows, p1, FloatSums::AnyOrder);
        matmul(W, x.data(), k, tt, y2.data(), rows, p2, FloatSums::AnyOrder);
        matmul(W, x.data(), k, tt, y3.data(), rows, p3, FloatSums::AnyOrder);
        EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float))) << what << ", any order, 2 threads";
        EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * sizeof(float))) << what << ", any order, 3 threads";
      }
    }
  }
}

// Sets the code of element j of a block (as the file holds it: the scale
// field first, then runs of 32 (16 for NVFP4) elements, element i of a run
// in byte i % (run / 2), the high nibble for the run's second half).
void set_code(FormatId f, uint8_t* blk, int64_t j, uint8_t code) {
  const bool int4 = f == FormatId::INT4_G32 || f == FormatId::INT4_G64 || f == FormatId::INT4_G128;
  const int64_t run = f == FormatId::NVFP4 ? 16 : 32, half = run / 2;
  uint8_t& byte = blk[(int4 ? 2 : 1) + half * (j / run) + j % half];
  byte = j % run < half ? uint8_t((byte & 0xF0) | code) : uint8_t((byte & 0x0F) | code << 4);
}

// The decode entries (matmul_decode) hold activations as integers on a grid
// of 2^(E-21) per group, E the exponent of the group's largest: an activation
// whose lowest set bit is at or above that grain must come out exact. Every
// fourth element (one in each of the kernel's groups, whatever their exact
// shape inside a run of 32) is +-2^E with a zero weight, the others are odd
// multiples m 2^(E-21), m < 256 (the finest still exact), with weights
// whose doubled values are integers below 2^5 times a power of two in 2^-1
// .. 2^1 (INT4: (code - 8) d, d in +-{0.5, 1, 2}; MXFP4: E2M1 x 2^-1 .. 2^1;
// NVFP4: E2M1 x +-{0.5, 1, 2}): the lane sums and every fp32 step after
// them are then exact (at most 2^20 grains of 2^(E-23) per row of 256), so
// the output must equal the exact sum (MXFP4_FPQ: the exact sum / 3, rounded
// once, as the kernel divides). One binade finer (m 2^(E-22)) each such
// element may be off by 2^(E-22) |w|.
TEST_F(Fp4Harness, DecodeEntriesAreExactOnTheirGrid) {
  std::mt19937 rng(5150);
  int checked = 0;
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : kW4Formats)
      for (const Entry& e : entries(t, f)) {
      if (!e.planes) continue;
      ++checked;
      const auto& tr = formats::traits(f);
      const bool fpq = f == FormatId::MXFP4_FPQ;
      // The values before FPQ's division by 3: MXFP4's, from the same bytes.
      const auto& undivided = formats::traits(fpq ? FormatId::MXFP4 : f);
      const uint8_t zero_code = f == FormatId::INT4_G32 || f == FormatId::INT4_G64 || f == FormatId::INT4_G128 ? 8 : 0;
      for (int64_t nb : {128 / tr.block_size, 256 / tr.block_size})
        for (int E : {-40, 0, 3, 25})
          for (int finer : {0, 1}) {
            const int64_t rows = 9, k = nb * tr.block_size;
            auto w = random_weights(f, rows, k, Scales::Exact, rng);
            std::vector<float> x(static_cast<size_t>(k));
            for (int64_t i = 0; i < k; ++i) {
              const float sign = (rng() & 1) ? -1.0f : 1.0f;
              x[size_t(i)] = i % 4 == 0 ? sign * std::ldexp(1.0f, E)
                                        : sign * std::ldexp(float(2 * (rng() % 128) + 1), E - 21 - finer);
            }
            const size_t rb = formats::row_bytes(f, k);
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t b = 0; b < nb; ++b) {
                uint8_t* blk = w.data() + size_t(r) * rb + size_t(b) * tr.block_bytes;
                if (f == FormatId::NVFP4) blk[0] = uint8_t((rng() & 1) << 7 | (6 + rng() % 3) << 3);  // +-0.5, 1, 2
                for (int64_t j = 0; j < tr.block_size; j += 4) set_code(f, blk, j, zero_code);  // under every 2^E
              }
            const auto y = run_matmul(e.fn, f, w, x, Case{rows, k, 1, 0, rows}, e.layout);
            for (int64_t r = 0; r < rows; ++r) {
              std::vector<float> wf(static_cast<size_t>(k));
              undivided.to_float(w.data() + size_t(r) * rb, wf.data(), k);
              double exact = 0, slack = 0;
              for (int64_t i = 0; i < k; ++i) {
                exact += double(wf[size_t(i)]) * double(x[size_t(i)]);
                if (i % 4) slack += std::fabs(double(wf[size_t(i)])) * std::ldexp(1.0, E - 22);
              }
              const double want = fpq ? double(float(exact / 3)) : exact;
              const std::string what = isa + " " + tr.name + (e.layout != FormatId::kCount ? " rearranged" : "") +
                                       " nb=" + std::to_string(nb) + " E=" + std::to_string(E) + " r=" + std::to_string(r);
              if (!finer) ASSERT_EQ(double(y[size_t(r)]), want) << what;
              else
                ASSERT_LE(std::fabs(double(y[size_t(r)]) - want), (slack + kU * std::fabs(exact)) / (fpq ? 3 : 1) +
                                                                      kU * std::fabs(want))
                    << what << " finer";
            }
          }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no decode entries on this CPU";
}

// NVFP4 rows hold the weights divided by TensorView::scale; kernels::matmul
// multiplies each output by it, for every ISA including the scalar table.
// Scalar: float(dot) * s exactly. SIMD: tolerance() scaled by s, plus the
// product's own rounding (u |y s| <= u A s).
TEST_F(Fp4Harness, NvFp4TensorScaleIsApplied) {
  std::mt19937 rng(17);
  ThreadPool pool(2);
  const FormatId f = FormatId::NVFP4;
  const auto& tr = formats::traits(f);
  std::vector<std::string> isas = simd_isas();
  isas.insert(isas.begin(), "scalar");
  for (const std::string& isa : isas) {
    use(isa);
    for (float s : {0.0371f, 3.0f}) {
      const int64_t rows = 37, k = 16 * 21;
      auto w = random_weights(f, rows, k, Scales::Wide, rng);
      const TensorView W = view(f, rows, k, w, s);
      for (int64_t T : {1, 4}) {
        const auto x = random_floats(size_t(T * k), rng);
        std::vector<float> y(size_t(T * rows));
        matmul(W, x.data(), k, T, y.data(), rows, pool);
        for (int64_t t0 = 0; t0 < T; ++t0)
          for (int64_t r = 0; r < rows; ++r) {
            const std::vector<uint16_t> xb = to_bf16({x.begin() + t0 * k, x.begin() + (t0 + 1) * k});
            const float dot = tr.dot(W.row<const uint8_t>(r), xb.data(), k);
            const float got = y[size_t(t0 * rows + r)];
            if (isa == "scalar") {
              ASSERT_EQ(got, dot * s) << isa << " s=" << s << " t=" << t0 << " r=" << r;
            } else {
              const double A = abs_terms(f, W.row<const uint8_t>(r), x.data() + t0 * k, k);
              ASSERT_NEAR(got, double(dot) * s, (tolerance(f, k, A) + kU * A) * s)
                  << isa << " s=" << s << " t=" << t0 << " r=" << r;
            }
          }
      }
    }
  }
}

// An NVFP4 embedding table gives the weights times its tensor scale too.
TEST_F(Fp4Harness, NvFp4EmbeddingAppliesTensorScale) {
  std::mt19937 rng(3);
  const int64_t rows = 5, k = 64;
  auto w = random_weights(FormatId::NVFP4, rows, k, Scales::Wide, rng);
  const TensorView W = view(FormatId::NVFP4, rows, k, w, 0.25f);
  std::vector<float> got(static_cast<size_t>(k)), codes(static_cast<size_t>(k));
  embedding(W, 3, got.data());
  formats::traits(FormatId::NVFP4).to_float(W.row<const uint8_t>(3), codes.data(), k);
  for (int64_t i = 0; i < k; ++i) EXPECT_EQ(got[size_t(i)], codes[size_t(i)] * 0.25f) << i;
}

}  // namespace
}  // namespace nb::kernels
