// Ternary kernel harness: for each SIMD ISA this CPU runs, every ternary
// entry it fills (matmul_scaled for T2/T1_6, matmul for TQ2_0/TQ1_0) against
// reference_table() over many shapes with fresh random data.
//
// Tolerance: none. T2/T1_6 compute an exact int32 Σ (trit-1)·q and then the
// same float expression as the reference, float(acc) * (a_scale * w_scale),
// so outputs must be bit-identical. The TQ kernels keep the reference's float
// order too (exact int32 per 256-block, then sum += (d_w * d_a) * float(acc)
// block by block, no FMA contraction), so they must also be bit-identical.
// For the same reason prefill (T > 1) must equal decode (T = 1) bit for bit.
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

namespace nb::kernels {
namespace {

std::vector<std::string> simd_isas() {
  std::vector<std::string> out;
  std::istringstream in(available_isas());
  for (std::string s; in >> s;)
    if (s != "scalar") out.push_back(s);
  return out;
}

class TernaryHarness : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = active_table().isa; }
  void TearDown() override { select_isa(saved_); }
  const KernelTable& use(const std::string& isa) {
    EXPECT_TRUE(select_isa(isa)) << isa;
    return active_table();
  }
  std::string saved_;
};

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// How trits and codes are drawn: uniform, or pinned to an extreme so that
// every product is the largest of its sign (2 * 127, 2 * -128, ...).
enum class Fill { Uniform, MaxPos, MaxNeg, Sparse };

struct Case {
  int64_t rows, k, T, r0, r1;
  Fill fill = Fill::Uniform;
};

std::string describe(const std::string& isa, FormatId f, const Case& c) {
  std::ostringstream s;
  s << isa << " " << formats::traits(f).name << " rows=" << c.rows << " k=" << c.k << " T=" << c.T << " r=[" << c.r0
    << "," << c.r1 << ") fill=" << int(c.fill);
  return s.str();
}

// Weight rows: random values in {-1, 0, +1} through the format's own encoder
// (which also writes the padding trits of T2/T1_6), then for TQ a random
// fp16 block scale of either sign (sometimes 0).
std::vector<uint8_t> ternary_weights(FormatId f, int64_t rows, int64_t k, Fill fill, std::mt19937& rng) {
  const size_t rb = formats::row_bytes(f, k);
  std::vector<uint8_t> w(rb * size_t(rows));
  std::vector<float> v(static_cast<size_t>(k));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& x : v) {
      switch (fill) {
        case Fill::MaxPos: x = 1.0f; break;
        case Fill::MaxNeg: x = -1.0f; break;
        case Fill::Sparse: x = (rng() % 8 == 0) ? ((rng() & 1) ? 1.0f : -1.0f) : 0.0f; break;
        default: x = float(int(rng() % 3) - 1);
      }
    }
    uint8_t* row = w.data() + size_t(r) * rb;
    formats::traits(f).from_float(v.data(), row, k);
    if (f == FormatId::TQ2_0 || f == FormatId::TQ1_0) {
      for (int64_t b = 0; b < k / 256; ++b) {
        float d = std::ldexp(float(rng() % 2000 + 1) / 1000.0f, -int(rng() % 8));
        if (rng() & 1) d = -d;
        if (rng() % 16 == 0) d = 0.0f;
        const uint16_t h = f32_to_fp16(d);
        if (f == FormatId::TQ2_0)
          reinterpret_cast<formats::BlockTQ2_0*>(row)[b].d = h;
        else
          reinterpret_cast<formats::BlockTQ1_0*>(row)[b].d = h;
      }
    }
  }
  return w;
}

int8_t random_code(Fill fill, std::mt19937& rng) {
  switch (fill) {
    case Fill::MaxPos: return 127;
    case Fill::MaxNeg: return -128;
    default: {
      const uint32_t u = rng() % 16;
      if (u == 0) return 127;
      if (u == 1) return -127;
      if (u == 2) return -128;
      return int8_t(rng());
    }
  }
}

// I8_ROW activation rows: fp32 scale, padded_cols codes (zero past k), then
// `extra` junk bytes to make the row stride differ from the row length.
std::vector<uint8_t> i8_rows(FormatId f, int64_t T, int64_t k, size_t xrb, Fill fill, std::mt19937& rng) {
  const int64_t kp = formats::padded_cols(f, k);
  std::vector<uint8_t> x(xrb * size_t(T), 0xA5);
  std::uniform_real_distribution<float> sd(1e-3f, 2.0f);
  for (int64_t t = 0; t < T; ++t) {
    uint8_t* row = x.data() + size_t(t) * xrb;
    const float s = sd(rng);
    std::memcpy(row, &s, sizeof s);
    int8_t* q = reinterpret_cast<int8_t*>(row + sizeof(float));
    for (int64_t i = 0; i < kp; ++i) q[i] = i < k ? random_code(fill, rng) : 0;
  }
  return x;
}

// Q8_K activation blocks: random codes (extremes included) with matching
// bsums and a random scale.
std::vector<uint8_t> q8k_rows(int64_t T, int64_t k, Fill fill, std::mt19937& rng) {
  const size_t xrb = formats::row_bytes(FormatId::Q8_K, k);
  std::vector<uint8_t> x(xrb * size_t(T));
  std::uniform_real_distribution<float> sd(1e-4f, 1e-1f);
  for (int64_t t = 0; t < T; ++t) {
    auto* b = reinterpret_cast<formats::BlockQ8_K*>(x.data() + size_t(t) * xrb);
    for (int64_t i = 0; i < k / 256; ++i) {
      b[i].d = (rng() & 1) ? sd(rng) : -sd(rng);
      for (int g = 0; g < 16; ++g) {
        int s = 0;
        for (int j = 0; j < 16; ++j) s += (b[i].qs[16 * g + j] = random_code(fill, rng));
        b[i].bsums[g] = int16_t(s);
      }
    }
  }
  return x;
}

constexpr float kSentinel = -12345.0f;

struct Job {
  FormatId f;
  const std::vector<uint8_t>* w;
  const std::vector<uint8_t>* x;
  size_t wrb, xrb;
  float w_scale;
};

// Y over rows [r0, r1) for `T` tokens starting at token t_first; elements
// outside stay at the sentinel. ys is wider than rows.
std::vector<float> run(const KernelTable& tab, const Job& R, const Case& c, int64_t t_first, int64_t T) {
  const int64_t ys = c.rows + 3;
  std::vector<float> y(size_t(ys * T), kSentinel);
  const void* x = R.x->data() + size_t(t_first) * R.xrb;
  if (formats::traits(R.f).tensor_scale)
    tab.matmul_scaled[size_t(R.f)](R.w->data(), R.wrb, c.r0, c.r1, c.k, x, R.xrb, T, y.data(), ys, R.w_scale);
  else
    tab.matmul[size_t(R.f)](R.w->data(), R.wrb, c.r0, c.r1, c.k, x, R.xrb, T, y.data(), ys);
  return y;
}

bool filled(const KernelTable& t, FormatId f) {
  const KernelTable& ref = reference_table();
  if (formats::traits(f).tensor_scale)
    return t.matmul_scaled[size_t(f)] != nullptr && t.matmul_scaled[size_t(f)] != ref.matmul_scaled[size_t(f)];
  return t.matmul[size_t(f)] != nullptr && t.matmul[size_t(f)] != ref.matmul[size_t(f)];
}

std::vector<Case> cases_for(FormatId f) {
  const bool tq = f == FormatId::TQ2_0 || f == FormatId::TQ1_0;
  std::vector<int64_t> ks;
  if (tq)
    ks = {256, 512, 768, 1280};
  else
    ks = {1, 31, 72, 127, 128, 129, 159, 160, 161, 200, 256, 320, 384, 480, 1000};
  std::vector<Case> out;
  for (int64_t rows : {1, 3, 17, 64, 67})
    for (int64_t k : ks)
      for (int64_t T : {1, 2, 5, 9, 17}) {
        out.push_back({rows, k, T, 0, rows});
        if (rows > 2) out.push_back({rows, k, T, rows / 3, rows - 1});  // r0 > 0 sub-range
      }
  // Extremes: every product at its largest magnitude, and a sparse matrix.
  for (Fill fill : {Fill::MaxPos, Fill::MaxNeg, Fill::Sparse})
    for (int64_t T : {1, 5}) out.push_back({9, tq ? 2816 : 2000, T, 0, 9, fill});
  // Released widths, and enough rows for several prefill row blocks.
  out.push_back({150, tq ? 6912 : 6912, 1, 0, 150});
  out.push_back({150, tq ? 6912 : 6912, 7, 3, 149});
  out.push_back({70, tq ? 2816 : 2816, 33, 0, 70});
  return out;
}

const FormatId kTernary[] = {FormatId::T2, FormatId::T1_6, FormatId::TQ2_0, FormatId::TQ1_0};

TEST_F(TernaryHarness, ListsWhatEachIsaFills) {
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    std::printf("  %s:", isa.c_str());
    for (FormatId f : kTernary)
      if (filled(t, f)) std::printf(" %s", formats::traits(f).name);
    std::printf("\n");
  }
}

// Every filled entry against the reference, bit for bit, and every prefill
// (T > 1) output against the same token run alone (T = 1), bit for bit.
TEST_F(TernaryHarness, MatchesReferenceBitForBit) {
  std::mt19937 rng(4242);
  const KernelTable& ref = reference_table();
  int checked = 0;
  // With the tile unit (T2/T1_6 prefill on AMX-INT8) and without it.
  const int passes = amx_int8_ready() ? 2 : 1;
  for (int pass = 0; pass < passes; ++pass) {
  set_amx_enabled(pass == 0);
  for (const std::string& isa : simd_isas()) {
    const KernelTable& t = use(isa);
    for (FormatId f : kTernary) {
      if (!filled(t, f)) continue;
      const bool scaled = formats::traits(f).tensor_scale;
      for (const Case& c : cases_for(f)) {
        const auto w = ternary_weights(f, c.rows, c.k, c.fill, rng);
        // Odd activation strides for I8_ROW (rows are packed, scales unaligned).
        const size_t xrb = scaled ? formats::row_bytes(FormatId::I8_ROW, formats::padded_cols(f, c.k)) + size_t(c.T % 3)
                                  : formats::row_bytes(FormatId::Q8_K, c.k);
        const auto x = scaled ? i8_rows(f, c.T, c.k, xrb, c.fill, rng) : q8k_rows(c.T, c.k, c.fill, rng);
        std::uniform_real_distribution<float> ws(1e-3f, 3.0f);
        const Job R{f, &w, &x, formats::row_bytes(f, c.k), xrb, ws(rng)};
        const auto y = run(t, R, c, 0, c.T);
        const auto yr = run(ref, R, c, 0, c.T);
        const int64_t ys = c.rows + 3;
        int bad = 0;
        for (int64_t t0 = 0; t0 < c.T; ++t0) {
          const auto y1 = c.T > 1 ? run(t, R, c, t0, 1) : y;
          for (int64_t r = 0; r < ys; ++r) {
            const size_t i = size_t(t0 * ys + r);
            if (r < c.r0 || r >= c.r1) {
              ASSERT_EQ(y[i], kSentinel) << describe(isa, f, c) << " wrote outside its rows at r=" << r;
              continue;
            }
            if (!same_bits(y[i], yr[i]) && bad++ < 5)
              ADD_FAILURE() << describe(isa, f, c) << " t=" << t0 << " r=" << r << ": " << y[i] << " vs ref " << yr[i];
            if (!same_bits(y[i], y1[size_t(r)]) && bad++ < 5)
              ADD_FAILURE() << describe(isa, f, c) << " t=" << t0 << " r=" << r << ": prefill " << y[i]
                            << " vs decode " << y1[size_t(r)];
          }
        }
        ASSERT_EQ(bad, 0) << describe(isa, f, c) << (passes == 2 && pass == 0 ? " (AMX)" : "");
        ++checked;
      }
    }
  }
  }
  set_amx_enabled(true);
  std::printf("  %d cases checked (%s)\n", checked, passes == 2 ? "with and without AMX" : "no AMX");
}

}  // namespace
}  // namespace nb::kernels
