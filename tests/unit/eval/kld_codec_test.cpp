// The compressed log-probabilities of a KL-divergence base file: round trip
// within scale/2, the 16-nat floor, the record layout.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "eval/kld_codec.h"

namespace nb::kld {
namespace {

// Exact log-softmax in double, the truth the codes approximate.
std::vector<double> log_softmax(const std::vector<float>& l) {
  double mx = l[0], sum = 0;
  for (float v : l) mx = std::max(mx, double(v));
  for (float v : l) sum += std::exp(double(v) - mx);
  std::vector<double> out;
  for (float v : l) out.push_back(double(v) - mx - std::log(sum));
  return out;
}

TEST(KldCodec, RecordWordsPadToEven) {
  EXPECT_EQ(record_words(1), 6);
  EXPECT_EQ(record_words(2), 6);
  EXPECT_EQ(record_words(3), 8);
  EXPECT_EQ(record_words(512), 516);
  EXPECT_EQ(record_words(32000), 32004);
  EXPECT_EQ(record_words(128257), 128262);
}

TEST(KldCodec, RoundTripWithinHalfAScale) {
  std::mt19937 rng(7);
  for (int64_t V : {1, 2, 3, 17, 512, 4097}) {
    for (float spread : {0.5f, 3.0f, 12.0f}) {
      std::normal_distribution<float> d(0.0f, spread);
      std::vector<float> logits(static_cast<size_t>(V));
      for (float& v : logits) v = d(rng) + 5.0f;
      std::vector<uint16_t> rec(static_cast<size_t>(record_words(V)), 0xABCD);
      encode_log_probs(logits.data(), V, rec.data());
      const RecordHeader h = record_header(rec.data());
      const std::vector<double> truth = log_softmax(logits);
      float mx = logits[0];
      for (float v : logits) mx = std::max(mx, v);
      EXPECT_LE(h.scale, kLogProbRange / 65535.0f * (1 + 1e-6f));
      for (int64_t i = 0; i < V; ++i) {
        const double got = decode_log_prob(h, record_codes(rec.data())[i]);
        if (logits[size_t(i)] > mx - kLogProbRange) {
          // scale/2 from rounding the code, plus the float arithmetic of the
          // encoder (a few float ulps of values up to ~30 in magnitude: 2e-5).
          EXPECT_NEAR(got, truth[size_t(i)], h.scale / 2 + 2e-5) << "V " << V << " i " << i;
        } else {
          EXPECT_EQ(record_codes(rec.data())[i], 0);
          EXPECT_LE(got, -kLogProbRange);  // the floor: below the top 16 nats
        }
      }
      if (V % 2) EXPECT_EQ(rec.back(), 0) << "padding word";
    }
  }
}

// Hand case: logits {0, -20, 16}: min_logit = max(-20, 16-16) = 0,
// scale = 16/65535, codes {0, 0, 65535},
// min_log_prob = 0 - 16 - log(1 + e^-16 + e^-36).
TEST(KldCodec, FloorAtSixteenNats) {
  const float logits[3] = {0.0f, -20.0f, 16.0f};
  uint16_t rec[8];
  encode_log_probs(logits, 3, rec);
  const RecordHeader h = record_header(rec);
  EXPECT_FLOAT_EQ(h.scale, 16.0f / 65535.0f);
  const double lse = std::log1p(std::exp(-16.0) + std::exp(-36.0));
  EXPECT_NEAR(h.min_log_prob, -16.0 - lse, 2e-6);  // float of a value near -16: ulp 1.9e-6
  EXPECT_EQ(rec[4], 0);
  EXPECT_EQ(rec[5], 0);
  EXPECT_EQ(rec[6], 65535);
  EXPECT_EQ(rec[7], 0);
  EXPECT_NEAR(decode_log_prob(h, rec[6]), -lse, 2e-6);
}

TEST(KldCodec, EqualLogitsGiveZeroScale) {
  const float logits[4] = {2.5f, 2.5f, 2.5f, 2.5f};
  uint16_t rec[8];
  encode_log_probs(logits, 4, rec);
  const RecordHeader h = record_header(rec);
  EXPECT_EQ(h.scale, 0.0f);
  EXPECT_NEAR(h.min_log_prob, -std::log(4.0), 1e-6);
  for (int i = 4; i < 8; ++i) EXPECT_EQ(rec[i], 0);
}

// The byte layout llama.cpp writes: fp32 scale in words 0-1, fp32
// min_log_prob in words 2-3 (little-endian), codes from word 4.
TEST(KldCodec, HeaderIsTwoLittleEndianFloats) {
  const float logits[2] = {0.0f, 1.0f};
  uint16_t rec[6];
  encode_log_probs(logits, 2, rec);
  float scale, mlp;
  std::memcpy(&scale, reinterpret_cast<const uint8_t*>(rec), 4);
  std::memcpy(&mlp, reinterpret_cast<const uint8_t*>(rec) + 4, 4);
  EXPECT_FLOAT_EQ(scale, 1.0f / 65535.0f);
  EXPECT_NEAR(mlp, -1.0 - std::log1p(std::exp(-1.0)), 1e-6);
  EXPECT_EQ(rec[4], 0);
  EXPECT_EQ(rec[5], 65535);
}

}  // namespace
}  // namespace nb::kld
