#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <vector>

#include "core/buffer.h"
#include "core/half.h"
#include "core/status.h"
#include "core/thread_pool.h"

namespace nb {

TEST(ThreadPool, CoversRangeOnceWithFixedSplit) {
  for (int threads : {1, 2, 3, 7}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 5, 64, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, [&](int64_t b, int64_t e, int) {
        for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
      }, 4);
      for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    }
  }
}

TEST(ThreadPool, ManySmallJobs) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  for (int j = 0; j < 5000; ++j) pool.parallel_for(8, [&](int64_t b, int64_t e, int) { sum += e - b; });
  EXPECT_EQ(sum.load(), 5000 * 8);
}

TEST(Half, Fp16RoundTripAllCodes) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = fp16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_fp16(f), h) << h;
  }
}

TEST(Half, Fp16RoundsToNearestEven) {
  // 1 + 2^-11 is exactly halfway between 1 and the next fp16 (1 + 2^-10): ties to even -> 1.
  EXPECT_EQ(f32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(f32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(f32_to_fp16(65520.0f), 0x7c00);  // rounds to inf
  EXPECT_EQ(f32_to_fp16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);        // half of the smallest subnormal: tie to 0
  EXPECT_EQ(f32_to_fp16(std::ldexp(3.0f, -25)), 0x0002);        // 1.5 ulp -> 2
}

TEST(Half, Bf16) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f808000)), 0x3f80);  // tie -> even
  EXPECT_EQ(f32_to_bf16(bits_f32(0x3f818000)), 0x3f82);
}

TEST(Status, ResultCarriesErrors) {
  Result<int> r = Status::Error("bad");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "bad");
  Result<int> ok = 3;
  EXPECT_EQ(ok.value(), 3);
}

TEST(Buffer, AlignedAndZeroed) {
  Buffer b(100);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
  for (size_t i = 0; i < 100; ++i) EXPECT_EQ(b.as<uint8_t>()[i], 0);
}

}  // namespace nb
