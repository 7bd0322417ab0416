// The scalar pieces of the BitNet forward pass that must reproduce runbit.c
// bit for bit: the weightless RMSNorm and the int8 activation quantizer.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "models/bitnet.h"

namespace nb {
namespace {

struct Row {
  float scale;
  std::vector<int8_t> q;
};

Row quantize(const std::vector<float>& a, int64_t n_codes) {
  std::vector<uint8_t> row(sizeof(float) + size_t(n_codes), 0xAB);
  bitnet_quantize_act(a.data(), int64_t(a.size()), n_codes, row.data());
  Row r;
  std::memcpy(&r.scale, row.data(), sizeof r.scale);
  r.q.assign(reinterpret_cast<const int8_t*>(row.data()) + sizeof(float),
             reinterpret_cast<const int8_t*>(row.data()) + row.size());
  return r;
}

TEST(BitnetQuantize, ScaleIsAbsmaxOver127InDouble) {
  const std::vector<float> a = {0.3f, -2.54f, 1.0f};
  Row r = quantize(a, 3);
  EXPECT_EQ(r.scale, float(double(2.54f) / 127.0));
  EXPECT_EQ(r.q[1], -127);
  const float inv = float(1.0 / double(r.scale));
  EXPECT_EQ(r.q[0], int8_t(std::round(double(0.3f * inv))));
  EXPECT_EQ(r.q[2], int8_t(std::round(double(1.0f * inv))));
}

TEST(BitnetQuantize, HalvesRoundAwayFromZero) {
  // max 127 gives scale 1 exactly, so the codes are round(a).
  const std::vector<float> a = {127.0f, 0.5f, -0.5f, 1.5f, -2.5f, 2.4999998f};
  Row r = quantize(a, 6);
  EXPECT_EQ(r.scale, 1.0f);
  EXPECT_EQ(r.q, (std::vector<int8_t>{127, 1, -1, 2, -3, 2}));
}

TEST(BitnetQuantize, PadsWithZerosAndHandlesAllZeroRows) {
  Row r = quantize({1.0f, -1.0f, 0.25f}, 128);
  ASSERT_EQ(r.q.size(), 128u);
  EXPECT_EQ(r.q[0], 127);
  EXPECT_EQ(r.q[1], -127);
  for (size_t i = 3; i < r.q.size(); ++i) ASSERT_EQ(r.q[i], 0) << i;
  Row z = quantize({0.0f, 0.0f}, 4);
  EXPECT_EQ(z.scale, 0.0f);
  EXPECT_EQ(z.q, (std::vector<int8_t>{0, 0, 0, 0}));
  Row nan = quantize({NAN, 1.0f}, 2);  // damage upstream must not be undefined behaviour here
  EXPECT_EQ(nan.q.size(), 2u);
}

TEST(BitnetRmsnorm, RunbitOperationOrder) {
  std::vector<float> a(37), out(37);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(float(i) * 0.7f) * 3.0f;
  bitnet_rmsnorm(out.data(), a.data(), int64_t(a.size()));
  float ss = 0.0f;
  for (float v : a) ss += v * v;
  ss = ss / 37.0f;
  ss = 1.0f / std::sqrt(ss);
  ss = ss / 37.0f;
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(out[i], a[i] * ss) << i;
  // in place
  bitnet_rmsnorm(a.data(), a.data(), int64_t(a.size()));
  EXPECT_EQ(a, out);
}

}  // namespace
}  // namespace nb
